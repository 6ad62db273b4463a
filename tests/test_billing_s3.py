"""Billing import from S3: a real moto S3 on loopback, boto3 over HTTP (tests/aws_fakes).

Objects are listed with ListObjectsV2 in small pages; each data object is one load named
s3://bucket/key and booked with its ETag, so a re-run downloads nothing unchanged and a
rewritten object replaces exactly its own rows.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

import boto3
import pyarrow.parquet as pq
import pytest

from aws_fakes import AwsServer, aws_env
from gpucost.errors import GpucostError
from gpucost.ingest.billing import import_billing
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse
from test_billing import cur2_world

BUCKET = "billing-exports"


@pytest.fixture
def server(monkeypatch, tmp_path):
    with AwsServer() as srv:
        aws_env(monkeypatch, srv.endpoint, tmp_path)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield srv


@pytest.fixture
def con(tmp_path):
    with open_warehouse(Settings(db=tmp_path / "w.duckdb"), create=True) as con:
        yield con


def csv_bytes(header, rows) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode()


def object_gets(server, suffix):
    return [p for m, p, q in server.aws.passed if m == "GET" and p.endswith(suffix) and "list-type" not in q]


def list_pages(server):
    return [q for m, p, q in server.aws.passed if m == "GET" and "list-type=2" in q]


@pytest.mark.shared_data
def test_focus_sample_split_over_many_objects(server, con, shared_data):
    with open(shared_data / "billing" / "focus-1.0_sample.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    s3 = boto3.client("s3")
    parts = [rows[i:i + 84] for i in range(0, len(rows), 84)]  # 12 objects
    for n, part in enumerate(parts):
        s3.put_object(Bucket=BUCKET, Key=f"focus/2024-09/part-{n:02d}.csv", Body=csv_bytes(header, part))
    s3.put_object(Bucket=BUCKET, Key="focus/2024-09/manifest.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key="other/ignored.csv", Body=b"not,under,the,prefix\n")

    summary = import_billing(con, f"s3://{BUCKET}/focus/", "focus", page_size=5)
    assert (summary.files_loaded, summary.rows_loaded) == (len(parts), len(rows))
    assert len(list_pages(server)) == 3  # 13 keys under the prefix, 5 per page
    expected = defaultdict(Decimal)
    for r in rows:
        expected[r["ProviderName"]] += Decimal(r["BilledCost"])
    got = dict(con.execute("select provider, sum(billed_cost) from raw_billing_line_items group by all").fetchall())
    assert {k: v.quantize(Decimal("0.01")) for k, v in got.items()} == \
        {k: v.quantize(Decimal("0.01")) for k, v in expected.items()}
    etags = {f"s3://{BUCKET}/{o['Key']}": o["ETag"].strip('"')
             for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="focus/")["Contents"] if o["Key"].endswith(".csv")}
    assert dict(con.execute("select source, etag from billing_files").fetchall()) == etags
    assert con.execute("select count(distinct source) from loads").fetchone()[0] == len(parts)

    # a re-run lists again but downloads nothing
    gets = len(object_gets(server, ".csv"))
    again = import_billing(con, f"s3://{BUCKET}/focus/", "focus", page_size=5)
    assert (again.files_loaded, again.files_skipped) == (0, len(parts))
    assert len(object_gets(server, ".csv")) == gets

    # one object rewritten with half its rows: only it is reloaded, its old rows replaced
    s3.put_object(Bucket=BUCKET, Key="focus/2024-09/part-03.csv", Body=csv_bytes(header, parts[3][:40]))
    third = import_billing(con, f"s3://{BUCKET}/focus/", "focus", page_size=5)
    assert (third.files_loaded, third.files_skipped) == (1, len(parts) - 1)
    assert [f.source for f in third.files if f.status == "loaded"] == [f"s3://{BUCKET}/focus/2024-09/part-03.csv"]
    assert con.execute("select count(*) from raw_billing_line_items").fetchone()[0] == len(rows) - 44


def test_cur_parquet_objects_and_a_truncated_one(server, con, tmp_path):
    pq.write_table(cur2_world(), tmp_path / "cur.parquet")
    data = (tmp_path / "cur.parquet").read_bytes()
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="cur2/data/BILLING_PERIOD=2024-09/a-00001.snappy.parquet", Body=data)
    s3.put_object(Bucket=BUCKET, Key="cur2/data/BILLING_PERIOD=2024-09/b-00002.snappy.parquet",
                  Body=data[: len(data) // 2])
    with pytest.raises(GpucostError, match=r"^s3://billing-exports/cur2/data/BILLING_PERIOD=2024-09/"
                                           r"b-00002.snappy.parquet: not a complete Parquet file"):
        import_billing(con, f"s3://{BUCKET}/cur2/", "cur")
    # the complete object before it is in; nothing of the cut one
    assert con.execute("select distinct source from raw_billing_line_items").fetchall() == \
        [(f"s3://{BUCKET}/cur2/data/BILLING_PERIOD=2024-09/a-00001.snappy.parquet",)]
    assert con.execute("select count(*), sum(billed_cost) from raw_billing_line_items").fetchone() == \
        (4, Decimal("-1.4"))
    assert con.execute("select count(*) from billing_files").fetchone()[0] == 1


def test_s3_errors_are_one_line(server, con):
    with pytest.raises(GpucostError, match=r"^s3://no-such-bucket/x: listing objects: NoSuchBucket"):
        import_billing(con, "s3://no-such-bucket/x", "focus")
    with pytest.raises(GpucostError, match=r"no billing files .* under this prefix"):
        import_billing(con, f"s3://{BUCKET}/empty/", "focus")
