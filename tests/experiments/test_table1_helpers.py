"""Chapter 03's verdicts and targets are library functions judged on the declared primary model."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from neurotype.experiments import transfer
from neurotype.protocol.reports import Estimate


def _report(scores, n_test=20, n_train=80):
    """A stand-in for an evaluate report: per-fold human balanced accuracy on shared folds."""
    folds = [{"repeat": 0, "fold": i, "test_ids": [i], "n_test": {"human": n_test}, "n_train": {"human": n_train},
              "metrics": {"human": {"balanced_accuracy": v}}} for i, v in enumerate(scores)]
    mean = sum(scores) / len(scores)
    return SimpleNamespace(model="m", per_fold=folds, estimate=lambda s, m: Estimate(mean, mean - 0.01, mean + 0.01))


def test_primary_comparison_names_rows_clearly_above_and_below():
    reports = {"primary": _report([0.90, 0.91, 0.92, 0.93]),
               "worse": _report([0.70, 0.71, 0.72, 0.73]),  # differences all 0.2: interval [0.2, 0.2]
               "better": _report([0.95, 0.96, 0.97, 0.98]),  # differences all −0.05
               "noisy": _report([0.95, 0.86, 0.97, 0.88])}  # differences −0.05, +0.05, … : includes 0
    table, sentence = transfer.primary_comparison(reports, "primary")
    assert list(table.index) == ["worse", "better", "noisy"]
    assert sentence == ("Primary scores higher than worse; lower than better; indistinguishable from the other 1 "
                        "model(s) (paired interval includes 0).")


def test_alignment_verdict_directions():
    def probes(semi, plain):
        return pd.DataFrame({"probe": "logreg", "representation": ["DANN semi"] * 2 + ["network, λ = 0"] * 2,
                             "balanced_accuracy": [semi, semi, plain - 0.001, plain + 0.001]})
    assert transfer.alignment_verdict(probes(0.6, 0.8)).startswith("The adversary removes")
    assert transfer.alignment_verdict(probes(0.9, 0.7)).startswith("The adversary does not")
    assert transfer.alignment_verdict(probes(0.805, 0.8)).startswith("The semi-supervised DANN's features are about")


def test_table1_targets_judge_the_named_models_only():
    reports = {"DANN semi": SimpleNamespace(estimate=lambda s, m: Estimate(0.96 if s == "human" else 0.985)),
               "DANN unsupervised": SimpleNamespace(estimate=lambda s, m: Estimate(0.93))}
    targets = transfer.table1_targets(reports, {"median_s": 4.0, "max_s": 11.0})
    assert targets["reached"].tolist() == ["yes", "no", "no", "no"]  # 0.96 ≥ 0.95; 0.93 < 0.94; 0.985 < 0.99; 11 s > 10 s
    assert targets["measured"].iloc[-1] == "4.0 s"
    assert not any("best" in label for label in targets.index)
