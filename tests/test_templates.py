"""Templates: every format in both locales renders every alert type under StrictUndefined;
user templates are sandboxed; data values are escaped for each markup; sizes are safe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest

from alerts.errors import TemplateError
from alerts.markup import truncate_utf8, utf8_len
from alerts.message import Message, MessageAlert
from alerts.renderer import BUILTIN_TEMPLATES, FORMATS, Renderer
from tests.receivers import alert_settings

H0 = datetime(2026, 11, 11, 2, tzinfo=UTC)
LOCALES = ("en", "zh-CN")
ALERTS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "conversion_drop": (
        {"source": "search"},
        {
            "summary": "Conversion down 38% in search",
            "description": "buyers/visitors under the 14-day baseline",
            "value": "0.021",
            "baseline": "0.034",
            "root_cause": "search: 120 missing buyers\nSKU1007: 40 missing buyers",
            "action": "Check search ranking",
            "unit": "ratio",
        },
    ),
    "low_stock_promo": (
        {"sku_id": "SKU1007", "promo_id": "P-FLASH-1"},
        {
            "summary": '家用多功能活动扳手 8" sells out in 1.5 h',
            "description": "flash sale ends 12:00; 64 available, 42 sold per hour",
            "value": "64",
            "baseline": "10",
            "action": "Restock or switch to presale",
            "unit": "count",
        },
    ),
    "cancel_spike": (
        {"promo_id": "P-FULL-1"},
        {
            "summary": "Cancel rate 31%",
            "value": "0.31",
            "baseline": "0.05",
            "description": "",
            "unit": "ratio",
        },
    ),
    "data_gap": (
        {"dataset": "orders"},
        {"summary": "orders export failed", "value": "0", "unit": "count"},
    ),
    "promo_audit": (
        {"promo_id": "P-FLASH-1", "sku_id": "SKU1007"},
        {"summary": "Promo price under the 90-day lowest", "value": "79.0", "unit": "currency"},
    ),
    # a threshold rule's alert names its metric, which formats value and baseline
    "high_bounce": (
        {},
        {
            "summary": "Bounce rate 74%",
            "value": "0.74",
            "baseline": "0.52",
            "metric": "bounce_rate",
        },
    ),
}


def message(*alerts: MessageAlert) -> Message:
    return Message("d0123456789abcdef", "ops", "demo-shop", H0, alerts)


def alert(
    alertname: str,
    status: str = "firing",
    annotations: dict[str, str] | None = None,
    impact: float = 1200.0,
    **labels: str,
) -> MessageAlert:
    scope, notes = ALERTS.get(alertname, ({}, {}))
    return MessageAlert(
        status=status,
        notice="resolved" if status == "resolved" else "firing",
        labels={**(labels or scope), "alertname": alertname, "severity": "critical", "shop": "s"},
        annotations=notes if annotations is None else annotations,
        starts_at=H0 - timedelta(hours=2),
        ends_at=H0 if status == "resolved" else None,
        fingerprint="f" * 16,
        hour=H0,
        impact=impact,
    )


@pytest.fixture
def renderer(tmp_path: Path) -> Renderer:
    return Renderer(alert_settings(tmp_path))


def test_builtin_templates_exist_for_every_format_and_locale() -> None:
    for locale in LOCALES:
        found = {p.stem for p in (BUILTIN_TEMPLATES / locale).glob("*.j2")}
        assert found == set(FORMATS), locale


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("alertname", sorted(ALERTS))
def test_every_template_renders_every_alert_strictly(
    renderer: Renderer, locale: str, fmt: str, alertname: str
) -> None:
    rich = alert(alertname)
    resolved = alert(alertname, "resolved", impact=0)
    bare = alert(alertname, annotations={}, impact=0, sku_id="X")
    text = renderer.render(fmt, message(rich, resolved, bare), locale=locale)
    assert renderer._env(fmt).undefined is jinja2.StrictUndefined
    assert text.strip() and "None" not in text
    assert "demo-shop" in text
    if fmt != "subject":
        assert "d0123456789abcdef" in text
        summary = ALERTS[alertname][1]["summary"]
        assert (summary if fmt != "html" else summary.replace('"', "&#34;")) in text


def test_numbers_are_formatted_for_people(renderer: Renderer) -> None:
    text = renderer.render("text", message(alert("conversion_drop")), locale="en")
    assert "2.1% (baseline 3.4%, -38.2%)" in text and "¥1,200" in text
    text = renderer.render("text", message(alert("high_bounce")), locale="zh-CN")
    assert "74.0%（基线 52.0%，变化 +42.3%）" in text
    text = renderer.render("text", message(alert("promo_audit")), locale="en")
    assert "¥79.00" in text
    assert "2026-11-11 08:00" in text  # 00:00 UTC start, shown in Asia/Shanghai


def test_ambiguous_local_hour_shows_its_offset(tmp_path: Path) -> None:
    renderer = Renderer(alert_settings(tmp_path, shop={"timezone": "America/New_York"}))
    first = renderer.local_time(datetime(2026, 11, 1, 5, tzinfo=UTC))
    second = renderer.local_time(datetime(2026, 11, 1, 6, tzinfo=UTC))
    assert first == "2026-11-01 01:00 (UTC-04:00)"
    assert second == "2026-11-01 01:00 (UTC-05:00)"
    assert renderer.local_time(datetime(2026, 11, 1, 8, tzinfo=UTC)) == "2026-11-01 03:00"


HOSTILE = "**Big** [deal](http://evil.example) <at id=all></at> `x` # _y_ | ~z~\n### fake"


@pytest.mark.parametrize("fmt", ["markdown", "slack", "text", "html", "subject"])
def test_data_cannot_inject_markup(renderer: Renderer, fmt: str) -> None:
    hostile = alert("low_stock_promo", annotations={"summary": HOSTILE, "value": "1"})
    text = renderer.render(fmt, message(hostile), locale="en")
    if fmt != "html":  # a newline is only whitespace in HTML
        assert "\n### fake" not in text  # a value never starts a line of its own
    if fmt == "markdown":
        for raw in ("**Big**", "[deal]", "<at", "`x`", "_y_", "~z~", "# _"):
            assert raw not in text
        assert "Big" in text and "deal" in text
    if fmt == "slack":
        assert "<at" not in text and "&lt;at id=all&gt;" in text and "*Big*" not in text
    if fmt == "html":
        assert "<at" not in text and "&lt;at id=all&gt;" in text
    if fmt == "subject":
        assert "\n" not in text and "\r" not in text


MENTIONS = 'SKU @all @所有人 @13800000000 <!channel> <!here> <@U024BE7LH> <at user_id="all">'


@pytest.mark.parametrize("fmt", ["markdown", "slack"])
def test_a_product_title_cannot_mention_everyone(renderer: Renderer, fmt: str) -> None:
    hostile = alert("low_stock_promo", annotations={"summary": MENTIONS, "value": "1"})
    text = renderer.render(fmt, message(hostile), locale="en")
    for raw in ("@all", "@所有人", "@138", "<!channel>", "<!here>", "<@U", "<at"):
        assert raw not in text
    assert "SKU ＠all" in text  # still readable


def test_user_templates_override_and_fall_back(tmp_path: Path) -> None:
    folder = tmp_path / "my-templates"
    (folder / "en").mkdir(parents=True)
    (folder / "en" / "text.j2").write_text("CUSTOM {{ shop }}: {{ total }} alert(s)")
    renderer = Renderer(alert_settings(tmp_path, templates=str(folder)))
    msg = message(alert("cancel_spike"))
    assert renderer.render("text", msg, locale="en") == "CUSTOM demo-shop: 1 alert(s)\n"
    assert "Cancellation spike" in renderer.render("markdown", msg, locale="en")


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ no_such_variable }}", "undefined"),
        ("{{ groups[0].alerts[0].nope }}", "nope"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
        ("{% for %}", "failed to render"),
    ],
)
def test_user_templates_are_strict_and_sandboxed(tmp_path: Path, source: str, error: str) -> None:
    folder = tmp_path / "t"
    (folder / "en").mkdir(parents=True)
    (folder / "en" / "text.j2").write_text(source)
    renderer = Renderer(alert_settings(tmp_path, templates=str(folder)))
    with pytest.raises(TemplateError, match=rf"(?s)en/text\.j2.*{error}"):
        renderer.render("text", message(alert("cancel_spike")), locale="en")


def test_truncation_never_splits_a_character() -> None:
    text = '库存不足 SKU1007 家用多功能活动扳手 8" — ✅'
    for limit in range(utf8_len(text) + 2):
        cut = truncate_utf8(text, limit)
        assert utf8_len(cut) <= max(limit, utf8_len("…"))
        cut.encode("utf-8").decode("utf-8")


def test_fit_drops_lowest_impact_and_falls_back_to_a_hard_cut(renderer: Renderer) -> None:
    alerts = [alert("conversion_drop", impact=float(n), source=f"src-{n:02d}") for n in range(30)]
    msg = message(*alerts)
    text = renderer.fit("markdown", msg, limit=2500, locale="en")
    assert utf8_len(text) <= 2500
    assert "src-29" in text and "src-00" not in text
    assert "more alert(s) not shown" in text
    tiny = renderer.fit("markdown", msg, limit=60, locale="zh-CN")
    assert utf8_len(tiny) <= 60 and tiny.endswith("…")
