"""Number formatting shared by the dashboard and the weekly report (pure, no IO)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)


def usd(value: float | None) -> str:
    """'$12,345' for >= $100, '$12.35' below; '—' when unknown."""
    if _missing(value):
        return "—"
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def gpu_hours(value: float | None) -> str:
    """'1,234.5 GPU-h'; '—' when unknown."""
    if _missing(value):
        return "—"
    return f"{value:,.1f} GPU-h"


def pct(value: float | None) -> str:
    """A percentage already in 0..100: '42.5 %'; '—' when unknown."""
    if _missing(value):
        return "—"
    return f"{value:.1f} %"


def share(value: float | None) -> str:
    """A fraction 0..1 as a percentage: 0.425 -> '42.5 %'; '—' when unknown."""
    return "—" if _missing(value) else pct(100.0 * value)


def window(first_ts: datetime | None, last_ts: datetime | None, step_seconds: int) -> str:
    """The half-open data window from first step start to last step end, UTC."""
    if _missing(first_ts) or _missing(last_ts):
        return "no data"
    end = pd.Timestamp(last_ts) + timedelta(seconds=step_seconds)
    return f"{pd.Timestamp(first_ts):%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
