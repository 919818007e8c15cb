"""The evaluation protocol every model in neurotype goes through.

One call, :func:`evaluate`, runs repeated stratified group K-fold cross-validation
(:func:`neurotype.data.splits.outer_folds`) on a :class:`~neurotype.data.tables.TaskData`:

1. Each outer fold's training rows (optionally one species only, ``train_species``) are the
   only rows that shape the model. Imputation and scaling live inside the model, so they are
   refitted on every training fold.
2. With ``n_trials > 0`` an Optuna study per outer fold tunes the hyperparameters on an
   inner validation split of those training rows (:func:`neurotype.data.splits.inner_split`);
   the best parameters are then refitted on the whole outer training fold (models that
   early-stop keep the inner split and receive it as ``X_val``).
3. The refitted model predicts the outer test rows (optionally one species only,
   ``test_species``), which are scored per fold (:mod:`neurotype.protocol.metrics`) and aggregated.

A leak guard records every specimen id the tuning objective touched and raises
:class:`LeakageError` if an outer-test id is among them; the report keeps the training, test
and tuning ids of every fold so the claim can be checked afterwards.

Models plug in through :class:`~neurotype.models.spec.ModelSpec`; the registry of names
(:mod:`neurotype.models.registry`) lists the baselines and the neural models explicitly.

Seeds: everything derives from ``seed``. Outer fold ``i`` (``i = repeat · n_folds + fold``)
uses ``seed + i`` for its inner split, its model and its TPE sampler (re-seeded per trial number,
:mod:`neurotype.protocol.tuning`).

Studies: one Optuna study per (model, outer fold), with a deterministic name
(:func:`study_name`). Any number of processes, on one machine or many, may run the same
:func:`evaluate` call on one storage (``storage=`` a PostgreSQL URL): they fill each fold's study
together up to ``n_trials`` finished (COMPLETE or PRUNED) trials (:mod:`neurotype.protocol.tuning`), then each reads
the finished study and refits, so they all write the same report (an early-stopping network's
refit is the best trial's model itself where the process fitted that trial: the same settings,
seed and inner split train it again bit for bit; ``best_trial_model_reused`` in each fold's tuning
record says which).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from neurotype import paths
from neurotype.data.tables import TaskData
from neurotype.protocol.metrics import (OVERALL, aggregate_folds, balanced_accuracy, confusion_matrices, fold_metrics,
                               format_interval, macro_f1, species_keys)
from neurotype.protocol.reports import REPORT_SCHEMA, Estimate, package_versions, to_jsonable
from neurotype.data.splits import fold_index, inner_split, outer_folds
from neurotype.models.registry import NETWORKS, REFERENCE_NETWORKS, get_model
from neurotype.models.spec import Classifier, ModelSpec

if TYPE_CHECKING:  # optuna is imported lazily (with neurotype.protocol.tuning): only tuning needs it
    import optuna

__all__ = [
    "LeakageError", "tune", "fit_model", "TUNING_METRICS", "TuningObjective", "study_name", "Report", "evaluate",
    "evaluate_many", "compare",
]

#: Registry names of the networks (the slow folds :func:`evaluate_many` queues first).
NETWORK_NAMES = frozenset(spec.name for spec in (*NETWORKS, *REFERENCE_NETWORKS))


# --- tuning -----------------------------------------------------------------------------------

class LeakageError(RuntimeError):
    """An outer-test cell reached model fitting or tuning."""


#: Metrics the tuning objective can maximise on the inner validation split.
TUNING_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "f1_macro": macro_f1, "balanced_accuracy": balanced_accuracy,
}


def _check_disjoint(seen_ids: Iterable, forbidden_ids: Iterable, where: str) -> None:
    overlap = sorted(set(seen_ids) & set(forbidden_ids))
    if overlap:
        shown = ", ".join(map(str, overlap[:5])) + (" …" if len(overlap) > 5 else "")
        raise LeakageError(f"{where}: {len(overlap)} outer-test cell(s) would be used ({shown})")


class TuningObjective:
    """Optuna objective: fit on the inner fit rows, score on the inner validation rows.

    Every call first checks that none of the rows it is about to use is an outer-test cell
    (:class:`LeakageError` otherwise) and adds their ids to :attr:`seen_ids`.

    Parameters
    ----------
    task
        The whole task.
    spec
        The model to tune.
    fit_positions, validation_positions
        Row positions (into ``task``) of the inner split.
    forbidden_ids
        Specimen ids of the outer fold's test cells.
    seed
        Model seed.
    fixed
        Hyperparameters held fixed (they override what the search space suggests).
    metric
        A key of :data:`TUNING_METRICS`.
    score_species
        Score only the validation rows of this species (``None``: all of them). The model is
        still fitted and early-stopped as usual; e.g. an unsupervised domain-adaptation model
        that must never see a human label is tuned with ``score_species="mouse"``.
    """

    def __init__(self, task: TaskData, spec: ModelSpec, fit_positions: np.ndarray,
                 validation_positions: np.ndarray, forbidden_ids: Iterable, seed: int,
                 fixed: Mapping[str, Any] | None = None, metric: str = "f1_macro",
                 score_species: str | None = None):
        if metric not in TUNING_METRICS:
            raise ValueError(f"unknown tuning metric {metric!r}; choose one of {sorted(TUNING_METRICS)}")
        self.score_species = score_species
        self.task, self.spec, self.seed, self.metric = task, spec, int(seed), metric
        self.fit_positions = np.asarray(fit_positions)
        self.validation_positions = np.asarray(validation_positions)
        self.forbidden_ids = frozenset(np.asarray(list(forbidden_ids)).tolist())
        self.fixed = dict(fixed or {})
        self.seen_ids: set = set()
        # The fitted model of this process's best trial so far: an early-stopping model's refit
        # (same parameters, seed and rows) would train exactly this model again.
        self._kept: tuple[int, float, Classifier] | None = None

    def __call__(self, trial: "optuna.Trial") -> float:
        import optuna

        task = self.task
        ids_fit = task.cell_ids[self.fit_positions]
        ids_val = task.cell_ids[self.validation_positions]
        _check_disjoint(ids_fit.tolist() + ids_val.tolist(), self.forbidden_ids, "tuning objective")
        self.seen_ids.update(ids_fit.tolist())
        self.seen_ids.update(ids_val.tolist())

        params = {**self.spec.search_space(trial), **self.fixed}
        trial.set_user_attr("params", to_jsonable(params))
        model = self.spec.make(params, seed=self.seed)
        y_val = task.y_codes[self.validation_positions]
        X_val, species_val = task.X.iloc[self.validation_positions], task.species[self.validation_positions]
        if hasattr(model, "set_pruning_callback"):
            def report(step: int, value: float) -> None:
                trial.report(float(value), int(step))
                if trial.should_prune():
                    raise optuna.TrialPruned()
            if self.spec.uses_validation:  # the validation rows reach the model through fit
                model.set_pruning_callback(report)
            else:  # a model without early stopping gets them for the pruner only
                model.set_pruning_callback(report, X_val=X_val, y_val=y_val, species_val=species_val)
        fit_model(model, self.spec, task, self.fit_positions, self.validation_positions)
        predicted = np.asarray(model.predict(X_val, species=species_val))
        if self.score_species is not None:
            scored = species_val == self.score_species
            if not scored.any():
                raise ValueError(f"score_species={self.score_species!r}: no such row in the validation split")
            value = TUNING_METRICS[self.metric](y_val[scored], predicted[scored])
        else:
            value = TUNING_METRICS[self.metric](y_val, predicted)
        if self.keep_best_fit and self.spec.uses_validation and (self._kept is None or value > self._kept[1]):
            if hasattr(model, "set_pruning_callback"):
                model.set_pruning_callback(None)
            self._kept = (trial.number, value, model)
        return value

    #: Keep the best trial's fitted model for :meth:`fitted` (a class switch, for tests).
    keep_best_fit = True

    def fitted(self, number: int) -> Classifier | None:
        """Trial ``number``'s fitted model if it was this process's best trial (else ``None``).

        Only early-stopping models are kept: their refit uses the same inner split as the trial.
        """
        if self._kept is not None and self._kept[0] == number:
            return self._kept[2]
        return None

    def __getstate__(self) -> dict:
        # Helper worker processes get the objective without a fitted model.
        return {**self.__dict__, "_kept": None}


def fit_model(model: Classifier, spec: ModelSpec, task: TaskData, fit_positions: np.ndarray,
         validation_positions: np.ndarray | None) -> None:
    """Fit on ``fit_positions``; early-stopping models also get the validation rows."""
    kwargs: dict[str, Any] = {}
    if spec.uses_validation:
        if validation_positions is None:
            raise ValueError(f"model {spec.name!r} needs a validation split")
        kwargs = {"X_val": task.X.iloc[validation_positions], "y_val": task.y_codes[validation_positions],
                  "species_val": task.species[validation_positions]}
    model.fit(task.X.iloc[fit_positions], task.y_codes[fit_positions], species=task.species[fit_positions],
              **kwargs)


def _sha1(values: Iterable) -> str:
    return hashlib.sha1(json.dumps(sorted(np.asarray(list(values)).tolist())).encode()).hexdigest()


def study_name(task: TaskData, model: str, seed: int, repeat: int, fold: int,
               fingerprint: Mapping[str, Any] | None = None) -> str:
    """Deterministic Optuna study name of one outer fold.

    ``<task>-<feature_set>-<model>-seed<seed>-r<repeat>-f<fold>-<hash>``; the hash covers
    ``fingerprint`` (the protocol settings that change what a fold or an objective is, e.g.
    ``n_folds``, the tuning metric, fixed parameters, species restrictions) and the task's
    cell ids, so a run only resumes a study that tuned the same thing.
    """
    body = json.dumps({"fingerprint": to_jsonable(dict(fingerprint or {})), "cells": _sha1(task.cell_ids)},
                      sort_keys=True)
    digest = hashlib.sha1(body.encode()).hexdigest()[:10]
    return f"{task.task}-{task.feature_set}-{model}-seed{seed}-r{repeat}-f{fold}-{digest}"


# --- the report -------------------------------------------------------------------------------

@dataclass
class Report:
    """Everything one :func:`evaluate` call measured; saved as ``report.json``.

    Attributes
    ----------
    parameters
        The protocol: folds, repeats, seed, trials, tuning metric, species restrictions.
    metrics
        ``metrics[<all|mouse|human>][<metric>] = {mean, sd, ci95, ci95_naive, n}``; read one with
        :meth:`estimate`.
    per_fold
        One entry per outer fold: ``repeat``, ``fold``, ``metrics`` (per species),
        ``best_params``, ``n_train``/``n_test`` (per species), ``train_ids``, ``test_ids``,
        ``tuning_ids`` (every id the tuning objective used, and the inner split it tunes on),
        ``tuning`` (study summary).
    confusion
        Confusion matrices summed over every fold and repeat (rows true, columns predicted,
        in ``classes`` order), ``all`` and per species.
    predictions
        Column-wise: ``id``, ``repeat``, ``fold``, ``true``, ``predicted``, ``species``.
    """

    task: str
    model: str
    feature_set: str
    parameters: dict
    cells: dict
    classes: list
    metrics: dict
    per_fold: list
    confusion: dict
    versions: dict
    wall_seconds: float
    fold_seconds: list
    config: dict
    predictions: dict | None = None
    schema: int = REPORT_SCHEMA

    def estimate(self, species: str, metric: str) -> Estimate:
        """Mean and corrected 95 % interval of ``metric`` on ``species`` (``"all"``, ``"mouse"``, ``"human"``)."""
        if species not in self.metrics or metric not in self.metrics[species]:
            raise KeyError(f"report of {self.model}: no {metric!r} for {species!r}")
        return Estimate.from_summary(self.metrics[species][metric])

    def to_dict(self) -> dict:
        """Plain JSON-ready dictionary (NaN → ``None``)."""
        return to_jsonable(asdict(self))

    def save(self, path: str | Path) -> Path:
        """Write strict JSON (no NaN tokens) to ``path``; parent folders are created."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Report":
        """Read a report written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no report here")
        body = json.loads(path.read_text(encoding="utf-8"))
        names = {f.name for f in fields(cls)}
        if body.get("schema") != REPORT_SCHEMA:
            raise ValueError(f"{path}: a report of schema {body.get('schema')}, not {REPORT_SCHEMA}; rerun it")
        required = {f.name for f in fields(cls) if f.name not in ("predictions", "schema")}
        missing = sorted(required - set(body))
        if missing:
            raise ValueError(f"{path}: not a neurotype report, missing key(s) {missing}")
        return cls(**{k: v for k, v in body.items() if k in names})

    def metric_frame(self) -> pd.DataFrame:
        """Long table: species × metric with mean, sd and both intervals."""
        rows = []
        for species, metrics in self.metrics.items():
            for metric, summary in metrics.items():
                ci, naive = summary.get("ci95") or [None, None], summary.get("ci95_naive") or [None, None]
                rows.append({"species": species, "metric": metric, "mean": summary.get("mean"),
                             "sd": summary.get("sd"), "ci95_low": ci[0], "ci95_high": ci[1],
                             "ci95_naive_low": naive[0], "ci95_naive_high": naive[1], "n": summary.get("n")})
        return pd.DataFrame(rows)

    def predictions_frame(self) -> pd.DataFrame:
        """The test predictions, one row per (repeat, test cell)."""
        if self.predictions is None:
            raise ValueError("this report was made without keep_predictions")
        return pd.DataFrame(self.predictions)


# --- the protocol -----------------------------------------------------------------------------

def _restrict(task: TaskData, positions: np.ndarray, species: str | None) -> np.ndarray:
    return positions if species is None else positions[task.species[positions] == species]


def _counts(task: TaskData, positions: np.ndarray) -> dict[str, int]:
    return {key: int(len(positions)) if key == OVERALL else int(np.sum(task.species[positions] == key))
            for key in species_keys(task.species[positions])}


def _run_fold(task: TaskData, spec: ModelSpec, fold, *, n_folds: int, seed: int, n_trials: int,
              validation_fraction: float, tuning_metric: str, fixed: dict, storage: str | None, directory: Path,
              fingerprint: dict, train_species: str | None, test_species: str | None,
              needs_inner_split: bool, torch_threads: int | None = None, tuning_species: str | None = None,
              study_prefix: str | None = None, tuning_workers: int = 1, heartbeat_s: int | None = None,
              pruner: str = "median", first_member: bool = False):
    """One outer fold: inner split, optional tuning, refit, test predictions.

    Returns ``(record, predictions, search space, seconds)``; with ``first_member`` (an untuned seed
    ensemble), a pair of them: the ensemble's, and its member 0's scored as the single model
    (``estimator.first_member()``) that ``n_members=1`` would fit (see :func:`_first_member_shares`).
    """
    if torch_threads is not None:
        # Parallel workers each get one thread: two processes with two threads each ran
        # the networks many times slower on this project's two-core machines.
        import torch

        torch.set_num_threads(torch_threads)
    ids = task.cell_ids
    fold_started = time.perf_counter()
    fold_seed = seed + fold_index(fold.repeat, fold.fold, n_folds)
    train = _restrict(task, fold.train, train_species)
    test = _restrict(task, fold.test, test_species)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"repeat {fold.repeat} fold {fold.fold}: no {'training' if len(train) == 0 else 'test'} "
                         f"rows left after the species restriction")
    test_ids = ids[test]
    _check_disjoint(ids[train], test_ids, f"repeat {fold.repeat} fold {fold.fold} outer split")

    fit_rows, validation_rows = train, None
    if needs_inner_split:
        fit_rows, validation_rows = inner_split(task, train, validation_fraction, seed=fold_seed)

    best_params: dict[str, Any] = {}
    space = None
    tuning_info: dict[str, Any] | None = None
    tuning_ids: list = []
    if n_trials > 0:
        objective = TuningObjective(task, spec, fit_rows, validation_rows, forbidden_ids=test_ids,
                                    seed=fold_seed, fixed=fixed, metric=tuning_metric,
                                    score_species=tuning_species)
        from neurotype.protocol.tuning import sqlite_url, tune_study

        name = study_name(task, spec.name, seed, fold.repeat, fold.fold, fingerprint)
        if study_prefix:
            name = f"{study_prefix}-{name}"
        best_params, tuning_info = tune_study(objective, name, storage or sqlite_url(directory, name), n_trials,
                                              sampler_seed=fold_seed, train_ids_hash=_sha1(ids[train]),
                                              heartbeat_s=heartbeat_s, workers=tuning_workers, pruner=pruner,
                                              start=spec.search_start, private=storage is None)
        # The objective checks every trial before fitting; checking its record again here
        # keeps the guard even for objectives that a subclass or a test replaced.
        # (Trials resumed from an earlier session are tied to these training cells by the
        # study's training-id hash, checked when the study is opened; the ids that local helper
        # workers' objectives saw are merged into objective.seen_ids.)
        _check_disjoint(objective.seen_ids, test_ids, f"repeat {fold.repeat} fold {fold.fold} tuning")
        # A fully resumed study runs no trial in this session; its trials used this inner split.
        tuning_ids = sorted(objective.seen_ids | set(ids[fit_rows].tolist()) | set(ids[validation_rows].tolist()))
        space = tuning_info.pop("search_space")

    # The refit uses the whole outer training fold; early-stopping models keep the inner
    # validation split out of their fit rows and stop on it: with the best trial's parameters and
    # the same seed they would train the best trial's model again, so that model is used when this
    # process fitted it (a study resumed or shared with other workers refits it here).
    final_params = spec.params({**best_params, **fixed})
    refit_rows = fit_rows if spec.uses_validation else train
    _check_disjoint(ids[refit_rows], test_ids, f"repeat {fold.repeat} fold {fold.fold} final fit")
    # (Only with one tuning worker: helper workers train with another torch thread count than the refit.)
    estimator = None
    if n_trials > 0:
        estimator = objective.fitted(tuning_info["best_trial"]) if tuning_workers == 1 else None
        tuning_info["best_trial_model_reused"] = estimator is not None
    if estimator is None:
        estimator = spec.make(final_params, seed=fold_seed)
        fit_model(estimator, spec, task, refit_rows, validation_rows if spec.uses_validation else None)
    record, predictions = _scored_fold(task, fold, train, test, estimator, final_params, tuning_ids, tuning_info)
    outcome = (record, predictions, space, time.perf_counter() - fold_started)
    if not first_member:
        return outcome
    member_started = time.perf_counter()
    member = _scored_fold(task, fold, train, test, estimator.first_member(),
                          spec.params({**fixed, "n_members": 1}), [], None)
    return outcome, (*member, None, time.perf_counter() - member_started)


def _scored_fold(task: TaskData, fold, train: np.ndarray, test: np.ndarray, estimator: Classifier,
                 final_params: Mapping[str, Any], tuning_ids: list, tuning_info: dict | None) -> tuple[dict, dict]:
    """A fitted fold's record and test predictions."""
    ids = task.cell_ids
    test_ids = ids[test]
    predicted_codes = np.asarray(estimator.predict(task.X.iloc[test], species=task.species[test]))
    predicted = np.asarray(task.classes)[predicted_codes.astype(int)]
    fold_scores = fold_metrics(task.y[test], predicted, task.classes, task.species[test])
    record = {
        "repeat": fold.repeat, "fold": fold.fold, "metrics": fold_scores,
        "best_params": to_jsonable(final_params), "n_train": _counts(task, train), "n_test": _counts(task, test),
        "train_ids": ids[train].tolist(), "test_ids": test_ids.tolist(), "tuning_ids": tuning_ids,
        "tuning": tuning_info,
    }
    # Collected even without keep_predictions: they feed the summed confusion matrices.
    predictions = {"id": test_ids.tolist(), "repeat": [fold.repeat] * len(test), "fold": [fold.fold] * len(test),
                   "true": task.y[test].tolist(), "predicted": predicted.tolist(),
                   "species": task.species[test].tolist()}
    return record, predictions


def _fold_line(model: str, fold, outcome) -> str:
    summary = outcome[0]["metrics"][OVERALL]
    return (f"{model} repeat {fold.repeat} fold {fold.fold}: balanced accuracy {summary['balanced_accuracy']:.3f}, "
            f"macro F1 {summary['f1_macro']:.3f} ({outcome[3]:.1f} s)")


def _report_progress(progress, model: str, fold, outcome, done: int, total: int) -> None:
    if callable(progress):
        progress(done, total, _fold_line(model, fold, outcome))
    elif progress:
        print(f"[{done}/{total}] {_fold_line(model, fold, outcome)}", file=sys.stderr, flush=True)


def evaluate(task: TaskData, model: str | ModelSpec, *, n_folds: int = 5, n_repeats: int = 5, seed: int = 0,
             n_trials: int = 0, validation_fraction: float = 0.2, tuning_metric: str = "f1_macro",
             params: Mapping[str, Any] | None = None, storage: str | None = None,
             study_dir: str | Path | None = None, train_species: str | None = None,
             test_species: str | None = None, keep_predictions: bool = True,
             progress: bool | Callable[[int, int, str], None] = False, n_jobs: int = 1,
             tuning_species: str | None = None, study_prefix: str | None = None, tuning_workers: int = 1,
             heartbeat_s: int | None = None, pruner: str = "median") -> Report:
    """Cross-validate (and optionally tune) one model on one task, honestly.

    Parameters
    ----------
    task
        Cells, features and labels (:func:`neurotype.data.tables.load_task`).
    model
        A registered model name (:data:`MODELS`) or a :class:`ModelSpec`.
    n_folds, n_repeats, seed
        Outer repeated stratified group K-fold; repeat ``r`` shuffles with ``seed + r``.
    n_trials
        Finished Optuna trials per outer fold, counted over the whole study: every process that
        runs this call on the same ``storage`` contributes to the same total (0: the model's
        default hyperparameters). COMPLETE and PRUNED trials count (the median pruner stops a
        network whose validation loss trails); failed trials are run again.
    validation_fraction
        Share of the outer training rows held out as the inner validation split (tuning,
        and early stopping for models with ``uses_validation``).
    tuning_metric
        ``"f1_macro"`` or ``"balanced_accuracy"``, maximised on the inner validation split.
    params
        Hyperparameters held fixed (e.g. ``{"species_flag": True}``); they override the
        defaults and anything the search space suggests.
    storage
        Optuna RDB URL holding every study of this call (e.g. ``postgresql://user@host/db``,
        shared by workers on several machines); default: one SQLite file per study,
        ``<study_dir>/<study_name>.db``. A new study in such a file is the process's own (with
        ``tuning_workers`` 1): it runs in memory and is written to its file as it runs (at most every
        minute) and when done, the same trials without a transaction per suggestion and report
        (``tune_study(private=True)``).
    study_dir
        Folder of the default SQLite files (default ``results/optuna``).
    train_species, test_species
        Restrict the outer training / test rows to one species (e.g. ``"mouse"`` and
        ``"human"`` for cross-species transfer). Tuning then validates on training-species
        rows only: no label of the held-out species is ever used.
    keep_predictions
        Store every test prediction in the report.
    progress
        ``True`` prints one line per fold to stderr; a callable receives
        ``(folds done, folds in all, a one-line summary of the fold)`` instead (e.g. to
        advance a progress bar).
    n_jobs
        Outer folds run in this many worker processes (each with one torch thread). Every
        fold is seeded on its own, so the folds' results do not depend on the order they run in.
    tuning_species
        Score tuning trials on the validation rows of this species only (default: all rows).
        E.g. ``"mouse"`` for an unsupervised domain-adaptation model that trains on human
        features but must never be selected by a human label, or ``"human"`` to tune a pooled
        model for its human cells.
    study_prefix
        Prepended to every study name (``<prefix>-<study name>``): a fresh set of studies on a
        storage that already holds this protocol's studies.
    tuning_workers
        Worker processes tuning each fold's study on this machine (this one plus helpers with
        one torch thread each); more workers on other machines join through ``storage``.
        Only one of ``n_jobs`` and ``tuning_workers`` may exceed 1.
    heartbeat_s
        Seconds between heartbeats of a running trial (default 30); a trial without a heartbeat
        for four of them belongs to a dead worker and is marked failed.
    pruner
        How tuning stops unpromising network trials early: ``"median"`` or ``"asha"``
        (:data:`neurotype.protocol.tuning.PRUNERS`); pruned trials count towards ``n_trials``.

    Returns
    -------
    Report
        Aggregated metrics, per-fold details, summed confusion matrices and provenance.

    Raises
    ------
    LeakageError
        If any outer-test cell reaches tuning or the final fit.
    """
    started = time.perf_counter()
    plan = _plan(task, model, n_folds=n_folds, n_repeats=n_repeats, seed=seed, n_trials=n_trials,
                 validation_fraction=validation_fraction, tuning_metric=tuning_metric, params=params, storage=storage,
                 study_dir=study_dir, train_species=train_species, test_species=test_species, n_jobs=n_jobs,
                 tuning_species=tuning_species, study_prefix=study_prefix, tuning_workers=tuning_workers,
                 heartbeat_s=heartbeat_s, pruner=pruner, keep_predictions=keep_predictions)
    jobs = [(plan, fold) for fold in plan.folds]
    outcomes = _run_folds(task, jobs, n_jobs, progress=progress)
    return _assemble(task, plan, outcomes, wall_seconds=time.perf_counter() - started)


def _run_folds(task: TaskData, jobs: list[tuple["_Plan", Any]], n_jobs: int,
               progress: bool | Callable[[int, int, str], None] = False) -> list:
    """Run ``(plan, fold)`` jobs in order, here (``n_jobs=1``, reporting each fold as it ends) or in a
    pool of ``n_jobs`` workers with one torch thread each (reporting once all have ended)."""
    if n_jobs == 1:
        outcomes = []
        for plan, fold in jobs:
            outcomes.append(_run_fold(task, plan.spec, fold, **plan.fold_kwargs))
            if progress:
                _report_progress(progress, plan.spec.name, fold, outcomes[-1], len(outcomes), len(jobs))
        return outcomes
    from joblib import Parallel, delayed

    outcomes = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_run_fold)(task, plan.spec, fold, **plan.fold_kwargs, torch_threads=1) for plan, fold in jobs)
    if progress:
        for done, ((plan, fold), outcome) in enumerate(zip(jobs, outcomes), start=1):
            _report_progress(progress, plan.spec.name, fold, outcome, done, len(jobs))
    return outcomes


def evaluate_many(task: TaskData, calls: Mapping[str, Mapping[str, Any]], *, n_jobs: int = 1) -> dict[str, Report]:
    """Several :func:`evaluate` calls on one task whose outer folds share one pool of ``n_jobs`` workers.

    Each call's report is the report :func:`evaluate` gives with the same arguments (every fold is
    seeded on its own, so the order and the worker a fold runs in change nothing; tested), but
    the folds of all calls are queued together (tuned networks first): a worker that finishes one
    model's last fold starts the next model's first instead of idling while the other worker
    finishes (with five folds on two workers, a third of each model's last round).

    An untuned single model that another untuned call fits anyway, as member 0 of a seed ensemble
    (same model, folds, seeds and hyperparameters but ``n_members``), is not fitted again: its folds
    are scored with the ensemble's member 0, which is that model bit for bit when the fits run on
    one torch thread (:func:`_first_member_shares`). Its report says so in
    ``parameters["fitted_as"]``, and its fold seconds are those of scoring it.

    Parameters
    ----------
    task
        The task every call evaluates.
    calls
        ``{label: keyword arguments of evaluate}`` (``model`` included; not ``n_jobs``,
        ``progress`` or ``tuning_workers``). Their folds are queued tuned networks first,
        untuned baselines last, so that the long folds start early.
    n_jobs
        Worker processes (one torch thread each).

    Returns
    -------
    dict
        ``{label: Report}`` in the order of ``calls``. A report's ``wall_seconds`` is the sum of
        its folds' times (its folds ran among other models' folds).
    """
    plans = {}
    for label, arguments in calls.items():
        arguments = dict(arguments)
        for refused in ("n_jobs", "progress", "tuning_workers"):
            if refused in arguments:
                raise ValueError(f"evaluate_many: call {label!r} may not set {refused!r}")
        model = arguments.pop("model")
        plans[label] = _plan(task, model, n_jobs=n_jobs, **arguments)
    shares = _first_member_shares(plans, n_jobs)
    running = {label: replace(plan, fold_kwargs={**plan.fold_kwargs, "first_member": True})
               if label in shares.values() else plan for label, plan in plans.items() if label not in shares}
    # Tuned networks first, untuned baselines last: the long folds start early and the short ones
    # fill the gaps at the end (a stable sort keeps each call's folds in order).
    order = sorted(running, key=lambda label: (running[label].fold_kwargs["n_trials"] == 0,
                                               running[label].spec.name not in NETWORK_NAMES))
    labels = [label for label in order for _ in running[label].folds]
    outcomes = _run_folds(task, [(running[label], fold) for label in order for fold in running[label].folds], n_jobs)
    by_label: dict[str, list] = {label: [] for label in plans}
    members_of = {ensemble: single for single, ensemble in shares.items()}
    for label, outcome in zip(labels, outcomes):
        if label in members_of:
            outcome, member = outcome
            by_label[members_of[label]].append(member)
        by_label[label].append(outcome)
    reports = {label: _assemble(task, plan, by_label[label], wall_seconds=float(sum(o[3] for o in by_label[label])))
               for label, plan in plans.items()}
    for single, ensemble in shares.items():
        members = plans[ensemble].spec.params(plans[ensemble].fixed)["n_members"]
        reports[single].parameters["fitted_as"] = (f"member 0 of {ensemble!r} (n_members={members}), "
                                                   "the same model fitted once")
    return reports


def _first_member_shares(plans: Mapping[str, "_Plan"], n_jobs: int) -> dict[str, str]:
    """``{single label: ensemble label}``: the untuned calls of a single model whose every fold another
    untuned call fits anyway, as member 0 of a seed ensemble.

    The two calls must name the same model, folds, seeds, species and hyperparameters but
    ``n_members`` (1 against more), and the model must offer ``first_member()``. Member 0 keeps the
    single model's seed, rows and noise, and batched members train as they would alone, but only on one
    torch thread are the two bit for bit the same (a product of one member may be split across threads
    differently from a batch of them): so calls share only in worker processes (``n_jobs`` > 1, one thread
    each) or in a process that runs torch on one thread.
    """
    import torch

    if n_jobs == 1 and torch.get_num_threads() != 1:
        return {}

    def members(plan: "_Plan") -> int:
        return int(plan.spec.params(plan.fixed).get("n_members", 1))

    def protocol(plan: "_Plan") -> dict:
        kwargs = {k: v for k, v in plan.fold_kwargs.items() if k not in ("fixed", "fingerprint")}
        return {**kwargs, "fingerprint": {k: v for k, v in plan.fold_kwargs["fingerprint"].items() if k != "fixed"},
                "parameters": plan.parameters}

    untuned = {label: plan for label, plan in plans.items() if plan.fold_kwargs["n_trials"] == 0}
    ensembles = {label: plan for label, plan in untuned.items() if members(plan) > 1
                 and hasattr(plan.spec.make(plan.spec.params(plan.fixed), seed=0), "first_member")}
    shares: dict[str, str] = {}
    for label, plan in untuned.items():
        if members(plan) != 1:
            continue
        for other, ensemble in ensembles.items():
            if (other not in shares.values() and ensemble.spec.name == plan.spec.name
                    and ensemble.spec.params({**ensemble.fixed, "n_members": 1}) == plan.spec.params(plan.fixed)
                    and protocol(ensemble) == protocol(plan)):
                shares[label] = other
                break
    return shares


@dataclass
class _Plan:
    """One :func:`evaluate` call, checked: its model, folds and the arguments of each fold."""

    spec: ModelSpec
    fixed: dict
    folds: list
    fold_kwargs: dict
    parameters: dict
    keep_predictions: bool = True


def _plan(task: TaskData, model: str | ModelSpec, *, n_folds: int = 5, n_repeats: int = 5, seed: int = 0,
          n_trials: int = 0, validation_fraction: float = 0.2, tuning_metric: str = "f1_macro",
          params: Mapping[str, Any] | None = None, storage: str | None = None,
          study_dir: str | Path | None = None, train_species: str | None = None,
          test_species: str | None = None, n_jobs: int = 1, tuning_species: str | None = None,
          study_prefix: str | None = None, tuning_workers: int = 1, heartbeat_s: int | None = None,
          pruner: str = "median", keep_predictions: bool = True) -> _Plan:
    """Check :func:`evaluate`'s arguments and lay out its folds (no model is fitted here)."""
    spec = get_model(model)
    fixed = dict(params or {})
    spec.params(fixed)  # reject unknown hyperparameter names before any work
    if tuning_metric not in TUNING_METRICS:
        raise ValueError(f"unknown tuning_metric {tuning_metric!r}; choose one of {sorted(TUNING_METRICS)}")
    if not isinstance(n_trials, (int, np.integer)) or n_trials < 0:
        raise ValueError(f"n_trials must be a non-negative integer, got {n_trials!r}")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
    if tuning_workers < 1:
        raise ValueError(f"tuning_workers must be at least 1, got {tuning_workers}")
    if tuning_workers > 1 and n_jobs != 1:
        raise ValueError("use either n_jobs (folds in parallel) or tuning_workers (workers per study), not both")
    present = sorted(set(task.species.tolist()))
    for argument, value in (("train_species", train_species), ("test_species", test_species),
                            ("tuning_species", tuning_species)):
        if value is not None and value not in present:
            raise ValueError(f"{argument}={value!r} but the task's species are {present}")
    needs_inner_split = n_trials > 0 or spec.uses_validation
    if needs_inner_split and not 0.0 < validation_fraction < 0.5:
        raise ValueError(f"validation_fraction must be in (0, 0.5), got {validation_fraction}")

    directory = Path(study_dir) if study_dir is not None else paths.RESULTS / "optuna"
    if n_trials > 0 and storage is None:
        directory.mkdir(parents=True, exist_ok=True)
    fingerprint = {"n_folds": n_folds, "validation_fraction": validation_fraction,
                   "tuning_metric": tuning_metric, "fixed": fixed, "train_species": train_species,
                   "test_species": test_species}
    if tuning_species is not None:  # only then: older studies keep their names
        fingerprint["tuning_species"] = tuning_species
    if n_trials > 0:  # a study's pruner and first trial change what it tunes (and older studies' names)
        from neurotype.protocol.tuning import make_pruner

        make_pruner(pruner)  # an unknown name is refused before any work
        fingerprint["pruner"] = pruner
        if spec.search_start is not None:
            fingerprint["start"] = dict(spec.search_start)

    folds = outer_folds(task, n_folds=n_folds, n_repeats=n_repeats, seed=seed)
    fold_kwargs = dict(n_folds=n_folds, seed=seed, n_trials=n_trials, validation_fraction=validation_fraction,
                       tuning_metric=tuning_metric, fixed=fixed, storage=storage, directory=directory,
                       fingerprint=fingerprint, train_species=train_species, test_species=test_species,
                       needs_inner_split=needs_inner_split, tuning_species=tuning_species,
                       study_prefix=study_prefix, tuning_workers=tuning_workers, heartbeat_s=heartbeat_s,
                       pruner=pruner)
    parameters = {"n_folds": n_folds, "n_repeats": n_repeats, "seed": seed, "n_trials": n_trials,
                  "validation_fraction": validation_fraction, "tuning_metric": tuning_metric,
                  "train_species": train_species, "test_species": test_species, "tuning_species": tuning_species,
                  **({"pruner": pruner} if n_trials > 0 else {})}
    return _Plan(spec, fixed, folds, fold_kwargs, parameters, keep_predictions)


def _assemble(task: TaskData, plan: _Plan, outcomes: list, *, wall_seconds: float) -> Report:
    """The :class:`Report` of one planned call from its folds' outcomes (in fold order)."""
    spec, fixed = plan.spec, plan.fixed
    per_fold = [outcome[0] for outcome in outcomes]
    fold_seconds = [outcome[3] for outcome in outcomes]
    search_space = next((outcome[2] for outcome in outcomes if outcome[2] is not None), None)
    predictions: dict[str, list] = {k: [] for k in ("id", "repeat", "fold", "true", "predicted", "species")}
    for outcome in outcomes:
        for key, values in outcome[1].items():
            predictions[key] += values

    mean_train = float(np.mean([f["n_train"][OVERALL] for f in per_fold]))
    mean_test = float(np.mean([f["n_test"][OVERALL] for f in per_fold]))
    metrics = aggregate_folds([f["metrics"] for f in per_fold], test_train_ratio=mean_test / mean_train)
    confusion = confusion_matrices(predictions["true"], predictions["predicted"], task.classes,
                                   predictions["species"])

    def mean_counts(key: str) -> dict[str, float]:
        names = species_keys(np.concatenate([list(f[key]) for f in per_fold]))
        return {s: float(np.mean([f[key].get(s, 0) for f in per_fold])) for s in names}

    return Report(
        task=task.task, model=spec.name, feature_set=task.feature_set,
        parameters={**plan.parameters,
                    "ci95": "Nadeau-Bengio corrected resampled t interval, test/train ratio "
                            f"{mean_test / mean_train:.4f}; ci95_naive: t interval with sd/sqrt(n)"},
        cells={"total": _counts(task, np.arange(len(task))), "train": mean_counts("n_train"),
               "test": mean_counts("n_test"), "averaged_over_folds": True},
        classes=list(task.classes), metrics=metrics, per_fold=per_fold,
        confusion={k: v.tolist() for k, v in confusion.items()},
        versions=package_versions(),
        wall_seconds=wall_seconds, fold_seconds=fold_seconds,
        config={"description": spec.description, "defaults": to_jsonable(dict(spec.defaults)), "fixed": to_jsonable(fixed),
                "search_space": search_space, "uses_validation": spec.uses_validation},
        predictions=predictions if plan.keep_predictions else None,
    )


def tune(task: TaskData, model: str | ModelSpec, *, n_trials: int, seed: int = 0, validation_fraction: float = 0.2,
         tuning_metric: str = "f1_macro", params: Mapping[str, Any] | None = None, storage: str | None = None,
         study_dir: str | Path | None = None, study: str | None = None, workers: int = 1,
         heartbeat_s: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tune a model for deployment: one study on an inner validation split of all cells.

    This chooses the hyperparameters of a model that will be trained on every labelled cell
    (``neurotype train``); it measures nothing. Use :func:`evaluate` for performance. The
    study is stored in ``storage`` (any Optuna RDB URL) or a SQLite file under ``study_dir``
    (default ``results/optuna``) and resumes when run again.

    Any number of processes, on one machine or many, may run this at once with the same
    arguments and ``storage``: they share one study, which ends with ``n_trials`` finished trials
    in all (:mod:`neurotype.protocol.tuning`), and all return the same best parameters.

    Parameters
    ----------
    n_trials
        Study-wide number of finished trials (not per worker): COMPLETE and PRUNED trials count,
        failed ones are run again.
    study
        Study name (default: derived from the task, model, seed and settings). A study of that
        name tuned with other settings is refused.
    workers
        Worker processes on this machine (this one plus helpers with one torch thread each).
    heartbeat_s
        Seconds between heartbeats of a running trial (see :func:`evaluate`).

    Returns
    -------
    best_params, info
        The best hyperparameters (fixed ones included) and a summary of the study.
    """
    spec = get_model(model)
    fixed = dict(params or {})
    spec.params(fixed)
    if n_trials < 1:
        raise ValueError(f"n_trials must be at least 1, got {n_trials}")
    everything = np.arange(len(task))
    fit_rows, validation_rows = inner_split(task, everything, validation_fraction, seed=seed)
    objective = TuningObjective(task, spec, fit_rows, validation_rows, forbidden_ids=[], seed=seed, fixed=fixed,
                                metric=tuning_metric)
    fingerprint = {"purpose": "deployment", "validation_fraction": validation_fraction,
                   "tuning_metric": tuning_metric, "fixed": fixed}
    if spec.search_start is not None:
        fingerprint["start"] = dict(spec.search_start)
    from neurotype.protocol.tuning import sqlite_url, tune_study

    name = study or study_name(task, spec.name, seed, 0, 0, fingerprint).replace("-r0-f0-", "-all-")
    if storage is None:
        directory = Path(study_dir) if study_dir is not None else paths.RESULTS / "optuna"
        directory.mkdir(parents=True, exist_ok=True)
        storage = sqlite_url(directory, name)
    settings = {**fingerprint, "task": task.task, "feature_set": task.feature_set, "model": spec.name, "seed": seed}
    best, info = tune_study(objective, name, storage, n_trials, sampler_seed=seed, train_ids_hash=_sha1(task.cell_ids),
                            settings=to_jsonable(settings), heartbeat_s=heartbeat_s, workers=workers,
                            start=spec.search_start)
    return spec.params({**best, **fixed}), info


def compare(reports: Sequence[Report] | Mapping[str, Report], metrics: Sequence[str] = (
        "balanced_accuracy", "f1_macro", "accuracy"), species: Sequence[str] | None = None,
        digits: int = 3, interval: str = "ci95") -> pd.DataFrame:
    """Side-by-side table for chapters: rows (model, species), cells ``"mean [low, high]"``.

    Parameters
    ----------
    reports
        Reports, or ``{row label: report}`` to tell apart two runs of one model.
    metrics
        Metric names (columns), e.g. ``"f1[spiny]"`` for a per-class score.
    species
        Species keys to show (default: every key any report has, ``all`` first).
    interval
        ``"ci95"`` (corrected) or ``"ci95_naive"``.
    """
    if interval not in ("ci95", "ci95_naive"):
        raise ValueError(f"interval must be 'ci95' or 'ci95_naive', got {interval!r}")
    labelled = list(reports.items()) if isinstance(reports, Mapping) else [(r.model, r) for r in reports]
    if species is None:
        species = species_keys([s for _, r in labelled for s in r.metrics if s != OVERALL])

    def cell(summary: Mapping[str, Any] | None) -> str:
        if not summary or summary.get("mean") is None:
            return "–"
        text = f"{summary['mean']:.{digits}f}"
        bounds = summary.get(interval)
        if bounds:
            text += " " + format_interval(bounds[0], bounds[1], digits)
        return text

    rows, index = [], []
    for label, report in labelled:
        for key in species:
            if key not in report.metrics:
                continue
            rows.append({m: cell(report.metrics[key].get(m)) for m in metrics})
            index.append((label, key))
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=["model", "species"]),
                        columns=list(metrics))
