"""Learning curves from history.csv: one PNG per landmark, the mean over seeds per claim with the
seeds' spread as a band.

- Error metrics (`top1_error`): test error solid, training error dashed, each claim's paper value
  as a dotted reference line in its colour; a log error axis when the curves span more than a
  factor of ten (0.8% beside 10% stays readable), symmetric-log when an error reaches 0.
- `epochs_to_threshold` (AlexNet Fig. 1): training error per epoch, as the paper draws it, with
  the threshold as a reference line.
- Other metrics (the perceptron's update count, XOR's share of solved seeds) have no per-epoch
  curve that shows the claim: no figure.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping

import pandas as pd

from landmarks.files import atomic_open

CURVE_METRICS = ("top1_error", "epochs_to_threshold")


def y_scale(lows: list[float | None], highs: list[float], zeros: bool) -> tuple[str, dict]:
    """The error axis: linear, or logarithmic when the curves span more than a factor of ten. A
    log axis cannot show an error of 0 (a training error that reaches it would drop off the plot,
    its band to the floor): then it is symmetric-log, linear below the smallest error above 0."""
    finite = [v for v in lows if v]
    if not finite or max(highs) / min(finite) <= 10:
        return "linear", {}
    if zeros:
        return "symlog", {"linthresh": min(finite), "linscale": 0.5}
    return "log", {}


def seed_band(runs: pd.DataFrame, x: str, col: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The mean, lowest and highest of `col` over the seeds at each `x`. Epochs without an
    evaluation (`recipe.eval_every_epochs`) are left out, so the line joins the evaluated ones
    instead of breaking at every gap."""
    by_x = runs.dropna(subset=[x, col]).groupby(x)[col]
    return by_x.mean(), by_x.min(), by_x.max()


def learning_curves(history: pd.DataFrame, title: str, out: Path, metric: str = "top1_error",
                    paper: Mapping[str, float] | None = None, threshold: float | None = None,
                    x: str = "epoch") -> Path | None:
    """The figure, or None when the runs have no curve that shows the claim. `x`: "epoch", or
    "step" for a recipe counted in iterations (He et al. plot against them)."""
    if x not in history or history[x].isna().all():
        x = "epoch"
    if metric not in CURVE_METRICS or history.empty or "epoch" not in history or history[x].nunique() < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    columns = ["train_error"] if metric == "epochs_to_threshold" else ["test_error", "train_error"]
    styles = {"test_error": "-", "train_error": "--"}
    fig, ax = plt.subplots(figsize=(8, 5))
    lows, highs, handles, zeros = [], [], [], False
    for i, (claim, sel) in enumerate(history.groupby("claim", sort=False)):
        color = f"C{i % 10}"
        n = sel["seed"].nunique()
        for col in columns:
            if col not in sel or sel[col].isna().all():
                continue
            mean, lo, hi = seed_band(sel, x, col)
            ax.plot(mean.index, mean, color=color, linestyle=styles[col], alpha=1.0 if col == columns[0] else 0.7)
            if n > 1:
                ax.fill_between(mean.index, lo, hi, color=color, alpha=0.12, linewidth=0)
            lows.append(float(lo[lo > 0].min()) if (lo > 0).any() else None)
            zeros = zeros or bool((lo <= 0).any())
            highs.append(float(hi.max()))
        if paper and paper.get(claim) is not None and metric == "top1_error":
            ax.axhline(paper[claim], color=color, linestyle=":", linewidth=1.2)
        handles.append(Line2D([], [], color=color, label=f"{claim} (n={n})"))
    if threshold:
        ax.axhline(threshold, color="black", linestyle=":", linewidth=1.2)
        handles.append(Line2D([], [], color="black", linestyle=":", label=f"threshold {threshold:g}%"))
    for col in columns:
        handles.append(Line2D([], [], color="black", linestyle=styles[col], label=col.replace("_", " ")))
    if paper and metric == "top1_error" and any(v is not None for v in paper.values()):
        handles.append(Line2D([], [], color="black", linestyle=":", label="paper's value"))
    scale, kwargs = y_scale(lows, highs, zeros)
    ax.set_yscale(scale, **kwargs)
    ax.set_xlabel("iterations" if x == "step" else "epoch")
    ax.set_ylabel("error (%)")
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    return save_figure(fig, ax, handles, out)


def save_figure(fig, ax, handles: list, out: Path) -> Path:
    """The legend below the axes, in columns (a long one never covers the curves), then the PNG."""
    import matplotlib.pyplot as plt

    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13),
              ncol=min(4, len(handles)), frameon=False)
    fig.tight_layout()
    with atomic_open(out, binary=True) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return out
