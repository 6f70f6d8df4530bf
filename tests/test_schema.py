"""A warehouse gets its schema when opened for writing, and skips the DDL it already has."""

from __future__ import annotations

from pathlib import Path

from flows.warehouse import Warehouse


def macro_exists(wh: Warehouse, name: str) -> bool:
    return bool(wh.rows("select 1 from duckdb_functions() where function_name = ?", [name]))


def test_a_file_with_the_current_ddl_skips_it_and_one_with_other_ddl_gets_it_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        assert macro_exists(wh, "as_int")
        (digest,) = wh.rows("select digest from ops.schema_applied")[0]
        wh.execute("drop macro as_int32")
    with Warehouse(path) as wh:
        # the same DDL as recorded: not applied again, so the dropped macro stays dropped
        assert not macro_exists(wh, "as_int32")
        wh.execute("update ops.schema_applied set digest = 'an older release'")
    with Warehouse(path) as wh:
        # other DDL recorded, as after an upgrade: applied again, and its digest recorded
        assert macro_exists(wh, "as_int32")
        assert wh.rows("select digest from ops.schema_applied") == [(digest,)]


def test_a_read_only_open_leaves_the_file_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse(path) as wh:
        wh.execute("delete from ops.schema_applied")
    with Warehouse(path, read_only=True) as wh:
        assert wh.rows("select count(*) from ops.schema_applied") == [(0,)]
