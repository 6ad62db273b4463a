"""Billing import: FOCUS 1.x and AWS CUR files, local or on S3, into raw_billing_line_items.

``import_billing(con, source, fmt)`` reads every billing file at ``source`` — a file, a
folder (recursively) or ``s3://bucket/prefix`` — normalises it to FOCUS columns in
snake_case (billing_focus / billing_cur) and writes it through `RawLoad`:

- One load per file, source = the file's name (``s3://bucket/key`` or the absolute local
  path), window = the file's charge period span [min ChargePeriodStart, max ChargePeriodEnd)
  (widened to the previous import's window when the file was imported before). Re-importing
  a file therefore replaces its rows; one file is one transaction, so a refused file leaves
  nothing behind, and files before it in the same run stay imported.
- Each imported file is booked in ``billing_files`` (DDL below) with its S3 ETag (local:
  SHA-256) and size; a later run skips files whose ETag and size are unchanged (``force``
  re-imports them), so an S3 prefix that CUR/Data Exports keep writing to can be polled.
- Costs are stored in USD: rows in another currency need ``currency_rates`` (USD per unit).

Data files are ``*.csv``, ``*.csv.gz`` and ``*.parquet``; other objects (manifests) are ignored.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from gpucost.errors import GpucostError
from gpucost.ingest.billing_cur import cur_to_raw
from gpucost.ingest.billing_focus import finish, focus_to_raw
from gpucost.ingest.billing_read import is_data_file, read_billing_file
from gpucost.ingest.loads import RawLoad, Window

FORMATS = ("focus", "cur")



@dataclass(frozen=True)
class FileImport:
    source: str
    status: str                  # 'loaded' | 'unchanged' (skipped) | 'empty' (no rows)
    rows: int = 0
    window: Window | None = None
    converted: Mapping[str, int] = field(default_factory=dict)  # rows converted to USD, per currency


@dataclass(frozen=True)
class ImportSummary:
    files: tuple[FileImport, ...]

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows for f in self.files if f.status == "loaded")

    @property
    def files_loaded(self) -> int:
        return sum(1 for f in self.files if f.status == "loaded")

    @property
    def files_skipped(self) -> int:
        return sum(1 for f in self.files if f.status == "unchanged")


@dataclass(frozen=True)
class _Candidate:
    source: str          # booked name
    etag: str
    size: int
    local: Path | None   # None: fetch from S3
    bucket: str = ""
    key: str = ""


def import_billing(con: duckdb.DuckDBPyConnection, source: str, fmt: str, *, session=None,
                   currency_rates: Mapping[str, float] | None = None, force: bool = False,
                   page_size: int = 1000) -> ImportSummary:
    """Import the billing files at ``source`` (path, folder or ``s3://bucket/prefix``).

    fmt: 'focus' (FOCUS 1.x, CSV or Parquet) or 'cur' (CUR 2.0 Parquet, legacy CUR CSV or
    Parquet). currency_rates: USD per unit of each non-USD billing currency, e.g.
    ``{"EUR": 1.08}``. force: re-import files already imported unchanged. page_size: S3
    ListObjectsV2 page size. Raises GpucostError naming the file (and row/column) on bad
    input; see the module docstring for what is loaded when.
    """
    if fmt not in FORMATS:
        raise GpucostError(f"billing format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    for cur, rate in (currency_rates or {}).items():
        if not (isinstance(rate, (int, float)) and rate > 0):
            raise GpucostError(f"currency rate {cur}->USD must be a positive number, got {rate!r}")
    if source.startswith("s3://"):
        s3, candidates = _list_s3(source, session, page_size)
    else:
        s3, candidates = None, _list_local(source)
    results = []
    for cand in candidates:
        booked = con.execute("select etag, size_bytes, window_start, window_end from billing_files where source = ?",
                             [cand.source]).fetchone()
        if booked and not force and booked[0] == cand.etag and booked[1] == cand.size:
            results.append(FileImport(cand.source, "unchanged"))
            continue
        if cand.local is not None:
            results.append(_import_file(con, cand, cand.local, fmt, currency_rates, booked))
        else:
            with tempfile.TemporaryDirectory(prefix="gpucost-billing-") as tmp:
                path = _download(s3, cand, Path(tmp))
                results.append(_import_file(con, cand, path, fmt, currency_rates, booked))
    return ImportSummary(tuple(results))


def normalise(table: pa.Table, fmt: str, display: str,
              currency_rates: Mapping[str, float] | None = None) -> tuple[pa.Table, dict[str, int]]:
    """A billing table (as read) -> raw_billing_line_items rows (without `source`)."""
    try:
        columns = focus_to_raw(table, display) if fmt == "focus" else cur_to_raw(table, display)
        return finish(columns, display, currency_rates)
    except pa.ArrowException as exc:  # a column type no converter expects (e.g. a list where text belongs)
        raise GpucostError(f"{display}: unreadable {fmt} data: {str(exc).splitlines()[0]}") from None


def _import_file(con, cand: _Candidate, path: Path, fmt: str, rates, booked) -> FileImport:
    table = read_billing_file(path, cand.source)
    data, converted = normalise(table, fmt, cand.source, rates)
    if data.num_rows == 0:
        if not booked:
            return FileImport(cand.source, "empty")
        window = Window(booked[2], booked[3])  # the file was emptied: clear its earlier rows
    else:
        starts, ends = data.column("charge_period_start"), data.column("charge_period_end")
        start = pc.min(starts).as_py()
        end = max(pc.max(ends).as_py(), pc.max(starts).as_py() + timedelta(microseconds=1))
        if booked:
            start, end = min(start, booked[2]), max(end, booked[3])
        window = Window(start, end)
    with RawLoad(con, cand.source, window) as load:
        load.write("raw_billing_line_items", data)
        con.execute("insert or replace into billing_files values (?, ?, ?, ?, ?, ?, now()::timestamp)",
                    [cand.source, cand.etag, cand.size, window.start, window.end, data.num_rows])
    return FileImport(cand.source, "loaded" if data.num_rows else "empty", data.num_rows, window, converted)


# ---------------------------------------------------------------- local files


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _list_local(source: str) -> list[_Candidate]:
    root = Path(source).expanduser()
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and is_data_file(p.name))
        if not files:
            raise GpucostError(f"{root}: no billing files (*.csv, *.csv.gz, *.parquet) in this folder")
    else:
        raise GpucostError(f"{root}: no such file or folder")
    out = []
    for p in files:
        resolved = p.resolve()
        out.append(_Candidate(str(resolved), _sha256(resolved), resolved.stat().st_size, resolved))
    return out


# ---------------------------------------------------------------- S3


def _s3_error(what: str, exc: Exception) -> GpucostError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        lines = (err.get("Message") or "").strip().splitlines()
        code = err.get("Code", "?")
        return GpucostError(f"{what}: {code}: {lines[0]}" if lines else f"{what}: {code}")
    return GpucostError(f"{what}: {str(exc).splitlines()[0]}")


def _list_s3(source: str, session, page_size: int):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = source[len("s3://"):].partition("/")
    if not bucket:
        raise GpucostError(f"{source}: no bucket in S3 URL (expected s3://bucket/prefix)")
    s3 = (session or boto3.Session()).client(
        "s3", config=Config(retries={"mode": "standard", "total_max_attempts": 8}))
    found = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size})
        for page in pages:
            for obj in page.get("Contents", []):
                if is_data_file(obj["Key"]):
                    found.append(_Candidate(f"s3://{bucket}/{obj['Key']}", obj["ETag"].strip('"'), int(obj["Size"]),
                                            None, bucket, obj["Key"]))
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(f"{source}: listing objects", exc) from None
    if not found:
        raise GpucostError(f"{source}: no billing files (*.csv, *.csv.gz, *.parquet) under this prefix")
    return s3, sorted(found, key=lambda c: c.key)


def _download(s3, cand: _Candidate, folder: Path) -> Path:
    """Fetch the listed version (IfMatch its ETag) to `folder`, keeping the key's file name."""
    from botocore.exceptions import BotoCoreError, ClientError

    path = folder / Path(cand.key).name
    try:
        resp = s3.get_object(Bucket=cand.bucket, Key=cand.key, IfMatch=f'"{cand.etag}"')
        with open(path, "wb") as fh:
            for chunk in resp["Body"].iter_chunks(1 << 20):
                fh.write(chunk)
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error(f"{cand.source}: download", exc) from None
    if path.stat().st_size != cand.size:
        raise GpucostError(f"{cand.source}: downloaded {path.stat().st_size} bytes, listed size {cand.size}")
    return path
