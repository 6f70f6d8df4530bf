"""The rule registry: every built-in rule, one module each; nothing else lists them.

The hourly runner, backfill replays, `shoppulse evaluate`, config validation, the alert
titles and the docs all enumerate `RULES`. A new rule is one module here (alertname, settings
model, reads, pure `evaluate`, message text in en and zh-CN), its `sql/reads/` model and its
test, plus one line below.
"""

from __future__ import annotations

from collections.abc import Mapping

from transforms.rules import (
    cancel_spike,
    conversion_drop,
    data_gap,
    late_shipping,
    low_stock_promo,
    negative_review,
    promo_audit,
    return_spike,
    review_attack,
    slow_service,
)
from transforms.rules.base import (
    Candidate,
    Context,
    Hour,
    Reader,
    Rule,
    RuleSettings,
    SettingsLookup,
    Shared,
)
from transforms.rules.thresholds import ThresholdError, ThresholdRule, evaluate_thresholds

__all__ = [
    "RULES",
    "Candidate",
    "Context",
    "Hour",
    "Reader",
    "Rule",
    "RuleSettings",
    "SettingsLookup",
    "Shared",
    "ThresholdError",
    "ThresholdRule",
    "alert_titles",
    "evaluate_thresholds",
    "rule",
]

# evaluation order: a data gap first, since it holds back the drops of the same hour
RULES: tuple[Rule, ...] = (
    data_gap.RULE,
    conversion_drop.RULE,
    cancel_spike.RULE,
    low_stock_promo.RULE,
    promo_audit.RULE,
    slow_service.RULE,
    negative_review.RULE,
    review_attack.RULE,
    late_shipping.RULE,
    return_spike.RULE,
)
_BY_NAME = {r.alertname: r for r in RULES}
assert len(_BY_NAME) == len(RULES), "two rules share an alertname"


def rule(alertname: str) -> Rule:
    """The built-in rule of that name (KeyError for an unknown one)."""
    return _BY_NAME[alertname]


def alert_titles(locale: str) -> Mapping[str, str]:
    """Each built-in rule's human title in the locale (English where it has none)."""
    return {r.alertname: r.title.get(locale, r.title["en"]) for r in RULES}
