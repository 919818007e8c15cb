"""The reproduction audit: each re-enacted flaw on the bundled tables and on small fixtures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from neurotype.experiments import audit
from neurotype.data.tables import PAPER41_FEATURES, TaskData, duplicate_groups


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return audit.read_original_tables()


def synthetic_task(n: int = 240, n_classes: int = 3, seed: int = 0, species: str = "mouse") -> TaskData:
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4, n_redundant=0, n_classes=n_classes,
                               random_state=seed)
    classes = tuple(f"c{i}" for i in range(n_classes))
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])], index=pd.Index(np.arange(n), name="specimen_id"))
    labels = np.asarray(classes)[y]
    return TaskData(task="subclass", feature_set="paper41", X=frame, y=labels, classes=classes,
                    species=np.full(n, species), groups=duplicate_groups(frame), meta=frame.iloc[:, :0])


# --- flaw 1 -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [10, 11, 299, 1382, 1424])
def test_unshuffled_split_is_sklearns_unshuffled_split(n):
    train, test = audit.unshuffled_split(n)
    expected_train, expected_test = train_test_split(np.arange(n), test_size=0.2, shuffle=False)
    assert train.tolist() == expected_train.tolist() and test.tolist() == expected_test.tolist()
    assert test.tolist() == list(range(n - math.ceil(0.2 * n), n))  # the last 20 %, rounded up


def test_unshuffled_split_rejects_bad_arguments():
    with pytest.raises(ValueError):
        audit.unshuffled_split(1)
    with pytest.raises(ValueError):
        audit.unshuffled_split(10, test_fraction=1.0)


def test_original_split_has_the_papers_sizes(tables):
    complete = tables["mouse"].dropna()
    assert len(tables["mouse"]) - len(complete) == audit.PAPER_CLAIMS["lspin_n_nan_excluded"]
    train, test = audit.unshuffled_split(len(complete))
    assert (len(train), len(test)) == (audit.PAPER_CLAIMS["lspin_n_train"], audit.PAPER_CLAIMS["lspin_n_test"])
    assert len(audit.unshuffled_split(len(tables["mouse"]))[1]) == audit.PAPER_CLAIMS["dann_n_test_mouse"]
    assert len(audit.unshuffled_split(len(tables["human"]))[1]) == audit.PAPER_CLAIMS["dann_n_test_human"]


def test_composition_shift_counts_and_distance():
    y = np.array(["a"] * 6 + ["b"] * 4)
    frame = audit.composition_shift(y, np.arange(5), np.arange(5, 10), ["a", "b"])
    assert frame["n_train"].tolist() == [5, 0] and frame["n_test"].tolist() == [1, 4]
    assert frame["share_test"].sum() == pytest.approx(1.0)
    assert frame.attrs["tvd"] == pytest.approx(0.8)  # ½(|1 − 0.2| + |0 − 0.8|)


def test_composition_pvalue_separates_extreme_and_typical_splits():
    y = np.array(["a"] * 50 + ["b"] * 50)
    extreme = audit.composition_shift(y, np.arange(80), np.arange(80, 100), ["a", "b"]).attrs["tvd"]
    assert audit.composition_shift_pvalue(y, 20, extreme, n_permutations=500, seed=0) < 0.01
    assert audit.composition_shift_pvalue(y, 20, 0.0, n_permutations=100, seed=0) == 1.0


def test_original_task_keeps_file_order_and_labels(tables):
    complete = tables["mouse"].dropna()
    task = audit.original_task({"mouse": complete}, "subclass")
    assert len(task) == len(complete)
    assert task.cell_ids.tolist() == complete["file_name"].str.split("_").str[0].astype(int).tolist()
    assert set(task.y) == set(task.classes)
    assert task.X.columns.tolist() == list(PAPER41_FEATURES)
    with pytest.raises(Exception, match="transgenic_line"):
        audit.original_task({"human": tables["human"]}, "subclass")


def test_split_effect_scores_one_unshuffled_and_every_shuffled_split():
    task = synthetic_task()
    scores = audit.split_effect(task, "logreg", n_repeats=1, n_folds=4, seed=0)
    assert scores["split"].tolist() == ["unshuffled"] + ["shuffled"] * 4
    assert scores.loc[0, "n_test"] == math.ceil(0.2 * len(task))
    assert scores["f1_macro"].between(0, 1).all()


# --- flaw 2 -----------------------------------------------------------------------------------

def test_dropna_on_the_concatenated_tables_leaves_no_human_row(tables):
    result = audit.reenact_dropna(tables)
    counts = result.counts.set_index("stage")
    n_human_train = len(tables["human"]) - math.ceil(0.2 * len(tables["human"]))
    n_mouse_train = len(tables["mouse"]) - math.ceil(0.2 * len(tables["mouse"]))
    assert counts.loc["concatenated training table", "human"] == n_human_train > 0
    assert counts.loc["concatenated training table", "total"] == audit.PAPER_CLAIMS["dann_n_train_total"]
    assert counts.loc["after dropna()", "human"] == 0
    assert (result.train["species"] == "human").sum() == 0
    complete_mouse_train = tables["mouse"].iloc[:n_mouse_train].dropna()
    assert counts.loc["after dropna()", "mouse"] == len(complete_mouse_train)
    assert (result.train_honest["species"] == "human").sum() == n_human_train


def test_dropna_reenactment_on_a_tiny_fixture():
    features = {f: [1.0, 2.0, 3.0, 4.0, 5.0] for f in PAPER41_FEATURES}
    mouse = pd.DataFrame({"transgenic_line": ["Pvalb+"] * 5, "neurotransmitter": ["GABAergic"] * 5,
                          "reporter_status": ["positive"] * 5, "dendrite_type": ["aspiny"] * 5, **features,
                          "file_name": [f"{i}_1" for i in range(5)]})
    human = pd.DataFrame({"dendrite_type": ["spiny"] * 5, **features, "file_name": [f"{i}_1" for i in range(10, 15)]})
    result = audit.reenact_dropna({"mouse": mouse, "human": human})
    after = result.counts.set_index("stage").loc["after dropna()"]
    assert (after["mouse"], after["human"]) == (4, 0)


def test_dropna_effect_trains_the_variants_on_what_they_claim(tables):
    result = audit.reenact_dropna(tables)
    scores = audit.dropna_effect(result, max_epochs=1, seeds=(0,))
    by_variant = scores.groupby("variant")[["n_train_mouse", "n_train_human"]].first()
    assert by_variant.loc["dropna (original)", "n_train_human"] == 0
    assert by_variant.loc["DANN with human rows", "n_train_human"] == 239
    assert set(scores["test_species"]) == {"mouse", "human"}


# --- flaw 3 -----------------------------------------------------------------------------------

def test_scale_per_species_uses_only_the_rows_it_is_told_to():
    X = np.array([[0.0], [2.0], [10.0], [20.0]])
    species = np.array(["mouse", "mouse", "human", "human"])
    everything = audit.scale_per_species(X, species, np.ones(4, bool))
    assert everything[species == "human"].mean() == pytest.approx(0.0)
    partial = audit.scale_per_species(X, species, np.array([True, True, True, False]))
    assert partial[3, 0] != pytest.approx(everything[3, 0])
    with pytest.raises(ValueError, match="human"):
        audit.scale_per_species(X, species, np.array([True, True, False, False]))
    with pytest.raises(ValueError, match="NaN"):
        audit.scale_per_species(np.array([[np.nan]]), np.array(["mouse"]), np.array([True]))


def test_single_species_outer_scaling_changes_nothing():
    task = synthetic_task()
    train, test = audit.unshuffled_split(len(task))
    scores = audit.scaling_effect(task, train, test, ["logreg"])
    original = scores[scores["scaling"] == audit.SCALINGS[0]].iloc[0]
    honest = scores[scores["scaling"] == audit.SCALINGS[2]].iloc[0]
    assert original["f1_macro"] == honest["f1_macro"]


def test_cross_species_scaling_skips_the_impossible_train_only_variant():
    mouse, human = synthetic_task(seed=1), synthetic_task(seed=1, species="human")
    human = TaskData(human.task, human.feature_set, human.X.set_axis(human.X.index + 1000) * 3 + 5, human.y,
                     human.classes, human.species, human.groups, human.meta)
    both = TaskData("subclass", "paper41", pd.concat([mouse.X, human.X]), np.r_[mouse.y, human.y], mouse.classes,
                    np.r_[mouse.species, human.species], np.arange(2 * len(mouse)), pd.concat([mouse.meta, human.meta]))
    scores = audit.scaling_effect(both, np.arange(len(mouse)), np.arange(len(mouse), 2 * len(mouse)), ["logreg"])
    assert set(scores["scaling"]) == {audit.SCALINGS[0], audit.SCALINGS[2]}
    assert set(scores["test_species"]) == {"all", "human"}


# --- flaw 4 -----------------------------------------------------------------------------------

def test_selection_by_test_score_is_optimistic_on_a_seeded_synthetic_example():
    rng = np.random.default_rng(0)
    true_skill = 0.8 + rng.normal(0, 0.005, size=(40, 1))  # 40 near-identical configurations
    test = true_skill + rng.normal(0, 0.03, size=(40, 10))  # noisy test folds
    validation = true_skill + rng.normal(0, 0.03, size=(40, 10))  # independent noise
    result = audit.selection_optimism(test, validation)
    assert result["by_test_optimism"].mean() > 0.03
    assert abs(result["by_validation_optimism"].mean()) < 0.02
    assert (result["by_test_reported"] == test.max(axis=0)).all()


def test_selection_optimism_rejects_bad_shapes():
    with pytest.raises(ValueError):
        audit.selection_optimism(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError):
        audit.selection_optimism(np.zeros((3, 1)), np.zeros((3, 1)))


def test_score_matrix_has_one_score_per_configuration_and_fold():
    task = synthetic_task(n=150)
    configurations = audit.svc_configurations(3, seed=0)
    assert configurations == audit.svc_configurations(3, seed=0)
    test, validation = audit.score_matrix(task, "svc", configurations, n_folds=3, seed=0)
    assert test.shape == validation.shape == (3, 3)
    assert np.isfinite(test).all() and ((0 <= validation) & (validation <= 1)).all()


# --- flaw 5 -----------------------------------------------------------------------------------

def test_training_fraction_effect_trains_on_a_20_percent_slice():
    task = synthetic_task(n=200)
    train, test = audit.unshuffled_split(len(task))
    scores = audit.training_fraction_effect(task, train, test, ["logreg"], n_subsets=2, seed=0)
    assert scores["n_train"].tolist() == [160, 40, 40]
    assert scores["subset"].tolist() == [-1, 0, 1]


# --- flaw 6 -----------------------------------------------------------------------------------

def test_weighted_flatters_an_imbalanced_example():
    y_true = np.array(["spiny"] * 18 + ["aspiny"] * 2)
    y_pred = np.array(["spiny"] * 18 + ["spiny", "aspiny"])
    table = audit.weighted_vs_macro(y_true, y_pred)
    # The poorly recalled minority class pulls the macro recall and F1 down; weighting hides it.
    assert table.loc["recall", "weighted"] > table.loc["recall", "macro"]
    assert table.loc["f1", "gap"] > 0.1
    # Precision can go the other way: the one aspiny prediction is right (precision 1 for the minority).
    assert table.loc["precision", "macro"] > table.loc["precision", "weighted"]
    assert table.loc["recall", "weighted"] == pytest.approx(np.mean(y_true == y_pred))  # weighted recall = accuracy


# --- flaw 7 -----------------------------------------------------------------------------------

def test_reconstruction_arithmetic_on_a_small_example():
    table, summary = audit.reconstruct_lspin_diagonal({"a": 10, "b": 20}, {"a": 90.0, "b": 50.0},
                                                      claimed_accuracy=0.633, claimed_recall_macro=0.7)
    assert table["exact_correct"].tolist() == pytest.approx([9.0, 10.0])
    assert table["representable"].all()
    assert summary["nearest_correct_total"] == 19
    assert summary["accuracy_of_nearest"] == pytest.approx(19 / 30)
    assert summary["counts_printing_as_claimed_accuracy"] == [19]
    assert summary["recall_macro_implied"] == pytest.approx(0.7)


def test_the_papers_caption_does_not_fit_the_reconstructed_test_set(tables):
    task = audit.original_task({"mouse": tables["mouse"].dropna()}, "subclass")
    _, test = audit.unshuffled_split(len(task))
    counts = pd.Series(task.y[test]).value_counts().to_dict()
    caption = audit.PAPER_CLAIMS["lspin_caption_recall_percent"]
    table, summary = audit.reconstruct_lspin_diagonal(counts, caption, audit.PAPER_CLAIMS["lspin_accuracy"],
                                                      audit.PAPER_CLAIMS["lspin_recall_macro"])
    assert summary["n_test"] == 277
    assert not table.loc["Glutamatergic", "representable"]  # 97.8 % of the Glutamatergic test cells is no count
    assert summary["counts_printing_as_claimed_accuracy"] == []  # no k/277 prints as 0.916
    assert summary["recall_macro_implied"] == pytest.approx(np.mean(list(caption.values())) / 100)
    assert summary["recall_macro_implied_range"][0] > audit.PAPER_CLAIMS["lspin_recall_macro"]


def test_percentage_fits_enumerates_every_solution():
    assert audit.percentage_fits([50.0, 100.0], 4) == [((2, 1), (2, 2))]
    assert audit.percentage_fits([50.0, 100.0], 4, caps=[0, 10]) == []
    solutions = audit.percentage_fits([50.0, 50.0], 6)
    assert sorted(solutions) == [((2, 1), (4, 2)), ((4, 2), (2, 1))]
    with pytest.raises(ValueError):
        audit.percentage_fits([50.0], 4, caps=[1, 2])
