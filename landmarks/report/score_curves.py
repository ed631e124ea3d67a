"""A DQN landmark's learning curves (Mnih et al. 2015, Figure 2's form): the evaluation score
against training frames, the mean over seeds with the seeds' spread as a band, and for each claim
the paper's DQN score and the human and random scores it cites, as horizontal lines in the
claim's colour (dotted, dash-dotted and dashed).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping

import pandas as pd

from landmarks.report.figures import save_figure

STYLES = {"human": "-.", "random": "--"}


def _game(name: str) -> str:
    """The game a row names after its last comma ("DQN, Pong", "human, Pong" -> "Pong")."""
    return name.rsplit(",", 1)[-1].strip()


def score_curves(history: pd.DataFrame, title: str, out: Path, paper: Mapping[str, float | None],
                 cited: Mapping[str, float]) -> Path | None:
    """The figure, or None when the runs have no evaluation curve (fewer than two points)."""
    if history.empty or "eval_score" not in history or "frames" not in history or history["epoch"].max() < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(figsize=(8, 5))
    handles = []
    for i, (claim, sel) in enumerate(history.groupby("claim", sort=False)):
        color = f"C{i % 10}"
        by = sel.groupby("epoch")
        x = by["frames"].mean() / 1e6
        mean, lo, hi = by["eval_score"].mean(), by["eval_score"].min(), by["eval_score"].max()
        ax.plot(x, mean, color=color, marker="o", markersize=3)
        if sel["seed"].nunique() > 1:
            ax.fill_between(x, lo, hi, color=color, alpha=0.12, linewidth=0)
        handles.append(Line2D([], [], color=color, marker="o", label=f"{claim} (n={sel['seed'].nunique()})"))
        if paper.get(claim) is not None:
            ax.axhline(paper[claim], color=color, linestyle=":", linewidth=1.2)
        for name, value in cited.items():
            kind = name.split(",")[0].strip()
            if _game(name) == _game(claim) and kind in STYLES:
                ax.axhline(value, color=color, linestyle=STYLES[kind], linewidth=1.0, alpha=0.8)
    handles.append(Line2D([], [], color="black", linestyle=":", label="DQN, the paper's score"))
    handles += [Line2D([], [], color="black", linestyle=s, label=f"{k}, the paper's score") for k, s in STYLES.items()]
    ax.set_xlabel("training frames (millions; 4 a step)")
    ax.set_ylabel("evaluation score (epsilon 0.05)")
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=10)
    ax.grid(alpha=0.3)
    return save_figure(fig, ax, handles, out)
