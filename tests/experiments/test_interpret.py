"""Gate interpretation: held-out refits reproduce the report, profiles and the computed reading."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from neurotype.experiments import interpret
from neurotype.protocol.evaluation import evaluate


@pytest.fixture(scope="module")
def lspin_report(subclass_paper41):
    return evaluate(subclass_paper41, "lspin", n_folds=3, n_repeats=1, seed=3, params={"epochs": 40})


def test_held_out_gates_come_from_the_reported_models(subclass_paper41, lspin_report):
    result = interpret.held_out_gates(subclass_paper41, lspin_report, n_members=2)
    assert result.gates.shape == (2, len(subclass_paper41), len(subclass_paper41.feature_names))
    assert result.agreement == 1.0  # the refit is the reported model
    assert sorted(result.cells["id"]) == sorted(subclass_paper41.cell_ids)  # every cell held out once
    assert ((result.gates >= 0) & (result.gates <= 1)).all()
    assert not np.allclose(result.gates[0], result.gates[1])  # a second seed is another model
    frame = result.frame()
    assert list(frame.columns) == list(subclass_paper41.feature_names)
    corr, summary = interpret.profile_stability(result.gates, result.cells)
    assert corr.shape == (6, 6) and np.allclose(np.diag(corr), 1)
    assert summary["across_seeds_n"] == 3 and summary["across_folds_n"] == 6


def test_refit_rejects_another_task(broad_paper41, lspin_report):
    with pytest.raises(ValueError, match="report is for subclass/paper41"):
        interpret.refit_folds(broad_paper41, lspin_report)


def test_profiles_specificity_and_reading():
    gates = np.array([[1.0, 0.0, 0.5], [0.8, 0.0, 0.5], [0.0, 1.0, 0.5], [0.2, 0.9, 0.5]])
    labels = ["A", "A", "B", "B"]
    profiles = interpret.class_profiles(gates, labels, ["A", "B"], ["f1", "f2", "f3"])
    assert profiles.loc["A", "f1"] == pytest.approx(0.9)
    specific = interpret.class_specificity(profiles)
    assert specific.loc["A", "f1"] == pytest.approx(0.9 - 0.1)
    assert specific.loc["B", "f2"] == pytest.approx(0.95)
    table = interpret.defining_features(profiles, top=1)
    assert table.set_index("class")["feature"].to_dict() == {"A": "f1", "B": "f2"}
    sentences = interpret.reading_sentences(interpret.defining_features(profiles, top=3))
    assert sentences[0].startswith("A cells open `f1` (0.90 vs 0.10)")
    assert "f3" not in " ".join(sentences)  # equal in both classes: not defining
    flat = interpret.class_profiles(np.full((4, 2), 0.5), labels, ["A", "B"], ["f1", "f2"])
    assert "no feature" in interpret.reading_sentences(interpret.defining_features(flat))[0]
    with pytest.raises(ValueError, match=r"no cells of class\(es\) \['C'\]"):
        interpret.class_profiles(gates, labels, ["A", "B", "C"], ["f1", "f2", "f3"])


def test_open_counts_cluster_order_and_rank_agreement():
    gates = np.array([[0.0, 0.2, 1.0], [0.0, 0.0, 0.0]])
    assert interpret.open_gate_counts(gates).tolist() == [2, 0]
    assert interpret.open_gate_counts(gates, threshold=0.5).tolist() == [1, 0]
    rows = np.array([[0.0, 0.0], [5.0, 5.0], [0.1, 0.0], [5.1, 5.0]])
    order = interpret.cluster_order(rows).tolist()
    assert abs(order.index(0) - order.index(2)) == 1 and abs(order.index(1) - order.index(3)) == 1
    a = pd.Series([1.0, 2.0, 3.0, 4.0], index=list("abcd"))
    assert interpret.rank_agreement(a, a * 2, top=2) == {"spearman": 1.0, "top": 2, "top_overlap": 2,
                                                         "top_overlap_share": 1.0}
    assert interpret.rank_agreement(a, -a, top=2)["spearman"] == -1.0


def test_permutation_importances_on_held_out_cells(subclass_paper41):
    report = evaluate(subclass_paper41, "logreg", n_folds=3, n_repeats=1, seed=0)
    importances = interpret.permutation_importances(subclass_paper41, report, n_repeats=2)
    assert importances.shape == (3, len(subclass_paper41.feature_names))
    assert importances.mean().max() > 0.01  # some feature matters
    assert interpret.best_report({"logreg": report, "worse": _worse(report)}) == "logreg"


def _worse(report):
    import copy

    other = copy.deepcopy(report)
    other.metrics["all"]["f1_macro"]["mean"] -= 0.1
    return other


def test_plots_return_figures(lspin_report):
    import matplotlib.pyplot as plt

    from neurotype.plots import lspin as plots

    classes = lspin_report.classes
    fig = plots.plot_confusion(np.asarray(lspin_report.confusion["all"]), classes)
    assert len(fig.axes[0].texts) == len(classes) ** 2
    plt.close(fig)
    with pytest.raises(ValueError, match="counts has shape"):
        plots.plot_confusion(np.ones((2, 2)), classes)
    table = pd.DataFrame({"model": ["a", "b"], "feature_set": ["x", "x"], "mean": [0.5, 0.6], "low": [0.4, 0.5],
                          "high": [0.6, 0.7]})
    plt.close(plots.plot_model_intervals(table, reference=0.877))


def test_comparison_tables(subclass_paper41, tmp_path):
    from neurotype.experiments import comparison
    from neurotype.experiments.comparison import Config

    reports = comparison.run_models(subclass_paper41, {"logreg": Config("logreg"), "lspin": Config("lspin", {"epochs": 20})},
                                    tmp_path, n_folds=3, n_repeats=1, seed=0, n_trials=0, log=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logreg.json", "lspin.json"]
    loaded = comparison.load_reports(tmp_path, ["logreg", "lspin"])
    assert loaded["logreg"].metrics == reports["logreg"].metrics
    table = comparison.table2(reports, subclass_paper41.classes)
    assert list(table.index) == ["logreg", "lspin"]
    assert "f1[Pvalb]" in table.columns and table.loc["logreg", "f1_macro"].count("[") == 1
    claims = comparison.claims_frame(reports["logreg"])
    assert claims.loc["f1_macro", "paper (claimed)"] == 0.877
    assert claims.loc["f1_macro", "measured"] == reports["logreg"].metrics["all"]["f1_macro"]["mean"]
    effect = comparison.feature_set_effect(reports, {"logreg": reports["lspin"]})
    assert list(effect.index) == ["logreg"]
    expected = reports["lspin"].metrics["all"]["f1_macro"]["mean"] - reports["logreg"].metrics["all"]["f1_macro"]["mean"]
    assert effect.loc["logreg", "difference"] == pytest.approx(expected)
    frame = comparison.interval_frame({"paper41": reports})
    assert (frame["low"] <= frame["mean"]).all() and (frame["mean"] <= frame["high"]).all()


def test_gate_numbers_on_a_hand_made_gate_matrix():
    gates = pd.DataFrame([[1.0, 0.0, 0.5], [1.0, 0.0, 0.0], [0.2, 0.9, 1.0], [0.0, 1.0, 1.0]],
                         columns=["a", "b", "c"])
    labels = ["x", "x", "y", "y"]
    profiles = interpret.class_profiles(gates, labels, ["x", "y"])
    values = interpret.gate_numbers(gates, labels, ["x", "y"], profiles)
    # open gates (z > 0) per cell: 2, 1, 3, 2 -> median 2; fully open (z > 0.999): 1, 1, 1, 2 -> median 1
    assert values["open_median"] == "2" and values["fully_open_median"] == "1"
    assert values["per_class_open"] == {"x": 1.5, "y": 2.5}
    # class means of b: x 0.0, y 0.95 -> the largest spread (a: 1.0 vs 0.1 = 0.9; c: 0.25 vs 1.0 = 0.75)
    assert values["most_class_dependent"] == "b" and values["most_class_dependent_spread"] == "0.95"
    assert values["mean_gate"] == f"{gates.to_numpy().mean():.2f}"
