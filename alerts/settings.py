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
    name: str
    type: Literal["webhook", "slack", "dingtalk", "feishu", "wecom", "email", "file", "console"]
    url: SecretStr | None = None
    secret: SecretStr | None = None
    path: Path | None = None
    # email
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: SecretStr | None = None
    sender: str | None = None
    to: tuple[str, ...] = ()
    starttls: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0)
    # messages for this channel in another language than shop.locale (e.g. a global Slack)
    locale: Literal["en", "zh-CN"] | None = None
    # least seconds between two sends (None: the platform's documented rate limit)
    min_interval_seconds: float | None = Field(default=None, ge=0)


class RouteSettings(_Strict):
    match: dict[str, str] = {}
    match_re: dict[str, str] = {}
    channels: tuple[str, ...]
    continue_: bool = Field(default=False, alias="continue")


class AlertingSettings(_Strict):
    repeat_interval_hours: float = Field(default=4.0, gt=0)
    send_resolved: bool = True
    max_attempts: int = Field(default=5, ge=1)
    templates: Path | None = None
    # ISO 4217 code of the shop's prices, used to format money in messages
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")


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
