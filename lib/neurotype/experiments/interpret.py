"""Reading LSPIN's gates: held-out gate matrices, class profiles, stability and a computed reading.

Everything here starts from a saved :class:`~neurotype.protocol.evaluation.Report`: :func:`refit_folds`
rebuilds each outer fold's model exactly as :func:`~neurotype.protocol.evaluation.evaluate` fitted it
(same training cells, hyperparameters and seed), so the gates of a fold's *test* cells come from
a model that never saw them. The refit's predictions are compared with the report's (they agree
when the fit is deterministic, as every model here is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.stats import spearmanr

from neurotype.data.tables import TaskData
from neurotype.protocol.evaluation import Report, fit_model
from neurotype.protocol.metrics import macro_f1
from neurotype.models.registry import get_model
from neurotype.data.splits import fold_index, inner_split

__all__ = ["FoldModel", "refit_folds", "GateResult", "held_out_gates", "cluster_order", "class_profiles",
           "class_specificity", "open_gate_counts", "profile_stability", "permutation_importances",
           "rank_agreement", "defining_features", "reading_sentences", "best_report", "IMPORTANCE_BASELINE",
           "gate_numbers", "stability_numbers", "importance_numbers", "broad_gate_numbers"]


@dataclass
class FoldModel:
    """One outer fold's refitted model and its test rows."""

    repeat: int
    fold: int
    estimator: Any
    test: np.ndarray  # positions into the task
    reported: np.ndarray  # the report's predictions for those rows (class names)


def _positions(task: TaskData, ids: Sequence) -> np.ndarray:
    index = pd.Index(task.cell_ids)
    positions = index.get_indexer(list(ids))
    if (positions < 0).any():
        missing = [i for i, p in zip(ids, positions) if p < 0][:5]
        raise ValueError(f"the report names cells the task lacks (e.g. {missing}): another task or feature set?")
    return positions


def _refit_one(task: TaskData, report: Report, entry: Mapping[str, Any], overrides: Mapping[str, Any] | None,
               torch_threads: int | None = None) -> FoldModel:
    if torch_threads is not None:  # parallel workers: one torch thread each (see evaluate)
        torch.set_num_threads(torch_threads)
    spec = get_model(report.model)
    n_folds, seed = report.parameters["n_folds"], report.parameters["seed"]
    needs_inner = report.parameters["n_trials"] > 0 or spec.uses_validation
    fold_seed = seed + fold_index(entry["repeat"], entry["fold"], n_folds)
    train, test = _positions(task, entry["train_ids"]), _positions(task, entry["test_ids"])
    fit_rows, validation_rows = train, None
    if needs_inner:
        fit_rows, validation_rows = inner_split(task, train, report.parameters["validation_fraction"], seed=fold_seed)
    params = {**entry["best_params"], **dict(overrides or {})}
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items()}
    estimator = spec.make(params, seed=fold_seed)
    fit_model(estimator, spec, task, fit_rows if spec.uses_validation else train,
         validation_rows if spec.uses_validation else None)
    predictions = report.predictions_frame()
    mine = predictions[(predictions["repeat"] == entry["repeat"]) & (predictions["fold"] == entry["fold"])]
    reported = mine.set_index("id")["predicted"].loc[task.cell_ids[test]].to_numpy()
    return FoldModel(entry["repeat"], entry["fold"], estimator, test, reported)


def refit_folds(task: TaskData, report: Report, *, overrides: Mapping[str, Any] | None = None,
                repeats: Sequence[int] | None = None, n_jobs: int = 1) -> list[FoldModel]:
    """Refit the model of every outer fold of ``report`` on that fold's training cells.

    Parameters
    ----------
    task
        The task the report was computed on (same cells).
    report
        A report of :func:`~neurotype.protocol.evaluation.evaluate` (its ``per_fold`` holds the training
        and test ids and the final hyperparameters of each fold).
    overrides
        Hyperparameters to change in the refit (e.g. ``{"n_members": 3}``); ``None`` rebuilds
        the reported model exactly.
    repeats
        Refit only these repeats (default: all).
    n_jobs
        Folds are refitted in this many worker processes (one torch thread each).
    """
    if report.task != task.task or report.feature_set != task.feature_set:
        raise ValueError(f"report is for {report.task}/{report.feature_set}, task is {task.task}/{task.feature_set}")
    if report.predictions is None:
        raise ValueError("the report was saved without predictions (keep_predictions=False)")
    entries = [e for e in report.per_fold if repeats is None or e["repeat"] in repeats]
    if n_jobs == 1:
        return [_refit_one(task, report, entry, overrides) for entry in entries]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_refit_one)(task, report, entry, overrides, torch_threads=1) for entry in entries)


@dataclass
class GateResult:
    """Inference gates of held-out cells, one row per (repeat, test cell).

    Attributes
    ----------
    gates
        ``(members, rows, features)``: member 0 is the reported model (the others are extra seeds).
    cells
        One row per test cell: ``id``, ``repeat``, ``fold``, ``true``, ``predicted`` (the refit's
        member-0 prediction) and ``reported`` (the report's prediction).
    features
        Feature names, in the task's fixed order.
    """

    gates: np.ndarray
    cells: pd.DataFrame
    features: tuple[str, ...]

    @property
    def agreement(self) -> float:
        """Share of test cells whose refit prediction equals the report's."""
        return float((self.cells["predicted"] == self.cells["reported"]).mean())

    def frame(self, member: int = 0, repeat: int | None = 0) -> pd.DataFrame:
        """Gates of one member as a DataFrame (index = specimen id), of one repeat (``None``: all)."""
        keep = np.ones(len(self.cells), bool) if repeat is None else (self.cells["repeat"] == repeat).to_numpy()
        return pd.DataFrame(self.gates[member][keep], index=pd.Index(self.cells["id"][keep], name="specimen_id"),
                            columns=list(self.features))

    def labels(self, repeat: int | None = 0) -> np.ndarray:
        keep = np.ones(len(self.cells), bool) if repeat is None else (self.cells["repeat"] == repeat).to_numpy()
        return self.cells["true"].to_numpy()[keep]


def held_out_gates(task: TaskData, report: Report, *, n_members: int = 1,
                   repeats: Sequence[int] | None = None, n_jobs: int = 1) -> GateResult:
    """Gates of every outer fold's test cells, computed by that fold's (refitted) LSPIN.

    ``n_members > 1`` refits each fold as a batched seed ensemble whose member 0 is the reported
    model; the other members (seeds :func:`neurotype.models.lspin.member_seed`) measure how
    stable the gates are across seeds. ``report`` must be of a single LSPIN (``n_members`` 1).
    """
    if report.model != "lspin":
        raise ValueError(f"held_out_gates needs an LSPIN report, got model {report.model!r}")
    if any(entry["best_params"].get("n_members", 1) != 1 for entry in report.per_fold):
        raise ValueError("held_out_gates needs a report of a single LSPIN (n_members=1)")
    models = refit_folds(task, report, overrides={"n_members": int(n_members)}, repeats=repeats, n_jobs=n_jobs)
    gates, rows = [], []
    classes = np.asarray(task.classes)
    for fm in models:
        X = task.X.iloc[fm.test]
        gates.append(fm.estimator.member_gates(X))
        with torch.no_grad():  # member 0 alone: the single LSPIN that the report evaluated
            codes = fm.estimator._logits(fm.estimator._tensor(X)).argmax(1).numpy()
        predicted = classes[fm.estimator.classes_[codes].astype(int)]
        rows.append(pd.DataFrame({"id": task.cell_ids[fm.test], "repeat": fm.repeat, "fold": fm.fold,
                                  "true": task.y[fm.test], "predicted": predicted, "reported": fm.reported}))
    return GateResult(np.concatenate(gates, axis=1), pd.concat(rows, ignore_index=True), task.feature_names)


def cluster_order(matrix: np.ndarray, method: str = "average", metric: str = "euclidean") -> np.ndarray:
    """Row order of a hierarchical clustering (scipy ``linkage``; leaves left to right)."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.ndim != 2 or len(matrix) < 2:
        raise ValueError(f"need a 2-D matrix with at least two rows, got shape {matrix.shape}")
    return leaves_list(linkage(matrix, method=method, metric=metric))


def class_profiles(gates: pd.DataFrame | np.ndarray, labels: Sequence[str], classes: Sequence[str],
                   features: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean gate of each feature over the cells of each class (classes × features)."""
    frame = pd.DataFrame(np.asarray(gates), columns=list(features) if features is not None else
                         (gates.columns if isinstance(gates, pd.DataFrame) else None))
    labels = np.asarray(labels)
    if len(labels) != len(frame):
        raise ValueError(f"{len(labels)} labels for {len(frame)} gate rows")
    missing = sorted(set(classes) - set(labels.tolist()))
    if missing:
        raise ValueError(f"no cells of class(es) {missing}")
    return frame.groupby(labels).mean().loc[list(classes)]


def class_specificity(profiles: pd.DataFrame) -> pd.DataFrame:
    """Each class's mean gate minus the mean of the other classes' mean gates."""
    total = profiles.sum(0)
    others = (total - profiles) / (len(profiles) - 1)
    return profiles - others


def open_gate_counts(gates: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Number of gates per cell above ``threshold`` (``0``: any open gate, ``z > 0``)."""
    return (np.asarray(gates) > threshold).sum(axis=-1)


def profile_stability(gates: np.ndarray, cells: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Spearman correlations between mean gate profiles of every (seed, fold) model.

    Each profile is one model's mean gate per feature over its own test cells.

    Returns
    -------
    corr
        Correlation matrix; index/columns are ``"s<member>/r<repeat>f<fold>"``.
    summary
        Median (and minimum) correlation between profiles of the same fold and different seeds,
        and between different folds of the same seed.
    """
    keys, profiles = [], []
    for (repeat, fold), rows in cells.groupby(["repeat", "fold"]).groups.items():
        for member in range(gates.shape[0]):
            keys.append((member, repeat, fold))
            profiles.append(gates[member][np.asarray(rows)].mean(0))
    names = [f"s{m}/r{r}f{f}" for m, r, f in keys]
    corr = pd.DataFrame(np.array(profiles).T, columns=names).corr(method="spearman").to_numpy()
    same_fold, same_seed = [], []
    for i, a in enumerate(keys):
        for j in range(i + 1, len(keys)):
            b = keys[j]
            if a[1:] == b[1:]:
                same_fold.append(corr[i, j])
            elif a[0] == b[0]:
                same_seed.append(corr[i, j])

    def stats(values: list[float], key: str) -> dict[str, float]:
        if not values:
            return {}
        return {f"{key}_median": float(np.median(values)), f"{key}_min": float(np.min(values)),
                f"{key}_n": len(values)}

    return pd.DataFrame(corr, index=names, columns=names), {**stats(same_fold, "across_seeds"),
                                                            **stats(same_seed, "across_folds")}


def permutation_importances(task: TaskData, report: Report, *, n_repeats: int = 5, seed: int = 0,
                            repeats: Sequence[int] | None = (0,), n_jobs: int = 1) -> pd.DataFrame:
    """Permutation importance (drop in macro F1) of each feature on each fold's held-out cells.

    The fold models are refitted with :func:`refit_folds`; scikit-learn's
    ``permutation_importance`` shuffles one feature of the *test* cells at a time.

    Returns
    -------
    DataFrame
        One row per fold, one column per feature (mean drop over ``n_repeats`` shuffles).
    """
    from sklearn.inspection import permutation_importance

    def macro_f1_score(estimator, X, y):
        return macro_f1(y, estimator.predict(X))

    rows, index = [], []
    for fm in refit_folds(task, report, repeats=repeats, n_jobs=n_jobs):
        result = permutation_importance(fm.estimator, task.X.iloc[fm.test], task.y_codes[fm.test],
                                        scoring=macro_f1_score, n_repeats=n_repeats, random_state=seed + fm.fold)
        rows.append(result.importances_mean)
        index.append(f"r{fm.repeat}f{fm.fold}")
    return pd.DataFrame(rows, index=index, columns=list(task.feature_names))


def rank_agreement(a: pd.Series, b: pd.Series, top: int = 10) -> dict[str, float]:
    """Spearman correlation of two per-feature scores and the overlap of their top ``top`` features."""
    common = a.index.intersection(b.index)
    if len(common) < 3:
        raise ValueError(f"need at least three shared features, got {len(common)}")
    a, b = a.loc[common], b.loc[common]
    top = min(top, len(common))
    overlap = len(set(a.nlargest(top).index) & set(b.nlargest(top).index))
    return {"spearman": float(spearmanr(a, b).statistic), "top": top, "top_overlap": overlap,
            "top_overlap_share": overlap / top}


def defining_features(profiles: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """The ``top`` features of each class by class-specific gate (:func:`class_specificity`).

    Returns one row per (class, rank): ``feature``, ``specificity`` (the class's mean gate minus
    the other classes'), ``class_gate`` and ``others_gate``.
    """
    specific = class_specificity(profiles)
    rows = []
    for label in profiles.index:
        for rank, (feature, value) in enumerate(specific.loc[label].nlargest(top).items(), start=1):
            rows.append({"class": label, "rank": rank, "feature": feature, "specificity": float(value),
                         "class_gate": float(profiles.loc[label, feature]),
                         "others_gate": float(profiles.loc[label, feature] - value)})
    return pd.DataFrame(rows)


def reading_sentences(table: pd.DataFrame, min_specificity: float = 0.05) -> list[str]:
    """One sentence per class from :func:`defining_features`, worded from the numbers.

    A feature counts as defining only when its class opens it at least ``min_specificity`` more
    than the other classes do; a class without one is said to have none.
    """
    sentences = []
    for label, rows in table.groupby("class", sort=False):
        strong = rows[rows["specificity"] >= min_specificity]
        if strong.empty:
            sentences.append(f"{label}: no feature is opened at least {min_specificity:.2f} more than in the "
                             "other classes.")
            continue
        parts = [f"`{r.feature}` ({r.class_gate:.2f} vs {r.others_gate:.2f})" for r in strong.itertuples()]
        sentences.append(f"{label} cells open " + ", ".join(parts) + " more than the other classes do.")
    return sentences


def best_report(reports: Mapping[str, Report], metric: str = "f1_macro") -> str:
    """Label of the report with the highest mean ``metric`` (over all test cells)."""
    if not reports:
        raise ValueError("no reports to choose from")
    return max(reports, key=lambda label: reports[label].metrics["all"][metric]["mean"])


#: The baseline whose permutation importance the gates are compared with: Table 2's SVC, fixed in
#: advance (choosing the best-scoring baseline would select on outer test folds).
IMPORTANCE_BASELINE = "svc"


def gate_numbers(gates: pd.DataFrame, labels: Sequence[str], classes: Sequence[str],
                 profiles: pd.DataFrame) -> dict[str, Any]:
    """What the gate chapter's prose cites about one gate matrix (cells × features)."""
    matrix = gates.to_numpy()
    counts = open_gate_counts(matrix)
    spread = profiles.max(0) - profiles.min(0)
    per_class = pd.Series(counts).groupby(np.asarray(labels)).median().reindex(list(classes))
    return {"n_gate_cells": f"{len(gates):,}", "mean_gate": f"{matrix.mean():.2f}",
            "most_class_dependent": str(spread.idxmax()), "most_class_dependent_spread": f"{spread.max():.2f}",
            "open_median": f"{np.median(counts):.0f}",
            "open_q": f"{np.percentile(counts, 10):.0f}–{np.percentile(counts, 90):.0f}",
            "n_features": f"{matrix.shape[1]}",
            "fully_open_median": f"{np.median(open_gate_counts(matrix, 0.999)):.0f}",
            "per_class_open": {str(k): float(v) for k, v in per_class.items()}}


def stability_numbers(stability: Mapping[str, float]) -> dict[str, str]:
    """Median and minimum correlation of class profiles across seeds and across folds."""
    return {"rho_seeds": f"{stability['across_seeds_median']:.2f}",
            "rho_seeds_min": f"{stability['across_seeds_min']:.2f}",
            "rho_folds": f"{stability['across_folds_median']:.2f}",
            "rho_folds_min": f"{stability['across_folds_min']:.2f}"}


def importance_numbers(mean_gate: pd.Series, importance: pd.Series, agreement: Mapping[str, Any]) -> dict[str, str]:
    """How the mean gate ranks features against a baseline's permutation importance."""
    return {"rho_importance": f"{agreement['spearman']:.2f}", "top_overlap": f"{agreement['top_overlap']}",
            "top_n": f"{agreement['top']}", "top_importance": ", ".join(importance.nlargest(3).index),
            "top_gate": ", ".join(mean_gate.nlargest(3).index)}


def broad_gate_numbers(reports: Mapping[str, Report], metric: str = "balanced_accuracy") -> dict[str, str]:
    """Gated DANN vs DANN vs logistic regression on all and on human test cells (mean ``metric``)."""
    values: dict[str, str] = {}
    for species in ("all", "human"):
        score = {label: reports[label].estimate(species, metric).mean for label in ("gated_dann", "dann", "logreg")}
        values[f"gated_minus_dann_{species}"] = f"{score['gated_dann'] - score['dann']:+.3f}"
        for label, key in (("gated_dann", "gated"), ("dann", "dann"), ("logreg", "logreg")):
            values[f"{key}_{species}"] = f"{score[label]:.3f}"
    return values
