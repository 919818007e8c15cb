"""Fair yardsticks for single-split claims: the spread of single 80/20 splits and paired model differences."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from neurotype.data.tables import TaskData, duplicate_groups
from neurotype.experiments import comparison
from neurotype.protocol.evaluation import evaluate


def _task(n: int = 200, separable: bool = False, seed: int = 0) -> TaskData:
    X, y = make_classification(n_samples=n, n_features=5, n_informative=3, n_redundant=0, n_classes=2,
                               class_sep=0.5, flip_y=0.2, random_state=seed)
    if separable:  # every feature is +-(1 .. 2) by class: any split is classified perfectly
        X = np.repeat(np.where(y == 1, 1.0, -1.0)[:, None] * np.linspace(1, 2, n)[:, None], 5, axis=1)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)], index=pd.Index(np.arange(n), name="specimen_id"))
    labels = np.asarray(("aspiny", "spiny"))[y]
    return TaskData(task="broad", feature_set="paper41", X=frame, y=labels, classes=("aspiny", "spiny"),
                    species=np.full(n, "mouse"), groups=duplicate_groups(frame), meta=frame.iloc[:, :0])


def test_single_splits_hold_out_a_fifth_and_differ():
    task = _task()
    spread = comparison.single_split_spread(task, "logreg", n_splits=6, seed=0)
    assert spread.scores["split"].nunique() == 6
    assert set(spread.scores["species"]) == {"all", "mouse"}
    estimate = spread.estimate("all", "accuracy")
    values = spread.scores.loc[spread.scores["species"] == "all", "accuracy"]
    assert estimate.low <= estimate.mean <= estimate.high
    assert values.nunique() > 1  # different test cells give different scores: the spread is real
    # 20 % of 200 cells per split (stratified 5-fold: 40 test cells).
    from neurotype.data.splits import outer_folds
    assert [len(outer_folds(task, 5, 1, seed=r)[0].test) for r in range(3)] == [40, 40, 40]
    summary = spread.summaries(["accuracy"])["all"]["accuracy"]
    assert summary["ci95"] == [estimate.low, estimate.high] and summary["n"] == 6
    with pytest.raises(ValueError):
        comparison.single_split_spread(task, "logreg", n_splits=1)


def test_a_perfectly_separable_task_has_no_spread():
    spread = comparison.single_split_spread(_task(separable=True), "logreg", n_splits=4, seed=1)
    assert spread.estimate("all", "accuracy") == comparison.Estimate(1.0, 1.0, 1.0)


def _report(model: str, differences_or_scores, n_test=20, n_train=80, test_ids=None):
    folds = [{"repeat": 0, "fold": i, "test_ids": test_ids or [i], "metrics": {"all": {"f1_macro": v}},
              "n_test": {"all": n_test}, "n_train": {"all": n_train}} for i, v in enumerate(differences_or_scores)]
    return SimpleNamespace(model=model, per_fold=folds)


def test_paired_difference_by_hand():
    # Per-fold differences 0.1 and 0.3: mean 0.2, variance 0.02, n = 2, n_test/n_train = 0.25.
    # Half width t(0.975, 1) · sqrt((1/2 + 0.25) · 0.02) = 12.7062 · 0.12247 = 1.5562.
    a, b = _report("a", [0.6, 0.8]), _report("b", [0.5, 0.5])
    estimate = comparison.paired_difference(a, b)
    assert estimate.mean == pytest.approx(0.2)
    assert estimate.high - estimate.mean == pytest.approx(12.7062 * math.sqrt(0.75 * 0.02), rel=1e-4)
    assert estimate.low < 0  # not clipped to [0, 1]: differences may be negative
    with pytest.raises(ValueError, match="same outer folds"):
        comparison.paired_difference(a, _report("c", [0.5, 0.5], test_ids=[9]))


def test_paired_difference_of_real_reports():
    task = _task(seed=3)
    logreg = evaluate(task, "logreg", n_folds=3, n_repeats=2, seed=0, keep_predictions=False)
    svc = evaluate(task, "svc", n_folds=3, n_repeats=2, seed=0, keep_predictions=False)
    assert comparison.paired_difference(logreg, logreg) == comparison.Estimate(0.0, 0.0, 0.0)
    difference = comparison.paired_difference(logreg, svc)
    expected = logreg.metrics["all"]["f1_macro"]["mean"] - svc.metrics["all"]["f1_macro"]["mean"]
    assert difference.mean == pytest.approx(expected)
    estimates = comparison.report_estimates({"logreg": logreg}, ["all"])
    assert estimates["logreg"]["all"]["f1_macro"] == logreg.metrics["all"]["f1_macro"]
