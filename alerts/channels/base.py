"""The one interface every channel implements, and what channels share."""

from __future__ import annotations

from typing import ClassVar, Protocol

import httpx

from alerts.digest import Outgoing
from alerts.errors import ChannelConfigError
from alerts.renderer import Renderer
from alerts.settings import ChannelSettings

__all__ = ["Channel", "ChannelBase"]


class Channel(Protocol):
    """Sends one message; raises DeliveryError (or another AlertError) when it was not taken."""

    name: str
    min_interval: float

    def send(self, message: Outgoing) -> None: ...


class ChannelBase:
    """Settings, renderer and HTTP client, and the checks that the settings are complete."""

    # least seconds between two messages, from the platform's documented rate limit
    rate_limit_seconds = 0.0
    # whether it sends over HTTP: a channel that does not is built without a client
    uses_http: ClassVar[bool] = True

    def __init__(
        self, config: ChannelSettings, renderer: Renderer, http: httpx.Client | None
    ) -> None:
        self.config = config
        self.name = config.name
        self.renderer = renderer
        self._http = http
        self.locale = config.locale or renderer.shop.locale
        override = config.min_interval_seconds
        self.min_interval = self.rate_limit_seconds if override is None else override

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            raise ChannelConfigError(f"channels.{self.name}: built without an HTTP client")
        return self._http

    def _url(self) -> str:
        if self.config.url is None or not self.config.url.get_secret_value():
            raise ChannelConfigError(f"channels.{self.name}: type {self.config.type} needs a url")
        url = self.config.url.get_secret_value()
        if not url.startswith(("http://", "https://")):
            raise ChannelConfigError(
                f"channels.{self.name}: url must start with http:// or https://"
            )
        return url

    def _secret(self) -> str | None:
        secret = self.config.secret.get_secret_value() if self.config.secret else None
        return secret or None

    def send(self, message: Outgoing) -> None:
        raise NotImplementedError
