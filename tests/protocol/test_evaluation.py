"""The evaluation protocol: seeding, leak guard, tuning and resuming, species restrictions, reports."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from _protocol_fixtures import SpyLog, make_task, protocol_seed, spy_spec, toy_task  # noqa: F401
from neurotype.protocol import evaluation
from neurotype.models.baselines import SklearnClassifier, organism_column
from neurotype.models.registry import MODELS, get_model, register_model
from neurotype.models.spec import ModelSpec
from neurotype.protocol.evaluation import LeakageError, Report, TuningObjective, compare, evaluate
from neurotype.data.splits import outer_folds


def _scores(report: Report) -> list:
    return [fold["metrics"] for fold in report.per_fold]


# --- real data smoke test ---------------------------------------------------------------------

def test_logreg_on_the_real_broad_task():
    from neurotype.data.tables import load_task

    task = load_task("broad", "paper41")
    report = evaluate(task, "logreg", n_folds=2, n_repeats=1, seed=0)
    for species in ("all", "mouse", "human"):
        assert report.metrics[species]["accuracy"]["mean"] > 0.9
    assert report.cells["total"] == {"all": 1723, "mouse": 1424, "human": 299}


# --- bookkeeping ------------------------------------------------------------------------------

def test_confusion_sums_equal_test_predictions_times_repeats(toy_task):
    report = evaluate(toy_task, "logreg", n_folds=3, n_repeats=2, seed=1)
    confusion = {k: np.array(v) for k, v in report.confusion.items()}
    assert confusion["all"].sum() == len(toy_task) * 2
    assert confusion["mouse"].sum() == np.sum(toy_task.species == "mouse") * 2
    assert confusion["human"].sum() == np.sum(toy_task.species == "human") * 2
    # Rows are the true classes in task order: row sums are class counts × repeats.
    expected_rows = [np.sum(toy_task.y == c) * 2 for c in toy_task.classes]
    np.testing.assert_array_equal(confusion["all"].sum(axis=1), expected_rows)
    assert len(report.per_fold) == 6
    assert len(report.predictions["id"]) == len(toy_task) * 2


def test_folds_record_disjoint_train_and_test_ids(toy_task):
    report = evaluate(toy_task, "logreg", n_folds=3, n_repeats=1, seed=0)
    for fold in report.per_fold:
        assert not set(fold["train_ids"]) & set(fold["test_ids"])
        assert len(fold["train_ids"]) + len(fold["test_ids"]) == len(toy_task)
        assert fold["n_test"]["all"] == len(fold["test_ids"])
    assert report.cells["train"]["all"] == pytest.approx(len(toy_task) * 2 / 3)


def test_same_seed_same_metrics_other_seed_other_metrics(toy_task):
    first = evaluate(toy_task, "rf", n_folds=3, n_repeats=1, seed=5, params={"n_estimators": 20})
    again = evaluate(toy_task, "rf", n_folds=3, n_repeats=1, seed=5, params={"n_estimators": 20})
    other = evaluate(toy_task, "rf", n_folds=3, n_repeats=1, seed=6, params={"n_estimators": 20})
    assert _scores(first) == _scores(again)
    assert first.metrics == again.metrics
    assert first.predictions == again.predictions
    assert _scores(first) != _scores(other)


def test_same_seed_same_tuning(toy_task, tmp_path):
    runs = [evaluate(toy_task, "logreg", n_folds=2, n_repeats=1, seed=3, n_trials=3,
                     storage=f"sqlite:///{tmp_path / f'run{i}.db'}") for i in range(2)]
    assert [f["best_params"] for f in runs[0].per_fold] == [f["best_params"] for f in runs[1].per_fold]
    assert runs[0].metrics == runs[1].metrics


def test_every_registered_baseline_runs(toy_task):
    for name in ("logreg", "svc", "rf", "xgb"):
        small = {"n_estimators": 20} if name in ("rf", "xgb") else {}
        report = evaluate(toy_task, name, n_folds=2, n_repeats=1, params=small, keep_predictions=False)
        assert report.model == name
        # The toy classes are separated by 1.5 sd per feature: any working model beats chance.
        assert report.metrics["all"]["balanced_accuracy"]["mean"] > 0.7, name
        assert report.predictions is None


# --- leak guard -------------------------------------------------------------------------------

def test_tuning_never_sees_outer_test_cells(toy_task, tmp_path):
    log = SpyLog()
    folds = outer_folds(toy_task, n_folds=3, n_repeats=1, seed=0)
    report = evaluate(toy_task, spy_spec(log), n_folds=3, n_repeats=1, seed=0, n_trials=2,
                      storage=f"sqlite:///{tmp_path / 'spy.db'}")
    ids = toy_task.cell_ids
    # Per fold: 2 tuning fits (inner fit rows) then the final refit (all training rows).
    assert len(log.fits) == 3 * 3
    for k, fold in enumerate(folds):
        test_ids = set(ids[fold.test].tolist())
        tuning_fits = log.fits[3 * k:3 * k + 2]
        tuning_predictions = log.predictions[3 * k:3 * k + 2]
        for call, predicted in zip(tuning_fits, tuning_predictions):
            assert not set(call["ids"]) & test_ids
            assert not set(predicted.tolist()) & test_ids  # the objective scores validation rows
            assert not set(call["ids"]) & set(predicted.tolist())  # fit and validation rows differ
        final_fit = log.fits[3 * k + 2]
        assert set(final_fit["ids"]) == set(ids[fold.train].tolist())
        assert set(log.predictions[3 * k + 2].tolist()) == test_ids
        recorded = report.per_fold[k]
        assert set(recorded["tuning_ids"]) <= set(recorded["train_ids"])
        assert not set(recorded["tuning_ids"]) & set(recorded["test_ids"])


def test_leak_guard_raises_on_an_injected_test_cell(toy_task, tmp_path, monkeypatch):
    honest_inner_split = evaluation.inner_split
    folds = outer_folds(toy_task, n_folds=2, n_repeats=1, seed=0)

    def leaky_inner_split(task, positions, validation_fraction, seed):
        fit, validation = honest_inner_split(task, positions, validation_fraction, seed)
        intruder = next(f.test[0] for f in folds if not np.isin(f.test, positions).any())
        return np.append(fit, intruder), validation

    monkeypatch.setattr(evaluation, "inner_split", leaky_inner_split)
    log = SpyLog()
    with pytest.raises(LeakageError, match="outer-test cell"):
        evaluate(toy_task, spy_spec(log), n_folds=2, n_repeats=1, seed=0, n_trials=1,
                 storage=f"sqlite:///{tmp_path / 'leak.db'}")
    assert log.fits == []  # raised before anything was fitted


def test_tuning_objective_refuses_forbidden_ids(toy_task):
    positions = np.arange(len(toy_task))
    objective = TuningObjective(toy_task, get_model("logreg"), positions[:40], positions[40:60],
                                forbidden_ids=[toy_task.cell_ids[50]], seed=0)
    with pytest.raises(LeakageError):
        objective(optuna.trial.FixedTrial({"C": 1.0, "class_weight": None}))
    assert objective.seen_ids == set()
    clean = TuningObjective(toy_task, get_model("logreg"), positions[:40], positions[40:60],
                            forbidden_ids=toy_task.cell_ids[60:], seed=0)
    assert 0.0 <= clean(optuna.trial.FixedTrial({"C": 1.0, "class_weight": None})) <= 1.0
    assert clean.seen_ids == set(toy_task.cell_ids[:60].tolist())


# --- Optuna studies ---------------------------------------------------------------------------

def test_interrupted_tuning_resumes(toy_task, tmp_path):
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    first = evaluate(toy_task, "logreg", n_folds=2, n_repeats=1, seed=0, n_trials=3, storage=storage)
    second = evaluate(toy_task, "logreg", n_folds=2, n_repeats=1, seed=0, n_trials=5, storage=storage)
    for before, after in zip(first.per_fold, second.per_fold):
        assert before["tuning"]["study_name"] == after["tuning"]["study_name"]
        study = optuna.load_study(study_name=after["tuning"]["study_name"], storage=storage)
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert len(complete) == 5 == after["tuning"]["n_complete_trials"]
        # The resumed trials are new suggestions, not replays of the first session's.
        assert len({t.params["C"] for t in complete}) == 5
    # Asking for 3 again reuses the first 3 trials: same choice as the first run.
    third = evaluate(toy_task, "logreg", n_folds=2, n_repeats=1, seed=0, n_trials=3, storage=storage)
    assert [f["best_params"] for f in third.per_fold] == [f["best_params"] for f in first.per_fold]


def test_a_crashed_run_resumes_and_failed_trials_do_not_count(toy_task, tmp_path):
    storage = f"sqlite:///{tmp_path / 'crash.db'}"
    log = SpyLog()
    template = spy_spec(log)

    def build(params, seed):
        if len(log.fits) == 2:  # the third tuning fit of the first fold "crashes"
            raise KeyboardInterrupt
        return template.build(params, seed)

    crashing = ModelSpec(name="spy", build=build, defaults=template.defaults, search_space=template.search_space)
    with pytest.raises(KeyboardInterrupt):
        evaluate(toy_task, crashing, n_folds=2, n_repeats=1, n_trials=4, storage=storage)
    report = evaluate(toy_task, spy_spec(SpyLog()), n_folds=2, n_repeats=1, n_trials=4, storage=storage)
    study = optuna.load_study(study_name=report.per_fold[0]["tuning"]["study_name"], storage=storage)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4
    assert len(states) == 5  # two kept from the crashed run, the crashed one, two new


def test_default_storage_is_one_sqlite_file_per_study(toy_task, tmp_path):
    report = evaluate(toy_task, "logreg", n_folds=2, n_repeats=1, n_trials=1, study_dir=tmp_path / "optuna")
    names = sorted(f["tuning"]["study_name"] for f in report.per_fold)
    assert sorted(p.stem for p in (tmp_path / "optuna").glob("*.db")) == names
    assert names[0].startswith("broad-synthetic-logreg-seed0-r0-f0-")
    assert report.config["search_space"].keys() == {"C", "class_weight"}


def test_study_names_change_with_the_protocol(toy_task):
    base = evaluation.study_name(toy_task, "svc", 0, 0, 1, {"n_folds": 5})
    assert base == evaluation.study_name(toy_task, "svc", 0, 0, 1, {"n_folds": 5})
    assert base != evaluation.study_name(toy_task, "svc", 0, 0, 1, {"n_folds": 3})
    assert base != evaluation.study_name(toy_task, "svc", 1, 0, 1, {"n_folds": 5})
    assert base != evaluation.study_name(make_task(seed=9), "svc", 0, 0, 1, {"n_folds": 5})


def test_fixed_params_override_the_search(toy_task, tmp_path):
    report = evaluate(toy_task, "logreg", n_folds=2, n_repeats=1, n_trials=2, params={"C": 0.5},
                      tuning_metric="balanced_accuracy", storage=f"sqlite:///{tmp_path / 'fixed.db'}")
    assert {f["best_params"]["C"] for f in report.per_fold} == {0.5}
    assert report.parameters["tuning_metric"] == "balanced_accuracy"


def test_early_stopping_models_get_the_inner_validation_split(toy_task):
    log = SpyLog()
    evaluate(toy_task, spy_spec(log, uses_validation=True), n_folds=2, n_repeats=1, seed=0)
    folds = outer_folds(toy_task, n_folds=2, n_repeats=1, seed=0)
    for call, fold in zip(log.fits, folds):
        train_ids = set(toy_task.cell_ids[fold.train].tolist())
        assert call["val_ids"] and not set(call["ids"]) & set(call["val_ids"])
        assert set(call["ids"]) | set(call["val_ids"]) == train_ids


# --- species restrictions ---------------------------------------------------------------------

def test_train_mouse_test_human_never_trains_on_a_human(toy_task, tmp_path):
    log = SpyLog()
    report = evaluate(toy_task, spy_spec(log), n_folds=2, n_repeats=1, n_trials=1, train_species="mouse",
                      test_species="human", storage=f"sqlite:///{tmp_path / 'transfer.db'}")
    assert log.fits and all(set(call["species"]) == {"mouse"} for call in log.fits)
    human_ids = set(toy_task.cell_ids[toy_task.species == "human"].tolist())
    assert not log.fitted_ids() & human_ids
    assert set(report.predictions["species"]) == {"human"}
    assert list(report.metrics) == ["all", "human"]
    assert all(set(f["n_train"]) == {"all", "mouse"} for f in report.per_fold)
    assert report.parameters["train_species"] == "mouse"


# --- reports ----------------------------------------------------------------------------------

def test_report_round_trips_as_strict_json(toy_task, tmp_path):
    report = evaluate(toy_task, "logreg", n_folds=2, n_repeats=2)
    report.metrics["all"]["accuracy"]["sd"] = float("nan")  # as an undefined spread would be
    path = report.save(tmp_path / "deep" / "report.json")
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda token: pytest.fail(f"non-standard JSON token {token}"))
    loaded = Report.load(path)
    assert loaded.metrics["all"]["accuracy"]["sd"] is None
    assert loaded.per_fold == json.loads(json.dumps(report.to_dict()))["per_fold"]
    assert loaded.to_dict() == report.to_dict()
    for key in ("schema", "task", "model", "feature_set", "parameters", "cells", "classes", "metrics", "per_fold",
                "confusion", "versions", "wall_seconds", "fold_seconds", "config", "predictions"):
        assert key in json.loads(text)
    assert {"python", "numpy", "pandas", "scikit-learn", "torch", "xgboost", "optuna", "neurotype"} <= set(
        loaded.versions)
    assert {"mean", "sd", "ci95", "ci95_naive"} <= set(loaded.metrics["mouse"]["f1_macro"])
    assert len(loaded.predictions_frame()) == len(toy_task) * 2


def test_report_load_rejects_other_json(tmp_path):
    (tmp_path / "x.json").write_text('{"task": "broad", "schema": 2}')
    with pytest.raises(ValueError, match="missing key"):
        Report.load(tmp_path / "x.json")
    with pytest.raises(FileNotFoundError):
        Report.load(tmp_path / "absent.json")


def test_compare_formats_mean_and_interval(toy_task):
    a = evaluate(toy_task, "logreg", n_folds=2, n_repeats=2)
    b = evaluate(toy_task, "logreg", n_folds=2, n_repeats=2, params={"species_flag": True})
    table = compare({"logreg": a, "logreg + organism": b}, metrics=["accuracy", "f1[spiny]"])
    assert list(table.columns) == ["accuracy", "f1[spiny]"]
    assert table.index.tolist()[:3] == [("logreg", "all"), ("logreg", "mouse"), ("logreg", "human")]
    assert len(table) == 6
    summary = a.metrics["all"]["accuracy"]
    low, high = summary["ci95"]
    assert table.loc[("logreg", "all"), "accuracy"] == f"{summary['mean']:.3f} [{low:.3f}, {high:.3f}]"
    assert isinstance(compare([a]), pd.DataFrame)


# --- arguments and registry -------------------------------------------------------------------

def test_bad_arguments_get_clear_errors(toy_task):
    with pytest.raises(ValueError, match=r"unknown model 'nope'; known models: \[.*'logreg'.*'xgb'"):
        evaluate(toy_task, "nope")
    with pytest.raises(ValueError, match=r"no hyperparameter\(s\) \['Cee'\]"):
        evaluate(toy_task, "logreg", params={"Cee": 1.0})
    with pytest.raises(ValueError, match="tuning_metric"):
        evaluate(toy_task, "logreg", tuning_metric="auc")
    with pytest.raises(ValueError, match="train_species='zebrafish'"):
        evaluate(toy_task, "logreg", train_species="zebrafish")
    with pytest.raises(ValueError, match="n_trials"):
        evaluate(toy_task, "logreg", n_trials=-1)


def test_register_model(toy_task):
    spec = ModelSpec(name="tiny", build=lambda params, seed: get_model("logreg").make(params, seed),
                     defaults=get_model("logreg").defaults, search_space=get_model("logreg").search_space)
    try:
        register_model("tiny", spec)
        assert evaluate(toy_task, "tiny", n_folds=2, n_repeats=1).model == "tiny"
        with pytest.raises(ValueError, match="already registered"):
            register_model("tiny", spec)
        with pytest.raises(ValueError, match="differs"):
            register_model("other", spec)
    finally:
        MODELS.pop("tiny", None)


def test_species_flag_appends_an_unscaled_organism_column(toy_task):
    model = SklearnClassifier(get_model("logreg").make().estimator, species_flag=True)
    model.fit(toy_task.X, toy_task.y_codes, species=toy_task.species)
    design = model._design(toy_task.X, toy_task.species)
    assert design.shape[1] == toy_task.X.shape[1] + 1
    np.testing.assert_array_equal(design[:, -1], (toy_task.species == "human").astype(float))
    assert model.estimator_.coef_.shape[1] == toy_task.X.shape[1] + 1
    with pytest.raises(ValueError, match="needs species"):
        model.predict(toy_task.X)
    np.testing.assert_array_equal(organism_column(np.array(["mouse", "human"]), 2), [[0.0], [1.0]])


def test_svc_has_no_probabilities_but_a_decision_function(toy_task):
    svc = get_model("svc").make()
    svc.fit(toy_task.X, toy_task.y_codes)
    assert not hasattr(svc, "predict_proba")
    assert svc.decision_function(toy_task.X).shape == (len(toy_task),)
    logreg = get_model("logreg").make().fit(toy_task.X, toy_task.y_codes)
    assert np.allclose(logreg.predict_proba(toy_task.X).sum(axis=1), 1.0)
    assert math.isfinite(float(np.mean(logreg.predict(toy_task.X) == toy_task.y_codes)))


def test_parallel_folds_give_the_same_report_as_sequential(toy_task):
    sequential = evaluate(toy_task, "logreg", n_folds=2, n_repeats=2, seed=4)
    parallel = evaluate(toy_task, "logreg", n_folds=2, n_repeats=2, seed=4, n_jobs=2)
    assert sequential.metrics == parallel.metrics
    assert sequential.predictions == parallel.predictions


# --- several models in one pool -----------------------------------------------------------------

def _comparable(report: Report) -> dict:
    body = report.to_dict()
    for varying in ("wall_seconds", "fold_seconds", "versions"):
        body.pop(varying)
    for fold in body["per_fold"]:
        if fold["tuning"]:
            fold["tuning"].pop("trials_run_here", None)
            fold["tuning"].pop("storage", None)
    return body


def test_evaluate_many_gives_each_call_the_report_of_evaluate(toy_task, tmp_path):
    """Folds of two models share one pool of two workers; each report equals its own evaluate call."""
    # The untuned call comes first but is queued last: the reports must still reach their own labels.
    calls = {"logreg, flag": {"model": "logreg", "n_folds": 3, "n_repeats": 2, "seed": 2,
                              "params": {"species_flag": True}},
             "tuned svc": {"model": "svc", "n_folds": 3, "n_repeats": 1, "seed": 2, "n_trials": 3,
                           "study_dir": tmp_path / "many"}}
    together = evaluation.evaluate_many(toy_task, calls, n_jobs=2)
    assert list(together) == ["logreg, flag", "tuned svc"]
    assert together["logreg, flag"].model == "logreg" and together["tuned svc"].model == "svc"
    alone = {"tuned svc": evaluate(toy_task, "svc", n_folds=3, n_repeats=1, seed=2, n_trials=3,
                                   study_dir=tmp_path / "alone"),
             "logreg, flag": evaluate(toy_task, "logreg", n_folds=3, n_repeats=2, seed=2,
                                      params={"species_flag": True})}
    for label in calls:
        assert _comparable(together[label]) == _comparable(alone[label])
    assert len(together["logreg, flag"].per_fold) == 6
    assert together["tuned svc"].wall_seconds == pytest.approx(sum(together["tuned svc"].fold_seconds))
    with pytest.raises(ValueError, match="may not set 'n_jobs'"):
        evaluation.evaluate_many(toy_task, {"x": {"model": "logreg", "n_jobs": 2}})


def test_evaluate_many_reads_a_single_lspin_off_the_first_member_of_its_ensemble(toy_task, monkeypatch):
    """A single LSPIN whose folds an ensemble call fits anyway (member 0) is not fitted again, and its
    report is the one evaluate gives when it fits the single LSPIN itself."""
    from neurotype.models.lspin import LSPINClassifier

    fitted = []
    fit = LSPINClassifier.fit

    def counting_fit(self, *args, **kwargs):
        fitted.append(self.n_members)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(LSPINClassifier, "fit", counting_fit)
    common = {"model": "lspin", "n_folds": 3, "n_repeats": 1, "seed": 3}
    calls = {"single": {**common, "params": {"epochs": 30}},
             "x3": {**common, "params": {"epochs": 30, "n_members": 3}},
             "shorter": {**common, "params": {"epochs": 20}}}  # other settings: fitted on its own
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        together = evaluation.evaluate_many(toy_task, calls, n_jobs=1)
        assert sorted(fitted) == [1, 1, 1, 3, 3, 3]  # the x3 folds and "shorter"'s, not "single"'s
        fitted.clear()
        alone = {label: evaluate(toy_task, **call) for label, call in calls.items()}
        assert sorted(fitted) == [1, 1, 1, 1, 1, 1, 3, 3, 3]
        # on two threads a product of one member and of a batch may round differently: no sharing
        torch.set_num_threads(2)
        fitted.clear()
        apart = evaluation.evaluate_many(toy_task, {"single": calls["single"], "x3": calls["x3"]}, n_jobs=1)
        assert sorted(fitted) == [1, 1, 1, 3, 3, 3] and "fitted_as" not in apart["single"].parameters
    finally:
        torch.set_num_threads(threads)
    assert (together["single"].parameters.pop("fitted_as")
            == "member 0 of 'x3' (n_members=3), the same model fitted once")
    for label in calls:
        assert _comparable(together[label]) == _comparable(alone[label])
    assert "fitted_as" not in together["shorter"].parameters
    assert together["single"].predictions != together["x3"].predictions


@pytest.mark.parametrize("model, params, pruner", [
    ("fcnn", {"max_epochs": 40, "patience": 40}, "median"), ("fcnn", {"max_epochs": 40, "patience": 40}, "asha"),
    ("lspin_reference", {"epochs": 300}, "median")])
def test_same_seed_same_tuned_network_report(toy_task, tmp_path, model, params, pruner):
    """A tuned, pruned network: two runs with one seed give the same trials, choices and scores."""
    def run(name: str) -> Report:
        return evaluate(toy_task, model, n_folds=2, n_repeats=1, seed=4, n_trials=6, pruner=pruner,
                        params=params, study_dir=tmp_path / name)

    first, again = run("first"), run("again")
    assert _comparable(first) == _comparable(again)
    for fold in first.per_fold:
        tuning = fold["tuning"]
        assert tuning["n_complete_trials"] + tuning["n_pruned_trials"] == 6
    if pruner == "asha":  # successive halving prunes within six trials
        assert sum(fold["tuning"]["n_pruned_trials"] for fold in first.per_fold) > 0
        assert first.per_fold[0]["tuning"]["study_name"] != evaluate(
            toy_task, model, n_folds=2, n_repeats=1, seed=4, n_trials=1, params=params,
            study_dir=tmp_path / "median").per_fold[0]["tuning"]["study_name"]
    with pytest.raises(ValueError, match="unknown pruner"):
        evaluate(toy_task, "logreg", n_folds=2, n_repeats=1, n_trials=1, pruner="hyperband", study_dir=tmp_path)


@pytest.mark.parametrize("model, params", [("dann", {"max_epochs": 25, "patience": 5}),
                                           ("fcnn_reference", {"max_epochs": 12})])
def test_the_best_trials_model_is_the_refit_it_replaces(toy_task, tmp_path, monkeypatch, model, params):
    """A validation-split network's refit (same parameters, seed and inner split) is its best trial's model,
    with early stopping (dann) and without (fcnn_reference trains every epoch)."""
    def run(name: str) -> Report:
        return evaluate(toy_task, model, n_folds=2, n_repeats=1, seed=1, n_trials=4, params=params,
                        study_dir=tmp_path / name)

    reused = run("reused")
    monkeypatch.setattr(TuningObjective, "keep_best_fit", False)
    refitted = run("refitted")
    assert [f["tuning"]["best_trial_model_reused"] for f in reused.per_fold] == [True, True]
    assert [f["tuning"]["best_trial_model_reused"] for f in refitted.per_fold] == [False, False]
    for report in (reused, refitted):
        for fold in report.per_fold:
            fold["tuning"].pop("best_trial_model_reused")
    assert _comparable(reused) == _comparable(refitted)
    assert reused.predictions == refitted.predictions


def test_helper_workers_never_hand_over_a_trial_model(toy_task, tmp_path):
    """With helper processes (another torch thread count than the refit) the refit is always trained anew."""
    report = evaluate(toy_task, "dann", n_folds=2, n_repeats=1, seed=1, n_trials=3, tuning_workers=2,
                      params={"max_epochs": 15, "patience": 5}, study_dir=tmp_path)
    assert [fold["tuning"]["best_trial_model_reused"] for fold in report.per_fold] == [False, False]
