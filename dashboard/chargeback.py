"""Showback / chargeback per team under an idle policy (pure: frames in, frames out).

Input: per (day, team) allocated cost (``data.teams.team_daily``) and per day the idle pool
(``data.teams.pool_daily``). Policies:

- ``separate`` — idle kept separate: a team is charged its allocated cost (active +
  allocated idle + held without telemetry); the idle pool (unallocated GPUs, and GPUs
  without telemetry that nobody held) stays on its own rows, charged to nobody.
- ``shared`` — idle shared back: each day's pool is split between the teams pro rata to
  their allocated cost that day (share = team allocated / all teams' allocated); a day on
  which no team held a GPU keeps its pool on an "unabsorbed" row.

Either way the rows add up to the GPU spend of the window (accounting identity), when no
team/namespace filter hides some teams.
"""

from __future__ import annotations

import pandas as pd

POLICIES = ("separate", "shared")
POLICY_LABELS = {"separate": "Idle kept separate", "shared": "Idle shared back pro rata"}
PLATFORM_ROWS = {
    "unallocated": "Unallocated GPUs (no team)",
    "no_data": "No telemetry, unheld (no team)",
    "unabsorbed": "Idle on days no team ran (no team)",
}
COLUMNS = ["kind", "team", "jobs", "active_usd", "idle_usd", "held_no_data_usd", "allocated_usd",
           "shared_idle_usd", "charge_usd", "gpu_hours", "util_pct", "charge_share"]


def daily_charges(team_daily: pd.DataFrame, pool_daily: pd.DataFrame, policy: str) -> pd.DataFrame:
    """Per (day, team): allocated_usd, shared_idle_usd and charge_usd under ``policy``."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    df = team_daily.copy()
    df["allocated_usd"] = df["active_usd"] + df["idle_usd"] + df["held_no_data_usd"]
    if policy == "shared" and not df.empty:
        pool = pool_daily.assign(pool_usd=pool_daily["unallocated_usd"] + pool_daily["unheld_no_data_usd"])
        df = df.merge(pool[["day", "pool_usd", "allocated_all_usd"]], on="day", how="left")
        share = (df["allocated_usd"] / df["allocated_all_usd"].where(df["allocated_all_usd"] > 0)).fillna(0.0)
        df["shared_idle_usd"] = share * df["pool_usd"].fillna(0.0)
        df = df.drop(columns=["pool_usd", "allocated_all_usd"])
    else:
        df["shared_idle_usd"] = 0.0
    df["charge_usd"] = df["allocated_usd"] + df["shared_idle_usd"]
    return df


def chargeback(team_daily: pd.DataFrame, pool_daily: pd.DataFrame, policy: str,
               include_platform_rows: bool = True) -> pd.DataFrame:
    """One row per team (kind 'team', most charged first), then the rows of the pool that no
    team carries (kinds 'unallocated', 'no_data' under ``separate``; 'unabsorbed' under
    ``shared``) when ``include_platform_rows``. Columns: COLUMNS; USD, GPU-hours, util_pct
    (GPU-hour-weighted, %), charge_share (0..1 of the rows' total charge)."""
    daily = daily_charges(team_daily, pool_daily, policy)
    if daily.empty:
        teams = pd.DataFrame(columns=COLUMNS)
    else:
        teams = (daily.groupby("team", as_index=False)
                 .agg(jobs=("jobs", "sum"), active_usd=("active_usd", "sum"), idle_usd=("idle_usd", "sum"),
                      held_no_data_usd=("held_no_data_usd", "sum"), allocated_usd=("allocated_usd", "sum"),
                      shared_idle_usd=("shared_idle_usd", "sum"), charge_usd=("charge_usd", "sum"),
                      gpu_hours=("gpu_hours", "sum"), util_gpu_hours=("util_gpu_hours", "sum"),
                      util_observed_gpu_hours=("util_observed_gpu_hours", "sum")))
        teams["util_pct"] = teams["util_gpu_hours"] / teams["util_observed_gpu_hours"].where(
            teams["util_observed_gpu_hours"] > 0)
        teams["kind"] = "team"
        teams = teams.sort_values(["charge_usd", "team"], ascending=[False, True], ignore_index=True)
    rows = [teams]
    if include_platform_rows and not pool_daily.empty:
        if policy == "separate":
            amounts = {"unallocated": pool_daily["unallocated_usd"].sum(),
                       "no_data": pool_daily["unheld_no_data_usd"].sum()}
        else:
            unabsorbed = pool_daily[pool_daily["allocated_all_usd"] <= 0]
            amounts = {"unabsorbed": (unabsorbed["unallocated_usd"] + unabsorbed["unheld_no_data_usd"]).sum()}
        extra = [{"kind": kind, "team": PLATFORM_ROWS[kind], "charge_usd": float(usd), "shared_idle_usd": 0.0,
                  "allocated_usd": 0.0}
                 for kind, usd in amounts.items() if usd > 0]
        if extra:
            rows.append(pd.DataFrame(extra))
    out = pd.concat([r for r in rows if not r.empty], ignore_index=True) if any(not r.empty for r in rows) \
        else pd.DataFrame(columns=COLUMNS)
    out = out.reindex(columns=COLUMNS)
    total = out["charge_usd"].sum()
    out["charge_share"] = out["charge_usd"] / total if total > 0 else float("nan")
    return out
