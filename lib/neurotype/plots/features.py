"""Figures of the features chapter: simulated stimuli and responses, effect sizes, distributions."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neurotype.plots.data import BROAD_COLORS, SUBCLASS_COLORS
from neurotype.ephys.simulate import SimulationResult

__all__ = ["CELL_COLORS", "STIMULUS_TITLES", "plot_stimulus_responses", "plot_two_class_effects",
           "plot_multi_class_effects", "plot_feature_distributions"]

#: Model cells drawn in the colours of the subclasses they imitate.
CELL_COLORS: Mapping[str, str] = {"fast-spiking": SUBCLASS_COLORS["Pvalb"], "regular-spiking": SUBCLASS_COLORS["Glutamatergic"]}
STIMULUS_TITLES: Mapping[str, str] = {"long_square": "Long square (1 s)", "short_square": "Short square (3 ms)",
                                      "ramp": "Ramp (25 pA/s)", "noise": "Noise (0.75/1/1.5 × rheobase)"}
SPECIES_MARKERS: Mapping[str, str] = {"mouse": "o", "human": "s"}


def _window(result: SimulationResult) -> tuple[float, float]:
    """Time range to draw: the short square is zoomed onto its 3 ms pulse and the spike after it."""
    stim = result.stimulus
    if stim.kind == "short_square":
        return stim.start - 0.005, stim.end + 0.02
    return float(result.t[0]), float(result.t[-1])


def plot_stimulus_responses(responses: Mapping[str, Mapping[str, SimulationResult]]) -> Figure:
    """Stimulus currents (top row) and each model cell's membrane potential (one row per cell).

    Parameters
    ----------
    responses : mapping
        ``{stimulus_kind: {cell_name: SimulationResult}}``; columns follow the mapping's order.

    Returns
    -------
    matplotlib.figure.Figure
    """
    kinds = list(responses)
    cells = list(next(iter(responses.values())))
    fig, axes = plt.subplots(1 + len(cells), len(kinds), figsize=(3.2 * len(kinds), 1.9 * (1 + len(cells))),
                             sharex="col", gridspec_kw={"height_ratios": [0.8] + [1.0] * len(cells)}, squeeze=False)
    for column, kind in enumerate(kinds):
        for row, cell in enumerate(cells, start=1):
            result = responses[kind][cell]
            low, high = _window(result)
            keep = (result.t >= low) & (result.t <= high)
            scale, unit = (1e3, "ms") if kind == "short_square" else (1.0, "s")
            if row == 1:
                axes[0, column].set_title(STIMULUS_TITLES.get(kind, kind), fontsize=10)
            axes[0, column].plot(result.t[keep] * scale, result.i[keep], lw=0.7, color=CELL_COLORS.get(cell, "k"),
                                 label=cell)
            axes[row, column].plot(result.t[keep] * scale, result.v[keep], lw=0.5, color=CELL_COLORS.get(cell, "k"))
            count = f"{result.n_spikes} spike" + ("" if result.n_spikes == 1 else "s")
            axes[row, column].text(0.02, 0.96, count, transform=axes[row, column].transAxes, va="top", fontsize=8)
            axes[-1, column].set_xlabel(f"time ({unit})")
            axes[row, column].set_ylim(-95, 60)
            if column == 0:
                axes[row, column].set_ylabel(f"{cell}\nV (mV)")
        if column == 0:
            axes[0, column].set_ylabel("I (pA)")
    axes[0, 0].legend(fontsize=7, frameon=False, loc="upper left")
    for ax in axes.ravel():
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
    fig.align_ylabels(axes[:, 0])
    fig.tight_layout()
    return fig


def plot_two_class_effects(effects: Mapping[str, pd.DataFrame], *, order_by: str | None = None,
                           class_a: str = "aspiny", class_b: str = "spiny") -> Figure:
    """Rank-biserial correlation (with bootstrap interval) of every feature, one marker per species.

    Parameters
    ----------
    effects : mapping
        ``{species: two_class_separation(...) table}``.
    order_by : str, optional
        Species whose ordering of features (by |r|) sets the rows (default: the first).
    class_a, class_b : str
        Names for the axis label: positive means larger in ``class_a``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    species = list(effects)
    reference = effects[order_by or species[0]]
    features = list(reference["rank_biserial"].abs().sort_values().index)
    fig, ax = plt.subplots(figsize=(6.5, 0.2 * len(features) + 1.2))
    offsets = np.linspace(-0.18, 0.18, len(species)) if len(species) > 1 else [0.0]
    y = np.arange(len(features))
    for offset, name in zip(offsets, species):
        table = effects[name].reindex(features)
        low = table["rank_biserial"] - table["rb_low"]
        high = table["rb_high"] - table["rank_biserial"]
        ax.errorbar(table["rank_biserial"], y + offset, xerr=[low, high], fmt=SPECIES_MARKERS.get(name, "o"),
                    ms=3.5, lw=0.8, capsize=0, label=name)
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(y, features, fontsize=7)
    ax.set_xlim(-1, 1)
    ax.set_xlabel(f"rank-biserial r  (< 0: larger in {class_b};  > 0: larger in {class_a})")
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_multi_class_effects(multi: pd.DataFrame, one_vs_rest: pd.DataFrame) -> Figure:
    """Epsilon² per feature (left) beside the one-vs-rest rank-biserial heatmap (right).

    Parameters
    ----------
    multi : pandas.DataFrame
        :func:`neurotype.ephys.separation.multi_class_separation` output.
    one_vs_rest : pandas.DataFrame
        :func:`neurotype.ephys.separation.one_vs_rest_rank_biserial` output (features × classes).

    Returns
    -------
    matplotlib.figure.Figure
    """
    features = list(multi.sort_values("epsilon_squared").index)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 0.2 * len(features) + 1.4), sharey=True,
                                      gridspec_kw={"width_ratios": [1.0, 1.3]})
    y = np.arange(len(features))
    left.barh(y, multi.loc[features, "epsilon_squared"], color="0.45", height=0.7, label="epsilon² (ranks)")
    left.plot(multi.loc[features, "eta_squared"], y, "|", color="k", ms=7, label="eta² (values)")
    left.set_yticks(y, features, fontsize=7)
    left.set_xlabel("share of variance explained by subclass")
    left.legend(frameon=False, fontsize=8, loc="lower right")
    left.spines[["top", "right"]].set_visible(False)
    image = right.imshow(one_vs_rest.loc[features].to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                         origin="lower", extent=(-0.5, one_vs_rest.shape[1] - 0.5, -0.5, len(features) - 0.5))
    right.set_xticks(range(one_vs_rest.shape[1]), one_vs_rest.columns, rotation=30, ha="right", fontsize=8)
    fig.colorbar(image, ax=right, fraction=0.05, pad=0.02, label="rank-biserial r, subclass vs rest")
    fig.tight_layout()
    return fig


def plot_feature_distributions(table: pd.DataFrame, features: Sequence[str], label: str, order: Sequence[str], *,
                               units: Mapping[str, str] | None = None,
                               references: Mapping[str, pd.Series] | None = None, ncols: int = 3) -> Figure:
    """Box plots of features by class, with optional reference values (e.g. the model cells) as lines.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell.
    features : sequence of str
        Features to draw, one panel each.
    label : str
        Column holding the class.
    order : sequence of str
        Classes, left to right.
    units : mapping, optional
        Unit of each feature, for the axis label.
    references : mapping, optional
        ``{name: Series of feature values}`` drawn as dashed horizontal lines where present.
    ncols : int, default 3
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
    """
    units = units or {}
    nrows = int(np.ceil(len(features) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.5 * nrows), squeeze=False)
    colors = {**SUBCLASS_COLORS, **BROAD_COLORS}
    for ax, feature in zip(axes.ravel(), features):
        groups = [table.loc[table[label] == name, feature].dropna().to_numpy() for name in order]
        boxes = ax.boxplot(groups, patch_artist=True, widths=0.6, showfliers=False, medianprops={"color": "k"})
        for patch, name in zip(boxes["boxes"], order):
            patch.set_facecolor(colors.get(name, "0.7"))
            patch.set_alpha(0.75)
        for position, values in enumerate(groups, start=1):
            jitter = np.random.default_rng(position).uniform(-0.18, 0.18, values.size)
            ax.plot(position + jitter, values, ".", color="k", ms=1.2, alpha=0.25)
        for (name, values), style in zip((references or {}).items(), ("--", ":", "-.")):
            if feature in values and np.isfinite(values[feature]):
                ax.axhline(values[feature], ls=style, lw=1.1, color=CELL_COLORS.get(name, "0.3"), label=name)
        ax.set_xticks(range(1, len(order) + 1), order, rotation=30, ha="right", fontsize=8)
        unit = units.get(feature)
        ax.set_title(f"{feature} ({unit})" if unit else feature, fontsize=9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[len(features):]:
        ax.set_axis_off()
    legend: dict[str, object] = {}
    for ax in axes.ravel():
        for handle, name in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(name, handle)
    handles, names = list(legend.values()), list(legend)
    if handles:
        fig.legend(handles, names, loc="upper right", fontsize=8, frameon=False, ncol=len(names))
    fig.tight_layout(rect=(0, 0, 1, 0.96 if handles else 1))
    return fig
