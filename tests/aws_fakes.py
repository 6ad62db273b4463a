"""A real moto server on loopback, extended to answer two AWS APIs moto lacks, from recorded data.

moto's DescribeSpotPriceHistory returns one dummy price and ignores filters, and the Pricing
API is not implemented. `AwsServer` runs moto (``ThreadedMotoServer``'s own WSGI app, S3 and
all) on 127.0.0.1 at a free port, wrapped by `RecordedAws`, a WSGI layer that answers
``Action=DescribeSpotPriceHistory`` (EC2 query protocol, XML) and
``X-Amz-Target: AWSPriceListService.GetProducts`` (JSON 1.1) from real data, so boto3 talks
real HTTP and a collector's pagination, filters, windows and retries are exercised.
Everything else goes to moto untouched.

Recorded data (read in place from ../shared/data, see tests/conftest.py):

- spot: ``prices/spot-price-history/2022/05_gpu_accel_only.tsv`` (AWS-published prices,
  2022-05-31 18:20-23:59 UTC, all four product descriptions). The archive names zones by
  AZ ID (``use1-az4``); the zone *name* an account sees is account-specific, so this fake
  maps azN to the N-th letter (``use1-az4`` -> ``us-east-1d``) and also returns the ID.
- on-demand: ``prices/ondemand_price_history_gpu_accel.csv`` (AWS Pricing API snapshots by
  commit date). For a configurable "now", each region's newest snapshot at or before it is
  served as AWS-shaped product documents; the OnDemand term's effectiveDate is the first
  snapshot of the run in which that price held. Beside each real Linux/Shared/Used/NA
  product the fake lists synthetic distractor products (Windows, RHEL, Dedicated tenancy,
  capacity reservations, SQL Server) with made-up prices, so a collector that drops a
  filter gets a wrong or ambiguous answer.

Fault injection: ``throttle(action, n)`` answers the next n calls of that action with the
service's real throttling error (EC2 ``RequestLimitExceeded`` / HTTP 503, Pricing
``ThrottlingException`` / HTTP 400). ``calls`` records every intercepted request and
``passed`` every request handed to moto (method, path, query), e.g. S3 list pages.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from werkzeug.serving import make_server

SPOT_TSV = Path("prices/spot-price-history/2022/05_gpu_accel_only.tsv")
ONDEMAND_CSV = Path("prices/ondemand_price_history_gpu_accel.csv")

# AZ-ID prefix -> region, for the 17 regions of the spot archive (AWS's AZ ID naming).
AZ_ID_REGIONS = {
    "use1": "us-east-1", "use2": "us-east-2", "usw1": "us-west-1", "usw2": "us-west-2",
    "cac1": "ca-central-1", "sae1": "sa-east-1",
    "euc1": "eu-central-1", "euw1": "eu-west-1", "euw2": "eu-west-2", "euw3": "eu-west-3",
    "eun1": "eu-north-1",
    "apne1": "ap-northeast-1", "apne2": "ap-northeast-2", "apne3": "ap-northeast-3",
    "aps1": "ap-south-1", "apse1": "ap-southeast-1", "apse2": "ap-southeast-2",
}
# Price-list `location` names of the regions in the on-demand history (as AWS spells them).
ONDEMAND_LOCATIONS = {
    "us-east-1": "US East (N. Virginia)",
    "us-gov-east-1": "AWS GovCloud (US-East)",
    "us-gov-west-1": "AWS GovCloud (US-West)",
    "cn-north-1": "China (Beijing)",
}
ON_DEMAND_TERM = "JRTCKXETXF"  # AWS's offer term code for on-demand
RATE_CODE = "6YS6EN2CT7"


def zone_name(az_id: str) -> tuple[str, str]:
    """'use1-az4' -> ('us-east-1', 'us-east-1d') under this fake's fixed ID->name mapping."""
    prefix, num = az_id.split("-az")
    region = AZ_ID_REGIONS[prefix]
    return region, region + chr(ord("a") + int(num) - 1)


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


# ---------------------------------------------------------------- recorded data


@dataclass(frozen=True)
class SpotRecord:
    region: str
    zone: str
    az_id: str
    instance_type: str
    product: str
    price: str
    ts: datetime


def load_spot_history(shared: Path) -> list[SpotRecord]:
    out = []
    with open(shared / SPOT_TSV, newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            region, zone = zone_name(r["az_id"])
            out.append(SpotRecord(region, zone, r["az_id"], r["instance_type"], r["product_description"],
                                  r["spot_price_usd"], _parse_time(r["timestamp"])))
    return out


@dataclass(frozen=True)
class OnDemandPrice:
    region: str
    instance_type: str
    usd_per_hour: str
    effective: datetime  # first snapshot of the run in which this price held


def ondemand_prices_at(shared: Path, now: datetime) -> list[OnDemandPrice]:
    """Per region, the newest snapshot at or before `now`; effective dates from the run start.

    Snapshots without a region are the early us-east-1-only files.
    """
    snaps: dict[str, dict[datetime, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    with open(shared / ONDEMAND_CSV, newline="") as fh:
        for r in csv.DictReader(fh):
            if not r["commit_date"]:
                continue
            snaps[r["region"] or "us-east-1"][_parse_time(r["commit_date"])][r["instance_type"]] = \
                r["ondemand_usd_per_hour"]
    out = []
    for region, by_time in snaps.items():
        times = sorted(t for t in by_time if t <= now)
        if not times:
            continue
        for itype, price in sorted(by_time[times[-1]].items()):
            effective = times[-1]
            for t in reversed(times[:-1]):
                if by_time[t].get(itype) != price:
                    break
                effective = t
            out.append(OnDemandPrice(region, itype, price, effective))
    return out


def _sku(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode()).hexdigest()[:16].upper()


def product_documents(prices: list[OnDemandPrice]) -> list[dict]:
    """AWS price-list product documents (the JSON inside GetProducts' PriceList strings)."""
    docs = []
    # (label, attribute overrides, price factor): the real product first, then distractors.
    variants = [
        ("linux", {}, 1.0),
        ("windows", {"operatingSystem": "Windows", "operation": "RunInstances:0002",
                     "licenseModel": "No License required"}, 1.5),
        ("rhel", {"operatingSystem": "RHEL", "operation": "RunInstances:0010"}, 1.2),
        ("dedicated", {"tenancy": "Dedicated"}, 1.1),
        ("unused-cr", {"capacitystatus": "UnusedCapacityReservation"}, 1.0),
        ("allocated-cr", {"capacitystatus": "AllocatedCapacityReservation"}, 0.0),
        ("sql", {"preInstalledSw": "SQL Std", "operation": "RunInstances:0004"}, 1.9),
    ]
    for p in prices:
        location = ONDEMAND_LOCATIONS[p.region]
        currency = "CNY" if p.region.startswith("cn-") else "USD"  # AWS China lists yuan only
        for label, overrides, factor in variants:
            sku = _sku(p.region, p.instance_type, label)
            usd = f"{float(p.usd_per_hour) * factor:.10f}"
            attrs = {
                "servicecode": "AmazonEC2", "servicename": "Amazon Elastic Compute Cloud",
                "instanceType": p.instance_type, "instanceFamily": "GPU instance",
                "location": location, "locationType": "AWS Region", "regionCode": p.region,
                "operatingSystem": "Linux", "tenancy": "Shared", "capacitystatus": "Used",
                "preInstalledSw": "NA", "licenseModel": "No License required",
                "operation": "RunInstances", "usagetype": f"BoxUsage:{p.instance_type}",
                "marketoption": "OnDemand",
            } | overrides
            term_sku = f"{sku}.{ON_DEMAND_TERM}"
            docs.append({
                "product": {"productFamily": "Compute Instance", "attributes": attrs, "sku": sku},
                "serviceCode": "AmazonEC2",
                "terms": {
                    "OnDemand": {term_sku: {
                        "priceDimensions": {f"{term_sku}.{RATE_CODE}": {
                            "unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": [],
                            "rateCode": f"{term_sku}.{RATE_CODE}",
                            "description": f"${usd} per On Demand {attrs['operatingSystem']} "
                                           f"{p.instance_type} Instance Hour",
                            "pricePerUnit": {currency: usd}}},
                        "sku": sku, "effectiveDate": p.effective.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "offerTermCode": ON_DEMAND_TERM, "termAttributes": {}}},
                    "Reserved": {f"{sku}.4NA7Y494T4": {
                        "priceDimensions": {f"{sku}.4NA7Y494T4.6YS6EN2CT7": {
                            "unit": "Hrs", "pricePerUnit": {currency: f"{float(usd) * 0.6:.10f}"},
                            "description": "reserved (synthetic)", "appliesTo": []}},
                        "sku": sku, "effectiveDate": "2022-01-01T00:00:00Z", "offerTermCode": "4NA7Y494T4",
                        "termAttributes": {"LeaseContractLength": "1yr", "PurchaseOption": "No Upfront"}}},
                },
                "version": "20260101000000", "publicationDate": "2026-01-01T00:00:00Z",
            })
    return docs


# ---------------------------------------------------------------- the WSGI layer


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _signing_region(environ) -> str:
    """The region from SigV4's credential scope: 'Credential=AKID/20260101/us-east-1/ec2/aws4_request'."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        return auth.split("Credential=")[1].split("/")[2]
    except IndexError:
        raise ApiError(400, "AuthFailure", "request is not signed with SigV4") from None


@dataclass
class Call:
    action: str
    params: dict
    throttled: bool = False


@dataclass
class RecordedAws:
    """WSGI middleware in front of moto's app; see the module docstring."""

    app: object
    spot: list[SpotRecord] = field(default_factory=list)
    products: list[dict] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    passed: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, query) sent to moto
    _throttles: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def throttle(self, action: str, times: int) -> None:
        with self._lock:
            self._throttles[action] = times

    def calls_of(self, action: str) -> list[Call]:
        return [c for c in self.calls if c.action == action]

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        ctype = environ.get("CONTENT_TYPE", "")
        if method == "POST" and (target or ctype.startswith("application/x-www-form-urlencoded")):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            if target == "AWSPriceListService.GetProducts":
                return self._json(start_response, "GetProducts", json.loads(body or b"{}"))
            if not target:
                form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
                if form.get("Action") == "DescribeSpotPriceHistory":
                    return self._xml(start_response, "DescribeSpotPriceHistory", form, environ)
        self.passed.append((method, environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")))
        return self.app(environ, start_response)

    def _take_throttle(self, action: str) -> bool:
        with self._lock:
            left = self._throttles.get(action, 0)
            if left > 0:
                self._throttles[action] = left - 1
                return True
            return False

    # EC2 query protocol ------------------------------------------------------
    def _xml(self, start_response, action: str, form: dict, environ):
        throttled = self._take_throttle(action)
        self.calls.append(Call(action, form, throttled))
        rid = str(uuid.uuid4())
        try:
            if throttled:
                raise ApiError(503, "RequestLimitExceeded", "Request limit exceeded.")
            body = self._spot_history(form, _signing_region(environ), rid)
            status = "200 OK"
        except ApiError as exc:
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{exc.code}</Code>'
                    f"<Message>{escape(exc.message)}</Message></Error></Errors><RequestID>{rid}</RequestID>"
                    "</Response>")
            status = f"{exc.status} {'Service Unavailable' if exc.status == 503 else 'Bad Request'}"
        data = body.encode()
        start_response(status, [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(data)))])
        return [data]

    def _spot_history(self, form: dict, region: str, rid: str) -> str:
        """A regional endpoint answers for its own region's zones only."""
        def listed(prefix: str) -> list[str]:
            return [v for k, v in form.items() if k.startswith(prefix + ".") and k[len(prefix) + 1:].isdigit()]

        types = set(listed("InstanceType"))
        products = set(listed("ProductDescription"))
        zones = {form["AvailabilityZone"]} if form.get("AvailabilityZone") else set()
        n = 1
        while f"Filter.{n}.Name" in form:
            name = form[f"Filter.{n}.Name"]
            values = set(listed(f"Filter.{n}.Value"))
            if name == "availability-zone":
                zones = zones & values if zones else values
            elif name == "instance-type":
                types = types & values if types else values
            elif name == "product-description":
                products = products & values if products else values
            else:
                raise ApiError(400, "InvalidParameterValue", f"The filter '{name}' is invalid")
            n += 1
        start = _parse_time(form["StartTime"]) if form.get("StartTime") else None
        end = _parse_time(form["EndTime"]) if form.get("EndTime") else None
        if start and end and end < start:
            raise ApiError(400, "InvalidParameterValue", "EndTime must be after StartTime")
        max_results = int(form.get("MaxResults", 1000))
        if not 5 <= max_results <= 1000:
            raise ApiError(400, "InvalidParameterValue", f"MaxResults {max_results} not in [5, 1000]")

        picked = [r for r in self.spot if r.region == region
                  and (not types or r.instance_type in types) and (not products or r.product in products)
                  and (not zones or r.zone in zones)]
        if start is not None:
            # AWS: everything published in [start, end] plus, per series, the price in effect at start.
            before: dict[tuple, SpotRecord] = {}
            inside = []
            for r in picked:
                if r.ts < start:
                    key = (r.zone, r.instance_type, r.product)
                    if key not in before or r.ts > before[key].ts:
                        before[key] = r
                elif end is None or r.ts <= end:
                    inside.append(r)
            picked = inside + list(before.values())
        elif end is not None:
            picked = [r for r in picked if r.ts <= end]
        picked.sort(key=lambda r: (r.ts, r.zone, r.instance_type, r.product), reverse=True)

        offset = 0
        if form.get("NextToken"):
            try:
                offset = json.loads(base64.b64decode(form["NextToken"]))["offset"]
            except (ValueError, KeyError):
                raise ApiError(400, "InvalidNextToken", "The token is invalid") from None
        page = picked[offset:offset + max_results]
        items = "".join(
            f"<item><availabilityZone>{r.zone}</availabilityZone><availabilityZoneId>{r.az_id}"
            f"</availabilityZoneId><instanceType>{r.instance_type}</instanceType><productDescription>"
            f"{escape(r.product)}</productDescription><spotPrice>{r.price}</spotPrice>"
            f"<timestamp>{_iso(r.ts)}</timestamp></item>" for r in page)
        more = offset + max_results < len(picked)
        token = base64.b64encode(json.dumps({"offset": offset + max_results}).encode()).decode() if more else ""
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                f"<requestId>{rid}</requestId><spotPriceHistorySet>{items}</spotPriceHistorySet>"
                f"<nextToken>{token}</nextToken></DescribeSpotPriceHistoryResponse>")

    # JSON 1.1 protocol --------------------------------------------------------
    def _json(self, start_response, action: str, req: dict):
        throttled = self._take_throttle(action)
        self.calls.append(Call(action, req, throttled))
        try:
            if throttled:
                raise ApiError(400, "ThrottlingException", "Rate exceeded")
            body, status = self._get_products(req), "200 OK"
        except ApiError as exc:
            body = {"__type": exc.code, "message": exc.message}
            status = f"{exc.status} Bad Request"
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/x-amz-json-1.1"),
                                ("Content-Length", str(len(data))),
                                ("x-amzn-RequestId", str(uuid.uuid4()))])
        return [data]

    def _get_products(self, req: dict) -> dict:
        if req.get("ServiceCode") != "AmazonEC2":
            raise ApiError(400, "InvalidParameterException", f"unknown service code {req.get('ServiceCode')}")
        if req.get("FormatVersion", "aws_v1") != "aws_v1":
            raise ApiError(400, "InvalidParameterException", "FormatVersion must be aws_v1")
        filters = req.get("Filters", [])
        for f in filters:
            if f.get("Type") not in ("TERM_MATCH", "EQUALS"):
                raise ApiError(400, "InvalidParameterException", f"filter type {f.get('Type')} not served here")
        max_results = int(req.get("MaxResults", 100))
        if not 1 <= max_results <= 100:
            raise ApiError(400, "InvalidParameterException", "MaxResults must be in [1, 100]")
        matching = [d for d in self.products
                    if all(d["product"]["attributes"].get(f["Field"]) == f["Value"] for f in filters)]
        offset = int(req["NextToken"]) if req.get("NextToken") else 0
        page = matching[offset:offset + max_results]
        out = {"FormatVersion": "aws_v1", "PriceList": [json.dumps(d) for d in page]}
        if offset + max_results < len(matching):
            out["NextToken"] = str(offset + max_results)
        return out


# ---------------------------------------------------------------- the server


def aws_env(monkeypatch, endpoint: str, tmp_path: Path) -> None:
    """Point boto3 at `endpoint` with dummy credentials, ignoring any real AWS config."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)


class AwsServer:
    """moto in server mode on 127.0.0.1:<free port>, behind `RecordedAws`.

    Use as a context manager; `endpoint` is the URL for boto3 (``endpoint_url`` or
    ``AWS_ENDPOINT_URL``). Stopped (and its thread joined) on exit.
    """

    def __init__(self, spot: list[SpotRecord] | None = None, products: list[dict] | None = None):
        from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                                   create_backend_app)

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args, **kwargs) -> None:  # no access log on the test's stderr
                pass

        self.aws = RecordedAws(DomainDispatcherApplication(create_backend_app), spot or [], products or [])
        self._server = make_server("127.0.0.1", 0, self.aws, threaded=True, request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "AwsServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
