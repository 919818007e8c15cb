"""What the features chapter (02) concludes: the model cells' responses against ACTD cells, how strongly
each feature separates the broad types and the subclasses, and the tables it shows — computed here from
:mod:`neurotype.ephys` results so the chapter only calls, shows and glues.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from neurotype.ephys import features, separation

__all__ = ["NoiseComparison", "model_cell_numbers", "compare_noise_features", "broad_separation_numbers",
           "subclass_separation_numbers", "interneuron_pairs", "effects_display"]

_CELL_KEYS = {"fast-spiking": "fs", "regular-spiking": "rs"}
_SUBCLASS_KEYS = {"Pvalb": "pvalb", "Sst": "sst", "Vip": "vip", "Htr3a+|Vip-": "htr3a", "Glutamatergic": "glu"}


def model_cell_numbers(responses: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Rheobase, short-square threshold, spike count and adaptation (last / first ISI) of each model cell."""
    values: dict[str, Any] = {}
    for cell, key in _CELL_KEYS.items():
        runs = responses[cell]
        isi = np.diff(runs["long_square"].spike_times)
        values.update({f"{key}_rheobase": f"{runs['long_square'].stimulus.meta['rheobase_pa']:.0f}",
                       f"{key}_short_threshold": f"{runs['short_square'].stimulus.meta['amplitude_pa']:.0f}",
                       f"{key}_long_spikes": int(runs["long_square"].n_spikes),
                       f"{key}_adaptation": f"{isi[-1] / isi[0]:.2f}"})
    return values


@dataclass(frozen=True)
class NoiseComparison:
    """The model cells' Noise-sweep spike features beside the medians of ACTD's Pvalb and Glutamatergic cells."""

    model_features: pd.DataFrame  # feature × model cell
    reference: pd.DataFrame  # feature × {Pvalb, Glutamatergic} medians of mouse cells
    detected: dict[str, int]  # spikes ipfx found per cell
    truth: dict[str, int]  # spikes the simulator fired per cell

    def table(self) -> pd.DataFrame:
        """Feature, unit, each model cell and each reference median (4 significant decimals)."""
        shown = pd.concat([self.model_features, self.reference.add_prefix("median ")], axis=1).round(4)
        shown.insert(0, "unit", [features.SPIKE_FEATURE_UNITS[f] for f in shown.index])
        return shown.rename_axis("feature")

    def numbers(self) -> dict[str, Any]:
        """Spike counts, widths and ratios the prose cites, and whether the model cells order like ACTD's."""
        model, ref = self.model_features, self.reference
        same_direction = all((model.loc[f, "fast-spiking"] < model.loc[f, "regular-spiking"])
                             == (ref.loc[f, "Pvalb"] < ref.loc[f, "Glutamatergic"])
                             for f in ("width", "upstroke_downstroke_ratio"))
        values: dict[str, Any] = {f"{key}_noise_spikes": self.truth[cell] for cell, key in _CELL_KEYS.items()}
        values["spike_counts_match"] = "matches" if self.detected == self.truth else "does NOT match"
        for cell, key in _CELL_KEYS.items():
            values[f"{key}_width_ms"] = f"{model.loc['width', cell] * 1e3:.2f}"
            values[f"{key}_ratio"] = f"{model.loc['upstroke_downstroke_ratio', cell]:.1f}"
        for subclass, key in (("Pvalb", "pvalb"), ("Glutamatergic", "glu")):
            values[f"{key}_width_ms"] = f"{ref.loc['width', subclass] * 1e3:.2f}"
            values[f"{key}_ratio"] = f"{ref.loc['upstroke_downstroke_ratio', subclass]:.1f}"
        values["model_direction"] = "reproduce" if same_direction else "do NOT reproduce"
        return values


def compare_noise_features(responses: Mapping[str, Mapping[str, Any]], mouse: pd.DataFrame) -> NoiseComparison:
    """Extract the 14 spike features from each model cell's noise sweep and set them beside ACTD medians."""
    noise = {cell: features.sweep_spike_features(runs["noise"].t, runs["noise"].v, runs["noise"].i)
             for cell, runs in responses.items()}
    reference = mouse.groupby("subclass")[list(features.SPIKE_FEATURES)].median().T[["Pvalb", "Glutamatergic"]]
    return NoiseComparison(model_features=pd.DataFrame(noise), reference=reference,
                           detected={cell: int(s.attrs["n_spikes"]) for cell, s in noise.items()},
                           truth={cell: int(runs["noise"].n_spikes) for cell, runs in responses.items()})


def broad_separation_numbers(effects: Mapping[str, pd.DataFrame], feature_list: Sequence[str],
                             markers: Sequence[str] = ("width", "peak_v", "fast_trough_v",
                                                       "upstroke_downstroke_ratio")) -> dict[str, Any]:
    """Aspiny vs spiny per species: strongest feature, counts of strong and null features, and how far the
    two species agree (Spearman correlation of the rank-biserial effects, sign flips, the largest shift)."""
    mouse_r, human_r = (effects[s]["rank_biserial"].reindex(list(feature_list)) for s in ("mouse", "human"))
    values: dict[str, Any] = {"broad_rho": f"{stats.spearmanr(mouse_r, human_r).statistic:.2f}"}
    for species in ("mouse", "human"):
        table = effects[species]
        top = table.index[0]
        row = table.loc[top]
        values.update({f"broad_top_{species}": top,
                       f"broad_top_{species}_r": f"{row['rank_biserial']:.2f} [{row['rb_low']:.2f}, {row['rb_high']:.2f}]",
                       f"broad_top_{species}_d": f"{row['cohens_d']:.1f}",
                       f"broad_strong_{species}": int((table["rank_biserial"].abs() > 0.5).sum()),
                       f"broad_null_{species}": int((table["p_adjusted"] > 0.05).sum())})
    for marker in markers:
        values[f"broad_{marker}_r"] = f"{mouse_r[marker]:.2f} / {human_r[marker]:.2f}"
    agree = bool((np.sign(mouse_r[list(markers)]) == np.sign(human_r[list(markers)])).all())
    values["broad_markers_agree"] = "point the same way" if agree else "do NOT all point the same way"
    gap = (mouse_r - human_r).abs().sort_values(ascending=False).index[0]
    values["broad_shift_feature"] = gap
    values["broad_shift_values"] = f"{mouse_r[gap]:.2f} in mouse, {human_r[gap]:.2f} in human"
    values["broad_shift_kind"] = ("the direction flips" if np.sign(mouse_r[gap]) != np.sign(human_r[gap])
                                  else "the direction holds but the size differs")
    values["broad_sign_flips"] = int((np.sign(mouse_r) != np.sign(human_r)).sum())
    values["broad_type_species_spearman"] = float(stats.spearmanr(mouse_r, human_r).statistic)
    return values


def subclass_separation_numbers(subclass_effects: pd.DataFrame, one_vs_rest: pd.DataFrame,
                                mouse_broad: pd.DataFrame, feature_list: Sequence[str]) -> dict[str, Any]:
    """Five subclasses: the strongest feature (ε², η²), how many exceed ε² = 0.3, agreement with the broad
    ranking, and each subclass's best one-vs-rest feature."""
    top = subclass_effects.index[0]
    agreement = stats.spearmanr(subclass_effects["epsilon_squared"].reindex(list(feature_list)),
                                mouse_broad["rank_biserial"].abs().reindex(list(feature_list))).statistic
    values: dict[str, Any] = {"sub_top": top, "sub_top_eps": f"{subclass_effects.loc[top, 'epsilon_squared']:.2f}",
                              "sub_top_eta": f"{subclass_effects.loc[top, 'eta_squared']:.2f}",
                              "sub_n_above_03": int((subclass_effects["epsilon_squared"] > 0.3).sum()),
                              "sub_broad_rho": f"{agreement:.2f}"}
    for subclass, key in _SUBCLASS_KEYS.items():
        feature = one_vs_rest[subclass].abs().idxmax()
        values[f"ovr_{key}"] = f"{feature}, r = {one_vs_rest.loc[feature, subclass]:.2f}"
    return values


def interneuron_pairs(mouse: pd.DataFrame, feature_list: Sequence[str], subclasses: Sequence[str]
                      ) -> tuple[pd.DataFrame, dict[str, str]]:
    """For each pair of interneuron subclasses, the single feature that separates them best (|rank-biserial|),
    hardest pair first; and the hardest and easiest pair as prose."""
    interneurons = [s for s in subclasses if s != "Glutamatergic"]
    rows = []
    for i, first in enumerate(interneurons):
        for second in interneurons[i + 1:]:
            pair = mouse[mouse["subclass"].isin([first, second])]
            best = separation.two_class_separation(pair, list(feature_list), "subclass", first, second,
                                                   n_boot=0).iloc[0]
            rows.append({"pair": f"{first} vs {second}", "feature": best.name, "rank_biserial": best["rank_biserial"]})
    pairs = pd.DataFrame(rows).assign(strength=lambda t: t["rank_biserial"].abs()).sort_values("strength")
    hardest, easiest = pairs.iloc[0], pairs.iloc[-1]
    return pairs, {"pair_hardest": f"{hardest['pair']} (best single feature {hardest['feature']}, "
                                   f"|r| = {hardest['strength']:.2f})",
                   "pair_easiest": f"{easiest['pair']} ({easiest['feature']}, |r| = {easiest['strength']:.2f})"}


_EFFECT_NAMES = {"rank_biserial": "rank-biserial r", "rb_low": "r: 2.5 %", "rb_high": "r: 97.5 %",
                 "cohens_d": "Cohen's d", "p_adjusted": "p (BH)", "epsilon_squared": "ε²", "eta_squared": "η²",
                 "p_value": "p", "median_a": "median (first class)", "median_b": "median (second class)",
                 "n_a": "cells (first class)", "n_b": "cells (second class)", "h": "H", "n": "cells"}


def effects_display(effects: pd.DataFrame, rows: int = 10) -> pd.DataFrame:
    """The strongest ``rows`` features of an effect-size table, with named columns and three decimals."""
    shown = effects.head(rows).round(3).rename(columns=_EFFECT_NAMES)
    return shown.rename_axis("feature")
