"""Settings of the source a shop's exports come from (`source:` in shoppulse.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["SourceSettings"]


class SourceSettings(BaseModel):
    """Where and how to read the shop's exports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["http", "files"] = Field(
        default="http",
        description="where exports come from: `http` (the export API) or `files` (exported files"
        " under `path`)",
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
    datasets: tuple[str, ...] = Field(
        default=("products", "promotions", "orders", "traffic", "inventory", "keywords"),
        description="datasets to pull",
    )

    @field_validator("base_url")
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
