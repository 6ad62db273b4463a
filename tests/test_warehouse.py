"""Opening the warehouse: migrations, and refusing files it cannot vouch for, untouched."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from gpucost.errors import GpucostError
from gpucost.ingest.loads import RawLoad, Window, load_tables
from gpucost.settings import Settings, load_settings
from gpucost.warehouse import MIGRATIONS_TABLE, code_schema_version, open_warehouse, public_tables

T0 = datetime(2026, 11, 2)
DAY = Window(T0, datetime(2026, 11, 3))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_warehouse_gets_current_schema(settings):
    with open_warehouse(settings, create=True) as con:
        version = con.execute(f"select max(version) from {MIGRATIONS_TABLE}").fetchone()[0]
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    assert version == code_schema_version()
    assert set(public_tables()) <= tables
    assert {"raw_dcgm_samples", "raw_nodes", "raw_gpu_devices", "raw_pod_allocations", "raw_prices",
            "raw_billing_line_items", "loads"} <= tables


def test_missing_file_is_not_created(settings):
    with pytest.raises(GpucostError, match="warehouse not found"):
        with open_warehouse(settings, read_only=True):
            pass
    with pytest.raises(GpucostError, match="warehouse not found"):
        with open_warehouse(settings):
            pass
    assert not settings.db.exists()


def test_foreign_duckdb_file_is_refused_untouched(settings):
    con = duckdb.connect(str(settings.db))
    con.execute("create table customers (id integer)")
    con.close()
    before = digest(settings.db)
    with pytest.raises(GpucostError, match="not a gpucost warehouse"):
        with open_warehouse(settings, create=True):
            pass
    assert digest(settings.db) == before


def test_non_duckdb_file_is_refused_untouched(settings):
    settings.db.write_text("id,name\n1,a\n")
    before = digest(settings.db)
    with pytest.raises(GpucostError, match="not a DuckDB warehouse"):
        with open_warehouse(settings, read_only=True):
            pass
    assert digest(settings.db) == before


def test_newer_schema_is_refused_untouched(settings):
    with open_warehouse(settings, create=True) as con:
        con.execute(f"insert into {MIGRATIONS_TABLE} values (?, 'from_the_future', now()::timestamp)",
                    [code_schema_version() + 1])
    before = digest(settings.db)
    for read_only in (True, False):
        with pytest.raises(GpucostError, match="newer than this gpucost knows"):
            with open_warehouse(settings, read_only=read_only):
                pass
    assert digest(settings.db) == before


def nodes(n: int, start: datetime = T0) -> pa.Table:
    return pa.table({"cluster": ["c"] * n, "node": [f"n{i}" for i in range(n)],
                     "valid_from": [start] * n, "valid_to": [datetime(2026, 11, 3)] * n,
                     "instance_type": ["g5.xlarge"] * n, "gpu_count": [1] * n})


def test_reload_of_a_window_replaces(settings):
    with open_warehouse(settings, create=True) as con:
        load_tables(con, "sim", DAY, [("raw_nodes", nodes(3))])
        load_tables(con, "sim", DAY, [("raw_nodes", nodes(2))])
        load_tables(con, "other", DAY, [("raw_nodes", nodes(1))])
        assert con.execute("select source, count(*) from raw_nodes group by 1 order by 1").fetchall() == [
            ("other", 1), ("sim", 2)]
        assert con.execute("select count(*) from loads").fetchone()[0] == 2


def test_a_wider_reload_replaces_the_bookings_it_covers(settings):
    two_days = Window(DAY.start, DAY.end + (DAY.end - DAY.start))
    with open_warehouse(settings, create=True) as con:
        load_tables(con, "sim", DAY, [("raw_nodes", nodes(3))])
        load_tables(con, "sim", two_days, [("raw_nodes", nodes(2))])
        assert con.execute("select window_start, window_end, row_count from loads").fetchall() == [
            (two_days.start, two_days.end, 2)]
        assert con.execute("select count(*) from raw_nodes").fetchone()[0] == 2


def test_failed_load_leaves_nothing(settings):
    with open_warehouse(settings, create=True) as con:
        load_tables(con, "sim", DAY, [("raw_nodes", nodes(3))])
        with pytest.raises(GpucostError, match=r"raw_nodes from sim: row 0 has valid_from=2026-11-01"):
            with RawLoad(con, "sim", DAY) as load:
                load.write("raw_nodes", nodes(2))
                load.write("raw_nodes", nodes(1, start=datetime(2026, 11, 1)))
        assert con.execute("select count(*) from raw_nodes").fetchone()[0] == 3
        with pytest.raises(GpucostError, match="unknown column"):
            load_tables(con, "sim", DAY, [("raw_nodes", nodes(1).append_column("colour", pa.array(["red"])))])
        with pytest.raises(GpucostError, match="raw_nodes from sim: .*NOT NULL"):
            load_tables(con, "sim", DAY, [("raw_nodes", nodes(1).drop_columns(["gpu_count"]))])
        assert con.execute("select count(*) from raw_nodes").fetchone()[0] == 3


def test_settings_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gpucost.toml").write_text(
        'cluster = "from-file"\nstep_seconds = 300\n[prices.overrides]\n"p5.48xlarge" = 40.0\n'
        '[cost]\ngpu_share = 0.9\n')
    s = load_settings(env={"GPUCOST_CLUSTER": "from-env"})
    assert (s.cluster, s.step_seconds, s.price_overrides, s.cost.fixed_share) == (
        "from-env", 300, {"p5.48xlarge": 40.0}, 0.9)
    assert load_settings(env={}, cluster="from-cli").cluster == "from-cli"
    assert load_settings(env={"GPUCOST_DB": "x.duckdb"}).db == Path("x.duckdb")


@pytest.mark.parametrize("text, message", [
    ("step_seconds = 7\n", "step_seconds must divide a day"),
    ("colour = 1\n", "unknown setting"),
    ("[cost]\ngpu_share = 1.5\n", r"gpu_share must be in \[0, 1\]"),
    ("cluster = \n", "invalid TOML"),
])
def test_bad_settings_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "gpucost.toml"
    path.write_text(text)
    with pytest.raises(GpucostError, match=message) as info:
        load_settings(path, env={})
    assert "\n" not in str(info.value)


def test_memory_limit_must_be_a_size(settings):
    with pytest.raises(GpucostError, match="memory_limit"):
        with open_warehouse(replace(settings, duckdb_memory_limit="3GB'; drop table x; --"), create=True):
            pass


def test_older_warehouse_is_upgraded_by_a_writer(settings):
    from gpucost.warehouse import migrations
    assert code_schema_version() >= 2
    con = duckdb.connect(str(settings.db))  # a warehouse written by a gpucost that knew only version 1
    con.execute(f"create table {MIGRATIONS_TABLE} (version integer primary key, name varchar not null, "
                "applied_at timestamp not null)")
    con.execute(migrations()[0].sql)
    con.execute(f"insert into {MIGRATIONS_TABLE} values (1, 'initial', now()::timestamp)")
    con.close()
    with pytest.raises(GpucostError, match="older than this gpucost"):
        with open_warehouse(settings, read_only=True):
            pass
    with open_warehouse(settings) as con:
        assert con.execute(f"select max(version) from {MIGRATIONS_TABLE}").fetchone()[0] == code_schema_version()
        assert con.execute("select count(*) from billing_files").fetchone()[0] == 0


def test_readers_use_the_snapshot_while_a_writer_holds_the_file(settings, tmp_path):
    import subprocess
    import sys

    from gpucost.warehouse import publish_snapshot, snapshot_path

    with open_warehouse(settings, create=True) as con:
        load_tables(con, "sim", DAY, [("raw_nodes", nodes(2))])
        publish_snapshot(con, settings)
        load_tables(con, "sim", DAY, [("raw_nodes", nodes(3))])  # not yet published
    assert snapshot_path(settings).exists()
    with open_warehouse(settings, read_only=True) as con:  # no writer: the live file
        assert con.execute("select count(*) from raw_nodes").fetchone()[0] == 3
    with open_warehouse(settings, read_only=True, prefer_snapshot=True) as con:
        assert con.execute("select count(*) from raw_nodes").fetchone()[0] == 2
    writer = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(30)"),
        str(settings.db)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        with open_warehouse(settings, read_only=True) as con:  # locked: falls back to the snapshot
            assert con.execute("select count(*) from raw_nodes").fetchone()[0] == 2
        with pytest.raises(GpucostError, match="in use by another writing process"):
            with open_warehouse(settings):
                pass
    finally:
        writer.kill()
        writer.wait()
