"""Chapter 04's numbers and verdicts, on small hand-made frames whose answers are read off by eye."""

from __future__ import annotations

import pandas as pd
import pytest

from neurotype.experiments import ablation
from neurotype.paper import claims


def _transfer_frame() -> pd.DataFrame:
    rows = []
    for direction in ("mouse→human", "human→mouse"):
        for model, acc, bal in (("fcnn", 0.70, 0.60), ("logreg", 0.80, 0.75), ("dann-unsupervised", 0.78, 0.72)):
            rows.append({"direction": direction, "model": model, "accuracy": acc, "accuracy_low": acc - 0.1,
                         "accuracy_high": acc + 0.1, "balanced_accuracy": bal, "balanced_accuracy_low": bal - 0.1,
                         "balanced_accuracy_high": bal + 0.1, "f1_macro": bal, "f1_macro_low": None,
                         "f1_macro_high": None, "paper_accuracy": None})
    return pd.DataFrame(rows)


def test_transfer_numbers_and_estimates():
    values = ablation.transfer_numbers(_transfer_frame())
    assert values["mh_fcnn_acc"] == 0.70 and values["hm_logreg_bal"] == 0.75
    assert values["mh_dann_verdict"] == "below" and abs(values["mh_dann_gap"] - 0.03) < 1e-12
    assert values["mh_paper"] == claims.FCNN_TRANSFER["mouse→human"]["accuracy"]
    assert values["mh_paper_verdict"] == ("above" if 0.70 > values["mh_paper"] else "not above")
    estimates = ablation.transfer_estimates(_transfer_frame())
    got = estimates["FCNN mouse→human"]["human"]["accuracy"]
    assert got["mean"] == 0.70 and got["ci95"] == pytest.approx([0.6, 0.8])
    assert set(estimates["DANN unsupervised human→mouse"]) == {"mouse"}
    shown = ablation.transfer_display(_transfer_frame())
    assert shown.loc[0, "accuracy"] == "0.700 [0.600, 0.800]" and shown.loc[0, "macro F1"] == "0.600"


def test_scaling_verdict_names_the_cost():
    frame = pd.DataFrame({"trained on": ["mouse labels", "human labels", "both labels"],
                          "tested on": ["human", "mouse", "human"], "pooled": [0.9, 0.7, 0.95],
                          "per_species": [0.8, 0.72, 0.94], "change": [-0.1, 0.02, -0.01],
                          "pooled_low": [0.8] * 3, "pooled_high": [1.0] * 3, "per_species_low": [0.7] * 3,
                          "per_species_high": [0.9] * 3})
    values = ablation.scaling_numbers(frame)
    assert values["scal_verdict"].startswith("Per-species scaling alone costs 0.100")
    assert values["scal_both_human_change"] == "-0.010"


def test_curve_verdict_when_intervals_separate():
    rows = []
    for model, base in (("human only (LogReg)", 0.6), ("mouse + human (LogReg)", 0.8), ("DANN", 0.95)):
        for share in (0.0, 0.1, 1.0):
            mean = base + share / 20
            rows.append({"model": model, "share": share, "mean": mean, "low": mean - 0.02, "high": mean + 0.02,
                         "n_human_labels": 200 * share})
    values = ablation.curve_numbers(pd.DataFrame(rows))
    assert values["small_share"] == "10%" and values["gain_small"] == "+0.200"
    assert values["dann_wins"] == 3 and "separate at share(s) 0%, 10%, 100%" in values["curve_verdict"]
