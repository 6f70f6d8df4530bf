"""Channel `console`: prints each message to standard error (used by the demo), so that
stdout stays machine-readable: `shoppulse run | jq` reads only the run summary."""

from __future__ import annotations

import sys

from alerts.channels.base import ChannelBase
from alerts.digest import Outgoing

__all__ = ["ConsoleChannel"]


class ConsoleChannel(ChannelBase):
    uses_http = False

    def send(self, message: Outgoing) -> None:
        subject = self.renderer.render("subject", message, locale=self.locale)
        text = self.renderer.render("text", message, locale=self.locale)
        rule = "─" * 72
        # sys.stderr looked up at send time, so a redirected stream is honoured; written
        # directly because a flow with log_prints turns print() into log records
        sys.stderr.write(f"{rule}\n{subject}\n{rule}\n{text}\n")
        sys.stderr.flush()
