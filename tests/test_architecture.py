"""The layout holds: each rule's name lives in its own module, and the registry is complete."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flows.settings import RulesSettings, parse_settings
from flows.warehouse import SQL_DIR
from i18n import LOCALES
from simulator import ALERTNAMES
from transforms.rules import RULES, Rule, rule

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ("flows", "sources", "alerts", "transforms", "i18n")
NAMES = {r.alertname for r in RULES}


def _literals(path: Path) -> list[tuple[int, str]]:
    """String constants that are code, not docstrings or `__all__` entries."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            skip.add(id(first.value))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skip.update(id(n) for n in ast.walk(node.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


def test_an_alertname_is_written_only_in_its_rule_module() -> None:
    found = []
    for package in PRODUCTION:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, text in _literals(path):
                if text in NAMES and path != ROOT / "transforms" / "rules" / f"{text}.py":
                    found.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert found == [], "use the rule module's ALERTNAME instead:\n" + "\n".join(found)


def test_the_literal_check_sees_a_name_outside_its_module(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text('"""data_gap in a docstring is fine."""\nNAME = "data_gap"\n')
    assert _literals(probe) == [(2, "data_gap")]


def test_the_simulator_labels_incidents_for_exactly_the_registered_rules() -> None:
    # the simulator cannot import the rules (layer contract), so its list is checked here
    assert len(ALERTNAMES) == len(set(ALERTNAMES))
    assert set(ALERTNAMES) == NAMES


@pytest.mark.parametrize("r", RULES, ids=lambda r: r.alertname)
def test_each_rule_declares_what_it_needs(r: Rule) -> None:
    assert rule(r.alertname) is r
    assert set(r.title) == set(LOCALES) and all(r.title.values())
    for model in r.reads:
        assert (SQL_DIR / "reads" / f"{model}.sql").is_file(), model
    assert r.settings() == r.settings.model_validate({})  # defaults are valid
    assert r.doc.strip()


def test_config_validation_enumerates_the_registry() -> None:
    assert set(RulesSettings.model_fields) >= NAMES
    base = {"shop": {"name": "s"}, "source": {"base_url": "http://127.0.0.1:9", "token": "t"}}
    base["warehouse"] = {"path": "w.duckdb"}
    for name in NAMES:
        with pytest.raises(Exception, match=f"rules.{name}.nope: unknown key"):
            parse_settings({**base, "rules": {name: {"nope": 1}}})


def test_the_configuration_reference_matches_the_settings_models() -> None:
    from flows.config_reference import reference, rows

    written = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == reference(), "run: python -m flows.config_reference > docs/configuration.md"
    assert all(doc for _, _, _, doc in rows()), "every key needs a description"
