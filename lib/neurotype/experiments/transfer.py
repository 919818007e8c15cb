"""Cross-species experiments of the DANN chapters: transfer, scaling, λ sweep, human-label curve.

Everything here runs through the honest protocol (:func:`neurotype.protocol.evaluation.evaluate`) or, for
the learning curve, over the same seeded outer folds (:func:`neurotype.data.splits.outer_folds`):
every model, scaler and early-stopping decision comes from the outer training fold only.

``cross_species``
    Train on one species, test on the other (paper's ablation: FCNN 0.646 mouse → human,
    0.596 human → mouse) for the FCNN, logistic regression and the unsupervised DANN (which
    also sees the target species' *features* of the training fold, never their labels).
``scaling_ablation``
    Pooled scaling vs the original code's per-species scaling, for logistic regression
    (:data:`LOGREG_SCALING`, passed to ``evaluate`` as a spec).
``lambda_sweep``
    The DANN's reversal weight λ, constant values and Ganin's schedule, semi-supervised and
    unsupervised.
``human_label_curve``
    Human test folds fixed; a growing share of the fold's human training cells is labelled
    (nested subsets, stratified by class). Compares human-only training, pooled mouse + human
    training and the DANN (mouse + labelled human in the label loss, every human training cell
    in the domain loss): how much do mouse cells help classify human cells?
Table 1 (chapter 03)
    :func:`table1_models` and :func:`run_models` run it; :func:`table1_display`,
    :func:`primary_comparison` (the declared primary model against every other row, paired over the
    same folds), :func:`dann_claims`, :func:`alignment_verdict` and :func:`table1_targets` turn the
    reports into the chapter's tables and sentences. No row is chosen by its test score.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from neurotype.paper import claims
from neurotype.data.tables import TaskData
from neurotype.models.spec import ModelSpec
from neurotype.experiments.comparison import SplitSpread, paired_difference
from neurotype.paper.headline import claim_verdict
from neurotype.protocol.evaluation import Report, compare, evaluate, evaluate_many, fit_model
from neurotype.models.registry import get_model
from neurotype.protocol.metrics import prediction_scores, summarize
from neurotype.data.preprocessing import PerGroupScaler, make_preprocessor
from neurotype.data.splits import Fold, fold_index, inner_split, outer_folds

if TYPE_CHECKING:
    import optuna

__all__ = [
    "PAPER_DANN", "PAPER_TRANSFER", "DIRECTIONS", "SCALINGS", "ScaledLogisticRegression", "LOGREG_SCALING",
    "cross_species", "transfer_table", "scaling_ablation", "scaling_table", "lambda_sweep", "lambda_table",
    "CURVE_MODELS", "label_subset", "human_label_curve", "summarize_curve", "table1_models", "slug",
    "run_models", "interval_frame", "time_dann_fit", "TABLE1_TARGETS", "DANN_FIT_SECONDS", "TABLE1_METRICS",
    "table1_display", "primary_comparison", "dann_claims", "alignment_verdict", "table1_targets",
]

# The paper's numbers are written once, in neurotype.paper.claims.
PAPER_DANN = claims.DANN_ACCURACY
PAPER_TRANSFER = claims.FCNN_TRANSFER
DIRECTIONS: tuple[tuple[str, str], ...] = (("mouse", "human"), ("human", "mouse"))
SCALINGS: tuple[str, ...] = ("pooled", "per_species")


def _arrow(source: str | None, target: str | None) -> str:
    return f"{source or 'both'}→{target or 'both'}"


# --- logistic regression with pooled or per-species scaling -----------------------------------

class ScaledLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression with pooled or per-species preprocessing, trained on one species' labels.

    Parameters
    ----------
    scaling
        ``"pooled"``: one imputer/scaler fitted on the labelled training rows (what any model
        trained on those rows does). ``"per_species"``: one imputer/scaler per species, each
        fitted on that species' training rows (the original code's choice; the rows of the
        unlabelled species contribute their features only, never their labels).
    label_species
        Only rows of this species enter the classifier (``None``: every row).
    C
        Inverse L2 strength.
    seed
        ``random_state`` of the solver.
    """

    def __init__(self, scaling: str = "pooled", label_species: str | None = None, C: float = 1.0, seed: int = 0):
        self.scaling, self.label_species, self.C, self.seed = scaling, label_species, C, seed

    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None) -> "ScaledLogisticRegression":
        """Fit the scaler(s) and the classifier; the validation arguments are ignored."""
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {list(SCALINGS)}, got {self.scaling!r}")
        if species is None:
            raise ValueError("ScaledLogisticRegression.fit needs species= (one per row)")
        X, y, species = np.asarray(X, dtype=float), np.asarray(y), np.asarray(species).astype(str)
        labelled = np.ones(len(y), bool) if self.label_species is None else species == self.label_species
        if not labelled.any():
            raise ValueError(f"label_species={self.label_species!r}: no such training row")
        if self.scaling == "pooled":
            self.preprocessor_ = make_preprocessor().fit(X[labelled])
            Z = self.preprocessor_.transform(X)
        else:
            self.preprocessor_ = PerGroupScaler().fit(X, groups=species)
            Z = self.preprocessor_.transform(X, groups=species)
        self.estimator_ = LogisticRegression(C=self.C, max_iter=5000, random_state=self.seed)
        self.estimator_.fit(Z[labelled], y[labelled])
        self.classes_ = self.estimator_.classes_
        return self

    def _design(self, X, species) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if self.scaling == "pooled":
            return self.preprocessor_.transform(X)
        if species is None:
            raise ValueError("per-species scaling needs species= to predict")
        return self.preprocessor_.transform(X, groups=np.asarray(species).astype(str))

    def predict(self, X, species=None) -> np.ndarray:
        return self.estimator_.predict(self._design(X, species))

    def predict_proba(self, X, species=None) -> np.ndarray:
        return self.estimator_.predict_proba(self._design(X, species))


def _space_scaled(trial: "optuna.Trial") -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 1e-3, 1e3, log=True)}


LOGREG_SCALING = ModelSpec(
    name="logreg_scaling",
    build=lambda params, seed: ScaledLogisticRegression(params["scaling"], params["label_species"], params["C"],
                                                        seed=seed),
    defaults={"scaling": "pooled", "label_species": None, "C": 1.0}, search_space=_space_scaled,
    description="logistic regression, pooled or per-species scaling, labels of one species or all",
    search_start={"C": 1.0})


# --- evaluate-based experiments ----------------------------------------------------------------

def _save(reports: Mapping[str, Report], out_dir: str | Path | None, prefix: str) -> None:
    if out_dir is None:
        return
    for key, report in reports.items():
        safe = key.replace("→", "-to-").replace(" ", "_").replace("=", "").replace("/", "_")
        report.save(Path(out_dir) / f"{prefix}{safe}.json")


def cross_species(task: TaskData, *, n_folds: int = 5, n_repeats: int = 1, seed: int = 0, n_jobs: int = 1,
                  fcnn_params: Mapping[str, Any] | None = None, dann_params: Mapping[str, Any] | None = None,
                  directions: Sequence[tuple[str, str]] = DIRECTIONS, out_dir: str | Path | None = None,
                  ) -> dict[str, Report]:
    """Train on one species, test on the other, for FCNN, logistic regression and unsupervised DANN.

    The FCNN and logistic regression see only the source species' training cells
    (``train_species``). The unsupervised DANN sees every training cell but the target species'
    labels never (``mode="unsupervised"``); its early stopping watches source cells only.
    Default hyperparameters (no tuning), as in the paper's ablation.

    Returns
    -------
    dict
        ``{"<model> <source>→<target>": Report}``; the reports score the target species only.
    """
    reports: dict[str, Report] = {}
    common = dict(n_folds=n_folds, n_repeats=n_repeats, seed=seed, n_jobs=n_jobs)
    for source, target in directions:
        arrow = _arrow(source, target)
        reports[f"fcnn {arrow}"] = evaluate(task, "fcnn", params=dict(fcnn_params or {}), train_species=source,
                                            test_species=target, **common)
        reports[f"logreg {arrow}"] = evaluate(task, "logreg", train_species=source, test_species=target, **common)
        reports[f"dann-unsupervised {arrow}"] = evaluate(
            task, "dann", params={**dict(dann_params or {}), "mode": "unsupervised", "source": source,
                                  "target": target}, test_species=target, **common)
    _save(reports, out_dir, "transfer_")
    return reports


def _summary_cells(report: Report, species: str, metrics: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for metric in metrics:
        summary = report.metrics.get(species, {}).get(metric) or {}
        row[metric] = summary.get("mean")
        low, high = summary.get("ci95") or (None, None)
        row[f"{metric}_low"], row[f"{metric}_high"] = low, high
    return row


def transfer_table(reports: Mapping[str, Report], metrics: Sequence[str] = ("accuracy", "balanced_accuracy",
                                                                           "f1_macro")) -> pd.DataFrame:
    """One row per (direction, model): target-species means and ci95 bounds, with the paper's FCNN accuracy."""
    rows = []
    for key, report in reports.items():
        model, arrow = key.rsplit(" ", 1)
        target = report.parameters["test_species"]
        paper = PAPER_TRANSFER.get(arrow, {}).get("accuracy") if model == "fcnn" else None
        rows.append({"direction": arrow, "model": model, **_summary_cells(report, target, metrics),
                     "paper_accuracy": paper})
    return pd.DataFrame(rows)


def scaling_ablation(task: TaskData, *, n_folds: int = 5, n_repeats: int = 1, seed: int = 0, n_jobs: int = 1,
                     out_dir: str | Path | None = None) -> dict[str, Report]:
    """Logistic regression with pooled vs per-species scaling, across and within species.

    Settings: trained on mouse labels → tested on human; human → mouse; both → both. With
    per-species scaling the unlabelled species' training cells fit its own scaler (features
    only), as the original code scaled each species by its own statistics.

    Returns
    -------
    dict
        ``{"<scaling> <source>→<target>": Report}``.
    """
    reports: dict[str, Report] = {}
    settings = [*DIRECTIONS, (None, None)]
    for scaling in SCALINGS:
        for source, target in settings:
            reports[f"{scaling} {_arrow(source, target)}"] = evaluate(
                task, LOGREG_SCALING, params={"scaling": scaling, "label_species": source},
                test_species=target, n_folds=n_folds, n_repeats=n_repeats, seed=seed, n_jobs=n_jobs)
    _save(reports, out_dir, "scaling_")
    return reports


def scaling_table(reports: Mapping[str, Report], metric: str = "accuracy") -> pd.DataFrame:
    """Rows (training → test species), columns pooled / per-species: mean and ci95 bounds of ``metric``."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for key, report in reports.items():
        scaling, arrow = key.split(" ", 1)
        source = arrow.split("→")[0]
        tested = [report.parameters["test_species"]] if report.parameters["test_species"] else ["mouse", "human"]
        for species in tested:
            label = (f"{source} labels", species)
            cells = _summary_cells(report, species, [metric])
            row = rows.setdefault(label, {"trained on": label[0], "tested on": species})
            row.update({f"{scaling}": cells[metric], f"{scaling}_low": cells[f"{metric}_low"],
                        f"{scaling}_high": cells[f"{metric}_high"]})
    frame = pd.DataFrame(list(rows.values()))
    frame["change"] = frame["per_species"] - frame["pooled"]
    return frame


def lambda_sweep(task: TaskData, lambdas: Sequence[float | str] = (0.0, 0.03, 0.1, 0.3, 1.0, "schedule"),
                 modes: Sequence[str] = ("semi", "unsupervised"), *, n_folds: int = 5, n_repeats: int = 1,
                 seed: int = 0, n_jobs: int = 1, params: Mapping[str, Any] | None = None,
                 out_dir: str | Path | None = None) -> dict[str, Report]:
    """The DANN at each reversal weight λ (``0``: the same network without adversary) and mode.

    Returns
    -------
    dict
        ``{"<mode> λ=<value>": Report}``, each scored on both species.
    """
    reports: dict[str, Report] = {}
    for mode in modes:
        for lam in lambdas:
            reports[f"{mode} λ={lam}"] = evaluate(
                task, "dann", params={**dict(params or {}), "mode": mode, "lambda_": lam}, n_folds=n_folds,
                n_repeats=n_repeats, seed=seed, n_jobs=n_jobs)
    _save(reports, out_dir, "lambda_")
    return reports


def lambda_table(reports: Mapping[str, Report]) -> pd.DataFrame:
    """One row per (mode, λ): human balanced accuracy and mouse accuracy with ci95 bounds."""
    rows = []
    for key, report in reports.items():
        mode, lam = key.split(" λ=")
        rows.append({"mode": mode, "lambda": lam,
                     **{f"human_{k}": v for k, v in _summary_cells(report, "human", ["balanced_accuracy"]).items()},
                     **{f"mouse_{k}": v for k, v in _summary_cells(report, "mouse", ["accuracy"]).items()}})
    return pd.DataFrame(rows)


# --- the human-label learning curve -------------------------------------------------------------

#: Models of the learning curve: what they train on at a given share of labelled human cells.
CURVE_MODELS: Mapping[str, str] = {
    "human only (LogReg)": "logistic regression on the labelled human training cells alone",
    "mouse + human (LogReg)": "logistic regression on every mouse and the labelled human training cells",
    "mouse + human (FCNN)": "the paper's FCNN on every mouse and the labelled human training cells",
    "DANN": "semi-supervised DANN: mouse and labelled human cells in the label loss, all human training "
            "cells in the domain loss",
}


def label_subset(labels: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """Positions ranked per class at random: the first ``ceil(share · n_c)`` of each class.

    Called with one generator state for every share, ``rng`` must be re-seeded identically per
    share so that subsets are nested (10 % ⊂ 25 % ⊂ …). Returns sorted positions into ``labels``.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share!r}")
    labels = np.asarray(labels)
    chosen = []
    for label in np.unique(labels):
        positions = np.flatnonzero(labels == label)
        ranked = positions[rng.permutation(len(positions))]
        chosen.append(ranked[:math.ceil(share * len(positions))])
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    scores = prediction_scores(y_true, y_pred)
    return {name: scores[name] for name in ("balanced_accuracy", "accuracy", "f1_macro")}


def _curve_fold(task: TaskData, fold: Fold, index: int, shares: Sequence[float], seed: int,
                dann_params: Mapping[str, Any], fcnn_params: Mapping[str, Any], models: Sequence[str],
                torch_threads: int | None) -> list[dict[str, Any]]:
    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)
    fold_seed = seed + index
    species, codes = task.species, task.y_codes
    train, test = fold.train, fold.test[task.species[fold.test] == "human"]
    if np.intersect1d(task.cell_ids[train], task.cell_ids[test]).size:
        raise RuntimeError("outer training and test cells overlap")
    human_train = train[species[train] == "human"]
    mouse_train = train[species[train] == "mouse"]
    # The early-stopping split of the networks, fixed for every share.
    fit_rows, validation_rows = inner_split(task, train, 0.2, seed=fold_seed)
    rows: list[dict[str, Any]] = []
    for share in shares:
        picked = human_train[label_subset(codes[human_train], share, np.random.default_rng(fold_seed))]
        labelled = np.concatenate([mouse_train, picked])
        base = {"repeat": fold.repeat, "fold": fold.fold, "share": float(share), "n_human_labels": int(len(picked))}

        def score(model: str, predicted: np.ndarray) -> None:
            rows.append({**base, "model": model, **_scores(codes[test], np.asarray(predicted))})

        if "human only (LogReg)" in models:
            if len(np.unique(codes[picked])) < 2:
                rows.append({**base, "model": "human only (LogReg)", "balanced_accuracy": math.nan,
                             "accuracy": math.nan, "f1_macro": math.nan})
            else:
                model = get_model("logreg").make(seed=fold_seed)
                model.fit(task.X.iloc[picked], codes[picked], species=species[picked])
                score("human only (LogReg)", model.predict(task.X.iloc[test], species=species[test]))
        if "mouse + human (LogReg)" in models:
            model = get_model("logreg").make(seed=fold_seed)
            model.fit(task.X.iloc[labelled], codes[labelled], species=species[labelled])
            score("mouse + human (LogReg)", model.predict(task.X.iloc[test], species=species[test]))
        labelled_fit = fit_rows[np.isin(fit_rows, labelled)]
        labelled_val = validation_rows[np.isin(validation_rows, labelled)]
        if "mouse + human (FCNN)" in models:
            model = get_model("fcnn").make(dict(fcnn_params), seed=fold_seed)
            model.fit(task.X.iloc[labelled_fit], codes[labelled_fit], species=species[labelled_fit],
                      X_val=task.X.iloc[labelled_val], y_val=codes[labelled_val], species_val=species[labelled_val])
            score("mouse + human (FCNN)", model.predict(task.X.iloc[test], species=species[test]))
        if "DANN" in models:
            # Unlabelled human cells of the validation split join the fit rows as features only.
            dann_rows = np.sort(np.concatenate([fit_rows, validation_rows[~np.isin(validation_rows, labelled)]]))
            mask = np.isin(dann_rows, labelled)
            model = get_model("dann").make({**dict(dann_params), "mode": "semi"}, seed=fold_seed)
            model.fit(task.X.iloc[dann_rows], codes[dann_rows], species=species[dann_rows],
                      X_val=task.X.iloc[labelled_val], y_val=codes[labelled_val], species_val=species[labelled_val],
                      label_mask=mask)
            if len(picked) == 0 and model.target_labels_used_ != 0:
                raise RuntimeError("the DANN read a human label at share 0")
            score("DANN", model.predict(task.X.iloc[test], species=species[test]))
    return rows


def human_label_curve(task: TaskData, shares: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 1.0), *,
                      n_folds: int = 5, n_repeats: int = 1, seed: int = 0, n_jobs: int = 1,
                      models: Sequence[str] = tuple(CURVE_MODELS), dann_params: Mapping[str, Any] | None = None,
                      fcnn_params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Human test scores as the share of labelled human training cells grows.

    The outer folds are :func:`neurotype.data.splits.outer_folds` (``n_folds``, ``n_repeats``,
    ``seed``), so the human test cells of each fold are the same at every share. In each fold,
    a share ``s`` labels ``ceil(s · n_c)`` human training cells of each class ``c`` (nested
    subsets, seeded per fold); every mouse training cell is labelled. Human-only training is
    undefined at ``s = 0`` (NaN).

    Parameters
    ----------
    models
        Keys of :data:`CURVE_MODELS`.
    dann_params, fcnn_params
        Hyperparameters of the DANN (``mode`` is forced to ``"semi"``; at ``s = 0`` it is then
        unsupervised) and of the FCNN.

    Returns
    -------
    pandas.DataFrame
        One row per (repeat, fold, share, model): ``n_human_labels``, ``balanced_accuracy``,
        ``accuracy``, ``f1_macro`` on the fold's human test cells.
    """
    unknown = sorted(set(models) - set(CURVE_MODELS))
    if unknown:
        raise ValueError(f"unknown curve model(s) {unknown}; choose from {list(CURVE_MODELS)}")
    if not shares:
        raise ValueError("shares is empty")
    for share in shares:
        if not 0.0 <= float(share) <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {share!r}")
    folds = outer_folds(task, n_folds=n_folds, n_repeats=n_repeats, seed=seed)
    jobs = [(fold, fold_index(fold.repeat, fold.fold, n_folds)) for fold in folds]
    args = dict(shares=list(shares), seed=seed, dann_params=dict(dann_params or {}),
                fcnn_params=dict(fcnn_params or {}), models=list(models))
    if n_jobs == 1:
        results = [_curve_fold(task, fold, index, torch_threads=None, **args) for fold, index in jobs]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, backend="loky")(
            delayed(_curve_fold)(task, fold, index, torch_threads=1, **args) for fold, index in jobs)
    return pd.DataFrame([row for rows in results for row in rows])


def summarize_curve(frame: pd.DataFrame, metric: str = "balanced_accuracy", n_folds: int | None = None) -> pd.DataFrame:
    """Mean and Nadeau–Bengio ci95 of ``metric`` per (model, share) of :func:`human_label_curve`'s frame.

    ``n_folds`` sets the interval's test/train ratio ``1/(n_folds − 1)`` (default: the number of
    distinct folds in the frame).
    """
    if metric not in frame:
        raise ValueError(f"metric {metric!r} not in the curve's columns {list(frame.columns)}")
    k = n_folds or frame["fold"].nunique()
    rows = []
    for (model, share), group in frame.groupby(["model", "share"], sort=False):
        summary = summarize(group[metric].to_numpy(), test_train_ratio=1.0 / (k - 1))
        low, high = summary["ci95"] or (math.nan, math.nan)
        rows.append({"model": model, "share": share, "n_human_labels": float(group["n_human_labels"].mean()),
                     "mean": summary["mean"] if summary["mean"] is not None else math.nan,
                     "low": low, "high": high, "n": summary["n"]})
    return pd.DataFrame(rows)


# --- Table 1: every model through the same protocol --------------------------------------------

def table1_models(class_weight: str | None = "balanced_per_species",
                  network: Mapping[str, Any] | None = None,
                  reference_patience: int | None = None) -> dict[str, dict[str, Any]]:
    """The models of the DANN chapter's Table 1: ``{label: {"model", "params", "tuning_species"}}``.

    The networks (FCNN, FCNN + organism flag, DANN semi-supervised and unsupervised) share
    ``class_weight`` and any ``network`` overrides (e.g. ``{"max_epochs": 20}`` for a smoke
    run); one extra DANN row runs without class weights so that the weighting's share of any
    gain is visible. The unsupervised DANN is tuned (if at all) on mouse validation cells only.

    Two rows are the networks as the paper's code built them (``fcnn_reference`` and
    ``dann_reference``: batch normalisation, Keras initialisation, the paper's grid, constant λ,
    no class weights). They train every epoch unless ``reference_patience`` is given: then they
    stop early on the inner validation split like ours (the full profile does, to fit the book's
    time; the paper profile does not).
    """
    net = dict(network or {})
    weighted = {**net, "class_weight": class_weight}
    reference = {**net, **({} if reference_patience is None else {"patience": int(reference_patience)})}
    return {
        "LogReg": {"model": "logreg", "params": {}, "tuning_species": None},
        "RBF SVC": {"model": "svc", "params": {}, "tuning_species": None},
        "XGBoost": {"model": "xgb", "params": {}, "tuning_species": None},
        "FCNN": {"model": "fcnn", "params": dict(weighted), "tuning_species": None},
        "FCNN + organism": {"model": "fcnn", "params": {**weighted, "species_flag": True}, "tuning_species": None},
        "FCNN reference": {"model": "fcnn_reference", "params": dict(reference), "tuning_species": None},
        "DANN semi": {"model": "dann", "params": {**weighted, "mode": "semi"}, "tuning_species": None},
        "DANN semi, unweighted": {"model": "dann", "params": {**net, "mode": "semi", "class_weight": None},
                                  "tuning_species": None},
        "DANN unsupervised": {"model": "dann", "params": {**weighted, "mode": "unsupervised"},
                              "tuning_species": "mouse"},
        "DANN reference": {"model": "dann_reference", "params": dict(reference), "tuning_species": None},
    }


def slug(label: str) -> str:
    """File-name form of a model label: ``"FCNN + organism"`` → ``"fcnn_organism"``."""
    out = "".join(c.lower() if c.isalnum() else "_" for c in label)
    return "_".join(part for part in out.split("_") if part)


def run_models(task: TaskData, models: Mapping[str, Mapping[str, Any]], *, n_folds: int, n_repeats: int,
               seed: int, n_trials: int = 0, n_jobs: int = 1, out_dir: str | Path | None = None,
               study_dir: str | Path | None = None, storage: str | None = None,
               pruner: str = "median") -> dict[str, Report]:
    """:func:`~neurotype.protocol.evaluation.evaluate` every model of :func:`table1_models` on the same folds.

    Every model gets ``n_trials`` Optuna trials per outer fold (the same budget each). All models' folds share
    one pool of ``n_jobs`` workers (:func:`~neurotype.protocol.evaluation.evaluate_many`). Each
    report is saved as ``out_dir/<slug(label)>.json``; studies go to ``storage`` (an Optuna RDB
    URL) or SQLite files in ``study_dir``; ``pruner`` stops unpromising network trials
    (:data:`neurotype.protocol.tuning.PRUNERS`).
    """
    calls = {label: {"model": entry["model"], "params": dict(entry["params"]), "n_folds": n_folds,
                     "n_repeats": n_repeats, "seed": seed, "n_trials": n_trials,
                     "tuning_species": entry.get("tuning_species"), "study_dir": study_dir,
                     "storage": storage if n_trials else None, "pruner": pruner}
             for label, entry in models.items()}
    reports = evaluate_many(task, calls, n_jobs=n_jobs)
    if out_dir is not None:
        for label, report in reports.items():
            report.save(Path(out_dir) / f"{slug(label)}.json")
    return reports


def interval_frame(reports: Mapping[str, Report], metrics: Sequence[str] = (
        "accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")) -> pd.DataFrame:
    """Long table: one row per (model, species, metric) with ``mean``, ``low``, ``high`` (ci95)."""
    rows = []
    for label, report in reports.items():
        for species, scores in report.metrics.items():
            for metric in metrics:
                summary = scores.get(metric) or {}
                low, high = summary.get("ci95") or (math.nan, math.nan)
                rows.append({"model": label, "species": species, "metric": metric,
                             "mean": summary.get("mean", math.nan), "low": low, "high": high})
    return pd.DataFrame(rows)


def time_dann_fit(task: TaskData, params: Mapping[str, Any] | None = None, repeats: int = 3, seed: int = 0,
                  threads: int | None = None) -> dict[str, float]:
    """Wall time of fitting the registered ``dann`` on every cell (80 % fit, 20 % early stopping).

    Returns the median and the maximum over ``repeats`` fits, the mean number of epochs and the
    torch thread count used.
    """
    import time

    import torch

    if threads is not None:
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        fit_rows, validation_rows = inner_split(task, np.arange(len(task)), 0.2, seed=seed)
        seconds, epochs = [], []
        for k in range(repeats):
            spec = get_model("dann")
            model = spec.make(dict(params or {}), seed=seed + k)
            started = time.perf_counter()
            fit_model(model, spec, task, fit_rows, validation_rows)
            seconds.append(time.perf_counter() - started)
            epochs.append(model.n_epochs_)
        return {"median_s": float(np.median(seconds)), "max_s": float(np.max(seconds)),
                "epochs": float(np.mean(epochs)), "threads": int(torch.get_num_threads())}
    finally:
        if threads is not None:
            torch.set_num_threads(previous)


# --- the DANN chapter's tables, verdicts and targets ----------------------------------------------

#: The DANN chapter's targets: (label, model, species, metric, goal). Judged on the named models only.
TABLE1_TARGETS: tuple[tuple[str, str, str, str, float], ...] = (
    ("DANN semi: human balanced accuracy ≥ 0.95", "DANN semi", "human", "balanced_accuracy", 0.95),
    ("DANN unsupervised: human balanced accuracy ≥ 0.94", "DANN unsupervised", "human", "balanced_accuracy", 0.94),
    ("DANN semi: mouse accuracy ≥ 0.99", "DANN semi", "mouse", "accuracy", 0.99),
)
#: The wall-time target of one DANN fit on every cell, one thread (seconds).
DANN_FIT_SECONDS = 10.0
TABLE1_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro")


def table1_display(reports: Mapping[str, Report], primary: str,
                   metrics: Sequence[str] = TABLE1_METRICS) -> pd.DataFrame:
    """Table 1 for people: every model's per-species scores, ``mean [95 % CI]``; the paper's DANN accuracies beside."""
    table = compare(reports, metrics=metrics, species=["human", "mouse"])
    table["paper: accuracy"] = [f"{PAPER_DANN[species]:.3f}" if model == primary else ""
                                for model, species in table.index]
    return table


def primary_comparison(reports: Mapping[str, Report], primary: str, species: str = "human",
                       metric: str = "balanced_accuracy") -> tuple[pd.DataFrame, str]:
    """The primary model against every other row, paired over the same folds: a table and one sentence.

    The paired difference (:func:`neurotype.experiments.comparison.paired_difference`) uses the
    per-fold scores on ``species`` cells; a row is clearly below (above) the primary model when the
    difference's 95 % interval lies wholly above (below) 0.
    """
    differences = {label: paired_difference(reports[primary], reports[label], metric, species)
                   for label in reports if label != primary}
    table = pd.DataFrame({"model": list(differences),
                          f"{primary} − model: mean [95 % CI]": [d.format() for d in differences.values()]})
    above = [label for label, d in differences.items() if d.low is not None and d.low > 0]
    below = [label for label, d in differences.items() if d.high is not None and d.high < 0]
    parts = []
    if above:
        parts.append(f"{primary} scores higher than {', '.join(above)}")
    if below:
        parts.append(f"lower than {', '.join(below)}")
    rest = len(differences) - len(above) - len(below)
    if rest:
        parts.append(f"indistinguishable from the other {rest} model(s) (paired interval includes 0)")
    sentence = "; ".join(parts) + "."
    return table.set_index("model"), sentence[0].upper() + sentence[1:]


def dann_claims(report: Report, single: SplitSpread) -> pd.DataFrame:
    """The paper's DANN accuracies beside the primary model's single-split range and cross-validated mean."""
    rows = []
    for species, paper in PAPER_DANN.items():
        cv, spread = report.estimate(species, "accuracy"), single.estimate(species, "accuracy")
        rows.append({"cells": species, "paper": f"{paper:.3f}",
                     "ours, single 80/20 splits: mean [2.5 %, 97.5 %]": spread.format(),
                     "ours, cross-validated: mean [95 % CI]": cv.format(),
                     "verdict": claim_verdict(paper, cv, spread).text})
    return pd.DataFrame(rows).set_index("cells")


def alignment_verdict(probes: pd.DataFrame, adversarial: str = "DANN semi", control: str = "network, λ = 0",
                      probe: str = "logreg") -> str:
    """Does the adversary remove species information beyond what the same network loses without it?

    Compares the mean balanced accuracy of the species probe on the adversarial network's features
    with that on the control (λ = 0); differences within one fold-to-fold sd of the control (at
    least 0.01) count as no difference.
    """
    rows = probes[probes["probe"] == probe]
    scores = rows.groupby("representation")["balanced_accuracy"]
    mean, spread = scores.mean(), scores.std()
    margin = max(float(spread.get(control, 0.0) or 0.0), 0.01)
    if mean[adversarial] < mean[control] - margin:
        return "The adversary removes species information beyond what the same network loses without it."
    if mean[adversarial] > mean[control] + margin:
        return ("The adversary does not make the features less species-specific: the same network trained without "
                "it hides the species better. What alignment there is comes from training a narrow network to "
                "separate the classes, not from the gradient reversal.")
    return ("The semi-supervised DANN's features are about as species-specific as those of the same network trained "
            "without the adversary (within one fold-to-fold standard deviation).")


def table1_targets(reports: Mapping[str, Report], fit_time: Mapping[str, float]) -> pd.DataFrame:
    """The chapter's targets (:data:`TABLE1_TARGETS`, :data:`DANN_FIT_SECONDS`) and what this run measured."""
    rows = [{"target": label, "measured": f"{reports[model].estimate(species, metric).mean:.3f}",
             "reached": "yes" if reports[model].estimate(species, metric).mean >= goal else "no"}
            for label, model, species, metric, goal in TABLE1_TARGETS]
    rows.append({"target": f"one DANN fit (all cells, one thread) ≤ {DANN_FIT_SECONDS:.0f} s",
                 "measured": f"{fit_time['median_s']:.1f} s",
                 "reached": "yes" if fit_time["max_s"] <= DANN_FIT_SECONDS else "no"})
    return pd.DataFrame(rows).set_index("target")
