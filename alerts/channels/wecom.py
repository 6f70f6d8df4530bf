"""Channel `wecom`: a WeCom (企业微信) group robot, markdown."""

from __future__ import annotations

from alerts.channels.base import ChannelBase
from alerts.channels.http import check_code, post_json
from alerts.digest import Outgoing
from alerts.markup import utf8_len

__all__ = ["WECOM_MARKDOWN_LIMIT", "WeComChannel"]

# WeCom robots reject markdown content over 4,096 bytes (UTF-8)
WECOM_MARKDOWN_LIMIT = 4096


class WeComChannel(ChannelBase):
    # a robot takes at most 20 messages a minute
    rate_limit_seconds = 3.0

    def send(self, message: Outgoing) -> None:
        text = self.renderer.fit(
            "markdown", message, locale=self.locale, limit=WECOM_MARKDOWN_LIMIT, measure=utf8_len
        )
        url = self._url()
        response = post_json(
            self.http,
            channel=self.name,
            url=url,
            body={"msgtype": "markdown", "markdown": {"content": text}},
            delivery_id=message.delivery_id,
            timeout=self.config.timeout_seconds,
        )
        check_code(
            response, channel=self.name, url=url, keys=("errcode",), message_keys=("errmsg",)
        )
