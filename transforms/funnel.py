"""The engagement funnel per area (referred, contacted, engaged, completed) and its chart.

Counts are cumulative stages: a completed child was also contacted and engaged. The chart is a
PNG (mail clients show images, not scripts or SVG), drawn without a display.
"""
from __future__ import annotations

import io

import pandas as pd

STAGES = ("referred", "contacted", "engaged", "completed")
_CONTACTED = {"contacted", "engaged", "completed", "no_session", "declined", "did_not_engage",
              "closed_other"}
_ENGAGED = {"engaged", "completed"}


def engagement_funnel(engagement: pd.DataFrame) -> pd.DataFrame:
    """Per area: how many referrals reached each stage. Input columns: area, state."""
    stages = pd.DataFrame({
        "area": engagement["area"],
        "referred": 1,
        "contacted": engagement["state"].isin(_CONTACTED).astype(int),
        "engaged": engagement["state"].isin(_ENGAGED).astype(int),
        "completed": (engagement["state"] == "completed").astype(int),
    })
    return stages.groupby("area", as_index=False)[list(STAGES)].sum().sort_values("area", ignore_index=True)


def funnel_chart_png(funnel: pd.DataFrame, title: str) -> bytes:
    """Grouped bars: one group per area, one bar per stage."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    areas = list(funnel["area"]) or ["(no referrals)"]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(areas) + 1.5), 3.2), dpi=110)
    width = 0.8 / len(STAGES)
    colours = ("#1d70b8", "#4c2c92", "#00703c", "#85994b")
    for i, (stage, colour) in enumerate(zip(STAGES, colours)):
        values = list(funnel[stage]) if len(funnel) else [0]
        positions = [x + (i - 1.5) * width for x in range(len(areas))]
        bars = ax.bar(positions, values, width=width, label=stage, color=colour)
        ax.bar_label(bars, fontsize=7, padding=1)
    ax.set_xticks(range(len(areas)), areas, fontsize=8)
    ax.set_ylabel("referrals")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()
