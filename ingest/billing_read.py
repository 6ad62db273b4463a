"""Reading billing files (CSV, gzip CSV, Parquet) into Arrow, refusing incomplete ones.

CSV cells are read as strings (typing is the normaliser's job, which can then name the row
and column of a bad value); empty cells and the literal ``NULL`` (used by the FinOps FOCUS
sample data) are nulls. A file is refused with a one-line `GpucostError` when it is cut
short: a row with fewer or more fields than the header, an unterminated quote, a plain CSV
that does not end with a line break, a gzip stream without its trailer, or a Parquet file
without its footer. Rows are numbered from 1 for the first row after the header.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gpucost.errors import GpucostError

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)  # also .snappy.parquet, .gz.parquet
NULL_VALUES = ["", "NULL"]


def is_data_file(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)


def read_billing_file(path: Path, display: str) -> pa.Table:
    """Read one billing file; `display` names it in errors (a path or s3:// URL)."""
    lower = path.name.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        return _read_parquet(path, display)
    if lower.endswith(CSV_SUFFIXES):
        return _read_csv(path, display, gzipped=lower.endswith(".gz"))
    raise GpucostError(f"{display}: not a billing file this importer reads (.csv, .csv.gz, .parquet)")


def _read_parquet(path: Path, display: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise GpucostError(f"{display}: not a complete Parquet file (cut short?): "
                           f"{str(exc).splitlines()[0]}") from None


def _open_text(path: Path, gzipped: bool):
    raw = gzip.open(path, "rb") if gzipped else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _header(path: Path, display: str, gzipped: bool) -> list[str]:
    try:
        with _open_text(path, gzipped) as fh:
            header = next(csv.reader(fh), None)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise GpucostError(f"{display}: cannot read CSV header ({str(exc).splitlines()[0]})") from None
    if not header or not any(h.strip() for h in header):
        raise GpucostError(f"{display}: empty file or empty CSV header")
    seen: set[str] = set()
    for i, name in enumerate(header, 1):
        if not name.strip():
            raise GpucostError(f"{display}: header column {i} has no name")
        if name in seen:
            raise GpucostError(f"{display}: header names column {name!r} twice")
        seen.add(name)
    return header


def _locate_csv_damage(path: Path, display: str, gzipped: bool, width: int, cause: str) -> GpucostError:
    """Find the first row whose field count differs from the header's (error path only)."""
    try:
        with _open_text(path, gzipped) as fh:
            reader = csv.reader(fh, strict=True)
            next(reader)
            for row_no, row in enumerate(reader, 1):
                if len(row) != width:
                    return GpucostError(f"{display}: row {row_no} has {len(row)} fields, the header has {width} "
                                        "(file cut short or malformed)")
    except csv.Error as exc:
        return GpucostError(f"{display}: row {reader.line_num - 1}: malformed CSV ({exc}; file cut short?)")
    except (OSError, EOFError, zlib.error) as exc:
        return GpucostError(f"{display}: compressed stream is incomplete (cut short?): {str(exc).splitlines()[0]}")
    return GpucostError(f"{display}: malformed CSV ({cause})")


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, io.SEEK_END)
        if fh.tell() == 0:
            return False
        fh.seek(-1, io.SEEK_END)
        return fh.read(1) in (b"\n", b"\r")


def _read_csv(path: Path, display: str, gzipped: bool) -> pa.Table:
    header = _header(path, display, gzipped)
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8", block_size=64 << 20),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                 null_values=NULL_VALUES, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True))
    except (pa.ArrowInvalid, EOFError, zlib.error, OSError) as exc:
        raise _locate_csv_damage(path, display, gzipped, len(header), str(exc).splitlines()[0]) from None
    if not gzipped and not _ends_with_newline(path):
        raise GpucostError(f"{display}: does not end with a line break: the last row may be cut short "
                           "(a complete file ends with one)")
    if gzipped:
        # gzip's trailer (CRC, length) is only checked at the end of the stream
        try:
            with gzip.open(path, "rb") as fh:
                while fh.read(1 << 20):
                    pass
        except (OSError, EOFError, zlib.error) as exc:
            raise GpucostError(f"{display}: gzip stream is incomplete (cut short?): "
                               f"{str(exc).splitlines()[0]}") from None
    return table
