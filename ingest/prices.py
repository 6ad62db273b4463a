"""AWS price collectors: spot price history (EC2) and on-demand list prices (Pricing API).

Both write `raw_prices` (USD per instance-hour; a price holds from `effective_at` until the
next one for the same kind/region/zone/instance type) through `RawLoad`, one load per
instance type (spot: per availability zone and instance type), so collecting a subset of
types or zones never deletes the others' rows. Sources:

- spot: ``aws-spot:<zone>:<instance type>``, window = the requested ``[start, end)``.
- on-demand: ``aws-on-demand:<region>:<instance type>``, window ``[effective_at, as_of]``.

Network calls go through boto3 with botocore's "standard" retry mode: throttling errors
(EC2 ``RequestLimitExceeded``, Pricing ``ThrottlingException``, ...) and transient 5xx are
retried with exponential backoff and full jitter, sleep_n = random() x 2^(n-1) s capped at
20 s, at most ``max_attempts`` calls per page; after that the collector fails with a
one-line `GpucostError`. Everything is fetched before anything is written, so a failed
collection writes nothing.
Credentials, region endpoints and ``AWS_ENDPOINT_URL`` come from the boto3 session/env.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import duckdb
import pyarrow as pa

from gpucost.errors import GpucostError
from gpucost.ingest.loads import RawLoad, Window

SPOT_PRODUCT = "Linux/UNIX"
PRICING_ENDPOINT_REGION = "us-east-1"  # the Pricing API is served from us-east-1 (and 2 others)
DEFAULT_MAX_ATTEMPTS = 8

# Pricing API `location` attribute per region code, as AWS spells it in its price list
# (product attributes `regionCode` / `location`). A region missing here is filtered by
# `regionCode` instead, which newer price-list products also carry.
REGION_LOCATIONS: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "af-south-1": "Africa (Cape Town)",
    "ap-east-1": "Asia Pacific (Hong Kong)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-south-2": "Asia Pacific (Hyderabad)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-southeast-3": "Asia Pacific (Jakarta)",
    "ap-southeast-4": "Asia Pacific (Melbourne)",
    "ap-southeast-5": "Asia Pacific (Malaysia)",
    "ap-southeast-7": "Asia Pacific (Thailand)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ca-central-1": "Canada (Central)",
    "ca-west-1": "Canada West (Calgary)",
    "eu-central-1": "EU (Frankfurt)",
    "eu-central-2": "EU (Zurich)",
    "eu-west-1": "EU (Ireland)",
    "eu-west-2": "EU (London)",
    "eu-west-3": "EU (Paris)",
    "eu-south-1": "EU (Milan)",
    "eu-south-2": "EU (Spain)",
    "eu-north-1": "EU (Stockholm)",
    "il-central-1": "Israel (Tel Aviv)",
    "me-south-1": "Middle East (Bahrain)",
    "me-central-1": "Middle East (UAE)",
    "mx-central-1": "Mexico (Central)",
    "sa-east-1": "South America (Sao Paulo)",
    "us-gov-east-1": "AWS GovCloud (US-East)",
    "us-gov-west-1": "AWS GovCloud (US-West)",
}

# The on-demand Linux, shared-tenancy, no pre-installed software price of a running instance.
ONDEMAND_FILTERS: dict[str, str] = {
    "operatingSystem": "Linux",
    "tenancy": "Shared",
    "capacitystatus": "Used",
    "preInstalledSw": "NA",
}

RAW_PRICES_SCHEMA = pa.schema([
    ("kind", pa.string()),
    ("region", pa.string()),
    ("zone", pa.string()),
    ("instance_type", pa.string()),
    ("effective_at", pa.timestamp("us")),
    ("usd_per_hour", pa.float64()),
])


@dataclass(frozen=True)
class PriceRow:
    kind: str
    region: str
    zone: str | None
    instance_type: str
    effective_at: datetime  # naive UTC
    usd_per_hour: float


def _utc_naive(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def prices_table(rows: Iterable[PriceRow]) -> pa.Table:
    rows = list(rows)
    return pa.table({
        "kind": [r.kind for r in rows],
        "region": [r.region for r in rows],
        "zone": [r.zone for r in rows],
        "instance_type": [r.instance_type for r in rows],
        "effective_at": [r.effective_at for r in rows],
        "usd_per_hour": [r.usd_per_hour for r in rows],
    }, schema=RAW_PRICES_SCHEMA)


def _client(session, service: str, region: str, max_attempts: int):
    import boto3
    from botocore.config import Config

    session = session or boto3.Session()
    config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts},
                    connect_timeout=10, read_timeout=60)
    return session.client(service, region_name=region, config=config)


def _aws_call(what: str, pages: Iterator[dict], max_attempts: int) -> Iterator[dict]:
    """Iterate a paginator, turning botocore failures into one-line GpucostErrors."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield from pages
    except ClientError as exc:
        err = exc.response.get("Error", {})
        lines = (err.get("Message") or "").strip().splitlines()
        detail = err.get("Code", "?") + (f": {lines[0]}" if lines else "")
        attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
        if attempts > 1:
            detail += f" (after {attempts} of at most {max_attempts} attempts)"
        raise GpucostError(f"{what}: {detail}") from None
    except BotoCoreError as exc:
        raise GpucostError(f"{what}: {str(exc).splitlines()[0]}") from None


# ---------------------------------------------------------------- spot price history


def spot_rows(history: Iterable[dict], *, region: str, start: datetime, end: datetime,
              product: str = SPOT_PRODUCT) -> list[PriceRow]:
    """Turn DescribeSpotPriceHistory records into raw_prices rows for the window [start, end).

    AWS answers a history call with every price published in [StartTime, EndTime] plus, per
    zone and instance type, the price in effect at StartTime (published before it, with its
    own earlier timestamp). That earlier price is kept, clamped to ``start``: it is the price
    in effect from the window's start, and the loader only takes rows inside the window.
    Records at or after ``end`` are dropped (the window is half-open). When two records land
    on the same (zone, type, effective_at) after clamping, the later-published one wins.
    """
    best: dict[tuple[str, str, datetime], tuple[datetime, float]] = {}
    for rec in history:
        if rec.get("ProductDescription", product) != product:
            continue
        ts = _utc_naive(rec["Timestamp"])
        if ts >= end:
            continue
        try:
            price = float(Decimal(str(rec["SpotPrice"])))
        except (InvalidOperation, ValueError):
            raise GpucostError(f"spot price history {region}: bad SpotPrice {rec['SpotPrice']!r} for "
                               f"{rec.get('InstanceType')} in {rec.get('AvailabilityZone')} at {ts}") from None
        key = (rec["AvailabilityZone"], rec["InstanceType"], max(ts, start))
        if key not in best or ts >= best[key][0]:
            best[key] = (ts, price)
    return [PriceRow("spot", region, zone, itype, effective_at, price)
            for (zone, itype, effective_at), (_, price) in sorted(best.items())]


def collect_spot_prices(con: duckdb.DuckDBPyConnection, *, region: str, instance_types: Sequence[str],
                        zones: Sequence[str] | None = None, start: datetime, end: datetime,
                        session=None, page_size: int = 1000,
                        max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> int:
    """Collect Linux/UNIX spot prices for ``instance_types`` in ``region`` over [start, end).

    start/end: naive UTC (aware values are converted). zones: availability-zone names
    (``us-east-1a``); None for all zones of the region. Writes one load per (zone, instance
    type) with source ``aws-spot:<zone>:<type>`` and the window [start, end): a re-run of the
    same window replaces those rows. With ``zones`` given, every requested zone x type is
    booked (an empty load clears rows no longer reported); without, the zones AWS reported.
    AWS keeps 90 days of spot price history. Returns the number of rows written.
    """
    if not instance_types:
        raise GpucostError("collect spot prices: no instance types given")
    start, end = _utc_naive(start), _utc_naive(end)
    window = Window(start, end)
    params: dict = {
        "InstanceTypes": list(instance_types),
        "ProductDescriptions": [SPOT_PRODUCT],
        "StartTime": _aware(start),
        "EndTime": _aware(end),
        "PaginationConfig": {"PageSize": page_size},
    }
    if zones:
        params["Filters"] = [{"Name": "availability-zone", "Values": list(zones)}]
    ec2 = _client(session, "ec2", region, max_attempts)
    pages = ec2.get_paginator("describe_spot_price_history").paginate(**params)
    history = [rec for page in _aws_call(f"aws ec2 DescribeSpotPriceHistory in {region}", pages, max_attempts)
               for rec in page.get("SpotPriceHistory", [])]
    wanted = set(instance_types)
    rows = [r for r in spot_rows(history, region=region, start=start, end=end)
            if r.instance_type in wanted and (not zones or r.zone in zones)]
    groups: dict[tuple[str, str], list[PriceRow]] = {}
    for zone in zones or sorted({r.zone for r in rows}):
        for itype in instance_types:
            groups[(zone, itype)] = []
    for r in rows:
        groups[(r.zone, r.instance_type)].append(r)
    written = 0
    for (zone, itype), group in sorted(groups.items()):
        with RawLoad(con, f"aws-spot:{zone}:{itype}", window) as load:
            written += load.write("raw_prices", prices_table(group))
    return written


# ---------------------------------------------------------------- on-demand list prices


@dataclass(frozen=True)
class OnDemandOffer:
    """One on-demand hourly price from a Pricing API product (a PriceList entry)."""

    sku: str
    instance_type: str
    region_code: str | None
    location: str | None
    operation: str | None
    usd_per_hour: float | None     # None when AWS lists the price in another currency only
    effective_at: datetime | None  # the OnDemand term's effectiveDate, naive UTC
    currency: str = "USD"


def parse_price_item(item: str) -> list[OnDemandOffer]:
    """Parse one Pricing API PriceList entry (a JSON string) into its on-demand hourly offers.

    Reads ``terms.OnDemand.*.priceDimensions.*.pricePerUnit.USD`` where the dimension's unit
    is hours (``Hrs``); Reserved and other terms are ignored. Zero prices are skipped (AWS
    lists $0 dimensions for some capacity-reservation products). A dimension priced in
    another currency only (AWS China: CNY) yields an offer with ``usd_per_hour=None``.
    """
    try:
        doc = json.loads(item)
        attrs = doc["product"]["attributes"]
        sku = doc["product"].get("sku", "")
        terms = doc.get("terms", {}).get("OnDemand", {}) or {}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GpucostError(f"pricing api: price list entry is not an AWS product document ({exc})") from None
    offers = []
    for term in terms.values():
        effective = term.get("effectiveDate")
        eff = _utc_naive(datetime.fromisoformat(effective.replace("Z", "+00:00"))) if effective else None
        for dim in term.get("priceDimensions", {}).values():
            if dim.get("unit") not in ("Hrs", "Hours", "hours"):
                continue
            per_unit = dim.get("pricePerUnit", {}) or {}
            usd = per_unit.get("USD")
            if usd is None:
                if per_unit:  # e.g. AWS China lists CNY only: reported, never converted silently
                    offers.append(OnDemandOffer(sku, attrs.get("instanceType", ""), attrs.get("regionCode"),
                                                attrs.get("location"), attrs.get("operation"), None, eff,
                                                currency=sorted(per_unit)[0]))
                continue
            try:
                price = float(Decimal(usd))
            except InvalidOperation:
                raise GpucostError(f"pricing api: sku {sku}: bad USD price {usd!r}") from None
            if price > 0:
                offers.append(OnDemandOffer(sku, attrs.get("instanceType", ""), attrs.get("regionCode"),
                                            attrs.get("location"), attrs.get("operation"), price, eff))
    return offers


def _pick_offer(region: str, itype: str, offers: list[OnDemandOffer]) -> OnDemandOffer | None:
    """One price per instance type: the plain RunInstances product when AWS lists several."""
    if not offers:
        return None
    if all(o.usd_per_hour is None for o in offers):
        raise GpucostError(f"pricing api {region} {itype}: on-demand price listed in {offers[0].currency} only; "
                           "gpucost stores USD per hour")
    offers = [o for o in offers if o.usd_per_hour is not None]
    if len({o.usd_per_hour for o in offers}) > 1:
        plain = [o for o in offers if o.operation == "RunInstances"]
        if plain and len({o.usd_per_hour for o in plain}) == 1:
            offers = plain
        else:
            prices = ", ".join(f"{o.sku}={o.usd_per_hour}" for o in offers[:4])
            raise GpucostError(f"pricing api {region} {itype}: {len(offers)} different on-demand prices "
                               f"match the Linux/Shared/Used/NA filters ({prices})")
    # the latest effective date among equal prices
    return max(offers, key=lambda o: o.effective_at or datetime.min)


def collect_ondemand_prices(con: duckdb.DuckDBPyConnection, *, region: str, instance_types: Sequence[str],
                            session=None, as_of: datetime, page_size: int = 100,
                            max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> int:
    """Collect on-demand Linux list prices (USD per instance-hour) for ``instance_types`` in ``region``.

    Calls Pricing ``GetProducts`` (service AmazonEC2, endpoint us-east-1), one paginated query
    per instance type with TERM_MATCH filters instanceType, location (see REGION_LOCATIONS;
    regionCode for regions not listed), operatingSystem=Linux, tenancy=Shared,
    capacitystatus=Used, preInstalledSw=NA.

    as_of: when the prices were observed (naive UTC; the CLI passes now). A row's
    ``effective_at`` is the OnDemand term's ``effectiveDate`` (AWS: the date the price took
    effect), or ``as_of`` when that is missing or later. Each type is one load with source
    ``aws-on-demand:<region>:<type>`` and window [effective_at, as_of]: re-collecting an
    unchanged price replaces its row; a new price (later effective date) is added and the
    older one kept, so raw_prices accumulates the price history. Types AWS does not offer in
    the region write nothing. Returns the number of rows written.
    """
    if not instance_types:
        raise GpucostError("collect on-demand prices: no instance types given")
    as_of = _utc_naive(as_of)
    location = REGION_LOCATIONS.get(region)
    place = {"Field": "location", "Value": location} if location else {"Field": "regionCode", "Value": region}
    pricing = _client(session, "pricing", PRICING_ENDPOINT_REGION, max_attempts)
    paginator = pricing.get_paginator("get_products")
    picked: dict[str, OnDemandOffer] = {}
    for itype in instance_types:
        filters = [{"Type": "TERM_MATCH", "Field": "instanceType", "Value": itype}, {"Type": "TERM_MATCH", **place}]
        filters += [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in ONDEMAND_FILTERS.items()]
        pages = paginator.paginate(ServiceCode="AmazonEC2", Filters=filters, FormatVersion="aws_v1",
                                   PaginationConfig={"PageSize": page_size})
        offers = [o for page in _aws_call(f"aws pricing GetProducts {itype} in {region}", pages, max_attempts)
                  for item in page.get("PriceList", []) for o in parse_price_item(item)
                  if o.instance_type == itype]
        offer = _pick_offer(region, itype, offers)
        if offer is not None:
            picked[itype] = offer
    written = 0
    for itype, offer in sorted(picked.items()):
        effective = min(offer.effective_at or as_of, as_of)
        row = PriceRow("on_demand", region, None, itype, effective, offer.usd_per_hour)
        window = Window(effective, as_of + timedelta(microseconds=1))
        with RawLoad(con, f"aws-on-demand:{region}:{itype}", window) as load:
            written += load.write("raw_prices", prices_table([row]))
    return written
