"""Billing import of the real public samples in ../shared/data/billing (skipped when absent).

Expected totals are the files' own sums, computed here with the csv module and Decimal;
the FOCUS sample's GPU rows are its only g5/g3 EC2 charges (by SkuId), which name their
instance type only in ChargeDescription.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from decimal import Decimal

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from gpucost.ingest.billing import import_billing
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse

pytestmark = [pytest.mark.shared_data]
CENT = Decimal("0.01")
G5_SKU, G3_SKU = "4GQWNPC9K2PZAY97", "SQ37ZQ2CZ2H95VDC"


@pytest.fixture
def con(tmp_path):
    with open_warehouse(Settings(db=tmp_path / "w.duckdb"), create=True) as con:
        yield con


@pytest.fixture
def focus_sample(shared_data):
    return shared_data / "billing" / "focus-1.0_sample.csv"


def file_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def dec(text):
    return Decimal(0) if text in ("", "NULL") else Decimal(text)


def sums(rows, key, column):
    out = defaultdict(Decimal)
    for r in rows:
        out[key(r)] += dec(r[column])
    return {k: v.quantize(CENT) for k, v in out.items()}


def db_sums(con, key_sql, column):
    return {tuple(k) if len(k) > 1 else k[0]: Decimal(v).quantize(CENT) for *k, v in con.execute(
        f"select {key_sql}, coalesce(sum({column}), 0) from raw_billing_line_items group by all").fetchall()}


def test_focus_sample_totals_per_provider_and_service(con, focus_sample):
    rows = file_rows(focus_sample)
    summary = import_billing(con, str(focus_sample), "focus")
    assert summary.rows_loaded == len(rows) == 1000
    for file_col, db_col in (("BilledCost", "billed_cost"), ("EffectiveCost", "effective_cost"),
                             ("ListCost", "list_cost")):
        assert db_sums(con, "provider", db_col) == sums(rows, lambda r: r["ProviderName"], file_col)
        assert db_sums(con, "provider, service_name", db_col) == \
            sums(rows, lambda r: (r["ProviderName"], r["ServiceName"]), file_col)
    # negative credits and refunds are real and kept
    negative = sum(1 for r in rows if dec(r["BilledCost"]) < 0)
    assert negative > 0
    assert con.execute("select count(*) from raw_billing_line_items where billed_cost < 0").fetchone()[0] == negative


def test_focus_sample_gpu_rows_get_instance_types(con, focus_sample):
    rows = file_rows(focus_sample)
    import_billing(con, str(focus_sample), "focus")
    by_sku = Counter(r["SkuId"] for r in rows)
    got = con.execute("select sku_id, instance_type, count(*) from raw_billing_line_items "
                      "where sku_id in (?, ?) group by all order by all", [G5_SKU, G3_SKU]).fetchall()
    assert got == sorted([(G5_SKU, "g5.4xlarge", by_sku[G5_SKU]), (G3_SKU, "g3.4xlarge", by_sku[G3_SKU])])
    # and no instance type is invented for rows of other providers
    assert con.execute("select count(*) from raw_billing_line_items where provider <> 'AWS' "
                       "and instance_type is not null").fetchone()[0] == 0


def test_focus_sample_tags_are_maps(con, focus_sample):
    rows = file_rows(focus_sample)
    import_billing(con, str(focus_sample), "focus")
    tagged = sum(1 for r in rows if r["Tags"] not in ("", "NULL"))
    assert con.execute("select count(*) from raw_billing_line_items where tags is not null").fetchone()[0] == tagged
    g3 = con.execute("select tags from raw_billing_line_items where sku_id = ? and billed_cost = 1.14",
                     [G3_SKU]).fetchone()[0]
    assert g3 == {"application": "BrightPathMatrix", "environment": "dev", "business_unit": "PeoriaData"}


def test_focus_sample_twice_is_idempotent(con, focus_sample):
    import_billing(con, str(focus_sample), "focus")
    before = con.execute("select * from raw_billing_line_items order by all").fetchall()
    import_billing(con, str(focus_sample), "focus", force=True)
    assert con.execute("select * from raw_billing_line_items order by all").fetchall() == before


def test_focus_sample_as_parquet_matches_csv(con, focus_sample, tmp_path):
    # The same data as a typed Parquet file (pyarrow's own type inference) gives the same totals.
    options = pacsv.ConvertOptions(null_values=["NULL", ""], strings_can_be_null=True)
    table = pacsv.read_csv(focus_sample, convert_options=options)
    pq.write_table(table, tmp_path / "focus.parquet")
    import_billing(con, str(tmp_path / "focus.parquet"), "focus")
    rows = file_rows(focus_sample)
    assert db_sums(con, "provider, service_name", "billed_cost") == \
        sums(rows, lambda r: (r["ProviderName"], r["ServiceName"]), "BilledCost")


def test_legacy_cur_sample(con, shared_data):
    path = shared_data / "billing" / "aws-cur-legacy_sample.csv"
    rows = file_rows(path)
    summary = import_billing(con, str(path), "cur")
    assert summary.rows_loaded == len(rows) == 1281
    assert db_sums(con, "provider", "billed_cost") == sums(rows, lambda r: "AWS", "lineItem/UnblendedCost")
    assert db_sums(con, "service_name", "billed_cost") == \
        sums(rows, lambda r: r["product/ProductName"] or r["lineItem/ProductCode"], "lineItem/UnblendedCost")
    taxes = sum(1 for r in rows if r["lineItem/LineItemType"] == "Tax")
    assert con.execute("select count(*) from raw_billing_line_items where charge_category = 'Tax'"
                       ).fetchone()[0] == taxes
    # its usage period is November 2023, timestamps in UTC
    span = con.execute("select min(charge_period_start)::varchar, max(charge_period_end)::varchar "
                       "from raw_billing_line_items").fetchone()
    assert span == ("2023-11-01 00:00:00", "2023-12-01 00:00:00")
