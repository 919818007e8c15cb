"""Chapter 08's measurements: scores, calibration, bootstrap, standardisation, coverage and the headline rows,
each against a hand computation or an independent implementation (scikit-learn); one slow end-to-end run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from neurotype.experiments.external import (bootstrap_scores, change, class_scores, coverage_curve,
                                            expected_calibration_error, external_headline_rows, ood_scores,
                                            per_lab_standardise, reliability_table, run_estimates, run_external,
                                            summary_frame)
from neurotype.protocol.reports import ChapterReport, Estimate

CLASSES = ("a", "b", "c")


def test_ece_of_a_hand_made_example():
    # two cells at confidence 0.9 (one right) and two at 0.6 (both right):
    # |0.5 - 0.9| * 2/4 + |1.0 - 0.6| * 2/4 = 0.4
    assert expected_calibration_error([0.9, 0.9, 0.6, 0.6], [1, 0, 1, 1]) == pytest.approx(0.4)
    # perfectly calibrated: confidence 0.75 in one bin, three of four right
    assert expected_calibration_error([0.75] * 4, [1, 1, 1, 0]) == pytest.approx(0.0)


def test_reliability_table_bins_by_confidence():
    table = reliability_table([0.95, 0.91, 0.15, 0.55], [1, 0, 0, 1])
    assert table["cells"].sum() == 4 and len(table) == 10
    top = table.iloc[9]
    assert top["cells"] == 2 and top["accuracy"] == pytest.approx(0.5) and top["confidence"] == pytest.approx(0.93)


def test_class_scores_average_over_the_classes_the_truth_holds():
    y_true = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.8, 0.1, 0.1], [0.2, 0.1, 0.7], [0.1, 0.8, 0.1], [0.3, 0.6, 0.1]])
    scores = class_scores(y_true, probabilities)  # predicted: 0, 2, 1, 1; class 2 absent from the truth
    assert scores["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    # F1 of class 0: precision 1, recall 1/2 -> 2/3; class 1: 1; class 2 (absent) adds no term
    assert scores["f1_macro"] == pytest.approx((2 / 3 + 1) / 2)
    assert scores["f1_macro"] == pytest.approx(f1_score(y_true, probabilities.argmax(1), labels=[0, 1], average="macro"))
    assert scores["accuracy"] == pytest.approx(0.75)
    assert np.isnan(scores["recall"][2])
    assert scores["confusion"].tolist() == [[1, 0, 1], [0, 2, 0], [0, 0, 0]]


def test_bootstrap_intervals_match_a_plain_loop_over_scikit_learn():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, 120)
    probabilities = rng.dirichlet(np.ones(3), 120)
    probabilities[np.arange(120), y] += 0.5 * (rng.random(120) < 0.6)  # a better-than-chance model
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    scores, recalls = bootstrap_scores(y, [probabilities], CLASSES, n_boot=200, seed=11)
    draws = np.random.default_rng(11).integers(0, 120, (200, 120))  # the resamples, drawn the same way
    loop = [balanced_accuracy_score(y[i], probabilities[i].argmax(1)) for i in draws]
    low, high = np.percentile(loop, [2.5, 97.5])
    estimate = scores["balanced_accuracy"]
    assert estimate.mean == pytest.approx(balanced_accuracy_score(y, probabilities.argmax(1)))
    assert (estimate.low, estimate.high) == pytest.approx((low, high))
    assert set(recalls) == set(CLASSES)


def test_bootstrap_averages_seeds_on_each_resample():
    y = np.array([0, 1, 2, 0, 1, 2])
    right = np.eye(3)[y] * 0.9 + 0.05
    wrong = np.eye(3)[(y + 1) % 3] * 0.9 + 0.05
    scores, _ = bootstrap_scores(y, [right, wrong], CLASSES, n_boot=50, seed=0)
    # one seed always right, the other always wrong: every resample averages to exactly 0.5
    assert scores["accuracy"].mean == pytest.approx(0.5)
    assert scores["accuracy"].low == pytest.approx(0.5) and scores["accuracy"].high == pytest.approx(0.5)


def test_per_lab_standardisation_matches_the_reference_moments():
    external = pd.DataFrame({"x": [1.0, 2.0, 3.0, np.nan], "k": [5.0, 5.0, 5.0, 5.0]})
    reference = pd.DataFrame({"x": [10.0, 20.0, 30.0], "k": [1.0, 2.0, 3.0]})
    out = per_lab_standardise(external, reference)
    assert out["x"].iloc[:3].tolist() == pytest.approx([10.0, 20.0, 30.0])
    assert np.isnan(out["x"].iloc[3])
    assert out["k"].tolist() == pytest.approx([2.0] * 4)  # a constant feature is only shifted


def test_coverage_curve_of_a_hand_made_example():
    score = [0.1, 0.5, 0.2, 0.9]
    correct = [1, 0, 1, 0]
    assert coverage_curve(score, correct, [0.25, 0.5, 0.75, 1.0]).tolist() == pytest.approx([1.0, 1.0, 2 / 3, 0.5])


def test_ood_scores_grow_with_distance_from_the_training_cells():
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(200, 3)), columns=list("xyz"))
    labels = (train["x"] > 0).astype(int).to_numpy()
    query = pd.DataFrame([[0.0, 0.0, 0.0], [8.0, 8.0, 8.0]], columns=list("xyz"))
    scores = ood_scores(train, labels, query)
    assert (scores.iloc[1] > 3 * scores.iloc[0]).all()


def test_change_reads_interval_overlap():
    before = Estimate(0.5, 0.45, 0.55)
    assert change(before, Estimate(0.7, 0.6, 0.8)).startswith("raises")
    assert change(before, Estimate(0.3, 0.2, 0.4)).startswith("lowers")
    assert change(before, Estimate(0.52, 0.47, 0.57)).startswith("leaves")


def _report(tmp_path, measured, reference) -> None:
    def summary(mean, low, high):
        return {"mean": mean, "ci95": [low, high]}

    estimates = {}
    for dataset, species in (("scala2021_m1", "mouse"), ("lee2023_human_gaba", "human")):
        estimates[f"{dataset}/fcnn/none"] = {species: {"balanced_accuracy": summary(*measured[dataset])}}
        estimates[f"{dataset}/fcnn/ACTD CV"] = {"mouse": {"balanced_accuracy": summary(*reference)}}
        estimates[f"{dataset}/dann/DANN"] = {species: {"balanced_accuracy": summary(0.4, 0.35, 0.45)}}
    ChapterReport("08_external", {"profile": "smoke", "seed": 0, "focus_model": "fcnn"}, estimates,
                  {"datasets": ["scala2021_m1", "lee2023_human_gaba"]}, 1.0, {}).save(
        tmp_path / "08_external" / "report.json")


def test_headline_rows_say_whether_the_model_transfers(tmp_path):
    _report(tmp_path, {"scala2021_m1": (0.52, 0.49, 0.55), "lee2023_human_gaba": (0.70, 0.66, 0.74)},
            reference=(0.72, 0.67, 0.77))
    rows = {row.claim.split("applied to ")[1].split(":")[0]: row for row in external_headline_rows(tmp_path)}
    m1 = rows["mouse motor cortex (Scala et al. 2021)"]
    lee = rows["human GABAergic interneurons (Lee, Dalley et al. 2023)"]
    assert m1.claim.startswith("The FCNN trained on ACTD cells")
    assert m1.measured == Estimate(0.52, 0.49, 0.55) and not m1.consistent
    assert m1.verdict.startswith("Does not transfer") and "0.400" in m1.verdict
    assert lee.consistent and lee.verdict.startswith("Transfers")
    assert (m1.short, lee.short) == ("Does not transfer.", "Transfers.")
    assert {row.chapter for row in rows.values()} == {"08_external"}


@pytest.mark.slow
def test_a_small_end_to_end_run_never_reads_an_external_label():
    run = run_external("lee2023_human_gaba", models=["logreg"], n_seeds=1, n_folds=2, n_boot=20, n_jobs=1,
                       max_epochs=3)
    assert run.target_labels_used == 0
    adaptations = {(e.cells, e.model, e.adaptation) for e in run.evaluations}
    assert {("lee2023_human_gaba", "logreg", "none"), ("lee2023_human_gaba", "logreg", "per-lab standardisation"),
            ("lee2023_human_gaba", "dann", "DANN"), ("ACTD held-out", "logreg", "none")} <= adaptations
    assert run.n_train + run.n_reference == 1612
    estimates = run_estimates([run])
    assert set(estimates["lee2023_human_gaba/logreg/none"]) == {"human"}
    assert set(estimates["lee2023_human_gaba/logreg/ACTD CV"]) == {"mouse"}
    summary = estimates["lee2023_human_gaba/logreg/none"]["human"]["balanced_accuracy"]
    assert summary["ci95"][0] <= summary["mean"] <= summary["ci95"][1]
    assert len(summary_frame([run])) == 3
    assert "Glutamatergic" not in run.evaluation("logreg").recall  # the human set has no excitatory cell
