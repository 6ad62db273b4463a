"""AWS Cost and Usage Report -> `raw_billing_line_items` columns (FOCUS names), pure.

Reads CUR 2.0 (Data Exports, Parquet: snake_case columns, `product` and `resource_tags`
maps), legacy CUR Parquet (Athena flavour: snake_case, ``resource_tags_user_*`` columns) and
legacy CUR CSV (``lineItem/UsageStartDate`` headers). Legacy headers are first renamed the
way AWS itself maps them to CUR 2.0 (``category/AttrName`` -> ``category_attr_name``: an
underscore before each capital, lower-cased; ``savingsPlan/SavingsPlanARN`` ->
``savings_plan_savings_plan_a_r_n``), so one mapping serves all three.

The mapping follows the FOCUS converters' AWS CUR rules
(finopsfoundation/focus_converters, ``conversion_configs/aws``; a copy is
shared/data/billing/focus_conversion_rules_aws-cur.csv), with these deliberate differences:

- ServiceName: ``product/ProductName`` ("Amazon Elastic Compute Cloud"), falling back to
  ``lineItem/ProductCode``. The converters use the code; AWS's own FOCUS export (and so the
  FOCUS sample) uses the product name, and the two formats should group alike.
- PricingCategory: from ``pricing/term`` (OnDemand -> Standard, Reserved -> Committed,
  Spot -> Dynamic; Savings-Plan-covered usage -> Committed). The converters read
  ``product/PurchaseOption``, which most CURs (and the sample) do not have.
- ServiceCategory: a small product-code table below (the converters' lookup file is not
  vendored); unknown codes stay null.
- instance_type (not FOCUS): ``product/instanceType``, else the usage type
  (``USE1-BoxUsage:g5.4xlarge``), else the line item description.
- tags: ``resourceTags/<key>`` columns (legacy CSV, key kept as written, e.g. ``user:team``),
  ``resource_tags_<key>`` columns (legacy Parquet) or the ``resource_tags`` map (CUR 2.0).
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from gpucost.errors import GpucostError
from gpucost.ingest.billing_focus import (DESCRIPTION_RE, TAGS, USAGE_TYPE_RE, WORK,
                                          instance_type_from, to_double, to_string, to_tags, to_timestamp,
                                          to_work_decimal)

LEGACY_CATEGORIES = ("identity", "bill", "lineItem", "product", "pricing", "reservation", "savingsPlan",
                     "resourceTags", "costCategory", "discount", "splitLineItem")
CUR2_PREFIXES = ("identity_", "bill_", "line_item_", "product", "pricing_", "reservation_", "savings_plan_",
                 "resource_tags", "cost_category", "discount", "split_line_item_")
PARTITION_COLUMNS = ("year", "month", "billing_period")  # Athena partitions in legacy Parquet
CUR_REQUIRED = ("line_item_usage_start_date", "line_item_usage_end_date", "line_item_unblended_cost",
                "line_item_currency_code")

# lineItem/LineItemType -> FOCUS ChargeCategory (focus_converters' rule)
CHARGE_CATEGORY = {
    "Tax": "Tax", "Fee": "Purchase", "SavingsPlanUpfrontFee": "Purchase", "RIFee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase", "Usage": "Usage", "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage", "DiscountedUsage": "Usage", "BundledDiscount": "Usage",
    "Discount": "Usage", "PrivateRateDiscount": "Usage", "EdpDiscount": "Usage",
    "Credit": "Adjustment", "Refund": "Adjustment",
}
PRICING_CATEGORY = {"OnDemand": "Standard", "Reserved": "Committed", "Spot": "Dynamic"}
# lineItem/ProductCode -> FOCUS ServiceCategory, as AWS's FOCUS export categorises them
# (pairs seen in the FOCUS 1.0 sample, shared/data/billing/focus-1.0_sample.csv).
SERVICE_CATEGORY = {
    "AmazonEC2": "Compute", "AWSLambda": "Compute", "AWSStepFunctions": "Compute",
    "AmazonS3": "Storage", "AmazonEFS": "Storage", "AmazonFSx": "Storage",
    "AmazonRDS": "Databases", "AmazonDynamoDB": "Databases",
    "AmazonCloudFront": "Networking", "AmazonVPC": "Networking", "AmazonRoute53": "Networking",
    "AWSELB": "Networking", "AmazonApiGateway": "Networking",
    "AmazonSNS": "Integration", "AWSQueueService": "Integration",
    "AWSCloudTrail": "Management and Governance", "AmazonCloudWatch": "Management and Governance",
    "AWSSystemsManager": "Management and Governance",
    "awskms": "Identity", "AWSSecurityHub": "Security", "awswaf": "Security",
    "AmazonECR": "Other", "AmazonECS": "Other", "AmazonEKS": "Other",
}


def snake_legacy(name: str) -> str:
    """'lineItem/UsageStartDate' -> 'line_item_usage_start_date' (AWS's CUR -> CUR 2.0 rule)."""
    category, _, attr = name.partition("/")
    under = lambda s: re.sub(r"([A-Z])", r"_\1", s).lower().lstrip("_")  # noqa: E731
    return f"{under(category)}_{under(attr)}"


def _check_columns(table: pa.Table, display: str) -> None:
    unknown = []
    for c in table.column_names:
        if "/" in c:
            ok = c.split("/", 1)[0] in LEGACY_CATEGORIES
        else:
            ok = c.startswith(CUR2_PREFIXES) or c in PARTITION_COLUMNS
        if not ok:
            unknown.append(c)
    if unknown:
        focus = " (a FOCUS file? use format 'focus')" if any(c in ("BilledCost", "ChargePeriodStart")
                                                            for c in unknown) else ""
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise GpucostError(f"{display}: column(s) {shown} are not CUR columns{focus}")


class _Cur:
    """Columns by CUR 2.0 name; product attributes also from the `product` map."""

    def __init__(self, table: pa.Table, display: str):
        self.display, self.n = display, table.num_rows
        self.cols: dict[str, pa.Array] = {}
        self.source: dict[str, str] = {}
        self.tag_columns: list[tuple[str, pa.Array]] = []
        for name in table.column_names:
            col = table.column(name).combine_chunks()
            if name.startswith("resourceTags/"):
                self.tag_columns.append((name.split("/", 1)[1], col))
            elif name.startswith("resource_tags_"):
                self.tag_columns.append((name[len("resource_tags_"):], col))
            else:
                key = snake_legacy(name) if "/" in name else name
                self.cols[key], self.source[key] = col, name
        product = self.cols.get("product")
        self.product = product if product is not None and pa.types.is_map(product.type) else None

    def get(self, key: str) -> pa.Array | None:
        if key in self.cols:
            return self.cols[key]
        if self.product is not None and key.startswith("product_"):
            found = pc.map_lookup(self.product, pa.scalar(key[len("product_"):], self.product.type.key_type), "first")
            return found if found.null_count < len(found) else None
        return None

    def name(self, key: str) -> str:
        return self.source.get(key, key)

    def string(self, key: str) -> pa.Array:
        return to_string(self.get(key), self.n)

    def ts(self, key: str) -> pa.Array:
        return to_timestamp(self.get(key), self.n, self.display, self.name(key))

    def dec(self, key: str) -> pa.Array:
        return to_work_decimal(self.get(key), self.n, self.display, self.name(key))

    def dbl(self, key: str) -> pa.Array:
        return to_double(self.get(key), self.n, self.display, self.name(key))


def _map_values(arr: pa.Array, mapping: dict[str, str]) -> pa.Array:
    keys = pa.array(list(mapping), pa.string())
    idx = pc.index_in(arr, value_set=keys)
    return pc.take(pa.array(list(mapping.values()), pa.string()), idx)


def _zero_like(n: int) -> pa.Array:
    return pc.cast(pa.array([0] * n, pa.int8()), WORK)


def _resource_type(ids: pa.Array) -> pa.Array:
    """'arn:aws:ec2:us-east-1:1234:volume/vol-1' -> 'volume'; 'i-0abc' -> 'instance'; 'vol-1' -> 'volume'."""
    arn = pc.struct_field(pc.extract_regex(ids, r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:(?P<t>[^/:]+)[/:].*$"), "t")
    arn = pc.if_else(pc.match_substring_regex(ids, r"^arn:[^:]*:[^:]*:[^:]*:[^:]*:[^/:]+[/:]"), arn,
                     pa.scalar(None, pa.string()))
    ec2 = pc.if_else(pc.starts_with(ids, "i-"), pa.scalar("instance"),
                     pc.if_else(pc.starts_with(ids, "vol-"), pa.scalar("volume"), pa.scalar(None, pa.string())))
    return pc.coalesce(arn, ec2)


def _tags(cur: _Cur) -> pa.Array:
    n = cur.n
    if "resource_tags" in cur.cols:
        return to_tags(cur.cols["resource_tags"], n, cur.display, cur.name("resource_tags"))
    if not cur.tag_columns:
        return pa.nulls(n, TAGS)
    values = [(key, to_string(col, n).to_pylist()) for key, col in cur.tag_columns]
    rows = []
    for i in range(n):
        pairs = [(key, vals[i]) for key, vals in values if vals[i] is not None]
        rows.append(pairs or None)
    return pa.array(rows, TAGS)


def cur_to_raw(table: pa.Table, display: str) -> dict[str, pa.Array]:
    """Normalise a CUR table to raw_billing_line_items columns (costs still in WORK precision)."""
    _check_columns(table, display)
    cur = _Cur(table, display)
    missing = [c for c in CUR_REQUIRED if cur.get(c) is None]
    if missing:
        legacy = any("/" in c for c in table.column_names)
        names = [f"lineItem/{c[len('line_item_'):].title().replace('_', '')}" if legacy else c for c in missing]
        raise GpucostError(f"{display}: missing required CUR column(s) {', '.join(names)}")
    n = cur.n
    item_type = cur.string("line_item_line_item_type")
    unblended = cur.dec("line_item_unblended_cost")
    usage_amount = cur.dec("line_item_usage_amount")
    out: dict[str, pa.Array] = {
        "billing_period_start": cur.ts("bill_billing_period_start_date"),
        "billing_period_end": cur.ts("bill_billing_period_end_date"),
        "charge_period_start": cur.ts("line_item_usage_start_date"),
        "charge_period_end": cur.ts("line_item_usage_end_date"),
        "provider": pa.array(["AWS"] * n, pa.string()),
        "billing_account_id": cur.string("bill_payer_account_id"),
        "sub_account_id": cur.string("line_item_usage_account_id"),
        "service_name": pc.coalesce(cur.string("product_product_name"), cur.string("line_item_product_code")),
        "service_category": _map_values(cur.string("line_item_product_code"), SERVICE_CATEGORY),
        "charge_category": _map_values(item_type, CHARGE_CATEGORY),
        "charge_description": cur.string("line_item_line_item_description"),
        "resource_id": cur.string("line_item_resource_id"),
        "region_id": pc.coalesce(cur.string("product_region_code"), cur.string("product_region")),
        "availability_zone": cur.string("line_item_availability_zone"),
        "sku_id": cur.string("product_sku"),
        "pricing_unit": cur.string("pricing_unit"),
        "consumed_unit": cur.string("pricing_unit"),
        "consumed_quantity": cur.dbl("line_item_usage_amount"),
        "pricing_quantity": pc.coalesce(cur.dbl("reservation_total_reserved_units"), cur.dbl("line_item_usage_amount")),
        "billing_currency": cur.string("line_item_currency_code"),
        "contracted_cost": pa.nulls(n, WORK),
    }
    out["resource_type"] = _resource_type(out["resource_id"])
    term_category = _map_values(cur.string("pricing_term"), PRICING_CATEGORY)
    out["pricing_category"] = pc.if_else(pc.equal(item_type, "SavingsPlanCoveredUsage"), pa.scalar("Committed"),
                                         term_category)
    # BilledCost: NetUnblendedCost when present, else UnblendedCost
    out["billed_cost"] = pc.coalesce(cur.dec("line_item_net_unblended_cost"), unblended)
    # ListCost: publicOnDemandRate x UsageAmount when the rate is known, else publicOnDemandCost
    rate = cur.dec("pricing_public_on_demand_rate")
    rate_x_amount = pc.cast(pc.round(pc.multiply(pc.cast(rate, pa.float64()), pc.cast(usage_amount, pa.float64())),
                                     ndigits=12), WORK)
    out["list_cost"] = pc.if_else(pc.is_valid(rate), rate_x_amount, cur.dec("pricing_public_on_demand_cost"))
    # EffectiveCost: amortised cost by line item type
    zero = _zero_like(n)
    reservation_arn = cur.string("reservation_reservation_a_r_n")
    cases = [
        ("SavingsPlanCoveredUsage", cur.dec("savings_plan_savings_plan_effective_cost")),
        ("SavingsPlanRecurringFee", pc.subtract(cur.dec("savings_plan_total_commitment_to_date"),
                                                cur.dec("savings_plan_used_commitment"))),
        ("SavingsPlanNegation", zero),
        ("SavingsPlanUpfrontFee", zero),
        ("DiscountedUsage", cur.dec("reservation_effective_cost")),
        ("RIFee", pc.add(cur.dec("reservation_unused_amortized_upfront_fee_for_billing_period"),
                         cur.dec("reservation_unused_recurring_fee"))),
    ]
    effective = unblended
    for kind, value in reversed(cases):
        effective = pc.if_else(pc.fill_null(pc.equal(item_type, kind), False), pc.cast(value, WORK), effective)
    fee_with_ri = pc.fill_null(pc.and_(pc.equal(item_type, "Fee"),
                                       pc.not_equal(pc.fill_null(reservation_arn, ""), "")), False)
    out["effective_cost"] = pc.if_else(fee_with_ri, zero, effective)
    out["instance_type"] = instance_type_from(
        (cur.string("product_instance_type"), None),
        (cur.string("line_item_usage_type"), USAGE_TYPE_RE),
        (out["charge_description"], DESCRIPTION_RE))
    out["tags"] = _tags(cur)
    return out
