"""The alerts package's own settings: channels, routes and delivery (`channels:`, `routes:`,
`alerting:` in shoppulse.yaml), and the view of a shop's settings that alerting needs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "CHANNEL_NEEDS",
    "AlertSettings",
    "AlertingSettings",
    "ChannelSettings",
    "RouteSettings",
    "ShopView",
    "channel_given",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelSettings(_Strict):
    """One place alerts are sent to."""

    name: str = Field(description="the channel's name, used by `routes[].channels`")
    type: Literal["webhook", "slack", "dingtalk", "feishu", "wecom", "email", "file", "console"] = (
        Field(
            description="how messages are sent; chat and webhook types need `url`, `email` needs"
            " `host`, `sender` and `to`, `file` needs `path`"
        )
    )
    url: SecretStr | None = Field(
        default=None, description="webhook or robot URL (its access token stays secret)"
    )
    secret: SecretStr | None = Field(default=None, description="signing secret (DingTalk, Feishu)")
    path: Path | None = Field(default=None, description="JSON-lines file (`file`)")
    # email
    host: str | None = Field(default=None, description="SMTP server (`email`)")
    port: int | None = Field(
        default=None, description="SMTP port (default 587 with STARTTLS, else 25)"
    )
    username: str | None = Field(default=None, description="SMTP user")
    password: SecretStr | None = Field(default=None, description="SMTP password")
    sender: str | None = Field(default=None, description="From address (`email`)")
    to: tuple[str, ...] = Field(default=(), description="recipients (`email`)")
    starttls: bool = Field(default=True, description="upgrade the SMTP connection with STARTTLS")
    timeout_seconds: float = Field(
        default=10.0, gt=0, description="seconds to wait for the channel to answer one send"
    )
    # messages for this channel in another language than shop.locale (e.g. a global Slack)
    locale: Literal["en", "zh-CN"] | None = Field(
        default=None,
        description="messages of this channel in another language than `shop.locale` (e.g. a"
        " global Slack)",
    )
    # least seconds between two sends (None: the platform's documented rate limit)
    min_interval_seconds: float | None = Field(
        default=None,
        ge=0,
        description="least seconds between two sends; none: the platform's documented rate limit",
    )


class RouteSettings(_Strict):
    """Which channels an alert goes to, tried in order; no match sends to every channel."""

    match: dict[str, str] = Field(
        default={},
        description="labels that must equal these values (`alertname`, `severity`, `source`, …)",
    )
    match_re: dict[str, str] = Field(
        default={}, description="labels that must match these Python regular expressions"
    )
    channels: tuple[str, ...] = Field(description="channels a matching alert goes to")
    continue_: bool = Field(
        default=False,
        alias="continue",
        description="keep looking at later routes after this one matched",
    )


class AlertingSettings(_Strict):
    """When alerts notify, how deliveries retry, and how messages read."""

    repeat_interval_hours: float = Field(
        default=4.0, gt=0, description="re-notify a still-firing alert after this many hours"
    )
    send_resolved: bool = Field(default=True, description="notify once when an alert resolves")
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="delivery attempts before a message is marked `dead` (shown by `shoppulse"
        " alerts`)",
    )
    templates: Path | None = Field(
        default=None,
        description="folder of your own Jinja2 templates (rendered sandboxed, `StrictUndefined`)",
    )
    # ISO 4217 code of the shop's prices, used to format money in messages
    currency: str = Field(
        default="CNY",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the shop's prices, used to format money in messages",
    )


# the fields each channel type cannot send without
CHANNEL_NEEDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url",),
    "slack": ("url",),
    "dingtalk": ("url",),
    "feishu": ("url",),
    "wecom": ("url",),
    "email": ("host", "sender", "to"),
    "file": ("path",),
    "console": (),
}


def channel_given(channel: ChannelSettings, field: str) -> bool:
    value = getattr(channel, field)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return bool(value)


class ShopView(Protocol):
    """What alerting reads of the shop: its name, clock and language."""

    @property
    def name(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    @property
    def locale(self) -> Literal["en", "zh-CN"]: ...

    @property
    def tz(self) -> ZoneInfo: ...


class AlertSettings(Protocol):
    """What alerting reads of a shop's settings (flows' `Settings` is one)."""

    @property
    def shop(self) -> ShopView: ...

    @property
    def channels(self) -> Sequence[ChannelSettings]: ...

    @property
    def routes(self) -> Sequence[RouteSettings]: ...

    @property
    def alerting(self) -> AlertingSettings: ...

    def alert_title(self, alertname: str, locale: str) -> str:
        """The human title of an alertname in the locale (the name itself when it has none)."""
        ...
