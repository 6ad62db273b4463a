"""FOCUS 1.x billing data -> `raw_billing_line_items` columns (pure: Arrow in, Arrow out).

Also holds the typed converters the CUR mapping shares. Every converter names the file,
the first bad row (1 = first data row) and the source column when a value cannot be read.

FOCUS column names are matched case- and underscore-insensitively (``BilledCost``,
``billed_cost`` and ``billedcost`` are one column), so PascalCase CSV exports and
snake_case warehouse dumps both read. Provider-defined columns (``x_`` prefix) are allowed;
any other column not defined by FOCUS 1.0-1.2 (see ``FOCUS_COLUMNS``) is refused.

``instance_type`` is derived, in order of preference, from ``SkuPriceDetails.InstanceType``
(FOCUS >= 1.1), an AWS usage type in ``x_UsageType`` (``USE1-BoxUsage:g5.4xlarge``), then
the charge description: AWS writes "$1.624 per On Demand Linux g5.4xlarge Instance Hour",
which is the only place the FOCUS 1.0 sample names its g5/g3 instances.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc

from gpucost.errors import GpucostError

COST = pa.decimal128(20, 10)      # raw_billing_line_items cost columns
WORK = pa.decimal128(28, 18)      # working precision before rounding to COST
TS = pa.timestamp("us")           # naive UTC
TAGS = pa.map_(pa.string(), pa.string())

RAW_SCHEMA = pa.schema([
    ("billing_period_start", TS), ("billing_period_end", TS),
    ("charge_period_start", TS), ("charge_period_end", TS),
    ("provider", pa.string()), ("billing_account_id", pa.string()), ("sub_account_id", pa.string()),
    ("service_name", pa.string()), ("service_category", pa.string()), ("charge_category", pa.string()),
    ("charge_description", pa.string()), ("resource_id", pa.string()), ("resource_type", pa.string()),
    ("region_id", pa.string()), ("availability_zone", pa.string()), ("sku_id", pa.string()),
    ("pricing_category", pa.string()), ("pricing_unit", pa.string()),
    ("pricing_quantity", pa.float64()), ("consumed_quantity", pa.float64()), ("consumed_unit", pa.string()),
    ("billed_cost", COST), ("effective_cost", COST), ("list_cost", COST), ("contracted_cost", COST),
    ("billing_currency", pa.string()), ("instance_type", pa.string()), ("tags", TAGS),
])
COST_COLUMNS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")

# Columns defined by FOCUS 1.0 .. 1.2 (shared/data/billing/focus-spec is 1.2), plus the 1.0
# names later renamed (ProviderName/PublisherName/InvoiceIssuerName are 1.0; Provider/
# Publisher/InvoiceIssuer were 1.0-preview) and 'Id', a row id the FinOps FOCUS sample
# data carries. Anything else must be provider-defined (x_ prefix).
FOCUS_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId",
    "CapacityReservationStatus", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "ChargeSubcategory", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountQuantity", "CommitmentDiscountStatus",
    "CommitmentDiscountType", "CommitmentDiscountUnit", "ConsumedQuantity", "ConsumedUnit", "ContractedCost",
    "ContractedUnitPrice", "EffectiveCost", "InvoiceId", "InvoiceIssuer", "InvoiceIssuerName", "ListCost",
    "ListUnitPrice", "PricingCategory", "PricingCurrency", "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost", "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit",
    "Provider", "ProviderName", "Publisher", "PublisherName", "Region", "RegionId", "RegionName",
    "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory",
    "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName", "SubAccountType",
    "Tags", "Id",
)
FOCUS_REQUIRED = ("ChargePeriodStart", "ChargePeriodEnd", "BilledCost", "BillingCurrency")

# raw column <- FOCUS column(s), first present wins
FOCUS_TO_RAW: dict[str, tuple[str, ...]] = {
    "billing_period_start": ("BillingPeriodStart",), "billing_period_end": ("BillingPeriodEnd",),
    "charge_period_start": ("ChargePeriodStart",), "charge_period_end": ("ChargePeriodEnd",),
    "provider": ("ProviderName", "Provider"), "billing_account_id": ("BillingAccountId",),
    "sub_account_id": ("SubAccountId",), "service_name": ("ServiceName",),
    "service_category": ("ServiceCategory",), "charge_category": ("ChargeCategory",),
    "charge_description": ("ChargeDescription",), "resource_id": ("ResourceId",),
    "resource_type": ("ResourceType",), "region_id": ("RegionId", "Region"),
    "availability_zone": ("AvailabilityZone",), "sku_id": ("SkuId",),
    "pricing_category": ("PricingCategory",), "pricing_unit": ("PricingUnit",),
    "pricing_quantity": ("PricingQuantity",), "consumed_quantity": ("ConsumedQuantity",),
    "consumed_unit": ("ConsumedUnit",), "billed_cost": ("BilledCost",), "effective_cost": ("EffectiveCost",),
    "list_cost": ("ListCost",), "contracted_cost": ("ContractedCost",), "billing_currency": ("BillingCurrency",),
    "tags": ("Tags",),
}

# An EC2 instance type: family with a digit (g5, p4d, trn1n, u-6tb1, mac2-m2pro), then a size.
INSTANCE_TYPE_RE = r"[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.(?:[0-9]*x?large|metal(?:-[0-9]+xl)?|nano|micro|small|medium)"
# ...standing alone in free text (not the tail of db.r5.large / ml.g5.xlarge / cache.m5.large)
DESCRIPTION_RE = rf"(?:^|[^\w.])(?P<it>{INSTANCE_TYPE_RE})(?:$|[^\w.])"
# ...in an AWS usage type: BoxUsage:, SpotUsage:, DedicatedUsage:, HostUsage:, EBSOptimized:
USAGE_TYPE_RE = rf"(?:Usage|EBSOptimized):(?P<it>{INSTANCE_TYPE_RE})$"


def norm(name: str) -> str:
    return name.replace("_", "").lower()


class Columns:
    """A table's columns looked up by FOCUS name regardless of case and underscores."""

    def __init__(self, table: pa.Table, display: str):
        self.table, self.display = table, display
        self.by_norm = {norm(n): n for n in table.column_names}

    def name(self, *candidates: str) -> str | None:
        for c in candidates:
            if norm(c) in self.by_norm:
                return self.by_norm[norm(c)]
        return None

    def get(self, *candidates: str) -> tuple[str | None, pa.Array | None]:
        name = self.name(*candidates)
        if name is None:
            return None, None
        col = self.table.column(name)
        return name, (col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col)


# ---------------------------------------------------------------- typed converters


def _bad(display: str, row: int, column: str, what: str, value) -> GpucostError:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "...'"
    return GpucostError(f"{display}: row {row + 1}, column {column}: {what} {text}")


def to_string(arr: pa.Array | None, n: int) -> pa.Array:
    if arr is None:
        return pa.nulls(n, pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr.cast(pa.string())
    return pc.cast(arr, pa.string())


def to_timestamp(arr: pa.Array | None, n: int, display: str, column: str | None) -> pa.Array:
    """ISO 8601 text or Arrow timestamps -> naive UTC microseconds. Text without a zone is UTC
    (FOCUS: date/times are UTC); text with a zone (``Z``, ``+02:00``) is converted to UTC."""
    if arr is None:
        return pa.nulls(n, TS)
    if pa.types.is_timestamp(arr.type):
        return pc.cast(arr, TS)  # a zoned Arrow timestamp holds UTC; the cast keeps it
    if pa.types.is_date(arr.type):
        return pc.cast(pc.cast(arr, pa.date32()), TS)
    text = pc.utf8_trim_whitespace(to_string(arr, n))
    zoned = pc.fill_null(pc.match_substring_regex(text, r"(?:Z|[+-]\d\d:?\d\d)$"), False)
    none = pa.scalar(None, pa.string())
    try:
        aware = pc.cast(pc.cast(pc.if_else(zoned, text, none), pa.timestamp("us", tz="UTC")), TS)
        naive = pc.cast(pc.if_else(zoned, none, text), TS)
    except pa.ArrowInvalid:
        for i, v in enumerate(text.to_pylist()):
            if v is not None and not _parses(v):
                raise _bad(display, i, column, "is not an ISO 8601 date/time:", v) from None
        raise
    return pc.if_else(zoned, aware, naive)


def _parses(value: str) -> bool:
    for typ in (TS, pa.timestamp("us", tz="UTC")):
        try:
            pc.cast(pa.array([value]), typ)
            return True
        except pa.ArrowInvalid:
            pass
    return False


def to_work_decimal(arr: pa.Array | None, n: int, display: str, column: str | None) -> pa.Array:
    """Numbers or numeric text -> decimal(28, 18) (10 integer digits, like the table)."""
    if arr is None:
        return pa.nulls(n, WORK)
    if pa.types.is_decimal(arr.type):
        try:
            return pc.cast(pc.round(arr, ndigits=18) if arr.type.scale > 18 else arr, WORK)
        except pa.ArrowInvalid:
            pass
    elif pa.types.is_floating(arr.type):
        try:
            return pc.cast(pc.round(arr, ndigits=12), WORK)
        except pa.ArrowInvalid:
            pass
    elif pa.types.is_integer(arr.type):
        try:
            return pc.cast(pc.cast(arr, pa.float64()), WORK)  # exact below 2**53
        except pa.ArrowInvalid:
            pass
    else:
        text = pc.utf8_trim_whitespace(to_string(arr, n))
        try:
            return pc.cast(text, WORK)
        except pa.ArrowInvalid:
            arr = text
    # slow path: per value, to name the bad row (or to round text with > 18 decimals)
    out = []
    quantum = Decimal("1e-18")
    for i, v in enumerate(arr.to_pylist()):
        if v is None:
            out.append(None)
            continue
        try:
            d = Decimal(str(v).strip()).quantize(quantum)
            if not d.is_finite() or abs(d) >= Decimal("1e10"):
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            raise _bad(display, i, column, "is not a number within +-1e10:", v) from None
        out.append(d)
    return pa.array(out, WORK)


def to_cost(work: pa.Array, display: str, column: str) -> pa.Array:
    """decimal(28, 18) -> the table's decimal(20, 10), rounded half to even."""
    return pc.cast(pc.round(work, ndigits=10, round_mode="half_to_even"), COST)


def to_double(arr: pa.Array | None, n: int, display: str, column: str | None) -> pa.Array:
    if arr is None:
        return pa.nulls(n, pa.float64())
    if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_decimal(arr.type):
        return pc.cast(arr, pa.float64())
    text = pc.utf8_trim_whitespace(to_string(arr, n))
    try:
        return pc.cast(text, pa.float64())
    except pa.ArrowInvalid:
        for i, v in enumerate(text.to_pylist()):
            try:
                if v is not None:
                    float(v)
            except ValueError:
                raise _bad(display, i, column, "is not a number:", v) from None
        raise


def _tag_pairs(doc, display: str, row: int, column: str) -> list[tuple[str, str | None]]:
    if not isinstance(doc, dict):
        raise _bad(display, row, column, "is not a JSON object of tags:", doc)
    out = []
    for k, v in doc.items():
        if v is None or isinstance(v, str):
            out.append((str(k), v))
        elif isinstance(v, bool):
            out.append((str(k), "true" if v else "false"))
        else:
            out.append((str(k), json.dumps(v)))
    return out


def to_tags(arr: pa.Array | None, n: int, display: str, column: str | None) -> pa.Array:
    """FOCUS KeyValueFormat (a JSON object per row) or an Arrow map/struct -> map(varchar, varchar).
    Valueless tags (true) become 'true'; numbers keep their JSON text."""
    if arr is None:
        return pa.nulls(n, TAGS)
    if pa.types.is_map(arr.type):
        return pc.cast(arr, TAGS)
    if pa.types.is_struct(arr.type):
        rows = [None if v is None else [(k, None if x is None else str(x)) for k, x in v.items() if x is not None]
                for v in arr.to_pylist()]
        return pa.array(rows, TAGS)
    encoded = pc.dictionary_encode(to_string(arr, n))
    uniques = encoded.dictionary.to_pylist()
    first_row = {}
    for i, idx in enumerate(encoded.indices.to_pylist()):
        if idx is not None and idx not in first_row:
            first_row[idx] = i
    parsed = []
    for idx, text in enumerate(uniques):
        try:
            doc = json.loads(text)
        except ValueError:
            raise _bad(display, first_row.get(idx, 0), column, "is not JSON:", text) from None
        parsed.append(_tag_pairs(doc, display, first_row.get(idx, 0), column))
    return pc.take(pa.array(parsed, TAGS), encoded.indices)


def map_lookup(arr: pa.Array | None, key: str, n: int) -> pa.Array:
    """A key of a map column, or of a JSON-object text column, as strings (null when absent)."""
    if arr is None:
        return pa.nulls(n, pa.string())
    if pa.types.is_map(arr.type):
        return to_string(pc.map_lookup(arr, pa.scalar(key, arr.type.key_type), "first"), n)
    if pa.types.is_struct(arr.type):
        names = [arr.type.field(i).name for i in range(arr.type.num_fields)]
        return to_string(pc.struct_field(arr, key), n) if key in names else pa.nulls(n, pa.string())
    out = []
    for v in to_string(arr, n).to_pylist():
        try:
            doc = json.loads(v) if v else None
        except ValueError:
            doc = None
        val = doc.get(key) if isinstance(doc, dict) else None
        out.append(None if val is None else str(val))
    return pa.array(out, pa.string())


def extract(arr: pa.Array, pattern: str) -> pa.Array:
    found = pc.extract_regex(arr, pattern)
    it = pc.struct_field(found, "it")
    return pc.if_else(found.is_valid(), it, pa.scalar(None, pa.string()))


def instance_type_from(*candidates: tuple[pa.Array, str | None]) -> pa.Array:
    """The first candidate that yields an instance type; each is (strings, regex or None=as is)."""
    result = None
    for arr, pattern in candidates:
        found = arr if pattern is None else extract(arr, pattern)
        found = pc.if_else(pc.equal(found, ""), pa.scalar(None, pa.string()), found)
        result = found if result is None else pc.coalesce(result, found)
    return result


# ---------------------------------------------------------------- FOCUS


def check_focus_columns(table: pa.Table, display: str) -> None:
    known = {norm(c) for c in FOCUS_COLUMNS}
    unknown = [c for c in table.column_names if norm(c) not in known and not c.lower().startswith("x_")]
    if unknown:
        cur_like = any(c.startswith(("lineItem/", "line_item_", "identity")) for c in unknown)
        hint = " (a CUR file? use format 'cur')" if cur_like else ""
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise GpucostError(f"{display}: column(s) {shown} are not FOCUS 1.x columns; provider-defined "
                           f"columns must start with x_{hint}")
    have = {norm(c) for c in table.column_names}
    missing = [c for c in FOCUS_REQUIRED if norm(c) not in have]
    if missing:
        raise GpucostError(f"{display}: missing required FOCUS column(s) {', '.join(missing)}")


def focus_to_raw(table: pa.Table, display: str) -> dict[str, pa.Array]:
    """Normalise a FOCUS table to raw_billing_line_items columns (costs still in WORK precision)."""
    check_focus_columns(table, display)
    cols, n = Columns(table, display), table.num_rows
    out: dict[str, pa.Array] = {}
    for raw, candidates in FOCUS_TO_RAW.items():
        name, arr = cols.get(*candidates)
        typ = RAW_SCHEMA.field(raw).type
        if typ == TS:
            out[raw] = to_timestamp(arr, n, display, name)
        elif typ == COST:
            out[raw] = to_work_decimal(arr, n, display, name)
        elif typ == pa.float64():
            out[raw] = to_double(arr, n, display, name)
        elif typ == TAGS:
            out[raw] = to_tags(arr, n, display, name)
        else:
            out[raw] = to_string(arr, n)
    _, details = cols.get("SkuPriceDetails")
    _, usage_type = cols.get("x_UsageType")
    out["instance_type"] = instance_type_from(
        (map_lookup(details, "InstanceType", n), None),
        (to_string(usage_type, n), USAGE_TYPE_RE),
        (out["charge_description"], DESCRIPTION_RE))
    return out


# ---------------------------------------------------------------- shared final step


def finish(columns: dict[str, pa.Array], display: str,
           currency_rates: Mapping[str, float] | None) -> tuple[pa.Table, dict[str, int]]:
    """Check required values and currencies, convert to USD where rates are given, round costs.

    Every stored cost is USD: a non-USD row needs a rate (USD per unit of its currency), and
    its four cost columns are multiplied by it and its billing_currency set to USD. Without a
    rate the file is refused — amounts in different currencies are never summed silently.
    Returns the table and rows converted per currency.
    """
    n = len(columns["charge_period_start"])
    for col in ("charge_period_start", "charge_period_end", "billed_cost", "billing_currency"):
        nulls = pc.is_null(columns[col])
        if pc.any(nulls).as_py():
            row = pc.index(nulls, True).as_py()
            raise GpucostError(f"{display}: row {row + 1}: {col} is empty (required)")
    currency = pc.utf8_upper(pc.utf8_trim_whitespace(columns["billing_currency"]))
    converted: dict[str, int] = {}
    rates = {k.upper(): float(v) for k, v in (currency_rates or {}).items()}
    present = sorted(set(pc.unique(currency).to_pylist()))
    foreign = [c for c in present if c != "USD"]
    if foreign:
        missing = [c for c in foreign if c not in rates]
        if missing:
            row = pc.index(currency, missing[0]).as_py()
            kind = ("mixed billing currencies " + ", ".join(present) if len(present) > 1
                    else f"billing currency {missing[0]}")
            raise GpucostError(f"{display}: {kind} (row {row + 1} is {missing[0]}); costs are stored in USD: "
                               f"give a {missing[0]}->USD rate (currency_rates) to convert, never summed as is")
        factor = pa.array([rates.get(c, 1.0) for c in currency.to_pylist()], pa.float64())
        for col in COST_COLUMNS:
            as_float = pc.multiply(pc.cast(columns[col], pa.float64()), factor)
            columns[col] = pc.if_else(pc.equal(currency, "USD"), columns[col],
                                      pc.cast(pc.round(as_float, ndigits=12), WORK))
        for c in foreign:
            converted[c] = pc.sum(pc.equal(currency, c)).as_py()
        currency = pa.array(["USD"] * n, pa.string())
    columns["billing_currency"] = currency
    for col in COST_COLUMNS:
        columns[col] = to_cost(columns[col], display, col)
    return pa.table([columns[f.name] for f in RAW_SCHEMA], schema=RAW_SCHEMA), converted
