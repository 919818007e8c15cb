"""Figures of the reproduction audit: split composition, split effect, test-score selection, summary."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["ORIGINAL_COLOR", "HONEST_COLOR", "plot_composition", "plot_split_effect", "plot_selection",
           "plot_summary"]

ORIGINAL_COLOR = "#C44E52"
HONEST_COLOR = "#4C72B0"


def plot_composition(frames: Mapping[str, pd.DataFrame]) -> Figure:
    """Class shares of the training and test rows of the unshuffled split, one panel per table.

    Parameters
    ----------
    frames
        ``{panel title: composition frame}`` from :func:`neurotype.experiments.audit.composition_shift`
        (columns ``share_train``, ``share_test``; ``attrs["tvd"]`` shown in the title).
    """
    if not frames:
        raise ValueError("no composition to plot")
    widths = [max(len(f), 2) for f in frames.values()]
    fig, axes = plt.subplots(1, len(frames), figsize=(3.2 + 1.1 * sum(widths), 3.4), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for ax, (title, frame) in zip(axes[0], frames.items()):
        x = np.arange(len(frame))
        ax.bar(x - 0.2, frame["share_train"], 0.4, color="#8C8C8C", label="training rows (first 80 %)")
        ax.bar(x + 0.2, frame["share_test"], 0.4, color=ORIGINAL_COLOR, label="test rows (last 20 %)")
        ax.set_xticks(x, frame.index, rotation=30, ha="right")
        ax.set_title(f"{title}\nTVD {frame.attrs.get('tvd', float('nan')):.3f}", fontsize=10)
        ax.set_ylim(0, 1)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0][0].set_ylabel("share of cells")
    axes[0][0].legend(frameon=False, fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_split_effect(scores: pd.DataFrame, metric: str = "accuracy", species: str | None = None) -> Figure:
    """Each model's score on the unshuffled split (red) against its scores on shuffled stratified splits (dots).

    Parameters
    ----------
    scores
        :attr:`neurotype.experiments.audit.SplitEffect.scores` (columns ``model``, ``split``,
        ``test_species`` and ``metric``).
    species
        The test cells to show (a value of ``test_species``); ``None`` keeps every row.
    """
    if species is not None:
        scores = scores[scores["test_species"] == species]
    models = list(dict.fromkeys(scores["model"]))
    fig, ax = plt.subplots(figsize=(1.4 + 1.3 * len(models), 3.4))
    rng = np.random.default_rng(0)
    for i, model in enumerate(models):
        rows = scores[scores["model"] == model]
        shuffled = rows.loc[rows["split"] == "shuffled", metric].to_numpy()
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(shuffled)), shuffled, s=16, color=HONEST_COLOR, alpha=0.7,
                   label="shuffled stratified splits" if i == 0 else None)
        ax.hlines(shuffled.mean(), i - 0.25, i + 0.25, color=HONEST_COLOR, lw=2)
        original = rows.loc[rows["split"] == "unshuffled", metric].to_numpy()
        ax.scatter([i] * len(original), original, marker="D", s=50, color=ORIGINAL_COLOR, zorder=3,
                   label="unshuffled split (last 20 %)" if i == 0 else None)
    ax.set_xticks(range(len(models)), models)
    ax.set_xlim(-0.6, len(models) - 0.4)
    ax.set_ylabel(metric.replace("_", " ") + (f", {species} test cells" if species else ""))
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_selection(selection: pd.DataFrame, metric: str = "macro F1") -> Figure:
    """Reported vs. fresh-fold score of the configuration chosen by test score and by validation score.

    Parameters
    ----------
    selection
        :func:`neurotype.experiments.audit.selection_optimism` output (one row per fold).
    """
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    for x, name, color, title in ((0, "by_test", ORIGINAL_COLOR, "chosen by test score"),
                                  (1, "by_validation", HONEST_COLOR, "chosen by validation score")):
        reported, fresh = selection[f"{name}_reported"].to_numpy(), selection[f"{name}_fresh"].to_numpy()
        for r, f in zip(reported, fresh):
            ax.plot([x - 0.15, x + 0.15], [r, f], color=color, alpha=0.35, lw=1)
        ax.scatter([x - 0.15] * len(reported), reported, color=color, s=18)
        ax.scatter([x + 0.15] * len(fresh), fresh, color=color, s=18, facecolors="white")
        ax.plot([x - 0.15, x + 0.15], [reported.mean(), fresh.mean()], color=color, lw=3, label=title)
    ax.set_xticks([-0.15, 0.15, 0.85, 1.15], ["reported\n(its test fold)", "fresh\nfolds"] * 2, fontsize=8)
    ax.set_ylabel(metric)
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_summary(table: pd.DataFrame) -> Figure:
    """Dumbbell chart of the audit table: original-style number (red) and honest number (blue) per row.

    Parameters
    ----------
    table
        Columns ``flaw``, ``metric``, ``original``, ``honest`` (numbers in [0, 1]); one row per line.
    """
    if table.empty:
        raise ValueError("empty audit table")
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(table) + 1.2))
    y = np.arange(len(table))[::-1]
    for yi, (_, row) in zip(y, table.iterrows()):
        ax.plot([row["original"], row["honest"]], [yi, yi], color="#8C8C8C", lw=1.5, zorder=1)
    ax.scatter(table["original"], y, color=ORIGINAL_COLOR, s=45, zorder=2, label="original-style")
    ax.scatter(table["honest"], y, color=HONEST_COLOR, s=45, zorder=2, label="honest")
    ax.set_yticks(y, [f"{f}\n({m})" for f, m in zip(table["flaw"], table["metric"])], fontsize=8)
    ax.set_xlabel("score")
    ax.legend(frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
