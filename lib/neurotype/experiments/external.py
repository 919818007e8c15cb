"""Chapter 08: do models trained on ACTD cells work on another lab's cells?

For one external data set (:mod:`neurotype.data.external`) :func:`run_external`

1. restricts the ACTD subclass task (``actd`` feature set, 1,612 mouse cells) to the features the
   data set's feature map provides;
2. holds out 20 % of the ACTD cells (stratified, duplicate-aware) as an *in-distribution reference*
   that no model is trained on, and trains every model on the other 80 % (the networks keep an
   inner 20 % of those for early stopping);
3. scores the trained models on the external cells — balanced accuracy, macro F1, accuracy,
   per-class recall, confusion matrix, reliability diagram and expected calibration error (ECE),
   with percentile bootstrap intervals over the external cells — and on the held-out ACTD cells;
4. adapts in two ways that never read an external label: **per-lab standardisation** (each
   feature's external mean and standard deviation matched to those of the ACTD training cells of
   the population the study recorded: all of them, or for an interneuron-only study the ACTD
   interneurons) and the paper's **DANN** in unsupervised mode, the external cells being the unlabelled
   target domain (its ``mode="unsupervised"`` masks every target row out of the label loss, see
   :meth:`neurotype.models.dann.DANNClassifier.fit`; ``target_labels_used_`` is checked to be 0);
5. cross-validates the same models on ACTD with the same features
   (:func:`neurotype.protocol.evaluation.evaluate`), so that the gap is the shift alone;
6. scores each external cell's distance from the training cells (k nearest neighbours, class
   Mahalanobis) and the model's confidence, and traces accuracy against coverage.

Networks are trained with several seeds; their numbers are means over seeds, and each bootstrap
replicate resamples the cells once and averages over the seeds on that resample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf
from sklearn.neighbors import NearestNeighbors

from neurotype.data.external import EXTERNAL_SOURCES, external_task
from neurotype.data.preprocessing import make_preprocessor
from neurotype.data.splits import inner_split
from neurotype.data.tables import TaskData, duplicate_groups, subclass_task
from neurotype.models.registry import get_model
from neurotype.protocol.evaluation import Report, evaluate
from neurotype.protocol.metrics import central_95
from neurotype.protocol.reports import Estimate, read_chapter_report

__all__ = [
    "CHAPTER", "ADAPTATIONS", "N_BINS", "N_NEIGHBORS", "OOD_SCORES", "restrict_features", "confusion_counts",
    "expected_calibration_error", "reliability_table", "class_scores", "bootstrap_scores", "per_lab_standardise",
    "feature_shift", "ood_scores", "coverage_curve", "Evaluation", "CoverageCurve", "ExternalRun",
    "run_external", "breakdown", "relabelled", "summary_frame", "counts_frame", "map_frame", "recall_frame",
    "temperature_frame", "coverage_frame", "change", "chapter_numbers", "run_estimates", "ExternalHeadlineRow",
    "external_headline_rows",
]

CHAPTER = "08_external"
#: The ways a model meets the external cells: as trained; after per-lab standardisation; the DANN.
ADAPTATIONS: tuple[str, ...] = ("none", "per-lab standardisation", "DANN")
#: Equal-width confidence bins of the reliability diagram and the ECE.
N_BINS = 10
#: Neighbours of the distance score.
N_NEIGHBORS = 10
#: Per-cell out-of-distribution scores (higher = less like the training cells).
OOD_SCORES: tuple[str, ...] = ("1 - max probability", "kNN distance", "Mahalanobis distance")
_METRICS = ("balanced_accuracy", "f1_macro", "accuracy", "ece")


# --- data -------------------------------------------------------------------------------------

def restrict_features(task: TaskData, features: Sequence[str]) -> TaskData:
    """The same cells on a subset of features (duplicate groups recomputed: fewer features, more ties)."""
    missing = [f for f in features if f not in task.X.columns]
    if missing:
        raise ValueError(f"features {missing} are not in the task's feature set {task.feature_set!r}")
    X = task.X[list(features)]
    return TaskData(task.task, task.feature_set, X, task.y, task.classes, task.species, duplicate_groups(X),
                    task.meta)


# --- scores -----------------------------------------------------------------------------------

def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion counts (rows true, columns predicted) of integer codes 0..K-1."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE: ``Σ_b (n_b / n) |accuracy_b − mean confidence_b|`` over equal-width confidence bins.

    Bin ``b`` holds confidences in ``(b/B, (b+1)/B]`` (the first bin also holds 0), the usual
    convention (Guo et al. 2017).
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.size == 0:
        return math.nan
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, weights=correct, minlength=n_bins) - np.bincount(bins, weights=confidence,
                                                                                     minlength=n_bins))
    return float(gap.sum() / counts.sum())


def reliability_table(confidence: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> pd.DataFrame:
    """Reliability-diagram data: per confidence bin its edges, cells, mean confidence and accuracy."""
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, weights=confidence, minlength=n_bins) / counts
        accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / counts
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame({"low": edges[:-1], "high": edges[1:], "cells": counts, "confidence": mean_confidence,
                         "accuracy": accuracy})


def class_scores(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Scores of one set of predicted probabilities against integer labels.

    Balanced accuracy and macro F1 average over the classes present among the true labels: a
    prediction of a class the data set lacks (Glutamatergic on the human interneurons) is an error
    of its true class and adds no zero-F1 term of its own. Per-class recall is ``nan`` for absent
    classes.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=float)
    n_classes = probabilities.shape[1]
    y_pred = probabilities.argmax(axis=1)
    counts = confusion_counts(y_true, y_pred, n_classes)
    support, predicted, hits = counts.sum(axis=1), counts.sum(axis=0), np.diag(counts)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, hits / np.maximum(support, 1), np.nan)
        precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    confidence = probabilities.max(axis=1)
    correct = y_pred == y_true
    return {"balanced_accuracy": float(np.nanmean(recall[present])), "f1_macro": float(np.mean(f1[present])),
            "accuracy": float(correct.mean()), "ece": expected_calibration_error(confidence, correct),
            "recall": recall, "confusion": counts}


def _replicate_scores(y_true: np.ndarray, probabilities: np.ndarray, index: np.ndarray,
                      n_bins: int = N_BINS) -> dict[str, np.ndarray]:
    """:func:`class_scores` of many resamples at once: ``index`` is (replicates × cells) row positions."""
    n_boot, n_cells = index.shape
    n_classes = probabilities.shape[1]
    y = np.asarray(y_true, dtype=np.int64)[index]
    y_pred = probabilities.argmax(axis=1)[index]
    confidence = probabilities.max(axis=1)[index]
    offset = (np.arange(n_boot) * n_classes * n_classes)[:, None]
    counts = np.bincount((offset + y * n_classes + y_pred).ravel(),
                         minlength=n_boot * n_classes * n_classes).reshape(n_boot, n_classes, n_classes)
    support, predicted = counts.sum(axis=2), counts.sum(axis=1)
    hits = np.diagonal(counts, axis1=1, axis2=2)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, hits / np.maximum(support, 1), np.nan)
        precision = np.where(predicted > 0, hits / np.maximum(predicted, 1), 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0,
                      2 * precision * recall / (precision + recall), 0.0)
    correct = (y_pred == y).astype(float)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    bin_offset = (np.arange(n_boot) * n_bins)[:, None]
    keys = (bin_offset + bins).ravel()
    gap = np.abs(np.bincount(keys, weights=correct.ravel(), minlength=n_boot * n_bins)
                 - np.bincount(keys, weights=confidence.ravel(), minlength=n_boot * n_bins)).reshape(n_boot, n_bins)
    return {"balanced_accuracy": np.nanmean(np.where(present, recall, np.nan), axis=1),
            "f1_macro": np.nanmean(np.where(present, f1, np.nan), axis=1),
            "accuracy": correct.mean(axis=1), "ece": gap.sum(axis=1) / n_cells, "recall": recall}


def bootstrap_scores(y_true: np.ndarray, probabilities: Sequence[np.ndarray], classes: Sequence[str],
                     n_boot: int, seed: int) -> tuple[dict[str, Estimate], dict[str, Estimate]]:
    """Means over seeds of every score, with 95 % percentile intervals from resampling the cells.

    ``probabilities``: one (cells × classes) array per seed. Each of the ``n_boot`` replicates
    draws the cells once (with replacement) and averages the seeds' scores on that draw, so the
    interval reflects which cells were recorded, not which seed was drawn.

    Returns
    -------
    scores, recalls
        ``{metric: Estimate}`` for balanced accuracy, macro F1, accuracy and ECE, and
        ``{class: Estimate}`` of per-class recall (classes absent from ``y_true`` are left out).
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    point = [class_scores(y_true, p) for p in probabilities]
    index = np.random.default_rng(seed).integers(0, len(y_true), (n_boot, len(y_true)))
    replicates = [_replicate_scores(y_true, np.asarray(p, dtype=float), index) for p in probabilities]
    draws = {m: np.mean([r[m] for r in replicates], axis=0) for m in _METRICS}
    with np.errstate(invalid="ignore"):
        recall_draws = np.mean([r["recall"] for r in replicates], axis=0)

    def estimate(mean: float, values: np.ndarray) -> Estimate:
        values = values[np.isfinite(values)]
        if values.size < 2:
            return Estimate(float(mean))
        return Estimate(float(mean), *central_95(values))

    scores = {m: estimate(np.mean([p[m] for p in point]), draws[m]) for m in _METRICS}
    present = np.bincount(y_true, minlength=len(classes)) > 0
    recalls = {label: estimate(np.mean([p["recall"][k] for p in point]), recall_draws[:, k])
               for k, label in enumerate(classes) if present[k]}
    return scores, recalls


# --- adaptation without labels ----------------------------------------------------------------

def per_lab_standardise(X_external: pd.DataFrame, X_reference: pd.DataFrame) -> pd.DataFrame:
    """Match each external feature's mean and standard deviation to the reference (ACTD training) cells'.

    ``x' = (x − mean_ext) / sd_ext · sd_ref + mean_ref``, statistics over the non-missing values of
    each lab's own cells; no label is read. Missing values stay missing. A constant external
    feature is only shifted.
    """
    external = X_external.astype(float)
    reference = X_reference[external.columns].astype(float)
    sd_external = external.std(ddof=0).replace(0.0, 1.0).fillna(1.0)
    return (external - external.mean()) / sd_external * reference.std(ddof=0) + reference.mean()


def feature_shift(X_reference: pd.DataFrame, X_external: pd.DataFrame) -> pd.DataFrame:
    """Per feature: both medians and the external mean's distance from ACTD's in ACTD standard deviations."""
    rows = []
    for feature in X_external.columns:
        reference, external = X_reference[feature].dropna(), X_external[feature].dropna()
        sd = reference.std(ddof=1)
        rows.append({"feature": feature, "ACTD median": float(reference.median()),
                     "external median": float(external.median()),
                     "shift (ACTD sd)": float((external.mean() - reference.mean()) / sd) if sd > 0 else math.nan,
                     "external cells missing it": int(X_external[feature].isna().sum())})
    return pd.DataFrame(rows)


# --- out-of-distribution scores and coverage --------------------------------------------------

def ood_scores(X_train: pd.DataFrame, y_train: np.ndarray, X_query: pd.DataFrame,
               n_neighbors: int = N_NEIGHBORS) -> pd.DataFrame:
    """Distance of each query cell from the training cells, in the training cells' standardised space.

    ``kNN distance``: mean Euclidean distance to the ``n_neighbors`` nearest training cells.
    ``Mahalanobis distance``: to the nearest class mean, with the pooled within-class covariance
    (Ledoit–Wolf shrinkage) — the class-conditional score of Lee et al. (2018). Imputation and
    scaling are fitted on the training cells only.
    """
    preprocessor = make_preprocessor().fit(np.asarray(X_train, dtype=float))
    Z_train = preprocessor.transform(np.asarray(X_train, dtype=float))
    Z_query = preprocessor.transform(np.asarray(X_query, dtype=float))
    neighbours = NearestNeighbors(n_neighbors=n_neighbors).fit(Z_train)
    knn = neighbours.kneighbors(Z_query)[0].mean(axis=1)
    y_train = np.asarray(y_train)
    labels = np.unique(y_train)
    means = np.stack([Z_train[y_train == label].mean(axis=0) for label in labels])
    residuals = Z_train - means[np.searchsorted(labels, y_train)]
    precision = LedoitWolf().fit(residuals).precision_
    differences = Z_query[:, None, :] - means[None, :, :]
    mahalanobis = np.sqrt(np.einsum("nkf,fg,nkg->nk", differences, precision, differences).min(axis=1))
    return pd.DataFrame({"kNN distance": knn, "Mahalanobis distance": mahalanobis}, index=X_query.index)


def coverage_curve(score: np.ndarray, correct: np.ndarray, coverages: Sequence[float]) -> np.ndarray:
    """Accuracy on the share ``c`` of cells with the lowest scores, for each ``c`` (ties kept in order)."""
    order = np.argsort(np.asarray(score, dtype=float), kind="stable")
    correct = np.asarray(correct, dtype=float)[order]
    kept = np.maximum(1, np.ceil(np.asarray(coverages) * len(correct) - 1e-9).astype(int))
    return np.cumsum(correct)[kept - 1] / kept


# --- results ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evaluation:
    """One model, one way of meeting the cells, scored on one set of cells.

    ``scores``: :data:`_METRICS` → :class:`~neurotype.protocol.reports.Estimate` (mean over seeds,
    bootstrap interval over cells); ``recall``: class → Estimate; ``confusion``: counts summed over
    seeds (rows true, columns predicted); ``reliability``: the reliability diagram's bins over the
    seeds' pooled predictions; ``seed_balanced_accuracy``: one per seed.
    """

    dataset: str
    #: the cells scored: the data set's name, another data set's, or "ACTD held-out"
    cells: str
    model: str
    adaptation: str
    n_cells: int
    n_seeds: int
    scores: dict[str, Estimate]
    recall: dict[str, Estimate]
    confusion: pd.DataFrame
    reliability: pd.DataFrame
    seed_balanced_accuracy: tuple[float, ...]
    predicted_share: dict[str, float]

    @property
    def label(self) -> str:
        """``<cells>/<model>/<adaptation>``; for the held-out ACTD cells ``<data set>/<model>/<adaptation>/ACTD held-out``."""
        if self.cells == "ACTD held-out":
            return f"{self.dataset}/{self.model}/{self.adaptation}/ACTD held-out"
        return f"{self.cells}/{self.model}/{self.adaptation}"


@dataclass(frozen=True)
class CoverageCurve:
    """Accuracy against coverage for one model and one score, on the external and held-out ACTD cells.

    ``threshold``: the score's 95th percentile on the held-out ACTD cells; ``flagged``: the share
    of external cells above it (cells the model should not answer for).
    """

    dataset: str
    model: str
    score: str
    coverage: np.ndarray
    external: np.ndarray
    reference: np.ndarray
    threshold: float
    flagged: float
    accuracy_kept: float
    accuracy_flagged: float


@dataclass
class ExternalRun:
    """Everything :func:`run_external` measured on one external data set.

    ``probabilities[(cells, model, adaptation)]``: one (cells × classes) array per seed, for
    ``cells`` = the data set's name, another data set scored by the same models, or
    ``"ACTD held-out"``. ``cells`` holds the external cells' metadata in the same row order.
    """

    dataset: str
    title: str
    species: str
    features: tuple[str, ...]
    counts: pd.DataFrame
    funnel: pd.DataFrame
    feature_map: pd.DataFrame
    shift: pd.DataFrame
    n_train: int
    n_reference: int
    standardisation_reference: str
    evaluations: list[Evaluation]
    references: dict[str, Report]
    coverage: list[CoverageCurve]
    ood: pd.DataFrame
    target_labels_used: int
    classes: tuple[str, ...]
    cells: pd.DataFrame = field(repr=False)
    labels: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    probabilities: dict[tuple[str, str, str], list[np.ndarray]] = field(repr=False, default_factory=dict)
    others: dict[str, dict[str, Any]] = field(default_factory=dict)

    def evaluation(self, model: str, adaptation: str = "none", cells: str | None = None) -> Evaluation:
        """The evaluation of ``model`` met with ``adaptation`` on ``cells`` (default: this data set's)."""
        cells = cells or self.dataset
        for item in self.evaluations:
            if (item.model, item.adaptation, item.cells) == (model, adaptation, cells):
                return item
        raise KeyError(f"{self.dataset}: no evaluation of {model!r} with {adaptation!r} on {cells!r} cells")

    def reference(self, model: str, metric: str = "balanced_accuracy") -> Estimate:
        """``metric`` of ``model`` in ACTD cross-validation on the same features."""
        return self.references[model].estimate("all", metric)


# --- fitting ----------------------------------------------------------------------------------

def _fit_predict(model: str, params: Mapping[str, Any], seed: int, task: TaskData, train: np.ndarray,
                 query: Mapping[str, pd.DataFrame], target: pd.DataFrame | None) -> tuple[dict[str, np.ndarray], int]:
    """Fit one model on ``train`` rows (plus unlabelled ``target`` rows for the DANN); probabilities per query."""
    import torch

    torch.set_num_threads(1)
    spec = get_model(model)
    estimator = spec.make(dict(params), seed=seed)
    fit_rows, validation_rows = (inner_split(task, train, 0.2, seed=seed) if spec.uses_validation
                                 else (train, None))
    X_fit, y_fit = task.X.iloc[fit_rows], task.y_codes[fit_rows]
    kwargs: dict[str, Any] = {}
    if validation_rows is not None:
        kwargs = {"X_val": task.X.iloc[validation_rows], "y_val": task.y_codes[validation_rows]}
    target_labels_used = 0
    if target is not None:
        # The external cells enter as the unlabelled target domain: their label slot holds a
        # placeholder (a training cell's label, never theirs); mode="unsupervised" keeps every
        # target row out of the label loss, and target_labels_used_ counts any that got in.
        X_all = pd.concat([X_fit, target.set_axis(range(len(target)))], ignore_index=True)
        y_all = np.concatenate([y_fit, np.full(len(target), y_fit[0])])
        domains = np.array(["actd"] * len(X_fit) + ["external"] * len(target))
        kwargs["species_val"] = np.array(["actd"] * len(validation_rows))
        estimator.fit(X_all, y_all, species=domains, **kwargs)
        target_labels_used = int(estimator.target_labels_used_)
    else:
        if validation_rows is not None:
            kwargs["species_val"] = task.species[validation_rows]
        estimator.fit(X_fit, y_fit, species=task.species[fit_rows], **kwargs)
    out = {}
    for name, X in query.items():
        probabilities = np.zeros((len(X), len(task.classes)))
        probabilities[:, np.asarray(estimator.classes_, dtype=int)] = estimator.predict_proba(X)
        out[name] = probabilities
    return out, target_labels_used


def _evaluation(dataset: str, cells: str, model: str, adaptation: str, y: np.ndarray,
                probabilities: list[np.ndarray], classes: Sequence[str], n_boot: int, seed: int) -> Evaluation:
    scores, recall = bootstrap_scores(y, probabilities, classes, n_boot, seed)
    confusion = sum(class_scores(y, p)["confusion"] for p in probabilities)
    pooled = np.concatenate(probabilities)
    truth = np.tile(np.asarray(y), len(probabilities))
    reliability = reliability_table(pooled.max(axis=1), pooled.argmax(axis=1) == truth)
    predicted = np.bincount(pooled.argmax(axis=1), minlength=len(classes)) / len(pooled)
    return Evaluation(
        dataset=dataset, cells=cells, model=model, adaptation=adaptation, n_cells=len(y),
        n_seeds=len(probabilities), scores=scores, recall=recall,
        confusion=pd.DataFrame(confusion, index=pd.Index(classes, name="true"),
                               columns=pd.Index(classes, name="predicted")),
        reliability=reliability,
        seed_balanced_accuracy=tuple(class_scores(y, p)["balanced_accuracy"] for p in probabilities),
        predicted_share=dict(zip(classes, map(float, predicted))))


def _coverage(dataset: str, model: str, external_p: list[np.ndarray], reference_p: list[np.ndarray],
              y_external: np.ndarray, y_reference: np.ndarray, ood: pd.DataFrame, ood_reference: pd.DataFrame,
              coverages: np.ndarray) -> list[CoverageCurve]:
    """Accuracy-vs-coverage curves of one model for every score, averaged over its seeds."""
    curves = []
    for score in OOD_SCORES:
        rows = []
        for p_external, p_reference in zip(external_p, reference_p):
            if score == "1 - max probability":
                value_external, value_reference = 1 - p_external.max(axis=1), 1 - p_reference.max(axis=1)
            else:
                value_external, value_reference = ood[score].to_numpy(), ood_reference[score].to_numpy()
            correct_external = p_external.argmax(axis=1) == y_external
            correct_reference = p_reference.argmax(axis=1) == y_reference
            threshold = float(np.percentile(value_reference, 95))
            flagged = value_external > threshold
            rows.append((coverage_curve(value_external, correct_external, coverages),
                         coverage_curve(value_reference, correct_reference, coverages), threshold,
                         float(flagged.mean()),
                         float(correct_external[~flagged].mean()) if (~flagged).any() else math.nan,
                         float(correct_external[flagged].mean()) if flagged.any() else math.nan))
        columns = list(zip(*rows))
        with np.errstate(invalid="ignore"):
            curves.append(CoverageCurve(
                dataset=dataset, model=model, score=score, coverage=coverages,
                external=np.mean(columns[0], axis=0), reference=np.mean(columns[1], axis=0),
                threshold=float(np.mean(columns[2])), flagged=float(np.mean(columns[3])),
                accuracy_kept=float(np.nanmean(columns[4])) if np.isfinite(columns[4]).any() else math.nan,
                accuracy_flagged=float(np.nanmean(columns[5])) if np.isfinite(columns[5]).any() else math.nan))
    return curves


def run_external(dataset: str, *, models: Sequence[str] = ("logreg", "rf", "fcnn"), seed: int = 0,
                 n_seeds: int = 2, n_folds: int = 5, n_repeats: int = 1, n_boot: int = 1000, n_jobs: int = 1,
                 max_epochs: int | None = None, others: Sequence[str] = (),
                 coverages: Sequence[float] = tuple(np.round(np.linspace(0.1, 1.0, 19), 2)),
                 actd: TaskData | None = None) -> ExternalRun:
    """Train on ACTD, test on one external data set, adapt without its labels; see the module notes.

    Parameters
    ----------
    dataset
        A key of :data:`neurotype.data.external.EXTERNAL_SOURCES`.
    models
        Registry names of the models trained on ACTD (each needs ``predict_proba``); the networks
        among them (``fcnn``) are trained with ``n_seeds`` seeds. The unsupervised DANN (the same
        network with the domain-adversarial branch) is always added, with ``n_seeds`` seeds.
    seed
        Seed of the held-out split, of the models (``seed``, ``seed + 1``, …), of the
        cross-validation and of the bootstrap.
    n_folds, n_repeats, n_jobs
        ACTD cross-validation of the same models on the same features (the reference); ``n_jobs``
        worker processes also fit the models.
    n_boot
        Bootstrap resamples of the external cells.
    max_epochs
        Epoch cap of the networks (``None``: each model's default).
    others
        Further external data sets with the same feature map (the M1 cells recorded at 33–34 °C),
        scored by the same fitted models without adaptation.
    actd
        The ACTD ``actd`` subclass task if already loaded.
    """
    from joblib import Parallel, delayed

    external = external_task(dataset)
    features = external.feature_map.actd_features
    actd = restrict_features(actd if actd is not None else subclass_task("actd"), features)
    classes = actd.classes
    train, held_out = inner_split(actd, np.arange(len(actd)), 0.2, seed=seed)
    X_external = external.task.X[list(features)]
    # Per-lab standardisation matches the external cells to the ACTD training cells of the same
    # population: all of them, or (human interneuron study) the ACTD interneurons.
    source = EXTERNAL_SOURCES[dataset]
    population = train if source.population is None else train[np.isin(actd.y[train], source.population)]
    X_standardised = per_lab_standardise(X_external, actd.X.iloc[population])
    other_tasks = {name: external_task(name) for name in others}
    queries = {"external": X_external, "standardised": X_standardised, "reference": actd.X.iloc[held_out],
               **{f"other:{name}": task.task.X[list(features)] for name, task in other_tasks.items()}}
    epochs = {} if max_epochs is None else {"max_epochs": int(max_epochs)}

    def network(name: str) -> bool:
        return get_model(name).uses_validation

    jobs = []
    for model in models:
        for s in range(n_seeds if network(model) else 1):
            jobs.append((model, "none", epochs if network(model) else {}, seed + s, None))
    dann_params = {**epochs, "mode": "unsupervised", "source": "actd", "target": "external"}
    jobs += [("dann", "DANN", dann_params, seed + s, X_external) for s in range(n_seeds)]
    outcomes = Parallel(n_jobs=n_jobs, backend="loky")(
        delayed(_fit_predict)(model, params, s, actd, train,
                              queries if target is None else {"external": X_external, "reference": queries["reference"]},
                              target)
        for model, _, params, s, target in jobs)

    probabilities: dict[tuple[str, str, str], list[np.ndarray]] = {}
    target_labels_used = 0
    for (model, adaptation, _, _, _), (predicted, used) in zip(jobs, outcomes):
        target_labels_used += used
        probabilities.setdefault((dataset, model, adaptation), []).append(predicted["external"])
        probabilities.setdefault(("ACTD held-out", model, adaptation), []).append(predicted["reference"])
        if adaptation == "none":
            probabilities.setdefault((dataset, model, "per-lab standardisation"), []).append(predicted["standardised"])
            for name in other_tasks:
                probabilities.setdefault((name, model, "none"), []).append(predicted[f"other:{name}"])

    labels = {dataset: external.task.y_codes, "ACTD held-out": actd.y_codes[held_out],
              **{name: task.task.y_codes for name, task in other_tasks.items()}}
    evaluations = [_evaluation(dataset, cells, model, adaptation, labels[cells], probs, classes, n_boot, seed)
                   for (cells, model, adaptation), probs in probabilities.items()]
    references = {model: evaluate(actd, model, n_folds=n_folds, n_repeats=n_repeats, seed=seed, n_jobs=n_jobs,
                                  params=epochs if network(model) else None, keep_predictions=False)
                  for model in models}

    ood = ood_scores(actd.X.iloc[train], actd.y_codes[train], X_external)
    ood_reference = ood_scores(actd.X.iloc[train], actd.y_codes[train], actd.X.iloc[held_out])
    coverage = [curve for model in models
                for curve in _coverage(dataset, model, probabilities[(dataset, model, "none")],
                                       probabilities[("ACTD held-out", model, "none")], labels[dataset],
                                       labels["ACTD held-out"], ood, ood_reference, np.asarray(coverages, float))]
    return ExternalRun(
        dataset=dataset, title=source.title, species=source.species, features=tuple(features),
        counts=external.data.label_counts(), funnel=external.funnel_frame(), feature_map=external.feature_map.frame(),
        shift=feature_shift(actd.X.iloc[train], X_external), n_train=len(train), n_reference=len(held_out),
        standardisation_reference="all ACTD training cells" if source.population is None
        else "the ACTD training cells of the study's classes (" + ", ".join(source.population) + ")",
        evaluations=evaluations, references=references, coverage=coverage, ood=ood,
        target_labels_used=target_labels_used, classes=tuple(classes), cells=external.task.meta.reset_index(drop=True),
        labels=labels, probabilities=probabilities,
        others={name: {"title": EXTERNAL_SOURCES[name].title, "counts": task.class_counts(),
                       "funnel": task.funnel_frame(),
                       "shift": feature_shift(actd.X.iloc[train], task.task.X[list(features)])}
                for name, task in other_tasks.items()})


def breakdown(run: ExternalRun, model: str, adaptation: str, column: str) -> pd.DataFrame:
    """Scores of one model on the external cells, per value of a metadata column (e.g. ``condition``).

    Point estimates (means over seeds) and cell counts; the bootstrap intervals of the whole set
    are in :attr:`ExternalRun.evaluations`.
    """
    probabilities = run.probabilities[(run.dataset, model, adaptation)]
    groups = run.cells[column].astype("string").fillna("unknown").to_numpy()
    y = run.labels[run.dataset]
    rows = []
    for group in sorted(set(groups)):
        mask = groups == group
        scores = [class_scores(y[mask], p[mask]) for p in probabilities]
        rows.append({column: group, "cells": int(mask.sum()),
                     **{m: float(np.mean([s[m] for s in scores])) for m in ("balanced_accuracy", "f1_macro", "accuracy")}})
    return pd.DataFrame(rows)


def relabelled(run: ExternalRun, model: str, adaptation: str, column: str) -> dict[str, float]:
    """Balanced accuracy and macro F1 of the same predictions against another label column (e.g. the
    Lee cells' original ``subclass_label``); cells without a class in that column are left out."""
    truth = run.cells[column].to_numpy()
    keep = pd.notna(truth)
    codes = pd.Categorical(truth[keep], categories=run.classes).codes
    scores = [class_scores(codes, p[keep]) for p in run.probabilities[(run.dataset, model, adaptation)]]
    return {m: float(np.mean([s[m] for s in scores])) for m in ("balanced_accuracy", "f1_macro")}


# --- tables and the report --------------------------------------------------------------------

def summary_frame(runs: Sequence[ExternalRun]) -> pd.DataFrame:
    """One row per data set × model × adaptation: ACTD CV, held-out ACTD and external scores ("mean [low, high]")."""
    rows = []
    for run in runs:
        for item in run.evaluations:
            if item.cells != run.dataset:
                continue
            reference = run.references.get(item.model)
            held_out = run.evaluation(item.model, item.adaptation if item.adaptation != "per-lab standardisation"
                                      else "none", "ACTD held-out")
            rows.append({
                "data set": run.dataset, "model": item.model, "adaptation": item.adaptation,
                "ACTD CV": reference.estimate("all", "balanced_accuracy").format() if reference else "–",
                "ACTD held-out": held_out.scores["balanced_accuracy"].format(),
                "external": item.scores["balanced_accuracy"].format(),
                "external macro F1": item.scores["f1_macro"].format(),
                "external ECE": item.scores["ece"].format(),
            })
    return pd.DataFrame(rows)


def _summary(estimate: Estimate) -> dict[str, Any]:
    return {"mean": estimate.mean, "ci95": [estimate.low, estimate.high] if estimate.low is not None else None}


def run_estimates(runs: Sequence[ExternalRun]) -> dict[str, dict]:
    """``estimates[label][species][metric] = {mean, ci95: [low, high]}`` for the chapter report.

    Labels are :attr:`Evaluation.label` (external cells under their species; held-out ACTD cells
    under ``mouse``) and ``<data set>/<model>/ACTD CV`` (the cross-validation reference, ``mouse``).
    Metrics: balanced accuracy, macro F1, accuracy, ECE and ``recall[<class>]``.
    """
    estimates: dict[str, dict] = {}
    for run in runs:
        for item in run.evaluations:
            species = "mouse" if item.cells == "ACTD held-out" else EXTERNAL_SOURCES[item.cells].species
            metrics = {m: _summary(e) for m, e in item.scores.items()}
            metrics.update({f"recall[{c}]": _summary(e) for c, e in item.recall.items()})
            estimates[item.label] = {species: metrics}
        for model, report in run.references.items():
            estimates[f"{run.dataset}/{model}/ACTD CV"] = {"mouse": {
                m: _summary(report.estimate("all", m)) for m in ("balanced_accuracy", "f1_macro", "accuracy")}}
    return estimates


# --- what chapter 08 shows -------------------------------------------------------------------

_SHORT = {"scala2021_m1": "m1", "lee2023_human_gaba": "lee", "scala2021_m1_phys_temp": "m1_warm"}


def counts_frame(runs: Sequence[ExternalRun]) -> pd.DataFrame:
    """Cells per data set, lab label and the book's class they map to."""
    frames = [run.counts.assign(**{"data set": run.dataset}) for run in runs]
    frame = pd.concat(frames, ignore_index=True)
    return frame[["data set", "lab_label", "subclass", "cells"]].rename(
        columns={"lab_label": "lab's label", "subclass": "book's class"})


def map_frame(run: ExternalRun) -> pd.DataFrame:
    """The mapped rows of a data set's feature map, for people."""
    frame = run.feature_map[run.feature_map["ACTD feature"] != "(none)"].copy()
    frame["factor"] = [f"{v:g}" for v in frame["factor"]]
    return frame[["external feature", "ACTD feature", "unit", "factor", "transform", "note"]].reset_index(drop=True)


def recall_frame(runs: Sequence[ExternalRun], model: str) -> pd.DataFrame:
    """Per-class recall of one model: on held-out ACTD cells, and on each data set with each adaptation."""
    columns: dict[str, dict[str, str]] = {}
    for run in runs:
        if "ACTD held-out" not in columns:
            columns["ACTD held-out"] = {c: e.format(2) for c, e in run.evaluation(model, "none", "ACTD held-out").recall.items()}
        for adaptation in ADAPTATIONS:
            name = model if adaptation != "DANN" else "dann"
            item = run.evaluation(name, adaptation)
            columns[f"{_SHORT[run.dataset]}: {adaptation}"] = {c: e.format(2) for c, e in item.recall.items()}
    frame = pd.DataFrame(columns).reindex(list(runs[0].classes))
    frame.index.name = "class"
    return frame.fillna("–")


def temperature_frame(run: ExternalRun, other: str, model: str) -> pd.DataFrame:
    """Per-class recall at room temperature and at 33–34 °C for the classes both recordings hold."""
    warm = run.evaluation(model, "none", other)
    room = run.evaluation(model, "none")
    counts_room = pd.Series(run.labels[run.dataset]).value_counts()
    counts_warm = pd.Series(run.labels[other]).value_counts()
    rows = []
    for k, label in enumerate(run.classes):
        if label in warm.recall and label in room.recall:
            rows.append({"class": label, "cells (room temperature)": int(counts_room.get(k, 0)),
                         "recall (room temperature)": room.recall[label].format(2),
                         "cells (33–34 °C)": int(counts_warm.get(k, 0)),
                         "recall (33–34 °C)": warm.recall[label].format(2)})
    return pd.DataFrame(rows)


def coverage_frame(runs: Sequence[ExternalRun], model: str, at: float = 0.5) -> pd.DataFrame:
    """Per data set and score: share flagged, accuracy of kept and flagged cells, accuracy at coverage ``at``."""
    rows = []
    for run in runs:
        for curve in run.coverage:
            if curve.model != model:
                continue
            k = int(np.argmin(np.abs(curve.coverage - at)))
            rows.append({"data set": run.dataset, "score": curve.score, "flagged": f"{curve.flagged:.0%}",
                         "accuracy, kept": curve.accuracy_kept, "accuracy, flagged": curve.accuracy_flagged,
                         f"accuracy of the {at:.0%} most typical": float(curve.external[k]),
                         "all cells": float(curve.external[-1])})
    return pd.DataFrame(rows)


def change(before: Estimate, after: Estimate) -> str:
    """How ``after`` compares with ``before``, judged by whether their 95 % intervals overlap."""
    if after.low is not None and before.high is not None and after.low > before.high:
        return f"raises it to {after.format()}"
    if after.high is not None and before.low is not None and after.high < before.low:
        return f"lowers it to {after.format()}"
    return f"leaves it where it was, within the intervals ({after.format()})"


def chapter_numbers(runs: Sequence[ExternalRun], model: str, other: str | None = None) -> dict[str, Any]:
    """The numbers chapter 08's prose cites, keyed ``<m1|lee>_<what>`` (text ready to glue)."""
    values: dict[str, Any] = {"focus_model": model, "chance": f"{1 / len(runs[0].classes):.2f}"}
    for run in runs:
        key = _SHORT[run.dataset]
        n_mapped = len(run.features)
        none, dann = run.evaluation(model, "none"), run.evaluation("dann", "DANN")
        standardised = run.evaluation(model, "per-lab standardisation")
        held_out = run.evaluation(model, "none", "ACTD held-out")
        externals = [e.scores["balanced_accuracy"].mean for e in run.evaluations
                     if e.cells == run.dataset and e.adaptation == "none"]
        references = [r.estimate("all", "balanced_accuracy").mean for r in run.references.values()]
        values.update({
            f"{key}_cells": f"{len(run.cells):,}", f"{key}_mapped": str(n_mapped),
            f"{key}_unmapped": str(int((run.feature_map["ACTD feature"] == "(none)").sum())),
            f"{key}_cv": run.reference(model).format(), f"{key}_held_out": held_out.scores["balanced_accuracy"].format(),
            f"{key}_none": none.scores["balanced_accuracy"].format(),
            f"{key}_none_f1": none.scores["f1_macro"].format(),
            f"{key}_standardised": standardised.scores["balanced_accuracy"].format(),
            f"{key}_dann": dann.scores["balanced_accuracy"].format(),
            f"{key}_range": f"{min(externals):.2f}–{max(externals):.2f}",
            f"{key}_cv_range": f"{min(references):.2f}–{max(references):.2f}",
            f"{key}_ece": none.scores["ece"].format(), f"{key}_ece_held_out": held_out.scores["ece"].format(),
            f"{key}_ece_dann": dann.scores["ece"].format(),
            f"{key}_ece_verdict": ("far less calibrated than at home (the intervals do not overlap)"
                                   if (none.scores["ece"].low or 0) > (held_out.scores["ece"].high or 1)
                                   else "about as well calibrated as at home (the intervals overlap)"),
            f"{key}_target_labels": str(run.target_labels_used),
            f"{key}_dann_change": change(none.scores["balanced_accuracy"], dann.scores["balanced_accuracy"]),
            f"{key}_standardised_change": change(none.scores["balanced_accuracy"],
                                                 standardised.scores["balanced_accuracy"]),
            f"{key}_transfer": "keeps" if (none.scores["balanced_accuracy"].high or 0) >= (
                run.reference(model).low or 1) else "loses",
            f"{key}_standardisation_reference": run.standardisation_reference,
            f"{key}_glut_share": f"{none.predicted_share['Glutamatergic']:.0%}",
            f"{key}_glut_share_dann": f"{dann.predicted_share['Glutamatergic']:.0%}",
            f"{key}_largest_shift": run.shift.loc[run.shift["shift (ACTD sd)"].abs().idxmax(), "feature"],
            f"{key}_largest_shift_sd": f"{run.shift['shift (ACTD sd)'].abs().max():.1f}",
        })
        for curve in run.coverage:
            if curve.model == model and curve.score == "1 - max probability":
                k = int(np.argmin(np.abs(curve.coverage - 0.5)))
                values[f"{key}_confident_half"] = f"{curve.external[k]:.2f}"
                values[f"{key}_all_cells"] = f"{curve.external[-1]:.2f}"
                values[f"{key}_confident_half_actd"] = f"{curve.reference[k]:.2f}"
                values[f"{key}_coverage_verdict"] = (
                    "answering only for its more confident half raises its accuracy"
                    if curve.external[k] > curve.external[-1] + 0.05 else
                    "its confidence does not tell its right answers from its wrong ones")
            if curve.model == model and curve.score == "kNN distance":
                values[f"{key}_knn_flagged"] = f"{curve.flagged:.0%}"
        for label, estimate in none.recall.items():
            values[f"{key}_recall_{label.split('|')[0].rstrip('+').lower()}"] = estimate.format(2)
        if "original_subclass" in run.cells:
            values[f"{key}_original_labels"] = f"{relabelled(run, model, 'none', 'original_subclass')['balanced_accuracy']:.3f}"
        if "condition" in run.cells:
            for row in breakdown(run, model, "none", "condition").to_dict(orient="records"):
                values[f"{key}_{row['condition']}"] = f"{row['balanced_accuracy']:.2f} ({row['cells']} cells)"
        if other is not None and other in {e.cells for e in run.evaluations}:
            warm = run.evaluation(model, "none", other)
            shared = [c for c in warm.recall if c in none.recall]
            values["m1_warm_cells"] = f"{warm.n_cells}"
            values["m1_warm_shared"] = ", ".join(shared)
            values["m1_warm_recall"] = f"{np.mean([warm.recall[c].mean for c in shared]):.2f}"
            values["m1_room_recall"] = f"{np.mean([none.recall[c].mean for c in shared]):.2f}"
            warmer = np.mean([warm.recall[c].mean - none.recall[c].mean for c in shared])
            values["m1_warm_verdict"] = (
                "The same models recognise the same classes much better in the cells recorded at ACTD's "
                "temperature, which suggests that much of the M1 shift is temperature rather than the lab"
                if warmer > 0.1 else "Recording at ACTD's temperature does not bring these cells much closer")
    return values


# --- the intro's headline ---------------------------------------------------------------------

_MODEL_NAMES = {"fcnn": "The FCNN", "logreg": "Logistic regression", "rf": "The random forest", "xgb": "XGBoost"}


@dataclass(frozen=True)
class ExternalHeadlineRow:
    """One row of the intro's headline table for one external data set."""

    claim: str
    measured: Estimate
    chapter: str
    verdict: str
    #: whether the ACTD model keeps its ACTD cross-validation accuracy on the external cells
    consistent: bool

    @property
    def short(self) -> str:
        """The verdict in a few words, for a table whose other columns hold the numbers."""
        return "Transfers." if self.consistent else "Does not transfer."


def external_headline_rows(results_dir: Path | str) -> list[ExternalHeadlineRow]:
    """A headline row per external data set, read from ``results_dir/08_external/report.json``.

    The measured number is the balanced accuracy of the chapter's focus model (its ``focus_model``
    parameter, fixed before any run) trained on ACTD and applied without adaptation; the verdict
    sets it beside the same model's ACTD cross-validation on the same features and the DANN.
    """
    report = read_chapter_report(Path(results_dir) / CHAPTER / "report.json")
    model = report.parameters["focus_model"]
    rows = []
    for dataset in report.results["datasets"]:
        source = EXTERNAL_SOURCES[dataset]
        measured = report.estimate(f"{dataset}/{model}/none", source.species, "balanced_accuracy")
        reference = report.estimate(f"{dataset}/{model}/ACTD CV", "mouse", "balanced_accuracy")
        dann = report.estimate(f"{dataset}/dann/DANN", source.species, "balanced_accuracy")
        kept = (measured.high is not None and reference.low is not None and measured.high >= reference.low)
        if kept:
            verdict = (f"Transfers: {measured.format()} against {reference.format()} in ACTD cross-validation "
                       "on the same features.")
        else:
            verdict = (f"Does not transfer: {measured.format()} against {reference.format()} in ACTD "
                       f"cross-validation on the same features; the unsupervised DANN reaches {dann.format()}.")
        rows.append(ExternalHeadlineRow(
            claim=f"{_MODEL_NAMES.get(model, model)} trained on ACTD cells, applied to {source.title}: "
                  "balanced accuracy",
            measured=measured, chapter=CHAPTER, verdict=verdict, consistent=bool(kept)))
    return rows
