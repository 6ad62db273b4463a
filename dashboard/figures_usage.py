"""Pure figure builders for utilisation and trends (shared by the dashboard and the report).

Same rules as ``figures``: frames in (as ``gpucost.dashboard.data`` returns them), a plotly
Figure out, built in one call; no warehouse, clock or settings. Times are UTC; money USD;
GPUs are mean counts over a bucket (GPU-hours / bucket hours).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from gpucost.dashboard.figures import (STATE_COLOURS, STATE_LABELS, STATE_ORDER, axis, base_layout, empty_figure,
                                       figure)

GIB = 2**30
# Low utilisation pale yellow, high dark blue (colour-blind safe, prints in grey).
UTIL_COLOURSCALE = "YlGnBu"
NO_DATA_BACKGROUND = "#d9dde3"


def _bucket_label(hours: int) -> str:
    return "hour" if hours == 1 else ("day" if hours == 24 else f"{hours} h")


def stacked_axes(rows: int, spacing: float = 0.06, titles: list[str] | None = None) -> dict:
    """Layout axes for ``rows`` panels stacked top to bottom sharing one time axis: panel i
    (1-based, from the top) draws on xaxis i / yaxis i; only the bottom one shows tick labels."""
    height = (1.0 - spacing * (rows - 1)) / rows
    out: dict = {}
    for i in range(1, rows + 1):
        top = 1.0 - (i - 1) * (height + spacing)
        suffix = "" if i == 1 else str(i)
        out[f"xaxis{suffix}"] = axis(anchor=f"y{suffix}", domain=[0, 1], showticklabels=i == rows,
                                     **({} if i == 1 else {"matches": "x"}))
        out[f"yaxis{suffix}"] = axis(anchor=f"x{suffix}", domain=[max(0.0, top - height), top])
    if titles:
        out["annotations"] = [dict(text=t, showarrow=False, xref="paper", yref="paper", x=0, xanchor="left",
                                   y=out[f"yaxis{'' if i == 1 else i}"]["domain"][1], yanchor="bottom",
                                   font=dict(size=13)) for i, t in enumerate(titles, start=1)]
    return out


def weekly_spend(df: pd.DataFrame) -> go.Figure:
    """Average daily GPU spend per ISO week, stacked by state, with the week-over-week change.

    df: one row per week (``data.overview.weekly_from_hourly``): ``week_start`` (Monday,
    UTC), ``days_with_data``, ``active_usd``, ``allocated_idle_usd``, ``unallocated_usd``,
    ``no_data_usd``, ``spend_usd_per_day`` and ``change`` (relative change of
    spend_usd_per_day from the previous week; NaN for the first). Per-day averages make a
    partial week comparable with whole ones; partial weeks say how many days they cover.
    """
    layout = base_layout("Average daily GPU spend per week, week over week", 340)
    if df.empty:
        return empty_figure(layout, "No GPU usage in this window")
    days = df["days_with_data"].where(df["days_with_data"] > 0)
    labels = [f"Week of {w:%Y-%m-%d}" + ("" if d >= 6.99 else f"<br>({d:.1f} of 7 days)")
              for w, d in zip(pd.to_datetime(df["week_start"]), df["days_with_data"])]
    columns = {"active": "active_usd", "allocated_idle": "allocated_idle_usd",
               "unallocated": "unallocated_usd", "no_data": "no_data_usd"}
    data = [dict(type="bar", x=labels, y=(df[columns[state]] / days).to_numpy(float), name=STATE_LABELS[state],
                 marker=dict(color=STATE_COLOURS[state], line=dict(width=0)),
                 hovertemplate="%{x}<br>%{fullData.name}: $%{y:,.0f} per day<extra></extra>")
            for state in STATE_ORDER]

    def change_text(c) -> str:
        if pd.isna(c):
            return ""
        return "no change vs previous week" if abs(c) < 0.0005 else f"{c:+.1%} vs previous week"

    top = float(df["spend_usd_per_day"].max())
    data.append(dict(type="scatter", x=labels, y=(df["spend_usd_per_day"] + top * 0.02).to_numpy(float),
                     mode="text", text=[change_text(c) for c in df["change"]], textposition="top center",
                     showlegend=False, hoverinfo="skip", textfont=dict(size=12)))
    layout.update(barmode="stack", bargap=0.35,
                  xaxis=axis("Week (Monday to Sunday, UTC)", type="category"),
                  yaxis=axis("Cost (USD per day)", tickprefix="$", tickformat=",.0f",
                             range=[0, top * 1.2 if top > 0 else 1]))
    return figure(data, layout)


def gpus_by_state_over_time(df: pd.DataFrame, bucket_hours: int) -> go.Figure:
    """Stacked areas: mean number of GPUs in each state per time bucket.

    df: long format (``data.overview.series_from_hourly``): ``bucket_start``, ``state``,
    ``gpus`` (GPU-hours in the state / bucket_hours). The stack's height is the fleet size.
    """
    layout = base_layout(f"GPUs by state over time (mean per {_bucket_label(bucket_hours)})", 340)
    if df.empty:
        return empty_figure(layout, "No GPU usage in this window")
    wide = (df.pivot_table(index="bucket_start", columns="state", values="gpus", aggfunc="sum", fill_value=0.0)
              .reindex(columns=list(STATE_ORDER), fill_value=0.0).sort_index())
    data = [dict(type="scatter", x=wide.index, y=wide[state].to_numpy(float), name=STATE_LABELS[state],
                 mode="lines", stackgroup="gpus", line=dict(width=0.5, color=STATE_COLOURS[state]),
                 fillcolor=STATE_COLOURS[state],
                 hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{fullData.name}: %{y:,.1f} GPUs<extra></extra>")
            for state in STATE_ORDER]
    layout.update(xaxis=axis("Time (UTC)"), yaxis=axis("GPUs (mean count)", rangemode="tozero", tickformat=",.0f"))
    return figure(data, layout)


def _row_label(row, level: str, many_clusters: bool) -> str:
    prefix = f"{row['cluster']}/" if many_clusters else ""
    if level == "node":
        n = int(row["devices"])
        return f"{prefix}{row['node']} ({n} GPU{'s' if n != 1 else ''})"
    label = f"{prefix}{row['node']} · GPU {'' if pd.isna(row['gpu_index']) else int(row['gpu_index'])}"
    if isinstance(row.get("mig_profile"), str) and row["mig_profile"]:
        label += f" · {row['mig_profile']} #{str(row['device_id']).rsplit('/', 1)[-1]}"
    return label


def heatmap_row_labels(cells: pd.DataFrame, level: str) -> dict[str, str]:
    """row_key -> the y label ``util_heatmap`` gives the row (unique per row)."""
    rows = cells.drop_duplicates("row_key")
    many = rows["cluster"].nunique() > 1
    return {r["row_key"]: _row_label(r, level, many) for r in rows.to_dict("records")}


def util_heatmap(cells: pd.DataFrame, level: str, bucket_hours: int, total_rows: int) -> go.Figure:
    """Heatmap of utilisation (%) per GPU (or node) and time bucket.

    cells (``data.utilisation.heatmap``): ``row_key``, ``cluster``, ``node``, ``gpu_index``,
    ``device_id``, ``mig_profile``, ``devices``, ``bucket_start``, ``util_pct`` (NaN: no
    telemetry), ``no_data_share``; rows in display order. level: 'gpu' or 'node' (mean over
    the node's GPUs). total_rows: rows matching the filters (more than shown means the least
    utilised were kept). Row labels are ``heatmap_row_labels`` (for click-through).
    """
    what = "GPU" if level == "gpu" else "node"
    title = f"Utilisation by {what} and time (per {_bucket_label(bucket_hours)})"
    if cells.empty:
        return empty_figure(base_layout(title, 320), "No GPU usage in this window")
    labels = heatmap_row_labels(cells, level)
    order = list(labels)
    z = cells.pivot(index="row_key", columns="bucket_start", values="util_pct").reindex(order)
    nd = cells.pivot(index="row_key", columns="bucket_start", values="no_data_share").reindex(
        index=order, columns=z.columns)
    shown = len(order)
    note = (f"{shown} {what}s" if shown == total_rows
            else f"the {shown} least-utilised of {total_rows} {what}s (narrow the filters to see others)")
    data = [dict(
        type="heatmap", x=list(z.columns), y=[labels[k] for k in order], z=z.to_numpy(dtype="float32").round(1),
        zmin=0, zmax=100, colorscale=UTIL_COLOURSCALE, xgap=0, ygap=1,
        customdata=nd.to_numpy(dtype="float32").round(2),   # float32: half the bytes on the wire
        colorbar=dict(title=dict(text="Util (%)"), ticksuffix=" %", thickness=14, len=0.9),
        hovertemplate="%{y}<br>%{x|%Y-%m-%d %H:%M} UTC<br>util %{z:.1f} %"
                      "<br>no telemetry %{customdata:.0%}<extra></extra>",
    )]
    layout = base_layout(title, 150 + 15 * shown,
                         subtitle=f"Showing {note}; grey: no telemetry. Click a cell to drill down.",
                         plot_bgcolor=NO_DATA_BACKGROUND,
                         xaxis=axis("Time (UTC)", showgrid=False),
                         yaxis=axis(None, autorange="reversed", type="category", showgrid=False,
                                    tickfont=dict(size=10 if shown > 40 else 12)))
    return figure(data, layout)


def gpu_series(df: pd.DataFrame, title: str, resolution: str) -> go.Figure:
    """One GPU's DCGM series in three panels sharing the time axis: utilisation (%), memory
    used and total (GiB), power (W).

    df (``data.utilisation.device_series``): ``ts``, ``util_pct``, ``mem_used_bytes``,
    ``mem_used_max_bytes``, ``mem_total_bytes``, ``power_w``, ``power_max_w``.
    resolution: 'step' (raw steps) or 'hour' (hourly means, with hourly maxima dotted).
    """
    kind = "per step" if resolution == "step" else "hourly mean"
    layout = base_layout(f"{title} — DCGM series ({kind})", 560)
    if df.empty:
        return empty_figure(layout, "No samples for this GPU in this window")
    ts = pd.to_datetime(df["ts"])
    hover = "%{x|%Y-%m-%d %H:%M} UTC<br>"

    def line(y, name, colour, panel, dash=None, width=1.4, fmt="%{y:.1f}"):
        suffix = "" if panel == 1 else str(panel)
        return dict(type="scatter", x=ts, y=pd.to_numeric(y, errors="coerce").to_numpy(float), name=name,
                    mode="lines", xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                    line=dict(width=width, color=colour, dash=dash),
                    hovertemplate=hover + f"{name}: {fmt}<extra></extra>")

    data = [line(df["util_pct"], "Utilisation (%)", STATE_COLOURS["active"], 1),
            line(df["mem_used_bytes"] / GIB, "Memory used (GiB)", "#009E73", 2)]
    if resolution == "hour":
        data.append(line(df["mem_used_max_bytes"] / GIB, "Memory used, hourly max (GiB)", "#009E73", 2,
                         dash="dot", width=1))
    data += [line(df["mem_total_bytes"] / GIB, "Memory total (GiB)", "#7b8794", 2, dash="dash", width=1),
             line(df["power_w"], "Power (W)", "#CC79A7", 3, fmt="%{y:.0f}")]
    if resolution == "hour":
        data.append(line(df["power_max_w"], "Power, hourly max (W)", "#CC79A7", 3, dash="dot", width=1,
                         fmt="%{y:.0f}"))
    layout.update(stacked_axes(3))
    layout["yaxis"].update(title=dict(text="Util (%)"), range=[0, 105])
    layout["yaxis2"].update(title=dict(text="Memory (GiB)"), rangemode="tozero")
    layout["yaxis3"].update(title=dict(text="Power (W)"), rangemode="tozero")
    layout["xaxis3"].update(title=dict(text="Time (UTC)"))
    layout.update(margin=dict(l=10, r=10, t=110, b=10), title=dict(layout["title"], y=0.985, yanchor="top"),
                  legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, xanchor="left"))
    return figure(data, layout)
