"""The DuckDB warehouse: opening it safely and keeping its schema current.

One DuckDB file holds everything. The schema is versioned by the numbered files in
``sql/migrations`` (``0001_initial.sql``, ...); ``gpucost_schema_migrations`` records which
were applied. Opening never modifies a file it cannot vouch for: a missing file is only
created when the caller asks for it, a file that is not a gpucost warehouse or whose schema
is newer than this code is refused before anything is written.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Iterator

import duckdb

from gpucost.errors import GpucostError
from gpucost.settings import Settings

MIGRATIONS_TABLE = "gpucost_schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The schema migrations shipped in the package, in version order."""
    found = []
    for entry in resources.files("gpucost.sql").joinpath("migrations").iterdir():
        m = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text()))
    found.sort(key=lambda mig: mig.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise GpucostError("packaged migrations are not numbered 1..N")
    return found


def code_schema_version() -> int:
    return len(migrations())


def _configure(con: duckdb.DuckDBPyConnection, settings: Settings | None) -> None:
    con.execute("set TimeZone = 'UTC'")
    # DuckDB draws a progress bar on stdout for long queries: it would corrupt CSV/JSON output.
    con.execute("set enable_progress_bar = false")
    if settings is not None:
        con.execute(f"set memory_limit = '{_checked_size(settings.duckdb_memory_limit)}'")
        if settings.duckdb_threads > 0:
            con.execute(f"set threads = {int(settings.duckdb_threads)}")


def _checked_size(text: str) -> str:
    # memory_limit cannot be a bind parameter in SET; accept only a plain size.
    if not re.fullmatch(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text.strip(), re.I):
        raise GpucostError(f"duckdb memory_limit must look like '3GB', got {text!r}")
    return text.strip()


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        msg = str(exc).splitlines()[0]
        if "lock" in msg.lower():
            raise GpucostError(f"{path}: warehouse is in use by another writing process") from None
        raise GpucostError(f"{path}: not a DuckDB warehouse ({msg})") from None
    except duckdb.Error as exc:
        raise GpucostError(f"{path}: cannot open warehouse ({str(exc).splitlines()[0]})") from None


def _locked(path: Path) -> bool:
    """True when another process holds the file for writing."""
    if not path.exists():
        return False
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.IOException as exc:
        return "lock" in str(exc).lower()
    except duckdb.Error:
        return False
    return False


def schema_version(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Applied schema version; 0 for an empty database; refuses a foreign one."""
    tables = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
    if MIGRATIONS_TABLE not in tables:
        if tables:
            raise GpucostError(f"{path}: DuckDB file is not a gpucost warehouse "
                               f"(no {MIGRATIONS_TABLE} table; has {', '.join(sorted(tables)[:3])})")
        return 0
    return int(con.execute(f"select coalesce(max(version), 0) from {MIGRATIONS_TABLE}").fetchone()[0])


def _check_version(version: int, path: Path) -> None:
    known = code_schema_version()
    if version > known:
        raise GpucostError(f"{path}: warehouse schema version {version} is newer than this "
                           f"gpucost knows ({known}); upgrade gpucost")


def migrate(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Apply pending migrations, all in one transaction. Returns the new version."""
    current = schema_version(con, path)
    _check_version(current, path)
    pending = [m for m in migrations() if m.version > current]
    if not pending:
        return current
    con.execute("begin transaction")
    try:
        con.execute(f"create table if not exists {MIGRATIONS_TABLE} "
                    "(version integer primary key, name varchar not null, applied_at timestamp not null)")
        for m in pending:
            con.execute(m.sql)
            con.execute(f"insert into {MIGRATIONS_TABLE} values (?, ?, now()::timestamp)", [m.version, m.name])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return pending[-1].version


def snapshot_path(settings: Settings) -> Path:
    """Where the last published snapshot of the warehouse lives: ``<db>.snapshot``."""
    db = Path(settings.db)
    return db.with_name(db.name + ".snapshot")


def publish_snapshot(con: duckdb.DuckDBPyConnection, settings: Settings) -> Path:
    """Publish a consistent read-only copy of the warehouse for readers.

    DuckDB lets one process write a file, and no other process read it meanwhile. So after
    a build the writer checkpoints and copies the file to ``<db>.snapshot`` under a temporary
    name, then renames it into place: readers that have the old snapshot open keep reading
    it, new ones get the new one, and nobody ever waits for a collection or a build.
    Call with no transaction open. Costs one file copy (about a second per GB).
    """
    con.execute("checkpoint")
    target = snapshot_path(settings)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(settings.db, partial)
    os.replace(partial, target)
    return target


@contextmanager
def open_warehouse(settings: Settings, *, read_only: bool = False, create: bool = False,
                   prefer_snapshot: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse at ``settings.db``.

    read_only: for presenters and ``query``; the schema must already be current. When a
    writer holds the file, the published snapshot is opened instead (if there is one).
    prefer_snapshot: (read-only) open the snapshot whenever it exists — what the dashboard
    does, so pages never wait for or see half of a collection.
    create: allow creating a new file (collectors, demo); otherwise a missing file is an error.
    Writable opens apply pending migrations.
    """
    if read_only:
        snapshot = snapshot_path(settings)
        if snapshot.exists() and (prefer_snapshot or _locked(Path(settings.db))):
            settings = replace(settings, db=snapshot)
    path = Path(settings.db)
    if not path.exists():
        if read_only or not create:
            raise GpucostError(f"warehouse not found: {path} (run `gpucost demo` or a collector first)")
        if not path.parent.exists():
            raise GpucostError(f"cannot create warehouse {path}: folder {path.parent} does not exist")
    elif not read_only:
        # Inspect read-only first so that a foreign or newer file is refused untouched.
        probe = _connect(path, read_only=True)
        try:
            _check_version(schema_version(probe, path), path)
        finally:
            probe.close()
    con = _connect(path, read_only=read_only)
    try:
        if read_only:  # a read-only connection cannot modify the file: check on it directly
            version = schema_version(con, path)
            _check_version(version, path)
            if version < code_schema_version():
                raise GpucostError(f"{path}: warehouse schema version {version} is older than this "
                                   f"gpucost ({code_schema_version()}); run `gpucost build` to upgrade it")
        _configure(con, settings)
        if not read_only:
            migrate(con, path)
        yield con
    finally:
        con.close()


def public_tables() -> tuple[str, ...]:
    """The marts DESIGN.md promises, in build order."""
    return ("gpu_usage", "asset_costs", "job_costs", "fragmentation")
