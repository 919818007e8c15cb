"""Figures of the external-validation chapter (08); each function returns a matplotlib Figure.

They draw :class:`neurotype.experiments.external.ExternalRun` results and compute nothing new.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from neurotype.experiments.external import ADAPTATIONS, OOD_SCORES, ExternalRun

__all__ = ["plot_feature_shift", "plot_scores", "plot_confusions", "plot_reliability", "plot_coverage"]

_ADAPTATION_COLORS = {"none": "C0", "per-lab standardisation": "C2", "DANN": "C3"}


def plot_feature_shift(runs: Sequence[ExternalRun]) -> Figure:
    """Each mapped feature's external mean minus ACTD's, in ACTD standard deviations; one panel per data set.

    Another data set scored by the same models (the M1 cells at 33–34 °C) is drawn as open circles.
    """
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 0.32 * max(len(r.features) for r in runs) + 1.4))
    for ax, run in zip(np.atleast_1d(axes), runs):
        shift = run.shift.set_index("feature")
        y = np.arange(len(shift))
        ax.barh(y, shift["shift (ACTD sd)"], color="C0", alpha=0.75, label=run.dataset)
        for name, other in run.others.items():
            values = other["shift"].set_index("feature").reindex(shift.index)["shift (ACTD sd)"]
            ax.plot(values, y, "o", mfc="none", mec="C3", label=f"{name}")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, shift.index, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("external mean − ACTD mean (ACTD sd)")
        ax.set_title(run.title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_scores(runs: Sequence[ExternalRun], metric: str = "balanced_accuracy") -> Figure:
    """Per data set, model and adaptation: the external score and its bootstrap interval, beside the
    same model's ACTD cross-validation (grey bar) and its held-out ACTD cells (grey diamond)."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.4 * len(runs), 3.4), sharey=True)
    for ax, run in zip(np.atleast_1d(axes), runs):
        models = list(run.references)
        for i, model in enumerate(models):
            cv = run.references[model].estimate("all", metric)
            ax.barh(i, cv.mean, color="0.85", height=0.8, label="ACTD cross-validation" if i == 0 else None)
            held = run.evaluation(model, "none", "ACTD held-out").scores[metric]
            ax.plot(held.mean, i, "D", color="0.4", ms=5, label="held-out ACTD cells" if i == 0 else None)
            for j, adaptation in enumerate(("none", "per-lab standardisation")):
                item = run.evaluation(model, adaptation).scores[metric]
                offset = -0.2 + 0.2 * j
                ax.plot([item.low, item.high], [i + offset] * 2, color=_ADAPTATION_COLORS[adaptation], lw=1.6)
                ax.plot(item.mean, i + offset, "o", color=_ADAPTATION_COLORS[adaptation], ms=5,
                        label=f"external, {adaptation}" if i == 0 else None)
        dann = run.evaluation("dann", "DANN").scores[metric]
        k = models.index("fcnn") if "fcnn" in models else len(models) - 1
        ax.plot([dann.low, dann.high], [k + 0.2] * 2, color=_ADAPTATION_COLORS["DANN"], lw=1.6)
        ax.plot(dann.mean, k + 0.2, "s", color=_ADAPTATION_COLORS["DANN"], ms=5, label="external, DANN (network)")
        ax.axvline(1 / len(run.classes), color="k", ls=":", lw=0.8, label="chance (five classes)")
        ax.set_yticks(range(len(models)), models)
        ax.set_xlim(0, 1)
        ax.set_xlabel(metric.replace("_", " "))
        ax.set_title(run.title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    np.atleast_1d(axes)[0].invert_yaxis()
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_confusions(runs: Sequence[ExternalRun], model: str) -> Figure:
    """Row-normalised confusion matrices of ``model``: held-out ACTD cells, then each data set as met
    without adaptation, with per-lab standardisation and (the network) with the DANN."""
    panels = [("held-out ACTD cells", runs[0].evaluation(model, "none", "ACTD held-out"))]
    for run in runs:
        for adaptation in ADAPTATIONS:
            item = run.evaluation("dann" if adaptation == "DANN" else model, adaptation)
            panels.append((f"{run.dataset}\n{adaptation}", item))
    columns = 4
    rows = int(np.ceil(len(panels) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 3.2 * rows))
    axes = np.atleast_1d(axes).ravel()
    classes = list(runs[0].classes)
    for ax, (title, item) in zip(axes, panels):
        counts = item.confusion.to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = counts / counts.sum(axis=1, keepdims=True)
        ax.imshow(np.nan_to_num(share), cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                if np.isfinite(share[i, j]):
                    ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_title(title, fontsize=8)
    for ax in axes[len(panels):]:
        ax.axis("off")
    fig.supxlabel("predicted", fontsize=9)
    fig.supylabel("true", fontsize=9)
    fig.tight_layout()
    return fig


def plot_reliability(runs: Sequence[ExternalRun], model: str) -> Figure:
    """Reliability diagrams of ``model``: accuracy against mean confidence per bin, with each bin's cells."""
    curves = [("held-out ACTD cells", runs[0].evaluation(model, "none", "ACTD held-out"), "0.3")]
    curves += [(run.dataset, run.evaluation(model, "none"), f"C{k}") for k, run in enumerate(runs)]
    curves += [(f"{run.dataset}, DANN", run.evaluation("dann", "DANN"), f"C{k}") for k, run in enumerate(runs)]
    fig, (ax, bars) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls=":")
    width = 0.1 / (len(curves) + 1)
    for k, (label, item, color) in enumerate(curves):
        table = item.reliability
        kept = table["cells"] > 0
        style = "--" if "DANN" in label else "-"
        ax.plot(table.loc[kept, "confidence"], table.loc[kept, "accuracy"], style, marker="o", ms=3, color=color,
                label=f"{label} (ECE {item.scores['ece'].mean:.2f})")
        bars.bar(table["low"] + (k + 0.5) * width, table["cells"] / table["cells"].sum(), width=width, color=color,
                 alpha=0.5 if "DANN" in label else 0.9, label=label)
    ax.set_xlabel("mean confidence (highest class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title(f"{model}: reliability", fontsize=10)
    bars.set_xlabel("confidence bin")
    bars.set_ylabel("share of cells")
    bars.set_title("where the confidences fall", fontsize=10)
    fig.tight_layout()
    return fig


def plot_coverage(runs: Sequence[ExternalRun], model: str) -> Figure:
    """Accuracy on the share of cells with the lowest out-of-distribution score, per score and data set
    (solid: external cells; dashed: held-out ACTD cells)."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.0 * len(runs), 3.6), sharey=True)
    for ax, run in zip(np.atleast_1d(axes), runs):
        for k, score in enumerate(OOD_SCORES):
            curve = next(c for c in run.coverage if c.model == model and c.score == score)
            ax.plot(curve.coverage, curve.external, "-", color=f"C{k}", label=f"{score}")
            ax.plot(curve.coverage, curve.reference, "--", color=f"C{k}", alpha=0.6)
        ax.set_xlabel("coverage (share of cells answered)")
        ax.set_title(f"{run.title}\n({model}; dashed: held-out ACTD cells)", fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("accuracy on the cells answered")
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig
