"""Channel `console`: prints each message to standard output (used by the demo)."""

from __future__ import annotations

import sys

from alerts.channels.base import ChannelBase
from alerts.digest import Outgoing

__all__ = ["ConsoleChannel"]


class ConsoleChannel(ChannelBase):
    def send(self, message: Outgoing) -> None:
        subject = self.renderer.render("subject", message, locale=self.locale)
        text = self.renderer.render("text", message, locale=self.locale)
        rule = "─" * 72
        # sys.stdout looked up at send time, so a redirected stdout is honoured; written
        # directly because a flow with log_prints turns print() into log records
        sys.stdout.write(f"{rule}\n{subject}\n{rule}\n{text}\n")
        sys.stdout.flush()
