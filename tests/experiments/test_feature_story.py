"""Chapter 02's summaries on hand-made effect tables whose answers are read off by eye."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neurotype.experiments import feature_story


def _effects(r: dict[str, float]) -> pd.DataFrame:
    frame = pd.DataFrame({"rank_biserial": r, "rb_low": {k: v - 0.1 for k, v in r.items()},
                          "rb_high": {k: v + 0.1 for k, v in r.items()}, "cohens_d": {k: 2 * v for k, v in r.items()},
                          "p_adjusted": {k: 0.5 if abs(v) < 0.1 else 0.001 for k, v in r.items()}})
    return frame.reindex(frame["rank_biserial"].abs().sort_values(ascending=False).index)


def test_broad_separation_numbers():
    mouse = _effects({"width": -0.9, "peak_v": 0.6, "fast_trough_v": 0.3, "upstroke_downstroke_ratio": 0.7,
                      "tau": 0.05})
    human = _effects({"width": -0.8, "peak_v": 0.5, "fast_trough_v": -0.4, "upstroke_downstroke_ratio": 0.6,
                      "tau": 0.02})
    values = feature_story.broad_separation_numbers({"mouse": mouse, "human": human}, list(mouse.index))
    assert values["broad_top_mouse"] == "width" and values["broad_top_mouse_r"] == "-0.90 [-1.00, -0.80]"
    assert values["broad_strong_mouse"] == 3 and values["broad_null_human"] == 1
    assert values["broad_markers_agree"] == "do NOT all point the same way"
    assert values["broad_shift_feature"] == "fast_trough_v" and values["broad_shift_kind"] == "the direction flips"
    assert values["broad_sign_flips"] == 1


def test_interneuron_pairs_rank_the_hardest_pair_first():
    rng = np.random.default_rng(0)
    rows = []
    for subclass, centre in (("Pvalb", 0.0), ("Sst", 0.1), ("Vip", 5.0)):  # Pvalb and Sst overlap; Vip apart
        for value in rng.normal(centre, 1.0, 40):
            rows.append({"subclass": subclass, "f": value})
    pairs, text = feature_story.interneuron_pairs(pd.DataFrame(rows), ["f"], ["Glutamatergic", "Pvalb", "Sst", "Vip"])
    assert list(pairs["pair"]) [0] == "Pvalb vs Sst" and len(pairs) == 3
    assert text["pair_hardest"].startswith("Pvalb vs Sst") and abs(pairs["strength"].iloc[-1]) > 0.9
