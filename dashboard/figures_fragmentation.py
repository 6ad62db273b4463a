"""Pure figure builders for fragmentation (shared by the dashboard and the report).

Same rules as ``figures``: frames in, a plotly Figure out, built in one call. GPUs are mean
counts per time bucket; the FGD measure is in GPU equivalents (milli-GPUs / 1000).
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from gpucost.dashboard.figures import STATE_COLOURS, axis, base_layout, empty_figure, figure

STRANDED_COLOUR = "#CC79A7"   # Okabe-Ito reddish purple: distinct from the GPU-state colours
FRAG_COLOUR = "#009E73"


def free_capacity_over_time(df: pd.DataFrame, bucket_hours: int) -> go.Figure:
    """Free GPUs (unallocated capacity), the stranded part of them, and the FGD measure.

    df (``data.fragmentation.load().series``): ``bucket_start``, ``free_gpus``,
    ``stranded_gpus``, ``frag_gpus`` — fleet sums, mean per bucket.
    """
    per = "hour" if bucket_hours == 1 else ("day" if bucket_hours == 24 else f"{bucket_hours} h")
    layout = base_layout(f"Free and stranded GPU capacity (mean per {per})", 340)
    if df.empty:
        return empty_figure(layout, "No fragmentation data in this window")
    hover = "%{x|%Y-%m-%d %H:%M} UTC<br>%{fullData.name}: %{y:,.2f} GPUs<extra></extra>"
    data = [
        dict(type="scatter", x=df["bucket_start"], y=df["free_gpus"].to_numpy(float), name="Free GPUs",
             mode="lines", line=dict(color=STATE_COLOURS["unallocated"], width=1.5), hovertemplate=hover),
        dict(type="scatter", x=df["bucket_start"], y=df["stranded_gpus"].to_numpy(float), name="Stranded GPUs",
             mode="lines", fill="tozeroy", line=dict(color=STRANDED_COLOUR, width=1), hovertemplate=hover),
        dict(type="scatter", x=df["bucket_start"], y=df["frag_gpus"].to_numpy(float),
             name="Fragmented (FGD, GPU equivalents)", mode="lines",
             line=dict(color=FRAG_COLOUR, width=1.5, dash="dot"), hovertemplate=hover),
    ]
    layout.update(xaxis=axis("Time (UTC)"), yaxis=axis("GPUs (mean count)", rangemode="tozero", tickformat=",.1f"))
    return figure(data, layout)
