"""Learning curves from history.csv: mean over seeds per claim, one PNG per landmark."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from landmarks.files import atomic_open


def learning_curves(history: pd.DataFrame, title: str, out: Path) -> Path | None:
    """Training (dashed) and test (solid) error per epoch; None when the runs have no curves."""
    if history.empty or "epoch" not in history or history["epoch"].max() < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (claim, sel) in enumerate(history.groupby("claim", sort=False)):
        color = f"C{i % 10}"
        mean = sel.groupby("epoch").mean(numeric_only=True)
        n = sel["seed"].nunique()
        if "test_error" in mean and mean["test_error"].notna().any():
            ax.plot(mean.index, mean["test_error"], color=color, label=f"{claim} test (n={n})")
        if "train_error" in mean:
            ax.plot(mean.index, mean["train_error"], color=color, linestyle="--", alpha=0.7, label=f"{claim} train")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_open(out, binary=True) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return out
