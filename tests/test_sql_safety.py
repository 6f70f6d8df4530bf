"""No SQL built from values (issue 11, item 12): a scan of the code for SQL text put together
with f-strings, `.format` or `%`, checked against a reviewed list of identifier interpolations;
then data, file names and CLI values crafted as SQL, which must stay data."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from flows.pipeline import run_hour
from flows.settings import parse_settings
from flows.warehouse import Warehouse
from sources import make_source
from tests.factories import order

ROOT = Path(__file__).resolve().parent.parent
# bench/ builds throwaway benchmark files from its own constants and is not shipped
PACKAGES = ("flows", "sources", "alerts", "transforms", "simulator")
SQL = re.compile(
    r"\bselect\b[\s\S]*\bfrom\b|\binsert\s+(or\s+\w+\s+)?into\b|\bdelete\s+from\b"
    r"|\bcreate\b[\s\S]*\btable\b|\bupdate\s+\S+\s+set\b|\bdrop\s+table\b|\bwhere\b"
    r"|\bcopy\s*\(",
    re.IGNORECASE,
)

# Every interpolation into SQL text, per file. Each one is an identifier or a fragment built
# from identifiers in a fixed list in the code (table and column names of MERGES, WINDOW_FIELDS,
# _STATE_COLUMNS, staging model names, the temp table of a known dataset, a `where` chosen
# from two literals); values always travel as bound parameters. A new entry needs that review.
REVIEWED: dict[str, set[str]] = {
    "alerts/lifecycle.py": {
        "', '.join(_STATE_COLUMNS)",
        "', '.join(('?' for _ in _STATE_COLUMNS))",
    },
    "flows/chunks.py": {"WINDOW_FIELDS[dataset]", "read_sql(f'staging/stg_{dataset}')"},
    "flows/warehouse/connection.py": {"columns", "placeholders", "table", "key"},
    "flows/warehouse/load.py": {
        "window",
        "reader",
        "staged",
        "stage",
        "merge.table",
        "merge.version",
        "merge.key[0]",
        "join",
        "differs",
        "columns",
        "keys",
        "order",
        "updates",
        "newer",
        "c",
        "name",
        "changed",
        "latest",
        "', '.join((f's.{n}' for n in names))",
        "', '.join([*(f's.{n} as s_{n}' for n in fields), *olds])",
        # the landing temp table, the fingerprint of a received record (WINDOW_FIELDS and
        # MERGES key names), the known-records query and its comparison, from literals
        "LANDING",
        "_received(dataset, reader)",
        "key_hash",
        "paths",
        "known",
        "same",
    },
    "flows/warehouse/writer.py": {"table", "where", "staged_fingerprint(dataset)"},
    # a model read from sql/ by name
    "sources/shopify/__init__.py": {"_sql('order_lines')"},
}


def _sql_interpolations(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            values = [v for v in node.values if isinstance(v, ast.FormattedValue)]
            if values and SQL.search(text):
                found |= {ast.unparse(v.value) for v in values}
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
            and SQL.search(str(node.func.value.value))
        ) or (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and SQL.search(str(node.left.value))
        ):
            found.add(f"<{ast.unparse(node)[:60]}>")
    return found


def test_sql_text_interpolates_only_reviewed_identifiers() -> None:
    seen: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found = _sql_interpolations(ast.parse(path.read_text(encoding="utf-8")))
            if found:
                seen[str(path.relative_to(ROOT))] = found
    unreviewed = {
        file: sorted(found - REVIEWED.get(file, set()))
        for file, found in seen.items()
        if found - REVIEWED.get(file, set())
    }
    assert unreviewed == {}, "SQL built by interpolation; bind values as parameters instead"


def test_the_scan_finds_sql_built_from_a_value() -> None:
    tree = ast.parse(
        "wh.execute(f\"select * from core.orders where order_id = '{order_id}'\")\n"
        "wh.execute(\"delete from ops.runs where run_id = '%s'\" % run_id)\n"
        "db.execute(f\"copy (select 1) to '{path}'\")\n"
    )
    found = _sql_interpolations(tree)
    assert "order_id" in found and any("run_id" in f for f in found) and "path" in found


CRAFTED = "x'); drop table core.orders; --"


def test_values_crafted_as_sql_are_loaded_as_data(tmp_path: Path) -> None:
    # a file name with a quote (files source), and records whose values are SQL
    folder = tmp_path / "exports" / "orders"
    folder.mkdir(parents=True)
    rows = [
        order(CRAFTED, buyer_id="U1' or '1'='1"),
        order("T2", source="search'; delete from core.orders; --"),
    ]
    (folder / "it's; drop table raw.records.jsonl").write_text(
        "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8"
    )
    settings = parse_settings(
        {
            "shop": {"name": "t", "timezone": "Asia/Shanghai"},
            "source": {"kind": "files", "path": str(tmp_path / "exports")},
            "warehouse": {"path": str(tmp_path / "w.duckdb")},
        },
        {},
    )
    with Warehouse(settings.warehouse.path) as wh:
        run_hour(wh, settings, make_source(settings.source), datetime(2026, 11, 11, 3, tzinfo=UTC))
        assert wh.rows("select order_id, buyer_id from core.orders order by order_id") == [
            ("T2", "U1"),
            (CRAFTED, "U1' or '1'='1"),
        ]
        assert wh.rows("select count(*) from raw.records") == [(2,)]


def test_a_silence_matcher_crafted_as_sql_matches_only_itself(tmp_path: Path) -> None:
    config = tmp_path / "shoppulse.yaml"
    config.write_text(
        "shop: {name: t}\n"
        "source: {base_url: 'http://127.0.0.1:9', token: '${UNSET_TOKEN}'}\n"
        "warehouse: {path: w.duckdb}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    crafted = "alertname=x' or '1'='1"
    reason = "'); drop table ops.silences; --"
    made = runner.invoke(
        app,
        [
            "alerts",
            "silence",
            "-c",
            str(config),
            "--match",
            crafted,
            "--for",
            "1h",
            "--reason",
            reason,
        ],
    )
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["alerts", "list", "-c", str(config), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    (silence,) = json.loads(listed.stdout)["silences"]
    assert silence["matchers"] == {"alertname": "x' or '1'='1"}
    assert silence["reason"] == reason
