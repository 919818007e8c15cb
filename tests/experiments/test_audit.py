"""The reproduction audit: each re-enacted flaw on the bundled tables and on small fixtures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from neurotype.experiments import audit
from neurotype.paper import claims
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


def test_the_broad_type_scripts_split_has_the_papers_dann_sizes(tables):
    # dann_dendrite_type.py: the last 20 % of each CSV, unshuffled -> the paper's 285 mouse and 60 human test cells.
    assert len(audit.unshuffled_split(len(tables["mouse"]))[1]) == claims.DANN_SPLIT["test_mouse"]
    assert len(audit.unshuffled_split(len(tables["human"]))[1]) == claims.DANN_SPLIT["test_human"]


def _replay_lspin_script(mouse: pd.DataFrame):
    """The LSPIN script's _preprocess_data, written out again here (independently of neurotype.audit)."""
    from sklearn.preprocessing import StandardScaler

    data = mouse.dropna(axis=1, how="all").dropna(axis=0)
    y = data["transgenic_line"].astype("category").cat.codes
    x = data.drop(columns=["dendrite_type", "neurotransmitter", "reporter_status", "layer", "file_name",
                           "transgenic_line"])
    x = StandardScaler().fit_transform(x)
    x_train, x_test, y_train, y_test = train_test_split(x, y, train_size=0.8, random_state=1)
    x_fit, x_val, y_fit, y_val = train_test_split(x_train, y_train, train_size=0.8, random_state=1)
    return data, x, y, (x_train, x_test, y_train, y_test), (x_fit, x_val)


def test_lspin_split_is_the_scripts_shuffled_split(tables):
    data, _, _, (x_train, x_test, _, y_test), (x_fit, x_val) = _replay_lspin_script(tables["mouse"])
    # Counts published with the issue (replayed by hand): 1,382 cells, 1,105 / 277, 884 / 221.
    assert (len(data), len(x_train), len(x_test), len(x_fit), len(x_val)) == (1382, 1105, 277, 884, 221)
    assert y_test.value_counts().sort_index().tolist() == [134, 42, 47, 26, 28]
    split = audit.reenact_lspin_split(tables)
    assert list(split.codes) == ["Glutamatergic", "Htr3a+|Vip-", "Pvalb", "Sst", "Vip"]  # alphabetical codes
    assert split.test_counts() == {"Glutamatergic": 134, "Htr3a+|Vip-": 42, "Pvalb": 47, "Sst": 26, "Vip": 28}
    assert (len(split.train), len(split.test), len(split.fit), len(split.validation)) == (1105, 277, 884, 221)
    assert split.n_dropped == claims.LSPIN_SPLIT["dropped_nan"]
    assert np.allclose(split.X_scaled[split.test], x_test) and np.allclose(split.X_scaled[split.fit], x_fit)
    assert (len(split.train), len(split.test)) == (claims.LSPIN_SPLIT["train"], claims.LSPIN_SPLIT["test"])


def test_the_scripts_scaler_on_every_row_changes_no_prediction(tables):
    # The LSPIN script standardises all 1,382 rows before splitting. Each model standardises again on its
    # training rows; two affine maps fitted on the same rows compose to one, so predictions are identical.
    split = audit.reenact_lspin_split(tables)
    raw = split.task.X.to_numpy(dtype=float)
    for model in ("logreg", "svc"):
        scaled = audit.fit_predict(model, split.X_scaled[split.train], split.task.y[split.train],
                                   split.X_scaled[split.test])
        plain = audit.fit_predict(model, raw[split.train], split.task.y[split.train], raw[split.test])
        assert (scaled == plain).all()


def test_lspin_test_set_is_not_the_last_rows(tables):
    # The premise this audit used to rest on: LSPIN tested on the last 20 % of the complete rows. It did not.
    split = audit.reenact_lspin_split(tables)
    _, last = audit.unshuffled_split(len(split.task))
    assert len(last) == len(split.test) == 277
    last_counts = pd.Series(split.task.y[last]).value_counts().to_dict()
    assert last_counts != split.test_counts()
    assert len(np.intersect1d(last, split.test)) < 100


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


def test_split_effect_scores_the_unshuffled_split_and_every_shuffled_split(tables):
    effect = audit.split_effect(tables, ["logreg"], n_repeats=1, n_folds=5, seed=0, n_permutations=50)
    assert effect.scores["split"].value_counts().to_dict() == {"unshuffled": 3, "shuffled": 15}  # all, mouse, human
    assert set(effect.compositions) == {"mouse", "human"}
    human = effect.compositions["human"]
    assert human["n_test"].sum() == 60 and human["n_train"].sum() == 239
    numbers = effect.numbers("logreg", "human")
    assert numbers["n_shuffled"] == 5 and numbers["shuffled_low"] <= numbers["shuffled_mean"] <= numbers["shuffled_high"]
    assert effect.summary_row("logreg", "human").honest == pytest.approx(numbers["shuffled_mean"])


# --- flaw 2 -----------------------------------------------------------------------------------

def test_dropna_on_the_concatenated_tables_leaves_no_human_row(tables):
    result = audit.reenact_dropna(tables)
    counts = result.counts.set_index("stage")
    n_human_train = len(tables["human"]) - math.ceil(0.2 * len(tables["human"]))
    n_mouse_train = len(tables["mouse"]) - math.ceil(0.2 * len(tables["mouse"]))
    assert counts.loc["concatenated training table", "human"] == n_human_train > 0
    assert counts.loc["concatenated training table", "total"] == claims.DANN_SPLIT["train_total"]
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
    effect = audit.dropna_effect(result, max_epochs=1, seeds=(0,))
    by_variant = effect.scores.groupby("variant")[["n_train_mouse", "n_train_human"]].first()
    only_mouse, fcnn, dann = audit.DROPNA_VARIANTS
    assert by_variant.loc[only_mouse, "n_train_human"] == 0
    assert by_variant.loc[fcnn, "n_train_human"] == by_variant.loc[dann, "n_train_human"] == 299 - 60
    assert by_variant["n_train_mouse"].nunique() == 1  # the mouse side is the same in every variant
    assert set(effect.scores["test_species"]) == {"mouse", "human"}
    rows = effect.summary_rows()
    assert [r.flaw[:2] for r in rows] == ["2a", "2b"] and rows[0].original == rows[1].original
    averages = audit.broad_metric_averages(effect)
    assert set(averages.index.get_level_values(0)) == {"human", "mouse"}


# --- flaw 3 -----------------------------------------------------------------------------------

def _sign_tables(n: int = 40):
    """Mouse cells whose class is the sign of every feature; human cells all spiny with features in [1, 2]."""
    half = np.linspace(0.5, 2, n // 2)
    values = np.r_[-half, half]  # symmetric: the boundary a linear model learns is at 0
    mouse = pd.DataFrame({f: values for f in PAPER41_FEATURES})
    mouse["dendrite_type"] = np.where(values > 0, "spiny", "aspiny")
    mouse["species"] = "mouse"
    human_values = np.linspace(1, 2, n)  # standardised on themselves: exactly half below 0
    human = pd.DataFrame({f: human_values for f in PAPER41_FEATURES})
    human["dendrite_type"], human["species"] = "spiny", "human"
    return mouse, human


def test_dann_scaling_reenactment_standardises_each_test_table_on_itself():
    mouse, human = _sign_tables()
    reenactment = audit.DropnaReenactment(counts=pd.DataFrame(), train=mouse, train_honest=mouse,
                                          test={"human": human})
    effect = audit.dann_scaling_effect(reenactment, ["logreg"])
    self_scaled, honest = audit.DANN_SCALINGS
    # Honest: every human cell stays on the spiny side of the boundary learnt at 0.
    assert effect.score("logreg", honest, "human") == 1.0
    # Scaled on itself the human table is centred at 0: the half below its own median is called aspiny.
    assert effect.score("logreg", self_scaled, "human") == pytest.approx(0.5)
    assert effect.summary_row("logreg").effect == pytest.approx(-0.5)


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

def test_baselines_split_nests_inside_lspins(tables):
    # rf_transgenic_targeting.py: train_test_split(x, y, train_size=0.2, random_state=1) on the same 1,382 rows.
    train, test = train_test_split(np.arange(1382), train_size=0.2, random_state=1)
    assert (len(train), len(test)) == (276, 1106)
    assert [p.tolist() for p in audit.reenact_baseline_split(1382)] == [train.tolist(), test.tolist()]
    split = audit.reenact_lspin_split(tables)
    effect = audit.baseline_effect(split, ["logreg"])
    assert effect.lspin_test_in_baseline_test == 277 and effect.baseline_train_in_lspin_train == 276
    counts = effect.scores.set_index("setting")[["n_train", "n_test"]]
    assert counts.values.tolist() == [[276, 1106], [276, 277], [1105, 277]]
    assert list(counts.index) == list(audit.BASELINE_SETTINGS)


# --- flaw 6 -----------------------------------------------------------------------------------

def test_metric_averages_reenact_the_scripts_binary_scores():
    # 8 spiny cells (6 called spiny) and 2 aspiny (1 called aspiny). By hand:
    # spiny: precision 6/7, recall 6/8, F1 12/15 = 0.8; aspiny: precision 1/3, recall 1/2, F1 2/5 = 0.4.
    y_true = np.array(["spiny"] * 8 + ["aspiny"] * 2)
    y_pred = np.array(["spiny"] * 6 + ["aspiny"] * 2 + ["spiny", "aspiny"])
    table = audit.metric_averages(y_true, y_pred, positive="spiny")
    assert table.loc["precision", "binary"] == pytest.approx(6 / 7)
    assert table.loc["recall", "binary"] == pytest.approx(0.75)
    assert table.loc["f1", "binary"] == pytest.approx(0.8)
    assert table.loc["f1", "macro"] == pytest.approx(0.6)
    assert table.loc["f1", "weighted"] == pytest.approx(0.72)  # (8 · 0.8 + 2 · 0.4) / 10
    assert table.loc["recall", "weighted"] == pytest.approx(0.7)  # = accuracy
    assert "binary" not in audit.metric_averages(y_true, y_pred).columns
    with pytest.raises(ValueError):
        audit.metric_averages(y_true, y_pred[:-1])


# --- flaw 7 -----------------------------------------------------------------------------------

def test_percentage_fits_enumerates_every_solution():
    assert audit.percentage_fits([50.0, 100.0], 4) == [((2, 1), (2, 2))]
    assert audit.percentage_fits([50.0, 100.0], 4, caps=[0, 10]) == []
    solutions = audit.percentage_fits([50.0, 50.0], 6)
    assert sorted(solutions) == [((2, 1), (4, 2)), ((4, 2), (2, 1))]
    with pytest.raises(ValueError):
        audit.percentage_fits([50.0], 4, caps=[1, 2])


def test_reconstruct_fig11_on_a_small_example():
    # Rows a: 4 cells, b: 2 cells. Column percentages 75 % and 50 %: predicted-as-a 4 (3 right), as-b 2 (1 right)
    # is the only way with 6 cells (8/… would exceed the total); recall a 3/4, b 1/2.
    fit = audit.reconstruct_fig11({"a": 4, "b": 2}, {"a": 75.0, "b": 50.0})
    assert fit.fits == (((4, 3), (2, 1)),)
    assert fit.diagonal == (3, 1) and fit.column_totals == (4, 2)
    scores = fit.scores()
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["recall_macro"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    assert scores["f1_macro"] == pytest.approx((6 / 8 + 2 / 4) / 2)
    with pytest.raises(ValueError):
        audit.reconstruct_fig11({"a": 4}, {"a": 75.0, "b": 50.0})


def test_fig11_caption_fits_exactly_one_matrix_on_the_replayed_test_set(tables):
    # Values derived independently for the issue (exhaustive search by hand-written code over diagonal counts
    # and column totals): one fit, diagonal 132, 34, 46, 19, 23 over column totals 135, 41, 53, 24, 24.
    fit = audit.paper_fig11(tables)
    assert len(fit.fits) == 1
    assert fit.diagonal == (132, 34, 46, 19, 23)
    assert fit.column_totals == (135, 41, 53, 24, 24)
    assert fit.row_totals == (134, 42, 47, 26, 28)
    scores = fit.scores()
    assert (scores["n_correct"], scores["n_test"]) == (254, 277)
    assert scores["accuracy"] == pytest.approx(claims.LSPIN_RECORDED_ACCURACY, abs=1e-12)  # 254/277 = 0.91697
    assert round(scores["precision_macro"], 3) == 0.885
    assert round(scores["recall_macro"], 3) == 0.865  # Table 2 says 0.873
    assert round(scores["f1_macro"], 3) == 0.873  # Table 2 says 0.877
    # Read as recalls of the replayed test set, the caption fits no matrix (e.g. 82.9 % of 42 cells).
    assert fit.n_recall_fits == 0


def test_lspin_replay_scores_the_replayed_test_set(tables):
    split = audit.reenact_lspin_split(tables)
    replay = audit.lspin_on_original_split(split, epochs=5, seed=0)
    assert (replay.n_fit, replay.n_test) == (884, 277)
    assert replay.confusion.to_numpy().sum(axis=1).tolist() == [134, 42, 47, 26, 28]
    shares = replay.column_normalised().dropna(axis=1, how="all").sum(axis=0)  # columns never predicted are NaN
    assert np.allclose(shares, 1.0)


def test_summary_frame_formats_the_rows():
    row = audit.SummaryRow("1 x", "m", 0.9, 0.85, "y")
    assert row.effect == pytest.approx(0.05)
    frame = audit.summary_frame([row])
    assert frame.loc["1 x", "effect (original − honest)"] == "+0.050"


def test_summary_rows_follow_the_chapters_order():
    from types import SimpleNamespace

    def row(flaw):
        return audit.SummaryRow(flaw, "m", 0.5, 0.5, "")
    stub = SimpleNamespace(summary_row=lambda *a, **k: row("x"), summary_rows=lambda *a, **k: [row("2a"), row("2b")])
    fig11 = SimpleNamespace(summary_rows=lambda: [row("7a"), row("7b")])
    averages = pd.DataFrame({"binary": [0.9], "macro": [0.8], "weighted": [0.85]},
                            index=pd.MultiIndex.from_tuples([("human", "f1")]))
    rows = audit.summary_rows("svc", stub, stub, stub, stub, stub, averages, fig11)
    assert [r.flaw[:2] for r in rows] == ["x", "2a", "2b", "x", "x", "x", "6 ", "7a", "7b"]
    assert (rows[6].original, rows[6].honest) == (0.9, 0.8)  # binary as the scripts, macro as honest
