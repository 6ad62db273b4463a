"""Billing import from local files: a small FOCUS world and a CUR 2.0 world, plus bad input.

FOCUS world (written as CSV by `focus_csv`; September 2024, hourly charges):

| # | provider  | service_name          | category | billed  | effective | instance_type (from)              |
|---|-----------|-----------------------|----------|---------|-----------|-----------------------------------|
| 1 | AWS       | Amazon Elastic Com... | Usage    | 32.7726 | 20.0      | p4d.24xlarge (ChargeDescription)  |
| 2 | AWS       | Amazon Elastic Com... | Usage    | 1.2     | 1.2       | g5.12xlarge (x_UsageType)         |
| 3 | AWS       | Amazon Relational ... | Usage    | 0.5     | 0.5       | none (db.r5.large: not EC2)       |
| 4 | AWS       | Amazon Elastic Com... | Credit   | -3.0    | -3.0      | none                              |
| 5 | Microsoft | Virtual Machines      | Usage    | 2.5     | 2.5       | NC24ads_A100_v4 (SkuPriceDetails) |

Totals: AWS billed 31.4726, effective 18.7; Microsoft 2.5. Row 1 has tags
{"team": "ml", "valueless": true} -> {'team': 'ml', 'valueless': 'true'}.

CUR 2.0 world (Parquet, typed as Data Exports writes it):

| # | line_item_type          | unblended | net unblended | SP effective | rate x amount | instance type (from)   |
|---|-------------------------|-----------|---------------|--------------|---------------|------------------------|
| 1 | Usage (on-demand)       | 4.0       | 3.6           |              | 4.0 x 1       | g5.12xlarge (column)   |
| 2 | SavingsPlanCoveredUsage | 32.7726   |               | 21.0         | 32.7726 x 1   | p4d.24xlarge (product) |
| 3 | SavingsPlanNegation     | -32.7726  |               |              |               | p4d.24xlarge (usage)   |
| 4 | Credit                  | -5.0      |               |              |               | none                   |

billed = net_unblended else unblended: 3.6, 32.7726, -32.7726, -5.0 (sum -1.4);
effective: 4.0 (unblended), 21.0, 0, -5.0 (sum 20.0); list: 4.0, 32.7726, null, null.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gpucost.errors import GpucostError
from gpucost.ingest.billing import import_billing
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse

FOCUS_HEADER = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ProviderName",
                "BillingAccountId", "SubAccountId", "ServiceName", "ServiceCategory", "ChargeCategory",
                "ChargeDescription", "ResourceId", "ResourceType", "RegionId", "SkuId", "SkuPriceDetails",
                "PricingCategory", "PricingQuantity", "PricingUnit", "ConsumedQuantity", "ConsumedUnit",
                "BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingCurrency", "Tags",
                "x_UsageType"]


def _row(i, provider, service, category, billed, effective, description, *, usage_type="NULL", details="NULL",
         tags="NULL", resource="NULL", currency="USD"):
    return {"BillingPeriodStart": "2024-09-01T00:00:00Z", "BillingPeriodEnd": "2024-10-01T00:00:00Z",
            "ChargePeriodStart": f"2024-09-0{i}T10:00:00Z", "ChargePeriodEnd": f"2024-09-0{i}T11:00:00Z",
            "ProviderName": provider, "BillingAccountId": "111122223333", "SubAccountId": "444455556666",
            "ServiceName": service, "ServiceCategory": "Compute", "ChargeCategory": category,
            "ChargeDescription": description, "ResourceId": resource, "ResourceType": "NULL",
            "RegionId": "us-east-1", "SkuId": f"SKU{i}", "SkuPriceDetails": details, "PricingCategory": "Standard",
            "PricingQuantity": "1", "PricingUnit": "Hours", "ConsumedQuantity": "1", "ConsumedUnit": "Hours",
            "BilledCost": billed, "EffectiveCost": effective, "ListCost": billed, "ContractedCost": "NULL",
            "BillingCurrency": currency, "Tags": tags, "x_UsageType": usage_type}


def focus_world() -> list[dict]:
    return [
        _row(1, "AWS", "Amazon Elastic Compute Cloud", "Usage", "32.7726", "20.0",
             "$32.7726 per On Demand Linux p4d.24xlarge Instance Hour", resource="i-0123456789abcdef0",
             tags=json.dumps({"team": "ml", "valueless": True})),
        _row(2, "AWS", "Amazon Elastic Compute Cloud", "Usage", "1.2", "1.2", "Spot usage",
             usage_type="USE1-SpotUsage:g5.12xlarge"),
        _row(3, "AWS", "Amazon Relational Database Service", "Usage", "0.5", "0.5",
             "USD 0.5 per db.r5.large Multi-AZ instance hour"),
        _row(4, "AWS", "Amazon Elastic Compute Cloud", "Credit", "-3.0", "-3.0", "Promotional credit"),
        _row(5, "Microsoft", "Virtual Machines", "Usage", "2.5", "2.5", "NC24ads A100 v4",
             details=json.dumps({"InstanceType": "NC24ads_A100_v4", "CoreCount": 24})),
    ]


def focus_csv(path: Path, rows: list[dict], header: list[str] = FOCUS_HEADER) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
def con(tmp_path):
    with open_warehouse(Settings(db=tmp_path / "w.duckdb"), create=True) as con:
        yield con


def rows_of(con):
    return con.execute("select * exclude (source) from raw_billing_line_items order by all").fetchall()


def counts(con):
    return tuple(con.execute(f"select count(*) from {t}").fetchone()[0]
                 for t in ("raw_billing_line_items", "loads", "billing_files"))


def test_focus_world(con, tmp_path):
    path = focus_csv(tmp_path / "focus.csv", focus_world())
    summary = import_billing(con, str(path), "focus")
    assert (summary.files_loaded, summary.rows_loaded) == (1, 5)
    got = con.execute("select provider, sum(billed_cost), sum(effective_cost) from raw_billing_line_items "
                      "group by all order by all").fetchall()
    assert got == [("AWS", Decimal("31.4726"), Decimal("18.7")), ("Microsoft", Decimal("2.5"), Decimal("2.5"))]
    types = con.execute("select sku_id, instance_type from raw_billing_line_items order by sku_id").fetchall()
    assert types == [("SKU1", "p4d.24xlarge"), ("SKU2", "g5.12xlarge"), ("SKU3", None), ("SKU4", None),
                     ("SKU5", "NC24ads_A100_v4")]
    tags = con.execute("select tags from raw_billing_line_items where sku_id = 'SKU1'").fetchone()[0]
    assert tags == {"team": "ml", "valueless": "true"}
    credit = con.execute("select charge_category, billed_cost from raw_billing_line_items where sku_id = 'SKU4'")
    assert credit.fetchone() == ("Credit", Decimal("-3.0"))
    assert con.execute("select distinct charge_period_start::date from raw_billing_line_items order by 1"
                       ).fetchall()[0][0].isoformat() == "2024-09-01"
    loads = con.execute("select source, window_start, window_end, row_count from loads").fetchall()
    assert loads == [(str(path.resolve()), datetime(2024, 9, 1, 10), datetime(2024, 9, 5, 11), 5)]


def test_same_file_twice_is_idempotent_and_skipped(con, tmp_path):
    path = focus_csv(tmp_path / "focus.csv", focus_world())
    import_billing(con, str(path), "focus")
    before = rows_of(con)
    again = import_billing(con, str(path), "focus")
    assert (again.files_skipped, again.files_loaded) == (1, 0)
    forced = import_billing(con, str(path), "focus", force=True)
    assert forced.files_loaded == 1
    assert rows_of(con) == before
    assert counts(con) == (5, 1, 1)


def test_changed_file_replaces_its_rows(con, tmp_path):
    path = focus_csv(tmp_path / "focus.csv", focus_world())
    import_billing(con, str(path), "focus")
    focus_csv(path, focus_world()[2:])  # rows 3..5 only: a narrower charge period
    assert import_billing(con, str(path), "focus").files_loaded == 1
    assert con.execute("select list(sku_id order by sku_id) from raw_billing_line_items").fetchone()[0] == \
        ["SKU3", "SKU4", "SKU5"]


def test_folder_import_with_gzip_and_parquet(con, tmp_path):
    folder = tmp_path / "exports"
    (folder / "2024-09").mkdir(parents=True)
    world = focus_world()
    focus_csv(folder / "2024-09" / "a.csv", world[:2])
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=FOCUS_HEADER)
    w.writeheader()
    w.writerows(world[2:4])
    with gzip.open(folder / "2024-09" / "b.csv.gz", "wt", newline="") as fh:
        fh.write(text.getvalue())
    # Parquet as exports write it: real nulls, typed costs and timestamps
    table = pa.table({k: [None if r[k] == "NULL" else r[k] for r in world[4:]] for k in FOCUS_HEADER})
    table = table.set_column(table.schema.get_field_index("BilledCost"), "BilledCost",
                             table.column("BilledCost").cast(pa.decimal128(20, 10)))
    table = table.set_column(table.schema.get_field_index("EffectiveCost"), "EffectiveCost",
                             table.column("EffectiveCost").cast(pa.float64()))
    table = table.set_column(table.schema.get_field_index("ChargePeriodStart"), "ChargePeriodStart",
                             table.column("ChargePeriodStart").cast(pa.timestamp("ms", tz="UTC")))
    pq.write_table(table, folder / "c.parquet")
    (folder / "manifest.json").write_text("{}")
    summary = import_billing(con, str(folder), "focus")
    assert summary.files_loaded == 3 and summary.rows_loaded == 5
    assert con.execute("select sum(billed_cost) from raw_billing_line_items").fetchone()[0] == Decimal("33.9726")


def cur2_world() -> pa.Table:
    ts = lambda d, h: datetime(2024, 9, d, h)  # noqa: E731
    product = pa.map_(pa.string(), pa.string())
    return pa.table({
        "identity_line_item_id": ["a", "b", "c", "d"],
        "bill_billing_period_start_date": pa.array([ts(1, 0)] * 4, pa.timestamp("ms", tz="UTC")),
        "bill_billing_period_end_date": pa.array([datetime(2024, 10, 1)] * 4, pa.timestamp("ms", tz="UTC")),
        "bill_payer_account_id": ["111122223333"] * 4,
        "line_item_usage_account_id": ["444455556666"] * 4,
        "line_item_line_item_type": ["Usage", "SavingsPlanCoveredUsage", "SavingsPlanNegation", "Credit"],
        "line_item_usage_start_date": pa.array([ts(2, 10), ts(2, 11), ts(2, 11), ts(3, 0)],
                                               pa.timestamp("ms", tz="UTC")),
        "line_item_usage_end_date": pa.array([ts(2, 11), ts(2, 12), ts(2, 12), ts(4, 0)],
                                             pa.timestamp("ms", tz="UTC")),
        "line_item_product_code": ["AmazonEC2"] * 4,
        "line_item_usage_type": [None, None, "USE1-BoxUsage:p4d.24xlarge", None],
        "line_item_resource_id": ["i-0aaa", "i-0bbb", "i-0bbb", None],
        "line_item_usage_amount": [1.0, 1.0, 1.0, 0.0],
        "line_item_currency_code": ["USD"] * 4,
        "line_item_unblended_cost": [4.0, 32.7726, -32.7726, -5.0],
        "line_item_net_unblended_cost": [3.6, None, None, None],
        "line_item_line_item_description": ["$4.00 per On Demand Linux g5.12xlarge Instance Hour",
                                            "p4d.24xlarge covered by Savings Plan", "Savings Plan negation",
                                            "AWS credit"],
        "line_item_availability_zone": ["us-east-1a", "us-east-1b", "us-east-1b", None],
        "product_instance_type": ["g5.12xlarge", None, None, None],
        "product_region_code": ["us-east-1"] * 3 + [None],
        "product_sku": ["SKUG5", "SKUP4", "SKUP4", None],
        "product": pa.array([[("product_name", "Amazon Elastic Compute Cloud")],
                             [("product_name", "Amazon Elastic Compute Cloud"), ("instance_type", "p4d.24xlarge")],
                             [("product_name", "Amazon Elastic Compute Cloud")], None], product),
        "pricing_term": ["OnDemand", "OnDemand", None, None],
        "pricing_unit": ["Hrs", "Hrs", "Hrs", None],
        "pricing_public_on_demand_rate": [4.0, 32.7726, None, None],
        "pricing_public_on_demand_cost": [4.0, 32.7726, None, None],
        "savings_plan_savings_plan_a_r_n": [None, "arn:aws:savingsplans::111122223333:savingsplan/sp-1", None,
                                            None],
        "savings_plan_savings_plan_effective_cost": [None, 21.0, None, None],
        "resource_tags": pa.array([[("user_team", "ml")], [], None, None], product),
    })


def test_cur2_world(con, tmp_path):
    path = tmp_path / "cur2-00001.snappy.parquet"
    pq.write_table(cur2_world(), path)
    summary = import_billing(con, str(path), "cur")
    assert summary.rows_loaded == 4
    got = con.execute("select charge_category, pricing_category, instance_type, billed_cost, effective_cost, "
                      "list_cost, service_name, resource_type, tags from raw_billing_line_items "
                      "order by charge_period_start, billed_cost desc").fetchall()
    ec2 = "Amazon Elastic Compute Cloud"
    assert got == [
        ("Usage", "Standard", "g5.12xlarge", Decimal("3.6"), Decimal("4.0"), Decimal("4.0"), ec2, "instance",
         {"user_team": "ml"}),
        ("Usage", "Committed", "p4d.24xlarge", Decimal("32.7726"), Decimal("21.0"), Decimal("32.7726"), ec2,
         "instance", {}),
        ("Usage", None, "p4d.24xlarge", Decimal("-32.7726"), Decimal("0"), None, ec2, "instance", None),
        ("Adjustment", None, None, Decimal("-5.0"), Decimal("-5.0"), None, "AmazonEC2", None, None),
    ]
    assert con.execute("select sum(billed_cost), sum(effective_cost) from raw_billing_line_items").fetchone() == \
        (Decimal("-1.4"), Decimal("20.0"))


# ---------------------------------------------------------------- bad input: refused, nothing loaded


def refused(con, source, fmt, match, **kw):
    with pytest.raises(GpucostError, match=match) as err:
        import_billing(con, str(source), fmt, **kw)
    assert "\n" not in str(err.value)
    assert counts(con) == (0, 0, 0)


def test_csv_cut_mid_row_is_refused(con, tmp_path):
    path = focus_csv(tmp_path / "focus.csv", focus_world())
    data = path.read_bytes()
    cut = data.rindex(b"Promotional credit")  # inside row 4
    path.write_bytes(data[:cut])
    refused(con, path, "focus", r"focus.csv: row 4 has \d+ fields, the header has 28")


def test_csv_cut_inside_last_field_is_refused(con, tmp_path):
    path = focus_csv(tmp_path / "focus.csv", focus_world())
    path.write_bytes(path.read_bytes().rstrip(b"\r\n")[:-3])  # last value 'NULL' -> 'N'
    refused(con, path, "focus", r"focus.csv: does not end with a line break")


def test_csv_cut_in_quoted_field_is_refused(con, tmp_path):
    path = focus_csv(tmp_path / "focus.csv", focus_world())
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b'""team""') + 4])  # inside row 1's quoted Tags
    refused(con, path, "focus", r"focus.csv: .*(cut short|malformed)")


def test_truncated_gzip_is_refused(con, tmp_path):
    path = tmp_path / "focus.csv.gz"
    raw = focus_csv(tmp_path / "plain.csv", focus_world()).read_bytes()
    path.write_bytes(gzip.compress(raw)[:-20])
    refused(con, path, "focus", r"focus.csv.gz: .*(incomplete|cut short)")


def test_truncated_parquet_is_refused(con, tmp_path):
    path = tmp_path / "cur.parquet"
    pq.write_table(cur2_world(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    refused(con, path, "cur", r"cur.parquet: not a complete Parquet file")


def test_unknown_column_is_refused(con, tmp_path):
    rows = [dict(r, Surprise="1") for r in focus_world()]
    path = focus_csv(tmp_path / "focus.csv", rows, FOCUS_HEADER + ["Surprise"])
    refused(con, path, "focus", r"focus.csv: column\(s\) Surprise are not FOCUS 1.x columns")


def test_missing_required_column_is_refused(con, tmp_path):
    path = focus_csv(tmp_path / "focus.csv", focus_world(), [h for h in FOCUS_HEADER if h != "BilledCost"])
    refused(con, path, "focus", r"focus.csv: missing required FOCUS column\(s\) BilledCost")


def test_cur_given_as_focus_and_focus_as_cur_are_refused(con, tmp_path):
    pq.write_table(cur2_world(), tmp_path / "cur.parquet")
    refused(con, tmp_path / "cur.parquet", "focus", r"are not FOCUS 1.x columns.*a CUR file\? use format 'cur'")
    path = focus_csv(tmp_path / "focus.csv", focus_world())
    refused(con, path, "cur", r"focus.csv: column\(s\) .* are not CUR columns \(a FOCUS file\?")


def test_bad_values_name_row_and_column(con, tmp_path):
    rows = focus_world()
    rows[2]["BilledCost"] = "12,50"
    refused(con, focus_csv(tmp_path / "a.csv", rows), "focus", r"a.csv: row 3, column BilledCost: is not a number")
    rows = focus_world()
    rows[1]["ChargePeriodStart"] = "yesterday"
    refused(con, focus_csv(tmp_path / "b.csv", rows), "focus",
            r"b.csv: row 2, column ChargePeriodStart: is not an ISO 8601 date/time: 'yesterday'")
    rows = focus_world()
    rows[3]["Tags"] = "{not json"
    refused(con, focus_csv(tmp_path / "c.csv", rows), "focus", r"c.csv: row 4, column Tags: is not JSON")
    rows = focus_world()
    rows[4]["ChargePeriodEnd"] = "NULL"
    refused(con, focus_csv(tmp_path / "d.csv", rows), "focus", r"d.csv: row 5: charge_period_end is empty")


def test_mixed_currencies_refused_without_rates_converted_with(con, tmp_path):
    rows = focus_world()
    rows[4]["BillingCurrency"] = "EUR"
    path = focus_csv(tmp_path / "focus.csv", rows)
    refused(con, path, "focus", r"focus.csv: mixed billing currencies EUR, USD \(row 5 is EUR\)")
    summary = import_billing(con, str(path), "focus", currency_rates={"EUR": 1.1})
    assert summary.files[0].converted == {"EUR": 1}
    assert con.execute("select billed_cost, effective_cost, billing_currency from raw_billing_line_items "
                       "where sku_id = 'SKU5'").fetchone() == (Decimal("2.75"), Decimal("2.75"), "USD")
    assert con.execute("select count(distinct billing_currency) from raw_billing_line_items").fetchone()[0] == 1


def test_single_foreign_currency_needs_a_rate(con, tmp_path):
    rows = [dict(r, BillingCurrency="EUR") for r in focus_world()]
    refused(con, focus_csv(tmp_path / "focus.csv", rows), "focus", r"billing currency EUR \(row 1 is EUR\)")


def test_bad_file_after_good_one_keeps_the_good_one(con, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    focus_csv(folder / "a.csv", focus_world())
    bad = focus_world()
    bad[0]["BilledCost"] = "n/a"
    focus_csv(folder / "b.csv", bad)
    with pytest.raises(GpucostError, match=r"b.csv: row 1, column BilledCost"):
        import_billing(con, str(folder), "focus")
    assert con.execute("select distinct source from raw_billing_line_items").fetchall() == \
        [(str((folder / "a.csv").resolve()),)]


def test_header_only_file_is_empty_not_an_error(con, tmp_path):
    summary = import_billing(con, str(focus_csv(tmp_path / "focus.csv", [])), "focus")
    assert [f.status for f in summary.files] == ["empty"]
    assert counts(con) == (0, 0, 0)


def test_source_and_format_errors(con, tmp_path):
    with pytest.raises(GpucostError, match="no such file or folder"):
        import_billing(con, str(tmp_path / "nope"), "focus")
    with pytest.raises(GpucostError, match="no billing files"):
        import_billing(con, str(tmp_path), "focus")
    with pytest.raises(GpucostError, match="billing format must be one of focus, cur"):
        import_billing(con, str(tmp_path), "csv")
