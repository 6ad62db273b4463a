"""Spot and on-demand price collectors against moto in server mode serving recorded AWS data.

boto3 talks real HTTP to `tests/aws_fakes.AwsServer`; the data are AWS-published prices from
../shared/data (skipped when absent). Expected rows below were read off the data files by
hand (fake zone names: AZ ID azN -> N-th letter, see aws_fakes).

Spot world: us-east-1, Linux/UNIX, window [2022-05-31 21:00, 2022-06-01 00:00) UTC.
Prices published before 21:00 are the price in effect at the window start: clamped to 21:00.

| zone        | type        | effective_at | usd/h  | recorded timestamp            |
|-------------|-------------|--------------|--------|-------------------------------|
| us-east-1a  | g5.12xlarge | 21:00:00     | 1.9656 | 18:51:14 (before the window)  |
| us-east-1a  | g5.12xlarge | 23:54:39     | 1.9622 |                               |
| us-east-1d  | g5.12xlarge | 21:00:00     | 1.8873 | 20:00:47                      |
| us-east-1e  | g5.12xlarge | 22:36:11     | 1.8993 | (nothing earlier in the file) |
| us-east-1f  | g5.12xlarge | 21:00:00     | 2.5201 | 19:26:40                      |
| us-east-1a  | g5.48xlarge | 21:00:00     | 5.3910 | 19:15:13                      |
| us-east-1a  | g5.48xlarge | 23:10:59     | 5.3632 |                               |
| us-east-1b  | g5.48xlarge | 21:00:00     | 6.1014 | 19:15:13                      |
| us-east-1b  | g5.48xlarge | 22:36:16     | 6.0770 |                               |
| us-east-1d  | g5.48xlarge | 21:00:00     | 5.8177 | 18:51:45                      |
| us-east-1e  | g5.48xlarge | 21:00:00     | 5.7535 | 19:15:13                      |
| us-east-1e  | g5.48xlarge | 21:18:57     | 5.7371 |                               |
| us-east-1f  | g5.48xlarge | 21:00:00     | 5.5801 | 19:15:13                      |

On-demand world: us-east-1 Linux/Shared/Used/NA, the Pricing API as of 2025-07-01:

| type         | usd/h     | effective_at (first snapshot with that price) |
|--------------|-----------|-----------------------------------------------|
| p5.48xlarge  | 55.04     | 2025-06-23 16:29:50 (was 98.32 from 2023-07-31 13:09:41) |
| p4d.24xlarge | 21.957642 | 2025-06-23 16:29:50                           |
| g5.xlarge    | 1.006     | 2022-07-05 16:51:44                           |
| g6.xlarge    | 0.8048    | 2024-04-08 13:06:26                           |
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from aws_fakes import AwsServer, aws_env, load_spot_history, ondemand_prices_at, product_documents
from gpucost.errors import GpucostError
from gpucost.ingest.prices import collect_ondemand_prices, collect_spot_prices
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse

pytestmark = [pytest.mark.shared_data]

T = lambda hms: datetime.fromisoformat(f"2022-05-31T{hms}")  # noqa: E731
START, END = T("21:00:00"), datetime(2022, 6, 1)
TYPES = ["g5.12xlarge", "g5.48xlarge"]
SPOT_WORLD = [
    ("us-east-1a", "g5.12xlarge", T("21:00:00"), 1.9656),
    ("us-east-1a", "g5.12xlarge", T("23:54:39"), 1.9622),
    ("us-east-1a", "g5.48xlarge", T("21:00:00"), 5.3910),
    ("us-east-1a", "g5.48xlarge", T("23:10:59"), 5.3632),
    ("us-east-1b", "g5.48xlarge", T("21:00:00"), 6.1014),
    ("us-east-1b", "g5.48xlarge", T("22:36:16"), 6.0770),
    ("us-east-1d", "g5.12xlarge", T("21:00:00"), 1.8873),
    ("us-east-1d", "g5.48xlarge", T("21:00:00"), 5.8177),
    ("us-east-1e", "g5.12xlarge", T("22:36:11"), 1.8993),
    ("us-east-1e", "g5.48xlarge", T("21:00:00"), 5.7535),
    ("us-east-1e", "g5.48xlarge", T("21:18:57"), 5.7371),
    ("us-east-1f", "g5.12xlarge", T("21:00:00"), 2.5201),
    ("us-east-1f", "g5.48xlarge", T("21:00:00"), 5.5801),
]
ONDEMAND_AS_OF = datetime(2025, 7, 1)
ONDEMAND_WORLD = [
    ("g5.xlarge", datetime(2022, 7, 5, 16, 51, 44), 1.006),
    ("g6.xlarge", datetime(2024, 4, 8, 13, 6, 26), 0.8048),
    ("p4d.24xlarge", datetime(2025, 6, 23, 16, 29, 50), 21.957642),
    ("p5.48xlarge", datetime(2025, 6, 23, 16, 29, 50), 55.04),
]


@pytest.fixture
def aws(shared_data, monkeypatch, tmp_path):
    products = product_documents(ondemand_prices_at(shared_data, ONDEMAND_AS_OF.replace(tzinfo=timezone.utc)))
    with AwsServer(load_spot_history(shared_data), products) as server:
        aws_env(monkeypatch, server.endpoint, tmp_path)
        yield server


@pytest.fixture
def con(tmp_path):
    with open_warehouse(Settings(db=tmp_path / "w.duckdb"), create=True) as con:
        yield con


def spot_rows(con):
    return [(z, t, e, round(p, 6)) for z, t, e, p in con.execute(
        "select zone, instance_type, effective_at, usd_per_hour from raw_prices "
        "where kind = 'spot' and region = 'us-east-1' order by all").fetchall()]


def test_spot_history_window_pagination_and_filters(aws, con):
    n = collect_spot_prices(con, region="us-east-1", instance_types=TYPES, start=START, end=END, page_size=5)
    assert n == len(SPOT_WORLD)
    assert spot_rows(con) == SPOT_WORLD
    calls = aws.aws.calls_of("DescribeSpotPriceHistory")
    assert len(calls) >= 3, "5 records per page must take several pages"
    for c in calls:
        assert c.params["MaxResults"] == "5"
        assert c.params["ProductDescription.1"] == "Linux/UNIX"
        assert {c.params["InstanceType.1"], c.params["InstanceType.2"]} == set(TYPES)
        assert c.params["StartTime"].startswith("2022-05-31T21:00:00")
        assert c.params["EndTime"].startswith("2022-06-01T00:00:00")
    # one load per reported zone x requested type, booked with the requested window
    loads = con.execute("select source, window_start, window_end, row_count from loads "
                        "where table_name = 'raw_prices' order by source").fetchall()
    assert ("aws-spot:us-east-1a:g5.12xlarge", START, END, 2) in loads
    assert ("aws-spot:us-east-1b:g5.12xlarge", START, END, 0) in loads
    assert {s for s, *_ in loads} == {f"aws-spot:{z}:{t}" for z, *_ in SPOT_WORLD for t in TYPES}


def test_spot_rerun_is_idempotent_and_zone_subset_keeps_other_zones(aws, con):
    collect_spot_prices(con, region="us-east-1", instance_types=TYPES, start=START, end=END)
    collect_spot_prices(con, region="us-east-1", instance_types=TYPES, start=START, end=END)
    assert spot_rows(con) == SPOT_WORLD
    n = collect_spot_prices(con, region="us-east-1", instance_types=TYPES, zones=["us-east-1a", "us-east-1e"],
                            start=START, end=END)
    assert n == len([r for r in SPOT_WORLD if r[0] in ("us-east-1a", "us-east-1e")])
    assert spot_rows(con) == SPOT_WORLD
    last = aws.aws.calls_of("DescribeSpotPriceHistory")[-1].params
    assert last["Filter.1.Name"] == "availability-zone"
    assert {last["Filter.1.Value.1"], last["Filter.1.Value.2"]} == {"us-east-1a", "us-east-1e"}


def test_spot_window_end_is_exclusive(aws, con):
    # AWS's EndTime is inclusive: it returns the 23:54:39 price; [start, end) must drop it.
    end = T("23:54:39")
    collect_spot_prices(con, region="us-east-1", instance_types=["g5.12xlarge"], start=START, end=end)
    rows = spot_rows(con)
    assert rows == [r for r in SPOT_WORLD if r[1] == "g5.12xlarge" and r[2] < end]


def test_spot_region_gets_only_its_own_zones(aws, con):
    # eu-west-1 has g4dn.xlarge in the archive but no g5.12xlarge: us-east-1's must not leak in.
    n = collect_spot_prices(con, region="eu-west-1", instance_types=["g5.12xlarge", "g4dn.xlarge"],
                            start=START, end=END)
    assert n > 0
    got = con.execute("select distinct region, instance_type, zone like 'eu-west-1_' from raw_prices").fetchall()
    assert got == [("eu-west-1", "g4dn.xlarge", True)]


def test_spot_retries_throttling_then_succeeds(aws, con):
    aws.aws.throttle("DescribeSpotPriceHistory", 3)
    n = collect_spot_prices(con, region="us-east-1", instance_types=TYPES, start=START, end=END, max_attempts=5)
    assert n == len(SPOT_WORLD)
    calls = aws.aws.calls_of("DescribeSpotPriceHistory")
    assert [c.throttled for c in calls[:4]] == [True, True, True, False]


def test_spot_gives_up_after_max_attempts_and_writes_nothing(aws, con):
    aws.aws.throttle("DescribeSpotPriceHistory", 100)
    with pytest.raises(GpucostError, match=r"RequestLimitExceeded.*after 2 of at most 2 attempts"):
        collect_spot_prices(con, region="us-east-1", instance_types=TYPES, start=START, end=END, max_attempts=2)
    assert len(aws.aws.calls_of("DescribeSpotPriceHistory")) == 2
    assert con.execute("select count(*) from raw_prices").fetchone()[0] == 0
    assert con.execute("select count(*) from loads").fetchone()[0] == 0


def ondemand_rows(con):
    return [(t, e, round(p, 6)) for t, e, p in con.execute(
        "select instance_type, effective_at, usd_per_hour from raw_prices "
        "where kind = 'on_demand' and region = 'us-east-1' order by all").fetchall()]


def test_ondemand_prices_with_filters(aws, con):
    types = [t for t, *_ in ONDEMAND_WORLD] + ["zz9.nothere"]
    n = collect_ondemand_prices(con, region="us-east-1", instance_types=types, as_of=ONDEMAND_AS_OF)
    assert n == len(ONDEMAND_WORLD)
    assert ondemand_rows(con) == ONDEMAND_WORLD
    call = aws.aws.calls_of("GetProducts")[0].params
    assert call["ServiceCode"] == "AmazonEC2"
    assert {(f["Type"], f["Field"], f["Value"]) for f in call["Filters"]} == {
        ("TERM_MATCH", "instanceType", "g5.xlarge"), ("TERM_MATCH", "location", "US East (N. Virginia)"),
        ("TERM_MATCH", "operatingSystem", "Linux"), ("TERM_MATCH", "tenancy", "Shared"),
        ("TERM_MATCH", "capacitystatus", "Used"), ("TERM_MATCH", "preInstalledSw", "NA")}
    # re-collecting the same prices later replaces instead of duplicating
    collect_ondemand_prices(con, region="us-east-1", instance_types=types, as_of=datetime(2025, 7, 2))
    assert ondemand_rows(con) == ONDEMAND_WORLD


def test_ondemand_price_cut_accumulates_history(aws, con, shared_data):
    aws.aws.products = product_documents(ondemand_prices_at(shared_data, datetime(2025, 1, 1, tzinfo=timezone.utc)))
    collect_ondemand_prices(con, region="us-east-1", instance_types=["p5.48xlarge"], as_of=datetime(2025, 1, 1))
    aws.aws.products = product_documents(ondemand_prices_at(shared_data, ONDEMAND_AS_OF.replace(tzinfo=timezone.utc)))
    collect_ondemand_prices(con, region="us-east-1", instance_types=["p5.48xlarge"], as_of=ONDEMAND_AS_OF)
    assert ondemand_rows(con) == [("p5.48xlarge", datetime(2023, 7, 31, 13, 9, 41), 98.32),
                                  ("p5.48xlarge", datetime(2025, 6, 23, 16, 29, 50), 55.04)]


def _twin(doc: dict, operation: str, usd: str) -> dict:
    """A synthetic second product that passes all six filters (to force pages and a choice)."""
    twin = json.loads(json.dumps(doc))
    twin["product"]["sku"] += "TWIN" + operation[-4:]
    twin["product"]["attributes"]["operation"] = operation
    for term in twin["terms"]["OnDemand"].values():
        for dim in term["priceDimensions"].values():
            dim["pricePerUnit"]["USD"] = usd
    return twin


def _linux_product(aws, itype):
    return next(d for d in aws.aws.products if d["product"]["attributes"]["instanceType"] == itype
                and d["product"]["attributes"]["operatingSystem"] == "Linux"
                and d["product"]["attributes"]["tenancy"] == "Shared"
                and d["product"]["attributes"]["capacitystatus"] == "Used"
                and d["product"]["attributes"]["preInstalledSw"] == "NA")


def test_ondemand_pages_and_prefers_plain_runinstances(aws, con):
    aws.aws.products.insert(0, _twin(_linux_product(aws, "g5.xlarge"), "RunInstances:SYN1", "9.99"))
    n = collect_ondemand_prices(con, region="us-east-1", instance_types=["g5.xlarge"], as_of=ONDEMAND_AS_OF,
                                page_size=1)
    assert n == 1
    assert ondemand_rows(con) == [r for r in ONDEMAND_WORLD if r[0] == "g5.xlarge"]
    assert len(aws.aws.calls_of("GetProducts")) == 2


def test_ondemand_ambiguous_prices_are_refused(aws, con):
    aws.aws.products.append(_twin(_linux_product(aws, "g5.xlarge"), "RunInstances", "9.99"))
    with pytest.raises(GpucostError, match=r"g5.xlarge: 2 different on-demand prices"):
        collect_ondemand_prices(con, region="us-east-1", instance_types=["g5.xlarge"], as_of=ONDEMAND_AS_OF)
    assert con.execute("select count(*) from raw_prices").fetchone()[0] == 0


def test_ondemand_retries_throttling(aws, con):
    aws.aws.throttle("GetProducts", 2)
    n = collect_ondemand_prices(con, region="us-east-1", instance_types=["p5.48xlarge"], as_of=ONDEMAND_AS_OF,
                                max_attempts=4)
    assert n == 1
    assert [c.throttled for c in aws.aws.calls_of("GetProducts")] == [True, True, False]


def test_ondemand_other_region_by_location_name(aws, con):
    n = collect_ondemand_prices(con, region="us-gov-west-1", instance_types=["g4dn.xlarge"], as_of=ONDEMAND_AS_OF)
    filters = {f["Field"]: f["Value"] for f in aws.aws.calls_of("GetProducts")[0].params["Filters"]}
    assert filters["location"] == "AWS GovCloud (US-West)"
    assert n == 1
    assert con.execute("select region, instance_type from raw_prices").fetchall() == [("us-gov-west-1", "g4dn.xlarge")]


def test_ondemand_non_usd_region_is_refused(aws, con, shared_data):
    # cn-north-1 is not in REGION_LOCATIONS (other partition): filtered by regionCode; AWS China
    # lists CNY only, which is refused rather than stored as dollars.
    aws.aws.products = product_documents(ondemand_prices_at(shared_data, datetime(2023, 10, 1, tzinfo=timezone.utc)))
    with pytest.raises(GpucostError, match=r"cn-north-1 g4dn.xlarge: on-demand price listed in CNY only"):
        collect_ondemand_prices(con, region="cn-north-1", instance_types=["g4dn.xlarge"], as_of=ONDEMAND_AS_OF)
    filters = {f["Field"]: f["Value"] for f in aws.aws.calls_of("GetProducts")[0].params["Filters"]}
    assert filters["regionCode"] == "cn-north-1" and "location" not in filters
    assert con.execute("select count(*) from raw_prices").fetchone()[0] == 0
