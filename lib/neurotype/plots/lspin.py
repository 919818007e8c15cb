"""Figures of the LSPIN chapters: model comparison, confusion matrix, gate matrix and gate profiles."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from neurotype.plots.data import SUBCLASS_COLORS

__all__ = ["plot_model_intervals", "plot_confusion", "plot_gate_matrix", "plot_class_profiles",
           "plot_open_counts", "plot_stability", "plot_gate_vs_importance"]


def plot_model_intervals(table: pd.DataFrame, metric: str = "f1_macro", reference: float | None = None,
                         reference_label: str = "paper") -> Figure:
    """Mean and 95 % interval of ``metric`` per model, one marker style per feature set.

    ``table`` has columns ``model``, ``feature_set``, ``mean``, ``low``, ``high``.
    """
    needed = {"model", "feature_set", "mean", "low", "high"}
    if not needed <= set(table.columns):
        raise ValueError(f"table needs columns {sorted(needed)}, has {sorted(table.columns)}")
    models = list(dict.fromkeys(table["model"]))
    sets = list(dict.fromkeys(table["feature_set"]))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(models) + 1.4))
    offsets = np.linspace(-0.15, 0.15, len(sets)) if len(sets) > 1 else [0.0]
    for offset, (name, marker) in zip(offsets, zip(sets, "os^D")):
        rows = table[table["feature_set"] == name].set_index("model").reindex(models)
        y = np.arange(len(models)) + offset
        ax.errorbar(rows["mean"], y, xerr=[rows["mean"] - rows["low"], rows["high"] - rows["mean"]], fmt=marker,
                    capsize=3, label=name)
    if reference is not None:
        ax.axvline(reference, color="grey", ls="--", lw=1)
        ax.text(reference, len(models) - 0.4, f" {reference_label} {reference:.3f}", color="grey", fontsize=8)
    ax.set_yticks(range(len(models)), models)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} (mean over outer folds, 95 % corrected interval)")
    ax.legend(title="feature set", fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_confusion(counts: np.ndarray, classes: Sequence[str], title: str = "") -> Figure:
    """Confusion matrix (rows true, columns predicted): colour and text = row percentage, plus counts."""
    counts = np.asarray(counts, dtype=float)
    if counts.shape != (len(classes), len(classes)):
        raise ValueError(f"counts has shape {counts.shape}, expected {(len(classes), len(classes))}")
    share = counts / np.clip(counts.sum(1, keepdims=True), 1, None)
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    image = ax.imshow(share * 100, cmap="Blues", vmin=0, vmax=100)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{counts[i, j]:.0f}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="row %")
    fig.tight_layout()
    return fig


def _class_strip(ax, labels: Sequence[str], colors: Mapping[str, str]) -> None:
    strip = np.array([[list(colors).index(label)] for label in labels])
    from matplotlib.colors import ListedColormap

    ax.imshow(strip, aspect="auto", cmap=ListedColormap(list(colors.values())), vmin=-0.5,
              vmax=len(colors) - 0.5, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_gate_matrix(gates: pd.DataFrame, labels: Sequence[str], order: Sequence[int],
                     colors: Mapping[str, str] = SUBCLASS_COLORS) -> Figure:
    """Gate of every held-out cell (rows, in ``order``) and feature (columns), with a class strip."""
    labels = np.asarray(labels)
    order = np.asarray(order)
    if len(labels) != len(gates) or sorted(order.tolist()) != list(range(len(gates))):
        raise ValueError("labels and order must cover every row of gates once")
    fig, (strip, ax) = plt.subplots(1, 2, figsize=(11, 7), gridspec_kw={"width_ratios": [0.35, 12], "wspace": 0.02})
    _class_strip(strip, labels[order], colors)
    strip.set_ylabel(f"{len(gates)} held-out cells, hierarchically clustered")
    image = ax.imshow(gates.to_numpy()[order], aspect="auto", cmap="viridis", vmin=0, vmax=1,
                      interpolation="nearest")
    ax.set_xticks(range(gates.shape[1]), gates.columns, rotation=90, fontsize=7)
    ax.set_yticks([])
    fig.colorbar(image, ax=ax, label="gate z (inference)", fraction=0.03)
    handles = [Patch(color=c, label=k) for k, c in colors.items() if k in set(labels.tolist())]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1.07), ncol=len(handles), fontsize=8,
              frameon=False)
    fig.subplots_adjust(bottom=0.3, top=0.92)
    return fig


def plot_class_profiles(profiles: pd.DataFrame) -> Figure:
    """Mean gate per class (rows) and feature (columns)."""
    fig, ax = plt.subplots(figsize=(11, 2.8))
    image = ax.imshow(profiles.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(profiles.shape[1]), profiles.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(profiles)), profiles.index)
    fig.colorbar(image, ax=ax, label="mean gate", fraction=0.03)
    fig.tight_layout()
    return fig


def plot_open_counts(counts: np.ndarray, labels: Sequence[str], n_features: int,
                     colors: Mapping[str, str] = SUBCLASS_COLORS) -> Figure:
    """Distribution of the number of open gates per cell, by class."""
    counts, labels = np.asarray(counts), np.asarray(labels)
    present = [c for c in colors if c in set(labels.tolist())]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.boxplot([counts[labels == c] for c in present], showfliers=True)
    ax.set_xticks(range(1, len(present) + 1), present)
    ax.set_ylim(-0.5, n_features + 0.5)
    ax.set_ylabel(f"open gates (z > 0) of {n_features}")
    fig.tight_layout()
    return fig


def plot_stability(corr: pd.DataFrame) -> Figure:
    """Spearman correlations between the mean gate profiles of every (seed, fold) model."""
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(corr)), corr.columns, rotation=90, fontsize=6)
    ax.set_yticks(range(len(corr)), corr.index, fontsize=6)
    fig.colorbar(image, ax=ax, label="Spearman rho")
    fig.tight_layout()
    return fig


def plot_gate_vs_importance(gate: pd.Series, importance: pd.Series, label_top: int = 8,
                            importance_label: str = "permutation importance") -> Figure:
    """Mean gate per feature against the best baseline's permutation importance."""
    common = gate.index.intersection(importance.index)
    gate, importance = gate.loc[common], importance.loc[common]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(gate, importance, s=18)
    for name in set(gate.nlargest(label_top).index) | set(importance.nlargest(label_top).index):
        ax.annotate(name, (gate[name], importance[name]), fontsize=7, xytext=(3, 2), textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("LSPIN mean gate on held-out cells")
    ax.set_ylabel(f"{importance_label} (drop in macro F1)")
    fig.tight_layout()
    return fig
