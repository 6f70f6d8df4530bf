"""Channel senders behind one interface: `build_channel(settings, renderer, http).send(msg)`."""

from __future__ import annotations

import httpx

from alerts.channels.base import Channel, ChannelBase
from alerts.channels.console import ConsoleChannel
from alerts.channels.dingtalk import DingTalkChannel
from alerts.channels.email import EmailChannel
from alerts.channels.feishu import FeishuChannel
from alerts.channels.file import FileChannel
from alerts.channels.slack import SlackChannel
from alerts.channels.webhook import WebhookChannel
from alerts.channels.wecom import WeComChannel
from alerts.renderer import Renderer
from alerts.settings import ChannelSettings

__all__ = ["CHANNEL_TYPES", "Channel", "build_channel"]

CHANNEL_TYPES: dict[str, type[ChannelBase]] = {
    "webhook": WebhookChannel,
    "slack": SlackChannel,
    "dingtalk": DingTalkChannel,
    "feishu": FeishuChannel,
    "wecom": WeComChannel,
    "email": EmailChannel,
    "file": FileChannel,
    "console": ConsoleChannel,
}


def build_channel(
    config: ChannelSettings, renderer: Renderer, http: httpx.Client | None
) -> Channel:
    """The sender for one configured channel (`http` may be None for one that does not
    send over HTTP: console, file, email)."""
    return CHANNEL_TYPES[config.type](config, renderer, http)
