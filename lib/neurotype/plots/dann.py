"""Figures of the DANN and ablation chapters; each function returns a matplotlib Figure."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neurotype.plots.data import SPECIES_COLORS

__all__ = ["plot_model_intervals", "plot_confusions", "plot_probes", "plot_embeddings", "plot_lambda_sweep",
           "plot_label_curve"]


def plot_model_intervals(table: pd.DataFrame, panels: Sequence[tuple[str, str, str]],
                         paper: Mapping[tuple[str, str], float] | None = None) -> Figure:
    """Means and ci95 per model, one panel per (species, metric).

    Parameters
    ----------
    table
        Columns ``model``, ``species``, ``metric``, ``mean``, ``low``, ``high`` (one row each).
    panels
        ``(species, metric, title)`` per panel.
    paper
        ``{(model, species): value}`` of the paper's claims, drawn as open diamonds on the
        panels of metric ``accuracy``.
    """
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 0.45 * len(models) + 1.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (species, metric, title) in zip(axes, panels):
        sub = table[(table["species"] == species) & (table["metric"] == metric)].set_index("model")
        for y, model in enumerate(models):
            if model not in sub.index:
                continue
            row = sub.loc[model]
            ax.plot([row["low"], row["high"]], [y, y], color="0.35", lw=1.6)
            ax.plot(row["mean"], y, "o", color=SPECIES_COLORS.get(species, "C0"), ms=6, zorder=3)
            if paper and metric == "accuracy" and (model, species) in paper:
                ax.plot(paper[(model, species)], y, "D", mfc="none", mec="k", ms=7, zorder=4,
                        label="paper's claim")
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles[:1], labels[:1], fontsize=8, loc="lower left")
    axes[0].set_yticks(range(len(models)), models)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig


def plot_confusions(confusions: Mapping[str, Sequence[Sequence[float]]], classes: Sequence[str],
                    titles: Mapping[str, str] | None = None) -> Figure:
    """Confusion matrices as percentages of each species' predictions (the paper's Figs 9–10).

    Parameters
    ----------
    confusions
        ``{species: matrix}`` (rows true, columns predicted, counts summed over folds).
    classes
        Class names in matrix order.
    """
    fig, axes = plt.subplots(1, len(confusions), figsize=(3.6 * len(confusions), 3.3))
    axes = np.atleast_1d(axes)
    for ax, (species, matrix) in zip(axes, confusions.items()):
        counts = np.asarray(matrix, dtype=float)
        share = 100 * counts / counts.sum()
        ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                ax.text(j, i, f"{share[i, j]:.1f} %\n({int(counts[i, j])})", ha="center", va="center",
                        color="white" if share[i, j] > 50 else "black", fontsize=9)
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title((titles or {}).get(species, species), fontsize=10)
    fig.tight_layout()
    return fig


def plot_probes(probes: pd.DataFrame, metric: str = "balanced_accuracy") -> Figure:
    """Species-probe scores per representation (points: folds; bar: mean); chance = 0.5."""
    probe_names = list(dict.fromkeys(probes["probe"]))
    names = list(dict.fromkeys(probes["representation"]))
    fig, axes = plt.subplots(1, len(probe_names), figsize=(4.4 * len(probe_names), 0.5 * len(names) + 1.5),
                             sharey=True)
    axes = np.atleast_1d(axes)
    for ax, probe in zip(axes, probe_names):
        sub = probes[probes["probe"] == probe]
        for y, name in enumerate(names):
            values = sub.loc[sub["representation"] == name, metric].to_numpy()
            ax.barh(y, values.mean(), color="0.85", edgecolor="0.5")
            ax.plot(values, np.full(len(values), y), "o", color="k", ms=3)
        ax.axvline(0.5, color="C3", ls="--", lw=1, label="chance")
        ax.set_xlim(0.4, 1.0)
        ax.set_title(f"{probe} species probe", fontsize=10)
        ax.set_xlabel(metric.replace("_", " ") + " (mouse vs human)")
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig


def plot_embeddings(projections: Mapping[str, pd.DataFrame]) -> Figure:
    """2-D projections of held-out cells: colour = species, marker = class (○ aspiny, △ spiny)."""
    fig, axes = plt.subplots(1, len(projections), figsize=(3.8 * len(projections), 3.7))
    axes = np.atleast_1d(axes)
    markers = {"aspiny": "o", "spiny": "^"}
    for ax, (name, frame) in zip(axes, projections.items()):
        for species in ("mouse", "human"):
            for label, marker in markers.items():
                sub = frame[(frame["species"] == species) & (frame["label"] == label)]
                ax.scatter(sub["pc1"], sub["pc2"], s=10 if species == "mouse" else 16, marker=marker,
                           color=SPECIES_COLORS[species], alpha=0.55 if species == "mouse" else 0.9,
                           edgecolors="k" if species == "human" else "none", linewidths=0.3,
                           label=f"{species} {label}")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    axes[-1].legend(fontsize=7, loc="best", markerscale=1.4)
    fig.tight_layout()
    return fig


def plot_lambda_sweep(table: pd.DataFrame) -> Figure:
    """Human balanced accuracy and mouse accuracy against λ, one line per mode (ci95 bars)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    lambdas = list(dict.fromkeys(table["lambda"]))
    for offset, (mode, sub) in zip((-0.08, 0.08), table.groupby("mode", sort=False)):
        sub = sub.set_index("lambda").loc[[lam for lam in lambdas if lam in set(sub["lambda"])]]
        x = np.array([lambdas.index(lam) for lam in sub.index]) + offset
        for ax, prefix in zip(axes, ("human_balanced_accuracy", "mouse_accuracy")):
            mean = sub[prefix].to_numpy(dtype=float)
            err = np.vstack([mean - sub[f"{prefix}_low"].to_numpy(dtype=float),
                             sub[f"{prefix}_high"].to_numpy(dtype=float) - mean])
            ax.errorbar(x, mean, yerr=err, fmt="o-", capsize=3, label=mode)
    for ax, title in zip(axes, ("human cells: balanced accuracy", "mouse cells: accuracy")):
        ax.set_xticks(range(len(lambdas)), [str(lam) for lam in lambdas])
        ax.set_xlabel("λ (reversal weight)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_label_curve(summary: pd.DataFrame, ylabel: str = "human balanced accuracy") -> Figure:
    """Human test score against the share of labelled human training cells, one line per model."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    shares = sorted(summary["share"].unique())
    for k, (model, sub) in enumerate(summary.groupby("model", sort=False)):
        sub = sub.sort_values("share").dropna(subset=["mean"])
        x = np.array([shares.index(s) for s in sub["share"]]) + 0.06 * (k - 1.5)
        err = np.vstack([sub["mean"] - sub["low"], sub["high"] - sub["mean"]])
        ax.errorbar(x, sub["mean"], yerr=err, fmt="o-", capsize=3, label=model)
    ax.set_xticks(range(len(shares)), [f"{s:.0%}" for s in shares])
    ax.set_xlabel("share of the fold's human training cells labelled")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig

