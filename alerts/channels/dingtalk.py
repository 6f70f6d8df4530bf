"""Channel `dingtalk`: a DingTalk custom robot, markdown, signed when a secret is set."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import quote_plus

from alerts.channels.base import ChannelBase
from alerts.channels.http import check_code, post_json
from alerts.digest import Outgoing
from alerts.markup import utf8_len

__all__ = ["DINGTALK_BODY_LIMIT", "DingTalkChannel", "dingtalk_sign"]

# DingTalk rejects markdown messages over about 20,000 bytes
DINGTALK_BODY_LIMIT = 20_000


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}")), URL-encoded exactly once."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


class DingTalkChannel(ChannelBase):
    # a robot takes at most 20 messages a minute
    rate_limit_seconds = 3.0

    def send(self, message: Outgoing) -> None:
        title = self.renderer.render("subject", message, locale=self.locale)

        def body(text: str) -> dict[str, object]:
            return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}

        text = self.renderer.fit(
            "markdown",
            message,
            locale=self.locale,
            limit=DINGTALK_BODY_LIMIT,
            measure=lambda t: utf8_len(json.dumps(body(t), ensure_ascii=False)),
        )
        url = self._url()
        secret = self._secret()
        target = url
        if secret:
            timestamp = str(int(time.time() * 1000))
            # the sign is already URL-encoded: appended to the URL as text, never re-encoded
            separator = "&" if "?" in url else "?"
            target = (
                f"{url}{separator}timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
            )
        response = post_json(
            self.http,
            channel=self.name,
            url=target,
            body=body(text),
            delivery_id=message.delivery_id,
            timeout=self.config.timeout_seconds,
            secrets=[secret],
        )
        check_code(
            response,
            channel=self.name,
            url=target,
            keys=("errcode",),
            message_keys=("errmsg",),
            secrets=[secret],
        )
