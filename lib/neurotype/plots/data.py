"""Figures of the data chapter: taxonomy, selection funnel, class balance."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from neurotype.data.tables import SPECIES, SUBCLASSES

__all__ = ["SUBCLASS_COLORS", "SPECIES_COLORS", "plot_taxonomy", "plot_funnel", "plot_dendrite_by_species",
           "plot_subclass_counts"]

SUBCLASS_COLORS: Mapping[str, str] = {
    "Glutamatergic": "#4C72B0", "Pvalb": "#DD8452", "Sst": "#55A868", "Vip": "#C44E52", "Htr3a+|Vip-": "#8172B3",
}
SPECIES_COLORS: Mapping[str, str] = {"mouse": "#937860", "human": "#DA8BC3"}
BROAD_COLORS: Mapping[str, str] = {"aspiny": "#C44E52", "spiny": "#4C72B0"}


def plot_taxonomy(line_counts: pd.DataFrame) -> Figure:
    """Cre lines grouped into subclasses and broad types (the paper's Fig 3).

    Parameters
    ----------
    line_counts
        Columns ``subclass``, ``cre_line``, ``cells``: one row per Cre line.
    """
    groups = [(s, line_counts[line_counts["subclass"] == s].sort_values("cells", ascending=False))
              for s in SUBCLASSES]
    n_rows = sum(max(len(g), 1) for _, g in groups) + len(groups) - 1
    fig, ax = plt.subplots(figsize=(9.5, 0.27 * n_rows + 0.8))
    ax.set_axis_off()
    ax.set_xlim(-0.05, 3.6)
    ax.set_ylim(n_rows, -1)
    box = dict(boxstyle="round,pad=0.3", linewidth=0.8)
    y = 0.0
    subclass_y = {}
    for subclass, lines in groups:
        top = y
        for _, row in lines.iterrows():
            ax.text(2.25, y, f"{row['cre_line']}  ({row['cells']})", va="center", fontsize=8)
            ax.plot([1.95, 2.2], [subclass_y.get(subclass, top + (len(lines) - 1) / 2), y], color="0.7", lw=0.6)
            subclass_y.setdefault(subclass, top + (len(lines) - 1) / 2)
            y += 1
        subclass_y.setdefault(subclass, top)
        total = int(lines["cells"].sum())
        ax.text(1.45, subclass_y[subclass], f"{subclass}\n{total} cells", ha="center", va="center", fontsize=9,
                bbox={**box, "facecolor": SUBCLASS_COLORS[subclass], "alpha": 0.35})
        y += 1
    gaba = [subclass_y[s] for s in SUBCLASSES if s != "Glutamatergic"]
    broad = {"Glutamatergic\n(spiny)": [subclass_y["Glutamatergic"]], "GABAergic\n(aspiny)": gaba}
    for label, ys in broad.items():
        centre = sum(ys) / len(ys)
        ax.text(0.55, centre, label, ha="center", va="center", fontsize=10, bbox={**box, "facecolor": "0.92"})
        for target in ys:
            ax.plot([0.85, 1.1], [centre, target], color="0.5", lw=0.8)
    ax.set_title("Mouse Cre lines → five subclasses (cells in the selected table)", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def plot_funnel(funnel: pd.DataFrame) -> Figure:
    """Cells remaining after each selection step, per species (the paper's Fig 4 counts)."""
    species = [s for s in SPECIES if s in set(funnel["species"])]
    fig, axes = plt.subplots(1, len(species), figsize=(5.2 * len(species), 2.9), squeeze=False)
    for ax, name in zip(axes[0], species):
        steps = funnel[funnel["species"] == name].reset_index(drop=True)
        labels = ["all cells" if r == "start" else r.replace("_", " ") for r in steps["rule"]]
        ax.barh(range(len(steps)), steps["remaining"], color=SPECIES_COLORS[name], alpha=0.8)
        for i, row in steps.iterrows():
            text = f"{row['remaining']:,}" + (f"  (−{row['removed']:,})" if row["removed"] else "")
            ax.text(row["remaining"] * 1.01, i, text, va="center", fontsize=8)
        ax.set_yticks(range(len(steps)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, steps["remaining"].max() * 1.35)
        ax.set_xlabel("cells remaining")
        ax.set_title(name, fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_dendrite_by_species(counts: pd.DataFrame) -> Figure:
    """Aspiny vs spiny cells per species, counts and shares (the paper's Fig 5).

    ``counts``: index = species, columns = dendrite types, values = cells.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    shares = counts.div(counts.sum(axis=1), axis=0)
    left = pd.Series(0.0, index=counts.index)
    for dendrite in counts.columns:
        ax.barh(counts.index, shares[dendrite], left=left, color=BROAD_COLORS.get(dendrite, "0.6"), label=dendrite)
        for name in counts.index:
            ax.text(left[name] + shares.loc[name, dendrite] / 2, name,
                    f"{counts.loc[name, dendrite]:,}\n({shares.loc[name, dendrite]:.0%})",
                    ha="center", va="center", fontsize=8, color="white")
        left += shares[dendrite]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of cells")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=len(counts.columns), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_subclass_counts(counts: pd.Series) -> Figure:
    """Cells per mouse subclass (the paper's Fig 6); ``counts`` is indexed by subclass."""
    counts = counts.reindex([s for s in SUBCLASSES if s in counts.index])
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.bar(counts.index, counts.to_numpy(), color=[SUBCLASS_COLORS[s] for s in counts.index])
    for i, value in enumerate(counts.to_numpy()):
        ax.text(i, value, f"{value:,}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("cells")
    ax.tick_params(axis="x", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig
