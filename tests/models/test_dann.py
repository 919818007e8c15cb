"""The DANN and its experiments: adaptation works, human cells are seen (and their labels not,
when they must not be), seeds reproduce, no outer-test cell reaches tuning, and the transfer,
scaling, learning-curve and alignment helpers do what they say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from _protocol_fixtures import make_task
from neurotype.experiments import alignment, transfer
from neurotype.models.spec import ModelSpec
from neurotype.protocol.evaluation import evaluate
from neurotype.models.registry import get_model
from neurotype.models.dann import DANNClassifier
from neurotype.models.fcnn import FCNNClassifier
from neurotype.models.dann import grad_reverse
from neurotype.models.weighting import row_weights


# --- the network ------------------------------------------------------------------------------

def _shifted_problem(seed: int, n: int = 150, shift: float = 1.5):
    """Two Gaussian classes separated along x0; the target domain is shifted by ``shift`` in
    every coordinate. The last ``n`` target rows are fresh test cells, never used for fitting."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 3 * n)
    X = rng.normal(size=(3 * n, 4))
    X[:, 0] += np.where(y == 1, 2.0, -2.0)
    species = np.array(["mouse"] * n + ["human"] * (2 * n))
    X[species == "human"] += shift
    test = np.zeros(3 * n, bool)
    test[2 * n:] = True
    return X, np.where(y == 1, "b", "a"), species, test


def test_gradient_reversal_is_minus_lambda_inside_the_dann():
    net = DANNClassifier(max_epochs=1)
    x = torch.randn(4, 3, requires_grad=True)
    upstream = torch.randn(4, 3)
    (grad_reverse(x, 0.7) * upstream).sum().backward()
    assert torch.allclose(x.grad, -0.7 * upstream)
    with pytest.raises(ValueError, match="lambda_ must be"):
        net.set_params(lambda_="sometimes").fit(np.zeros((4, 2)), ["a", "b", "a", "b"],
                                                 species=["mouse", "mouse", "human", "human"])


def test_unsupervised_dann_beats_source_only_networks_on_a_shifted_target():
    """Seeded, three problems: the adversary must lift target accuracy above both the source-only
    FCNN and the same network trained without adversary (λ = 0), on fresh target cells."""
    torch.set_num_threads(1)
    gains_fcnn, gains_plain = [], []
    for seed in range(3):
        X, y, species, test = _shifted_problem(seed)
        source = species == "mouse"

        def accuracy(model):
            return float((model.predict(X[test]) == y[test]).mean())

        fcnn = FCNNClassifier(max_epochs=50, lr=3e-3, seed=seed).fit(X[source], y[source])
        kwargs = dict(mode="unsupervised", max_epochs=50, lr=3e-3, seed=seed)
        plain = DANNClassifier(lambda_=0.0, **kwargs).fit(X[~test], y[~test], species=species[~test])
        dann = DANNClassifier(lambda_=1.0, **kwargs).fit(X[~test], y[~test], species=species[~test])
        gains_fcnn.append(accuracy(dann) - accuracy(fcnn))
        gains_plain.append(accuracy(dann) - accuracy(plain))
    assert min(gains_fcnn) > 0 and np.mean(gains_fcnn) > 0.05, gains_fcnn
    assert min(gains_plain) > 0 and np.mean(gains_plain) > 0.05, gains_plain


def test_training_batches_contain_human_cells_counted_exactly():
    X, y, species, _ = _shifted_problem(0, n=40)
    n_human = int((species == "human").sum())
    epochs, batch = 4, 32
    semi = DANNClassifier(mode="semi", max_epochs=epochs, batch_size=batch, seed=0).fit(X, y, species=species)
    steps = epochs * int(np.ceil(len(y) / batch))
    # Every epoch passes over every labelled cell once: each human cell enters the label loss once.
    assert semi.target_labels_used_ == epochs * n_human
    # ...and every step adds batch // 2 target cells to the domain loss.
    assert semi.target_cells_seen_ == epochs * n_human + steps * (batch // 2)
    unsupervised = DANNClassifier(mode="unsupervised", max_epochs=epochs, batch_size=batch, seed=0)
    unsupervised.fit(X, y, species=species)
    n_source = int((species == "mouse").sum())
    assert unsupervised.target_labels_used_ == 0
    assert unsupervised.target_cells_seen_ == epochs * int(np.ceil(n_source / batch)) * (batch // 2)


def test_label_mask_hides_the_labels_of_unlabelled_rows():
    X, y, species, _ = _shifted_problem(1, n=40)
    mask = (species == "mouse") | (np.arange(len(y)) % 4 == 0)
    flipped = y.copy()
    flipped[~mask] = np.where(y[~mask] == "a", "b", "a")
    a = DANNClassifier(max_epochs=5, seed=2).fit(X, y, species=species, label_mask=mask)
    b = DANNClassifier(max_epochs=5, seed=2).fit(X, flipped, species=species, label_mask=mask)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.target_labels_used_ == 5 * int((mask & (species == "human")).sum())
    with pytest.raises(ValueError, match="label_mask has shape"):
        DANNClassifier(max_epochs=1).fit(X, y, species=species, label_mask=mask[:-1])


def test_per_species_class_weights_give_each_group_the_same_total():
    y = torch.tensor([0, 0, 0, 1, 0, 1, 1, 1, 1, 1])
    species = np.array(["mouse"] * 4 + ["human"] * 6)
    weights = row_weights(y, species, "balanced_per_species")
    totals = {}
    for w, label, s in zip(weights.tolist(), y.tolist(), species):
        totals[(s, label)] = totals.get((s, label), 0) + w
    assert np.allclose(list(totals.values()), len(y) / 4)
    assert row_weights(y, species, None) is None
    with pytest.raises(ValueError, match="class_weight must be one of"):
        row_weights(y, species, "per_class")
    with pytest.raises(ValueError, match="needs species"):
        row_weights(y, None, "balanced_per_species")


# --- through the protocol ---------------------------------------------------------------------

@pytest.fixture
def small_task():
    return make_task({(c, s): n for c in ("aspiny", "spiny") for s, n in (("mouse", 20), ("human", 12))},
                     n_features=4, seed=3)


def test_same_seed_same_dann_metrics_through_evaluate(small_task):
    params = {"max_epochs": 8, "class_weight": "balanced_per_species"}
    first = evaluate(small_task, "dann", n_folds=2, n_repeats=1, seed=4, params=params)
    again = evaluate(small_task, "dann", n_folds=2, n_repeats=1, seed=4, params=params)
    other = evaluate(small_task, "dann", n_folds=2, n_repeats=1, seed=5, params=params)
    assert first.metrics == again.metrics and first.predictions == again.predictions
    assert [f["metrics"] for f in first.per_fold] != [f["metrics"] for f in other.per_fold]


def _recording_spec(name: str, log: list) -> ModelSpec:
    """The registered spec ``name`` with every fit's row ids (and validation ids) logged with its seed."""
    base = get_model(name)

    def build(params, seed):
        model = base.build(params, seed)
        fit = model.fit

        def logged_fit(X, y, species=None, X_val=None, y_val=None, species_val=None, **kwargs):
            ids = set(X.index.tolist()) | (set(X_val.index.tolist()) if X_val is not None else set())
            log.append((seed, ids))
            return fit(X, y, species=species, X_val=X_val, y_val=y_val, species_val=species_val, **kwargs)

        model.fit = logged_fit
        return model

    return ModelSpec(name=f"{name}-spy", build=build, defaults=base.defaults, search_space=base.search_space,
                     uses_validation=base.uses_validation)


@pytest.mark.parametrize("name, params", [("dann", {"mode": "semi"}), ("dann", {"mode": "unsupervised"}),
                                          ("fcnn", {"species_flag": True})])
def test_no_outer_test_cell_reaches_optuna_or_the_refit(small_task, tmp_path, name, params):
    log: list = []
    spec = _recording_spec(name, log)
    n_trials = 2
    # Short trials: the search space suggests up to 2000 epochs; patience keeps them short.
    report = evaluate(small_task, spec, n_folds=2, n_repeats=1, seed=10, n_trials=n_trials,
                      params={**params, "patience": 3}, storage=f"sqlite:///{tmp_path / 'studies.db'}",
                      tuning_species="mouse" if params.get("mode") == "unsupervised" else None)
    for index, fold in enumerate(report.per_fold):
        test_ids = set(fold["test_ids"])
        fits = [ids for seed, ids in log if seed == 10 + index]
        # the trials and the refit; an early-stopping network's refit is its best trial's model, fitted once
        reused = fold["tuning"]["best_trial_model_reused"]
        assert reused and len(fits) == n_trials
        for ids in fits:
            assert not ids & test_ids
            assert ids <= set(fold["train_ids"])
        assert not set(fold["tuning_ids"]) & test_ids


def test_tuning_scored_on_mouse_cells_ignores_every_human_label(small_task):
    """Flip every human label: a trial of the unsupervised DANN scored on mouse validation cells
    (``tuning_species="mouse"``) returns the same value; scored on all cells it does not."""
    import optuna

    from neurotype.protocol.evaluation import TuningObjective
    from neurotype.data.splits import inner_split

    flipped_y = np.where(small_task.species == "human",
                         np.where(small_task.y == "aspiny", "spiny", "aspiny"), small_task.y)
    flipped = type(small_task)(task=small_task.task, feature_set=small_task.feature_set, X=small_task.X,
                               y=flipped_y, classes=small_task.classes, species=small_task.species,
                               groups=small_task.groups, meta=small_task.meta)
    fit_rows, validation_rows = inner_split(small_task, np.arange(len(small_task)), 0.25, seed=0)
    trial = {"architecture": "64-32-16", "activation": "relu", "weight_decay": 1e-4, "lr": 3e-3, "dropout": 0.0,
             "batch_size": 32, "max_epochs": 500, "optimizer": "adam", "lambda_": 0.3}

    def value(task, score_species):
        objective = TuningObjective(task, get_model("dann"), fit_rows, validation_rows, forbidden_ids=[], seed=0,
                                    fixed={"mode": "unsupervised", "max_epochs": 30}, score_species=score_species)
        return objective(optuna.trial.FixedTrial(trial))

    assert value(small_task, "mouse") == value(flipped, "mouse")
    assert value(small_task, None) != value(flipped, None)


def test_tuning_species_is_validated(small_task):
    with pytest.raises(ValueError, match="tuning_species='rat'"):
        evaluate(small_task, "logreg", n_folds=2, n_repeats=1, tuning_species="rat")


# --- transfer, scaling and the learning curve -------------------------------------------------

def test_label_subsets_are_stratified_and_nested():
    labels = np.array([0] * 30 + [1] * 10)
    subsets = [set(transfer.label_subset(labels, s, np.random.default_rng(7)).tolist()) for s in (0, 0.1, 0.5, 1)]
    assert subsets[0] == set() and subsets[-1] == set(range(40))
    assert subsets[1] <= subsets[2] <= subsets[3]
    assert np.bincount(labels[list(subsets[1])]).tolist() == [3, 1]
    with pytest.raises(ValueError, match="share must be in"):
        transfer.label_subset(labels, 1.5, np.random.default_rng(0))


def test_per_species_scaling_uses_the_unlabelled_species_features_only():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.where(X[:, 0] > 0, "b", "a")
    species = np.array(["mouse"] * 50 + ["human"] * 30)
    X[species == "human"] += 3.0
    pooled = transfer.ScaledLogisticRegression("pooled", "mouse").fit(X, y, species=species)
    per = transfer.ScaledLogisticRegression("per_species", "mouse").fit(X, y, species=species)
    human = species == "human"
    # Pooled (mouse-fitted) scaling leaves the shift in place; per-species scaling removes it.
    assert per.predict(X[human], species=species[human]).tolist() != pooled.predict(X[human]).tolist()
    assert (per.predict(X[human], species=species[human]) == y[human]).mean() > 0.8
    # Human labels are never read: flipping them changes nothing.
    flipped = y.copy()
    flipped[human] = np.where(y[human] == "a", "b", "a")
    again = transfer.ScaledLogisticRegression("per_species", "mouse").fit(X, flipped, species=species)
    assert np.array_equal(again.predict_proba(X, species=species), per.predict_proba(X, species=species))
    with pytest.raises(ValueError, match="scaling must be one of"):
        transfer.ScaledLogisticRegression("global").fit(X, y, species=species)


def test_cross_species_and_scaling_reports_score_the_target_species(small_task):
    reports = transfer.cross_species(small_task, n_folds=2, fcnn_params={"max_epochs": 3},
                                     dann_params={"max_epochs": 3})
    assert set(reports) == {f"{m} {a}" for m in ("fcnn", "logreg", "dann-unsupervised")
                            for a in ("mouse→human", "human→mouse")}
    assert set(reports["fcnn mouse→human"].metrics) == {"all", "human"}
    assert reports["fcnn mouse→human"].cells["train"] == {"all": 20.0, "mouse": 20.0}
    # The unsupervised DANN trains on both species but is scored on the target only.
    assert reports["dann-unsupervised human→mouse"].cells["train"]["human"] > 0
    assert set(reports["dann-unsupervised human→mouse"].metrics) == {"all", "mouse"}
    table = transfer.transfer_table(reports)
    assert table.loc[table["model"] == "fcnn", "paper_accuracy"].tolist() == [0.646, 0.596]
    scaling = transfer.scaling_table(transfer.scaling_ablation(small_task, n_folds=2))
    assert len(scaling) == 4 and np.allclose(scaling["change"], scaling["per_species"] - scaling["pooled"])


def test_human_label_curve_keeps_the_human_test_cells_fixed(small_task):
    curve = transfer.human_label_curve(small_task, (0.0, 0.5, 1.0), n_folds=2, seed=2,
                                       dann_params={"max_epochs": 3}, fcnn_params={"max_epochs": 3})
    assert set(curve["model"]) == set(transfer.CURVE_MODELS)
    human_only = curve[curve["model"] == "human only (LogReg)"].set_index(["fold", "share"])
    assert np.isnan(human_only.loc[(0, 0.0), "balanced_accuracy"])
    counts = curve.groupby(["fold", "share"])["n_human_labels"].first().unstack()
    assert (counts[0.0] == 0).all() and (counts[0.5] < counts[1.0]).all()
    # The full share labels every human training cell of the fold (12 of 24 human cells per class × 2 / 2 folds).
    assert (counts[1.0] == 12).all()
    summary = transfer.summarize_curve(curve, n_folds=2)
    assert summary["n"].max() == 2
    with pytest.raises(ValueError, match="unknown curve model"):
        transfer.human_label_curve(small_task, models=["ridge"])


# --- alignment probes -------------------------------------------------------------------------

def test_species_probe_is_near_chance_without_shift_and_high_with_one():
    rng = np.random.default_rng(0)
    species = np.array(["mouse"] * 150 + ["human"] * 60)
    same = rng.normal(size=(210, 5))
    shifted = same + 2.0 * (species == "human")[:, None]
    assert abs(alignment.probe_species(same, species)["balanced_accuracy"] - 0.5) < 0.12
    assert alignment.probe_species(shifted, species)["balanced_accuracy"] > 0.95
    with pytest.raises(ValueError, match="at least 5 cells of each species"):
        alignment.probe_species(same[:153], species[:153])


def test_species_alignment_learns_on_training_cells_and_probes_held_out_ones(small_task):
    result = alignment.species_alignment(small_task, {"raw": None, "dann": {"max_epochs": 3}}, n_folds=2,
                                         probe_splits=3)
    assert len(result.probes) == 2 * 2 * len(alignment.PROBES)
    assert set(result.embeddings) == {"raw", "dann"}
    held_out = result.embeddings["dann"]
    assert len(held_out) == result.probes["n_cells"].iloc[0]
    assert held_out.shape[1] == 2 + 16  # species, label and the 16-wide embedding
    projected = alignment.project_2d(held_out)
    assert list(projected.columns) == ["species", "label", "pc1", "pc2"]
    assert isinstance(result.summary(), pd.DataFrame)
