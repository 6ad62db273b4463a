"""AG Grid's filter and sort models applied to a pandas frame (pure), for grids whose rows
stay on the server (the infinite row model) and for their CSV downloads.

Supported, as AG Grid Community sends them:
- text filters: contains, notContains, equals, notEqual, startsWith, endsWith, blank,
  notBlank — case-insensitive, like the grid's own;
- number filters: equals, notEqual, lessThan, lessThanOrEqual, greaterThan,
  greaterThanOrEqual, inRange (inclusive), blank, notBlank;
- two conditions joined by ``operator`` AND/OR (``conditions`` list, or the older
  ``condition1``/``condition2``);
- sort models: a list of ``{"colId", "sort": "asc"|"desc"}``, first key first.
Columns not in ``columns`` and malformed entries are ignored: the models come from the
browser and are never trusted (nor turned into SQL).
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import pandas as pd

TEXT_TYPES = {"contains", "notContains", "equals", "notEqual", "startsWith", "endsWith", "blank", "notBlank"}
NUMBER_TYPES = {"equals", "notEqual", "lessThan", "lessThanOrEqual", "greaterThan", "greaterThanOrEqual",
                "inRange", "blank", "notBlank"}


def _number(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(out) else out


def _text_mask(series: pd.Series, kind: str, value) -> pd.Series | None:
    if kind == "blank":
        return series.isna() | (series.astype(str).str.strip() == "")
    if kind == "notBlank":
        return series.notna() & (series.astype(str).str.strip() != "")
    if value is None:
        return None
    text = series.fillna("").astype(str).str.lower()
    needle = str(value).lower()
    return {
        "contains": lambda: text.str.contains(needle, regex=False),
        "notContains": lambda: ~text.str.contains(needle, regex=False),
        "equals": lambda: text == needle,
        "notEqual": lambda: text != needle,
        "startsWith": lambda: text.str.startswith(needle),
        "endsWith": lambda: text.str.endswith(needle),
    }[kind]()


def _number_mask(series: pd.Series, kind: str, value, value_to) -> pd.Series | None:
    numbers = pd.to_numeric(series, errors="coerce")
    if kind == "blank":
        return numbers.isna()
    if kind == "notBlank":
        return numbers.notna()
    x = _number(value)
    if x is None:
        return None
    if kind == "inRange":
        y = _number(value_to)
        return None if y is None else numbers.between(min(x, y), max(x, y))
    return {
        "equals": numbers == x, "notEqual": numbers != x, "lessThan": numbers < x,
        "lessThanOrEqual": numbers <= x, "greaterThan": numbers > x, "greaterThanOrEqual": numbers >= x,
    }[kind]


def _condition_mask(series: pd.Series, cond: Mapping) -> pd.Series | None:
    if not isinstance(cond, Mapping):
        return None
    kind, filter_type = cond.get("type"), cond.get("filterType", "text")
    if filter_type == "number" and kind in NUMBER_TYPES:
        return _number_mask(series, kind, cond.get("filter"), cond.get("filterTo"))
    if filter_type == "text" and kind in TEXT_TYPES:
        return _text_mask(series, kind, cond.get("filter"))
    return None


def _column_mask(series: pd.Series, model: Mapping) -> pd.Series | None:
    conditions = model.get("conditions")
    if conditions is None and "condition1" in model:
        conditions = [model.get("condition1"), model.get("condition2")]
    if conditions is None:
        return _condition_mask(series, model)
    masks = [m for m in (_condition_mask(series, {"filterType": model.get("filterType", "text"), **c})
                         for c in conditions if isinstance(c, Mapping)) if m is not None]
    if not masks:
        return None
    combined = masks[0]
    for m in masks[1:]:
        combined = (combined | m) if str(model.get("operator", "AND")).upper() == "OR" else (combined & m)
    return combined


def apply_filter_model(df: pd.DataFrame, model: Mapping | None, columns: Iterable[str]) -> pd.DataFrame:
    """Rows of ``df`` that pass every column filter in ``model`` (AG Grid's filterModel)."""
    if not model or not isinstance(model, Mapping) or df.empty:
        return df
    allowed = set(columns) & set(df.columns)
    mask = pd.Series(True, index=df.index)
    for column, column_model in model.items():
        if column in allowed and isinstance(column_model, Mapping):
            m = _column_mask(df[column], column_model)
            if m is not None:
                mask &= m.fillna(False).astype(bool)
    return df[mask]


def apply_sort_model(df: pd.DataFrame, model, columns: Iterable[str]) -> pd.DataFrame:
    """``df`` sorted by AG Grid's sortModel (nulls last); unchanged when there is none."""
    allowed = set(columns) & set(df.columns)
    keys = [(s["colId"], s.get("sort") != "desc") for s in (model or [])
            if isinstance(s, Mapping) and s.get("colId") in allowed and s.get("sort") in ("asc", "desc")]
    if not keys or df.empty:
        return df
    return df.sort_values([k for k, _ in keys], ascending=[a for _, a in keys], na_position="last",
                          kind="stable")


def sort_model_from_column_state(state) -> list[dict]:
    """The sortModel equivalent of AG Grid's columnState (sorted columns by sortIndex)."""
    sorted_cols = [c for c in (state or []) if isinstance(c, Mapping) and c.get("sort") in ("asc", "desc")]
    sorted_cols.sort(key=lambda c: c.get("sortIndex") if c.get("sortIndex") is not None else 0)
    return [{"colId": c.get("colId"), "sort": c["sort"]} for c in sorted_cols]
