"""Per-fold metrics, their aggregation and the confusion matrices, against hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from _protocol_fixtures import protocol_seed  # noqa: F401  (autouse)
from neurotype.protocol.metrics import (SCALAR_METRICS, aggregate_folds, balanced_accuracy, confusion_matrices,
                               fold_metrics, macro_f1, nadeau_bengio_interval, naive_interval, per_class_f1_name,
                               species_keys, summarize)

CLASSES = ("a", "b")
# Five test cells: three mouse, two human.
Y_TRUE = ["a", "a", "b", "b", "b"]
Y_PRED = ["a", "b", "b", "b", "a"]
SPECIES = ["mouse", "mouse", "mouse", "human", "human"]
T_975_DF3 = 3.182446305284263  # t(0.975, 3), from tables


def test_fold_metrics_match_hand_computation():
    scores = fold_metrics(Y_TRUE, Y_PRED, CLASSES, SPECIES)
    assert list(scores) == ["all", "mouse", "human"]
    overall = scores["all"]
    # a: 1 of 2 found, 1 of 2 "a" predictions right; b: 2 of 3 found, 2 of 3 right.
    assert overall["accuracy"] == pytest.approx(3 / 5)
    assert overall["recall_macro"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert overall["balanced_accuracy"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert overall["precision_macro"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert overall[per_class_f1_name("a")] == pytest.approx(1 / 2)
    assert overall[per_class_f1_name("b")] == pytest.approx(2 / 3)
    assert overall["f1_macro"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    # Mouse: a,a,b predicted a,b,b -> a: P 1, R 1/2, F1 2/3; b: P 1/2, R 1, F1 2/3.
    mouse = scores["mouse"]
    assert mouse["accuracy"] == pytest.approx(2 / 3)
    assert mouse["precision_macro"] == pytest.approx(3 / 4)
    assert mouse["f1_macro"] == pytest.approx(2 / 3)
    # Human: b,b predicted b,a -> only b is true; "a" was predicted, so it counts with F1 0.
    human = scores["human"]
    assert human["accuracy"] == pytest.approx(1 / 2)
    assert human[per_class_f1_name("a")] == 0.0
    assert human[per_class_f1_name("b")] == pytest.approx(2 / 3)
    assert human["f1_macro"] == pytest.approx(1 / 3)
    assert set(SCALAR_METRICS) <= set(overall)


def test_fold_metrics_are_scikit_learns_number_for_number():
    """The metrics come from one confusion matrix; scikit-learn's functions are the reference."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_score, recall_score

    rng = np.random.default_rng(11)
    for _ in range(300):
        classes = [f"class {rng.integers(0, 100)}-{i}" for i in range(int(rng.integers(2, 10)))]
        n = int(rng.integers(1, 200))
        # skewed class shares, so that small sets miss some classes in y_true, y_pred or both
        y_true = np.array(classes)[rng.choice(len(classes), n, p=rng.dirichlet(np.full(len(classes), 0.5)))]
        guesses = np.array(classes)[rng.choice(len(classes), n, p=rng.dirichlet(np.full(len(classes), 0.5)))]
        y_pred = np.where(rng.random(n) < rng.random(), y_true, guesses)
        scores = fold_metrics(y_true, y_pred, classes)["all"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            expected = {"accuracy": accuracy_score(y_true, y_pred),
                        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred)}
        for name, metric in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
            expected[f"{name}_macro"] = metric(y_true, y_pred, average="macro", zero_division=0)
        per_class = f1_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
        seen = set(y_true) | set(y_pred)
        for label, value in zip(classes, per_class):
            expected[per_class_f1_name(label)] = float(value) if label in seen else math.nan
        assert scores.keys() == expected.keys()
        for name, value in expected.items():
            assert scores[name] == value or (math.isnan(value) and math.isnan(scores[name])), name
        # the tuning objective's and the permutation importance's scores, on labels or on integer codes
        # (spaced so that their numeric order differs from their order as text: 7 < 14 but "14" < "7")
        codes = {label: 7 * code for code, label in enumerate(classes)}
        for true, predicted in ((y_true, y_pred), ([codes[v] for v in y_true], [codes[v] for v in y_pred])):
            assert macro_f1(true, predicted) == f1_score(true, predicted, average="macro", zero_division=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                assert balanced_accuracy(true, predicted) == balanced_accuracy_score(true, predicted)


def test_tuning_scores_refuse_empty_or_unequal_predictions():
    for true, predicted in (([], []), (["a", "b"], ["a"])):
        with pytest.raises(ValueError, match="non-empty and the same length"):
            macro_f1(true, predicted)
        with pytest.raises(ValueError, match="non-empty and the same length"):
            balanced_accuracy(true, predicted)


def test_per_class_f1_of_an_absent_class_is_undefined_not_zero():
    scores = fold_metrics(["b", "b"], ["b", "b"], CLASSES, ["human", "human"])
    assert math.isnan(scores["human"][per_class_f1_name("a")])
    assert scores["human"]["f1_macro"] == 1.0
    assert list(scores) == ["all", "human"]


def test_fold_metrics_rejects_bad_input():
    with pytest.raises(ValueError, match="not among the classes"):
        fold_metrics(["a", "z"], ["a", "a"], CLASSES)
    with pytest.raises(ValueError, match="same length"):
        fold_metrics(["a", "b"], ["a"], CLASSES)
    with pytest.raises(ValueError, match="no test predictions"):
        fold_metrics([], [], CLASSES)


def test_species_keys_order():
    assert species_keys(["human", "mouse", "human"]) == ["all", "mouse", "human"]
    assert species_keys(["human"]) == ["all", "human"]


def test_summary_and_both_intervals_by_hand():
    values = [0.6, 0.7, 0.8, 0.5]
    mean, sd = 0.65, math.sqrt((0.05**2 * 2 + 0.15**2 * 2) / 3)
    summary = summarize(values, test_train_ratio=0.25)
    assert summary["mean"] == pytest.approx(mean)
    assert summary["sd"] == pytest.approx(sd)
    assert summary["n"] == 4
    naive_half = T_975_DF3 * sd / 2
    assert summary["ci95_naive"] == pytest.approx([mean - naive_half, mean + naive_half])
    corrected_half = T_975_DF3 * math.sqrt((1 / 4 + 0.25) * sd**2)
    assert summary["ci95"] == pytest.approx([mean - corrected_half, mean + corrected_half])
    assert corrected_half > naive_half
    assert nadeau_bengio_interval(values, 0.0) == pytest.approx(naive_interval(values))


def test_intervals_are_clipped_to_the_unit_interval():
    values = [0.8, 0.9, 1.0, 0.7]  # same spread, mean 0.85: both upper ends pass 1
    assert naive_interval(values)[1] == 1.0
    assert nadeau_bengio_interval(values, 0.25) == pytest.approx(
        [0.85 - T_975_DF3 * math.sqrt(0.5 * 0.05 / 3), 1.0])
    assert nadeau_bengio_interval([0.0, 0.1, 0.0], 0.5)[0] == 0.0


def test_summary_skips_undefined_scores_and_needs_two_for_a_spread():
    assert summarize([0.5, float("nan"), None, 0.7], 0.25)["n"] == 2
    assert summarize([0.5, float("nan")], 0.25) == {"mean": 0.5, "sd": None, "ci95": None,
                                                    "ci95_naive": None, "n": 1}
    assert summarize([], 0.25)["mean"] is None
    with pytest.raises(ValueError, match="test_train_ratio"):
        nadeau_bengio_interval([0.1, 0.2], -1.0)


def test_aggregate_folds_groups_by_species_and_metric():
    folds = [{"all": {"accuracy": 0.8}, "mouse": {"accuracy": 0.9}},
             {"all": {"accuracy": 0.6}, "human": {"accuracy": 0.5}}]
    out = aggregate_folds(folds, test_train_ratio=0.25)
    assert out["all"]["accuracy"]["mean"] == pytest.approx(0.7)
    assert out["all"]["accuracy"]["sd"] == pytest.approx(math.sqrt(0.02))
    assert out["mouse"]["accuracy"] == {"mean": 0.9, "sd": None, "ci95": None, "ci95_naive": None, "n": 1}
    assert out["human"]["accuracy"]["n"] == 1


def test_confusion_matrices_by_species():
    matrices = confusion_matrices(Y_TRUE, Y_PRED, CLASSES, SPECIES)
    np.testing.assert_array_equal(matrices["all"], [[1, 1], [1, 2]])
    np.testing.assert_array_equal(matrices["mouse"], [[1, 1], [0, 1]])
    np.testing.assert_array_equal(matrices["human"], [[0, 0], [1, 1]])
    assert matrices["mouse"].sum() + matrices["human"].sum() == matrices["all"].sum() == len(Y_TRUE)
    # Rows and columns follow the given class order, not alphabetical order.
    np.testing.assert_array_equal(confusion_matrices(Y_TRUE, Y_PRED, ("b", "a"))["all"], [[2, 1], [1, 1]])


def test_central_95_is_the_2_5_and_97_5_percentiles():
    from neurotype.protocol.metrics import central_95

    # 0, 1, ..., 100: linear interpolation puts the 2.5 % point at 2.5 and the 97.5 % point at 97.5
    assert central_95(np.arange(101)) == (2.5, 97.5)
