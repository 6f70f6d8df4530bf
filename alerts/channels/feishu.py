"""Channel `feishu`: a Feishu/Lark custom bot, an interactive card with markdown, signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from alerts.channels.base import ChannelBase
from alerts.channels.http import check_code, post_json
from alerts.digest import Outgoing
from alerts.markup import utf8_len

__all__ = ["FEISHU_BODY_LIMIT", "FeishuChannel", "feishu_sign"]

# Feishu custom bots accept request bodies up to 20 KB
FEISHU_BODY_LIMIT = 20_000


def feishu_sign(secret: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(key="{timestamp}\\n{secret}", message=b""))."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class FeishuChannel(ChannelBase):
    # a bot takes at most 100 messages a minute and 5 a second
    rate_limit_seconds = 0.6

    def send(self, message: Outgoing) -> None:
        title = self.renderer.render("subject", message, locale=self.locale)
        secret = self._secret()
        signed: dict[str, str] = {}
        if secret:
            timestamp = str(int(time.time()))
            signed = {"timestamp": timestamp, "sign": feishu_sign(secret, timestamp)}
        colour = {"firing": "red", "digest": "blue"}.get(message.status, "green")

        def body(text: str) -> dict[str, object]:
            return {
                **signed,
                "msg_type": "interactive",
                "card": {
                    "config": {"wide_screen_mode": True},
                    "header": {
                        "title": {"tag": "plain_text", "content": title},
                        "template": colour,
                    },
                    "elements": [{"tag": "markdown", "content": text}],
                },
            }

        text = self.renderer.fit(
            "markdown",
            message,
            locale=self.locale,
            limit=FEISHU_BODY_LIMIT,
            measure=lambda t: utf8_len(json.dumps(body(t), ensure_ascii=False)),
        )
        url = self._url()
        response = post_json(
            self.http,
            channel=self.name,
            url=url,
            body=body(text),
            delivery_id=message.delivery_id,
            timeout=self.config.timeout_seconds,
            secrets=[secret],
        )
        # current API answers {"code": 0}; older deployments {"StatusCode": 0}
        check_code(
            response,
            channel=self.name,
            url=url,
            keys=("code", "StatusCode"),
            message_keys=("msg", "StatusMessage"),
            secrets=[secret],
        )
