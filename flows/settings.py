"""Settings: the one place that turns shoppulse.yaml and the environment into typed values."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
)

from alerts.settings import (
    CHANNEL_NEEDS,
    AlertingSettings,
    ChannelSettings,
    RouteSettings,
    channel_given,
)
from flows.errors import ConfigError
from sources.settings import SourceSettings
from transforms.rules import RULES, ThresholdRule, alert_titles

__all__ = [
    "ChannelSettings",
    "RouteSettings",
    "RulesSettings",
    "Settings",
    "ShopSettings",
    "SourceSettings",
    "ThresholdRule",
    "WarehouseSettings",
    "load_settings",
    "masked",
    "parse_settings",
    "shop_label",
]

DEFAULT_CONFIG = Path("shoppulse.yaml")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShopSettings(_Strict):
    """The shop: its name, clock and language."""

    name: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="shop name (letters, digits, `._-`); a label on every alert and the name of"
        " its deployments",
    )
    timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA zone; KPI hours and days follow its clock (half-hour offsets and DST"
        " included)",
    )
    locale: Literal["en", "zh-CN"] = Field(
        default="en", description="language of alert messages, the dashboard and the CLI tables"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name)") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class WarehouseSettings(_Strict):
    """The shop's DuckDB warehouse and its single-writer lock."""

    path: Path = Field(description="the shop's DuckDB file (one per shop; created on first run)")
    lock_timeout_seconds: float = Field(
        default=600.0,
        ge=0,
        description="how long a run waits for another run's writer lock before it exits naming"
        " that run",
    )
    memory_limit: str | None = Field(
        default=None,
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory limit for a run that writes the warehouse, e.g. 1GB: above"
        " it DuckDB spills to a temp file beside the warehouse instead of growing, so a long"
        " window or backfill takes the same memory as a short one; unset, DuckDB's default"
        " (80% of the machine's memory, which it fills with cached pages before evicting)",
    )


class _RulesBase(_Strict):
    """`rules:`: one section per rule of the registry, and the user threshold rules."""

    thresholds: tuple[ThresholdRule, ...] = ()

    def of(self, alertname: str) -> Any:
        """The settings of the built-in rule named `alertname`."""
        return getattr(self, alertname)


if TYPE_CHECKING:
    RulesSettings = _RulesBase
else:
    # one field per registered rule, its settings model and defaults
    RulesSettings = create_model(
        "RulesSettings",
        __base__=_RulesBase,
        **{r.alertname: (r.settings, r.settings()) for r in RULES},
    )


class Settings(_Strict):
    shop: ShopSettings
    source: SourceSettings
    warehouse: WarehouseSettings
    rules: RulesSettings = Field(
        default_factory=RulesSettings,
        description="one section per built-in rule, and your threshold rules",
    )
    channels: tuple[ChannelSettings, ...] = ()
    routes: tuple[RouteSettings, ...] = ()
    alerting: AlertingSettings = AlertingSettings()

    def alert_title(self, alertname: str, locale: str) -> str:
        """The human title of an alert; user threshold rules keep their configured name."""
        return alert_titles(locale).get(alertname, alertname)

    def model_post_init(self, __context: Any) -> None:
        names = [c.name for c in self.channels]
        for index, channel_settings in enumerate(self.channels):
            missing = [
                f
                for f in CHANNEL_NEEDS[channel_settings.type]
                if not channel_given(channel_settings, f)
            ]
            if missing:
                raise ValueError(
                    f"channels.{index} ({channel_settings.name}): type {channel_settings.type}"
                    f" needs {', '.join(missing)}"
                )
        for index, route in enumerate(self.routes):
            for label, pattern in route.match_re.items():
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(
                        f"routes.{index}.match_re.{label}: not a regular expression ({exc})"
                    ) from None
            for channel in route.channels:
                if channel not in names:
                    raise ValueError(
                        f"routes.{index}.channels names unknown channel {channel!r}"
                        f" (known: {', '.join(names) or 'none'})"
                    )


def _missing(env: Mapping[str, str], name: str) -> str:
    # an environment backed by more than os.environ (flows.secrets) says where else it looked
    describe = getattr(env, "describe_missing", None)
    return describe(name) if callable(describe) else f"environment variable {name} is not set"


def _expand(value: Any, path: str, env: Mapping[str, str], secrets: bool = True) -> Any:
    if isinstance(value, str):

        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                if not secrets:
                    return match.group(0)
                raise ConfigError(f"{path}: {_missing(env, name)}")
            return env[name]

        return _VAR.sub(repl, value)
    if isinstance(value, dict):
        return {
            k: _expand(v, f"{path}.{k}" if path else str(k), env, secrets) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_expand(v, f"{path}.{i}", env, secrets) for i, v in enumerate(value)]
    return value


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        kind = item["type"]
        if kind == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        elif kind == "missing":
            lines.append(f"{key}: required key is missing")
        else:
            message = item["msg"].removeprefix("Value error, ")
            lines.append(f"{key}: {message}")
    return "; ".join(lines)


def parse_settings(
    data: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    base: Path | None = None,
    *,
    secrets: bool = True,
) -> Settings:
    """Validate a config mapping, expanding ${VAR} from env; relative paths resolve from base.

    With `secrets=False` (commands that only read the local warehouse) a variable that is not
    set stays as written instead of failing: such a command never uses it.
    """
    expanded = _expand(dict(data), "", os.environ if env is None else env, secrets)
    try:
        settings = Settings.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_describe(exc)}") from None
    if base is not None:
        settings = _resolve_paths(settings, base)
    return settings


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def rel(path: Path | None) -> Path | None:
        return path if path is None or path.is_absolute() else base / path

    warehouse = settings.warehouse.model_copy(update={"path": rel(settings.warehouse.path)})
    source = settings.source.model_copy(
        update={"path": rel(settings.source.path), "exports_dir": rel(settings.source.exports_dir)}
    )
    channels = tuple(c.model_copy(update={"path": rel(c.path)}) for c in settings.channels)
    alerting = settings.alerting.model_copy(update={"templates": rel(settings.alerting.templates)})
    return settings.model_copy(
        update={
            "warehouse": warehouse,
            "source": source,
            "channels": channels,
            "alerting": alerting,
        }
    )


def load_settings(
    path: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
) -> Settings:
    """Read and validate a shoppulse.yaml; relative paths are taken from the file's folder.

    `secrets=False`: unset `${VAR}`s are left as written (see parse_settings)."""
    file = Path(path) if path is not None else DEFAULT_CONFIG
    if not file.is_file():
        raise ConfigError(
            f"config file {file} not found (pass --config FILE, or run `shoppulse demo` for one)"
        )
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{file}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping of settings at the top level")
    try:
        return parse_settings(data, env, base=file.resolve().parent, secrets=secrets)
    except RecursionError:
        raise ConfigError(
            f"{file}: settings nest too deeply (a YAML alias that contains itself?)"
        ) from None


def shop_label(path: Path | str) -> str:
    """The shop name a config file gives, read without validating it, else the file's stem:
    what a run that fails before its config is valid is reported under."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        name = data["shop"]["name"]
    except (OSError, yaml.YAMLError, TypeError, KeyError):
        return Path(path).stem
    return name if isinstance(name, str) and name else Path(path).stem


def masked(settings: Settings) -> dict[str, Any]:
    """The resolved settings as plain data, every secret replaced by '***'."""
    return settings.model_dump(mode="json", by_alias=True)
