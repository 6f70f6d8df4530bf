"""Rendering messages with Jinja2 templates: one per format and locale, user-overridable.

Templates live in `alerts/templates/<locale>/<format>.j2` (formats: markdown, slack, text,
html, subject); a folder set as `alerting.templates` with the same layout overrides them
file by file. Every template renders in a sandbox with StrictUndefined, and every
`{{ value }}` is escaped for the format's markup, so data cannot inject formatting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alerts.digest import Digest, Outgoing
from alerts.digest_view import digest_context
from alerts.errors import TemplateError
from alerts.markup import finalizer, truncate_utf8, utf8_len
from alerts.message import Message, MessageAlert, order_alerts
from alerts.settings import AlertSettings
from i18n import label_name, word

__all__ = ["BUILTIN_TEMPLATES", "FORMATS", "Renderer"]

BUILTIN_TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("markdown", "slack", "text", "html", "subject")

_CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}
_RATIO_METRICS = {"conversion_rate", "bounce_rate", "cancel_rate"}
_MONEY_METRICS = {"gmv", "aov", "refund_amount"}


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "").strip())
    except (AttributeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


@lru_cache(maxsize=64)
def _environment(fmt: str, search: tuple[str, ...]) -> SandboxedEnvironment:
    """One Jinja environment per format and template path for the process: its compiled
    templates are reused by every renderer (each flush makes one); a template edited on
    disk is still reloaded (the loader checks its modification time)."""
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(list(search)),
        undefined=jinja2.StrictUndefined,
        autoescape=fmt == "html",
        finalize=finalizer(fmt),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


class Renderer:
    """Renders a Message for one format and locale with the shop's timezone and currency."""

    def __init__(self, settings: AlertSettings) -> None:
        self.shop = settings.shop
        self._title = settings.alert_title
        self.alerting = settings.alerting
        search = [BUILTIN_TEMPLATES]
        if settings.alerting.templates is not None:
            search.insert(0, Path(settings.alerting.templates))
        self._search = tuple(str(p) for p in search)

    def _env(self, fmt: str) -> SandboxedEnvironment:
        if fmt not in FORMATS:
            raise TemplateError(f"unknown template format {fmt!r} (known: {', '.join(FORMATS)})")
        return _environment(fmt, self._search)

    # -- formatting helpers -------------------------------------------------------------

    def title(self, alertname: str, locale: str) -> str:
        """The human title of an alertname in the locale."""
        return self._title(alertname, locale)

    def local_time(self, value: datetime | None) -> str:
        """Shop-local wall time; the UTC offset is added when the wall time is ambiguous."""
        if value is None:
            return ""
        local = value.astimezone(self.shop.tz)
        text = local.strftime("%Y-%m-%d %H:%M")
        other = local.replace(fold=1 - local.fold)
        if other.utcoffset() != local.utcoffset():
            # a daylight-saving fall-back hour happens twice: say which one
            offset = local.strftime("%z")
            text += f" (UTC{offset[:3]}:{offset[3:]})"
        return text

    def hour_range(self, start: datetime) -> str:
        end = (start + timedelta(hours=1)).astimezone(self.shop.tz)
        return f"{self.local_time(start)}–{end:%H:%M}"

    def money(self, value: float) -> str:
        code = self.alerting.currency
        symbol = _CURRENCY_SYMBOLS.get(code, f"{code} ")
        sign = "-" if value < 0 else ""
        amount = abs(value)
        return f"{sign}{symbol}{amount:,.0f}" if amount >= 100 else f"{sign}{symbol}{amount:,.2f}"

    def _unit(self, alert: MessageAlert) -> str:
        unit = alert.annotations.get("unit")
        if unit:
            return unit
        metric = alert.annotations.get("metric", "")
        if metric in _RATIO_METRICS or metric.endswith("_rate"):
            return "ratio"
        if metric in _MONEY_METRICS:
            return "currency"
        return ""

    def quantity(self, text: str, unit: str, locale: str) -> str:
        """A value as people read it: 3.2%, ¥1,234, 1,200, 5.5 h; non-numbers unchanged."""
        value = _number(text)
        if value is None:
            return text
        if unit in ("ratio", "percent"):
            value = value * 100 if unit == "ratio" else value
            return f"{value:.2f}%" if abs(value) < 1 else f"{value:.1f}%"
        if unit == "currency":
            return self.money(value)
        if unit == "hours":
            return f"{value:.1f} {word('hours', locale)}"
        if value == int(value):
            return f"{int(value):,}"
        return f"{value:,.2f}"

    @staticmethod
    def change(value: str, baseline: str) -> str:
        """Relative change from baseline to value, e.g. -32.5%; empty when not computable."""
        now, base = _number(value), _number(baseline)
        if now is None or base is None or base == 0:
            return ""
        return f"{(now / base - 1) * 100:+.1f}%"

    # -- context ------------------------------------------------------------------------

    def _alert(self, alert: MessageAlert, locale: str) -> dict[str, Any]:
        notes = alert.annotations
        unit = self._unit(alert)
        value, baseline = notes.get("value", ""), notes.get("baseline", "")
        scope = {
            k: v for k, v in alert.labels.items() if k not in ("alertname", "severity", "shop")
        }
        causes = [line.strip() for line in notes.get("root_cause", "").splitlines() if line.strip()]
        return {
            "alertname": alert.alertname,
            "title": self._title(alert.alertname, locale),
            "status": alert.status,
            "status_label": word(alert.status, locale),
            "notice": alert.notice,
            "notice_label": word(alert.notice, locale)
            if alert.notice in ("repeat", "escalated")
            else "",
            "severity": alert.severity,
            "severity_label": word(alert.severity, locale),
            "summary": notes.get("summary", "") or self._title(alert.alertname, locale),
            "description": notes.get("description", ""),
            "value": self.quantity(value, unit, locale) if value else "",
            "baseline": self.quantity(baseline, unit, locale) if baseline else "",
            "change": self.change(value, baseline),
            "unit": unit,
            "action": notes.get("action", ""),
            "root_cause": causes,
            "labels": scope,
            "scope": [
                {"name": label_name(k, locale), "value": v} for k, v in sorted(scope.items())
            ],
            "starts_at": self.local_time(alert.starts_at),
            "ends_at": self.local_time(alert.ends_at),
            "hour": self.hour_range(alert.hour),
            "impact": self.money(alert.impact) if alert.impact > 0 else "",
            "fingerprint": alert.fingerprint,
            "annotations": dict(notes),
        }

    def context(
        self,
        message: Message,
        locale: str,
        alerts: Sequence[MessageAlert] | None = None,
        omitted: int = 0,
    ) -> dict[str, Any]:
        """The variables every template gets (documented in alerts/templates/README.md)."""
        shown = list(message.alerts if alerts is None else alerts)
        groups: list[dict[str, Any]] = []
        for alertname, members in message.groups(shown):
            rendered = [self._alert(a, locale) for a in members]
            groups.append(
                {
                    "alertname": alertname,
                    "title": self._title(alertname, locale),
                    "count": len(members),
                    "firing": sum(a.status == "firing" for a in members),
                    "resolved": sum(a.status == "resolved" for a in members),
                    "alerts": rendered,
                }
            )
        return {
            "shop": message.shop,
            "locale": locale,
            "timezone": self.shop.timezone,
            "status": message.status,
            "status_label": word(message.status, locale),
            "delivery_id": message.delivery_id,
            "receiver": message.receiver,
            "hour": self.hour_range(message.hour),
            "firing_count": sum(a.status == "firing" for a in message.alerts),
            "resolved_count": sum(a.status == "resolved" for a in message.alerts),
            "total": len(message.alerts),
            "omitted": omitted,
            "groups": groups,
            "alerts": [a for g in groups for a in g["alerts"]],
        }

    # -- rendering ----------------------------------------------------------------------

    def render(
        self,
        fmt: str,
        message: Outgoing,
        *,
        locale: str | None = None,
        alerts: Sequence[MessageAlert] | None = None,
        omitted: int = 0,
        compact: bool = False,
    ) -> str:
        """Render `message` (or the subset `alerts`) with the template for fmt and locale; a
        digest with `<locale>/digest/<fmt>.j2` (`compact`: fewer rows per section)."""
        loc = locale or self.shop.locale
        env = self._env(fmt)
        name = f"{loc}/digest/{fmt}.j2" if isinstance(message, Digest) else f"{loc}/{fmt}.j2"
        try:
            template = env.get_template(name)
            if isinstance(message, Digest):
                context = digest_context(self, message, loc, compact=compact)
            else:
                context = self.context(message, loc, alerts, omitted)
            text = template.render(context)
        except jinja2.TemplateNotFound:
            where = ", ".join(self._search)
            raise TemplateError(f"template {name} not found in {where}") from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {name} failed to render: {exc}") from None
        return text.strip() + "\n" if fmt != "subject" else text.strip()

    def fit(
        self,
        fmt: str,
        message: Outgoing,
        *,
        limit: int,
        locale: str | None = None,
        measure: Callable[[str], int] = utf8_len,
    ) -> str:
        """Render within `limit` (as `measure` counts): drop the lowest-impact alerts first and
        say how many were omitted (a digest: fewer rows per section); as a last resort cut the
        text on a character boundary."""
        if isinstance(message, Digest):
            for compact in (False, True):
                text = self.render(fmt, message, locale=locale, compact=compact)
                if measure(text) <= limit:
                    return text
            return _cut(text, limit, measure)
        ordered = order_alerts(message.alerts)
        full = self.render(fmt, message, locale=locale)
        if measure(full) <= limit:
            return full

        def attempt(keep: int) -> str:
            return self.render(
                fmt, message, locale=locale, alerts=ordered[:keep], omitted=len(ordered) - keep
            )

        low, high = 0, len(ordered) - 1
        best = attempt(0)
        if measure(best) > limit:
            return _cut(best, limit, measure)
        while low < high:
            middle = (low + high + 1) // 2
            text = attempt(middle)
            if measure(text) <= limit:
                low, best = middle, text
            else:
                high = middle - 1
        return best


def _cut(text: str, limit: int, measure: Callable[[str], int]) -> str:
    # measure may count more than the text (an envelope): shrink until it fits
    size = utf8_len(text)
    while size > 0:
        candidate = truncate_utf8(text, size)
        if measure(candidate) <= limit:
            return candidate
        size -= max(measure(candidate) - limit, 1)
    return ""
