"""Settings of the source a shop's exports come from (`source:` in shoppulse.yaml)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sources.base import DATASETS

__all__ = ["SHOPIFY_API_VERSION", "TOP_GATEWAY", "SourceSettings"]

SHOPIFY_API_VERSION = "2026-10"
"""The newest stable Admin API version shopify.dev describes (versions are quarterly)."""
TOP_GATEWAY = "https://eco.taobao.com/router/rest"


class SourceSettings(BaseModel):
    """Where and how to read the shop's exports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["http", "files", "shopify", "taobao"] = Field(
        default="http",
        description="where exports come from: `http` (the export API), `files` (exported files"
        " under `path`), `shopify` (a Shopify store's Admin GraphQL API) or `taobao` (the TOP"
        " gateway and 生意参谋 exports in `exports_dir`)",
    )
    base_url: str | None = Field(
        default=None,
        description="export API root, e.g. `http://127.0.0.1:8765` (required for `http`)",
    )
    token: SecretStr | None = Field(
        default=None, description="bearer token of the export API; use `${VAR}`"
    )
    path: Path | None = Field(
        default=None,
        description="folder with `<dataset>/*.jsonl|csv|parquet` (required for `files`)",
    )
    page_size: int = Field(
        default=1000, ge=1, le=5000, description="records per page (`limit`), 1–5000"
    )
    lookback_hours: int = Field(
        default=48,
        ge=0,
        le=24 * 90,
        description="hours re-read before the watermark each run, for late updates and refunds",
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="per request")
    max_attempts: int = Field(
        default=6,
        ge=1,
        le=20,
        description="attempts per request (429, 5xx, timeouts, resets) before an export counts"
        " as failed",
    )
    max_retry_seconds: float = Field(
        default=120.0, gt=0, description="total time one request may spend retrying"
    )
    max_quarantine_ratio: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="above this share of a dataset's records quarantined in one load, the run"
        " ends partial (exit 3) naming the dataset; the good records still load",
    )
    datasets: tuple[str, ...] = Field(default=DATASETS, description="datasets to pull")

    # -- kind: shopify (Admin GraphQL API) --------------------------------------------------
    shop: str | None = Field(
        default=None,
        description="`shopify`: the store's `*.myshopify.com` domain (required)",
    )
    access_token: SecretStr | None = Field(
        default=None,
        description="`shopify`: the custom app's Admin API access token (required); use `${VAR}`",
    )
    api_version: str = Field(
        default=SHOPIFY_API_VERSION,
        description="`shopify`: the pinned Admin API version, sent in every URL",
    )
    bulk_after_hours: int = Field(
        default=72,
        ge=1,
        description="`shopify`: an orders window longer than this runs one bulk operation; keep"
        " it above `lookback_hours` + 1 so hourly runs page",
    )
    max_query_cost: int = Field(
        default=1000,
        ge=10,
        le=1000,
        description="`shopify`: the cost one query may request; page sizes follow from it",
    )
    # -- end of kind: shopify ---------------------------------------------------------------

    # -- kind: taobao — the Taobao Open Platform gateway and 生意参谋 exports (sources/taobao) --
    app_key: str | None = Field(default=None, description="TOP app key (required for `taobao`)")
    app_secret: SecretStr | None = Field(
        default=None, description="TOP app secret (required for `taobao`); use `${VAR}`"
    )
    session: SecretStr | None = Field(
        default=None,
        description="the seller's session key from authorising the app (required for `taobao`);"
        " use `${VAR}`",
    )
    gateway: str = Field(default=TOP_GATEWAY, description="the TOP REST gateway (`taobao`)")
    sign_method: Literal["md5", "hmac", "hmac-sha256"] = Field(
        default="hmac-sha256", description="TOP request signature: `md5`, `hmac` or `hmac-sha256`"
    )
    exports_dir: Path | None = Field(
        default=None,
        description="folder of 生意参谋 export files and `promotions.csv` (required for `taobao`)",
    )
    sycm_headers: dict[str, str] = Field(
        default_factory=dict,
        description='extra 生意参谋 header names → field, e.g. `{"访客数(UV)": visitors}`',
    )
    sycm_sources: dict[str, str] = Field(
        default_factory=dict,
        description="extra 生意参谋 流量来源 names → shoppulse source, e.g."
        ' `{"手淘首页": recommend}`',
    )
    calls_per_second: float = Field(
        default=10.0, gt=0, description="TOP calls are paced under this rate (`taobao`)"
    )
    max_ban_wait_seconds: float = Field(
        default=60.0,
        ge=0,
        description="longest TOP call-limit ban waited before the export counts as failed",
    )
    # -- both platforms ----------------------------------------------------------------------
    safety_stock: int = Field(
        default=0,
        ge=0,
        description="safety stock of SKUs the platform gives none (`shopify`: those without a"
        " `shoppulse.safety_stock` metafield; `taobao`: every SKU, TOP has none)",
    )
    # -- end of kind: taobao --

    @field_validator("base_url", "gateway")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    def model_post_init(self, __context: Any) -> None:
        if self.kind == "http" and not self.base_url:
            raise ValueError("source.base_url is required when source.kind is http")
        if self.kind == "files" and self.path is None:
            raise ValueError("source.path is required when source.kind is files")
        if self.kind == "taobao":
            self._check_taobao()
        if self.kind == "shopify":
            _check_shopify(self)

    def _check_taobao(self) -> None:
        for key in ("app_key", "app_secret", "session", "exports_dir"):
            value = getattr(self, key)
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
                raise ValueError(f"source.{key} is required when source.kind is taobao")
        from sources.taobao.tables import FIELDS, check_sources

        for header, field in self.sycm_headers.items():
            if field not in FIELDS:
                raise ValueError(
                    f"source.sycm_headers.{header}: unknown field {field!r}"
                    f" (known: {', '.join(sorted(FIELDS))})"
                )
        check_sources(self.sycm_sources)


def _check_shopify(settings: SourceSettings) -> None:
    if not settings.shop:
        raise ValueError("source.shop is required when source.kind is shopify")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*\.myshopify\.com", settings.shop):
        raise ValueError(
            f"source.shop must be the store's myshopify.com domain, got {settings.shop!r}"
        )
    if settings.access_token is None or not settings.access_token.get_secret_value():
        raise ValueError("source.access_token is required when source.kind is shopify")
    if not re.fullmatch(r"\d{4}-(01|04|07|10)", settings.api_version):
        raise ValueError(
            "source.api_version must be a stable Shopify API version such as"
            f" {SHOPIFY_API_VERSION!r}, got {settings.api_version!r}"
        )
