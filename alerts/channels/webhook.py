"""Channel `webhook`: the Prometheus Alertmanager webhook payload (version "4")."""

from __future__ import annotations

from alerts.channels.base import ChannelBase
from alerts.channels.http import post_json
from alerts.digest import Outgoing

__all__ = ["WebhookChannel"]


class WebhookChannel(ChannelBase):
    """POSTs Alertmanager's JSON; a configured `secret` is sent as a Bearer token."""

    def send(self, message: Outgoing) -> None:
        secret = self._secret()
        post_json(
            self.http,
            channel=self.name,
            url=self._url(),
            body=message.webhook(),
            delivery_id=message.delivery_id,
            timeout=self.config.timeout_seconds,
            secrets=[secret],
            headers={"Authorization": f"Bearer {secret}"} if secret else None,
        )
