"""Channel `file`: one JSON line per message, appended to a local file (used by the demo)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from alerts.channels.base import ChannelBase
from alerts.digest import Outgoing
from alerts.errors import ChannelConfigError, DeliveryError

__all__ = ["FileChannel"]


class FileChannel(ChannelBase):
    """Appends {delivery_id, channel, written_at, subject, text, message}; readers dedupe on
    delivery_id, as delivery is at least once."""

    uses_http = False

    def send(self, message: Outgoing) -> None:
        if self.config.path is None:
            raise ChannelConfigError(f"channels.{self.name}: type file needs a path")
        path = self.config.path
        record = {
            "delivery_id": message.delivery_id,
            "channel": self.name,
            "written_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "subject": self.renderer.render("subject", message, locale=self.locale),
            "text": self.renderer.render("text", message, locale=self.locale),
            "message": message.webhook(),
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(line)
        except OSError as exc:
            raise DeliveryError(
                f"{self.name}: cannot append to {path}: {exc.strerror or exc}", channel=self.name
            ) from None
