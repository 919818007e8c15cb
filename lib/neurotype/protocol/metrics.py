"""Per-fold classification metrics, their aggregation over folds, and summed confusion matrices.

Per fold (:func:`fold_metrics`) every metric is computed on all test cells and on each species
present among them (keys ``"all"``, ``"mouse"``, ``"human"``). Over folds
(:func:`summarize`) each metric gets a mean, a standard deviation (``ddof=1``) and two 95 %
intervals:

``ci95`` (the one to quote)
    ``mean ± t(0.975, n−1) · sqrt((1/n + n_test/n_train) · sd²)``, the Nadeau–Bengio corrected
    resampled t interval (Nadeau & Bengio 2003, *Machine Learning* 52:239). The ``n`` fold
    scores of repeated cross-validation share most of their training cells, so they are
    positively correlated; the naive ``sd/√n`` treats them as independent and is far too
    narrow. The correction adds ``n_test/n_train`` (``1/(k−1)`` for k-fold CV) to the ``1/n``
    variance factor. It is a heuristic, not an exact interval, and is usually conservative.
``ci95_naive``
    ``mean ± t(0.975, n−1) · sd/√n``, kept for comparison with papers that report it.

Both are clipped to ``[0, 1]`` (every metric here is a proportion). With fewer than two
finite fold scores the spread is undefined and reported as ``None``.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import confusion_matrix

__all__ = [
    "METRIC_NAMES", "metric_name", "prediction_scores", "macro_f1", "balanced_accuracy",
    "OVERALL", "SCALAR_METRICS", "per_class_f1_name", "species_keys", "fold_metrics",
    "naive_interval", "nadeau_bengio_interval", "summarize", "aggregate_folds",
    "confusion_matrices", "format_interval", "format_estimate", "intervals_overlap", "central_95",
]

#: Key of the metrics computed on every test cell regardless of species.
OVERALL = "all"
#: The scalar metrics every fold reports, in a fixed order.
SCALAR_METRICS: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro",
)


def per_class_f1_name(label: str) -> str:
    """Metric name of the F1 score of one class, e.g. ``"f1[spiny]"``."""
    return f"f1[{label}]"


def species_keys(species: Sequence[str] | np.ndarray) -> list[str]:
    """``"all"`` followed by the species present, mouse before human, others sorted."""
    present = set(np.asarray(species, dtype=str).tolist())
    ordered = [s for s in ("mouse", "human") if s in present]
    ordered += sorted(present - {"mouse", "human"})
    return [OVERALL, *ordered]


def _ratios(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros(len(numerator))
    defined = denominator != 0
    out[defined] = numerator[defined] / denominator[defined]
    return out


def _scores(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, float]:
    """Metrics of one set of predictions.

    Macro averages run over the classes present in ``y_true`` or ``y_pred`` (scikit-learn's
    default), so a class absent from a small subset neither helps nor costs. A class's F1 is
    ``nan`` when it is absent from both (undefined, not zero); aggregation skips it.

    The values are scikit-learn's ``accuracy_score``, ``balanced_accuracy_score`` and
    ``f1_score`` / ``precision_score`` / ``recall_score`` (``zero_division=0``), number for number
    (a test compares them on random predictions), computed from one confusion matrix with the
    classes in scikit-learn's order (sorted), so that every mean adds the same numbers in the
    same order. scikit-learn's functions validate and re-encode the labels at each call, about
    8 ms per set of predictions; the book scores thousands.
    """
    classes = list(classes)
    rank = {label: r for r, label in enumerate(sorted(classes))}
    codes = [np.fromiter((rank[label] for label in labels.tolist()), dtype=np.intp, count=len(labels))
             for labels in (y_true, y_pred)]
    k = len(classes)
    confusion = np.bincount(codes[0] * k + codes[1], minlength=k * k).reshape(k, k)
    true_sum, pred_sum, hits = confusion.sum(1), confusion.sum(0), np.diag(confusion)
    f1 = _ratios(2.0 * hits.astype(float), 1.0 * true_sum.astype(float) + pred_sum.astype(float))
    seen = (true_sum + pred_sum) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        recall_where_true = hits[seen] / true_sum[seen]  # balanced accuracy: classes y_true holds
    scores = {
        "accuracy": np.mean(codes[0] == codes[1]),
        "balanced_accuracy": np.mean(recall_where_true[~np.isnan(recall_where_true)]),
        "f1_macro": np.mean(f1[seen]),
        "precision_macro": np.mean(_ratios(hits[seen].astype(float), pred_sum[seen])),
        "recall_macro": np.mean(_ratios(hits[seen].astype(float), true_sum[seen])),
    }
    for label in classes:
        scores[per_class_f1_name(label)] = f1[rank[label]] if seen[rank[label]] else math.nan
    return {name: float(value) for name, value in scores.items()}


def macro_f1(y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray) -> float:
    """scikit-learn's ``f1_score(y_true, y_pred, average="macro", zero_division=0)``."""
    return prediction_scores(y_true, y_pred)["f1_macro"]


def balanced_accuracy(y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray) -> float:
    """scikit-learn's ``balanced_accuracy_score(y_true, y_pred)``."""
    return prediction_scores(y_true, y_pred)["balanced_accuracy"]


def prediction_scores(y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray) -> dict[str, float]:
    """The :data:`SCALAR_METRICS` and each present class's F1 of one set of predictions, over the labels
    present (strings or integer codes, in their own order): scikit-learn's numbers."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"y_true and y_pred must be 1-d, non-empty and the same length, got {y_true.shape} and "
                         f"{y_pred.shape}")
    return _scores(y_true, y_pred, sorted(set(y_true.tolist()) | set(y_pred.tolist())))


def fold_metrics(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray,
                 classes: Sequence[str], species: Sequence[str] | np.ndarray | None = None,
                 ) -> dict[str, dict[str, float]]:
    """Metrics of one fold's test predictions, overall and per species.

    Parameters
    ----------
    y_true, y_pred
        True and predicted labels (values of ``classes``), one per test cell.
    classes
        Every class of the task, in its fixed order (names the per-class F1 scores).
    species
        Species per test cell; ``None`` computes only the ``"all"`` entry.

    Returns
    -------
    dict
        ``{"all" | species: {metric: value}}`` with the :data:`SCALAR_METRICS` and one
        ``f1[<class>]`` per class.
    """
    y_true, y_pred = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-d and the same length, got {y_true.shape} and {y_pred.shape}")
    if y_true.size == 0:
        raise ValueError("no test predictions to score")
    unknown = sorted((set(y_true.tolist()) | set(y_pred.tolist())) - set(classes))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the classes {list(classes)}")
    out = {OVERALL: _scores(y_true, y_pred, classes)}
    if species is not None:
        species = np.asarray(species, dtype=str)
        if species.shape != y_true.shape:
            raise ValueError(f"species has shape {species.shape}, labels have {y_true.shape}")
        for key in species_keys(species)[1:]:
            mask = species == key
            out[key] = _scores(y_true[mask], y_pred[mask], classes)
    return out


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray([np.nan if v is None else v for v in values], dtype=float)
    return array[np.isfinite(array)]


def central_95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """The 2.5 % and 97.5 % percentiles of ``values`` (the range of single splits, bootstrap draws, ...)."""
    values = np.asarray(values, dtype=float)
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def _interval(mean: float, half_width: float) -> list[float]:
    return [float(np.clip(mean - half_width, 0.0, 1.0)), float(np.clip(mean + half_width, 0.0, 1.0))]


def naive_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> list[float] | None:
    """``mean ± t(1 − α/2, n−1) · sd/√n``, clipped to [0, 1]; ``None`` with < 2 finite values.

    Treats fold scores as independent, which they are not; see the module notes. It is the
    Nadeau–Bengio interval without the correction term.
    """
    return nadeau_bengio_interval(values, 0.0, level)


def nadeau_bengio_interval(values: Sequence[float] | np.ndarray, test_train_ratio: float,
                           level: float = 0.95) -> list[float] | None:
    """Corrected resampled t interval: ``mean ± t(1 − α/2, n−1) · sqrt((1/n + n_test/n_train) · sd²)``.

    Parameters
    ----------
    values
        One score per outer fold (all repeats); non-finite values are skipped.
    test_train_ratio
        ``n_test / n_train`` of the outer folds (``1/(k−1)`` for k-fold CV).
    level
        Coverage of the interval.

    Returns
    -------
    list of float or None
        ``[low, high]`` clipped to [0, 1]; ``None`` with fewer than two finite values.
    """
    if not test_train_ratio >= 0:
        raise ValueError(f"test_train_ratio must be >= 0, got {test_train_ratio}")
    values = _finite(values)
    n = values.size
    if n < 2:
        return None
    t = stats.t.ppf(0.5 + level / 2.0, n - 1)
    variance = (1.0 / n + test_train_ratio) * float(values.var(ddof=1))
    return _interval(float(values.mean()), t * math.sqrt(variance))


def summarize(values: Sequence[float] | np.ndarray, test_train_ratio: float,
              level: float = 0.95) -> dict[str, float | list[float] | int | None]:
    """Mean, sd (ddof=1), corrected ``ci95`` and ``ci95_naive`` of one metric over folds.

    Returns
    -------
    dict
        ``{"mean", "sd", "ci95", "ci95_naive", "n"}``; ``n`` counts the finite fold scores,
        undefined entries are ``None``.
    """
    finite = _finite(values)
    n = int(finite.size)
    return {
        "mean": float(finite.mean()) if n else None,
        "sd": float(finite.std(ddof=1)) if n >= 2 else None,
        "ci95": nadeau_bengio_interval(finite, test_train_ratio, level),
        "ci95_naive": naive_interval(finite, level),
        "n": n,
    }


def aggregate_folds(per_fold: Sequence[Mapping[str, Mapping[str, float]]], test_train_ratio: float,
                    level: float = 0.95) -> dict[str, dict[str, dict]]:
    """Summaries of every (species key, metric) found in a list of :func:`fold_metrics` results.

    A species key or metric missing from a fold counts as undefined there.
    """
    keys: list[str] = []
    for fold in per_fold:
        keys += [k for k in fold if k not in keys]
    out: dict[str, dict[str, dict]] = {}
    for key in keys:
        names: list[str] = []
        for fold in per_fold:
            names += [m for m in fold.get(key, {}) if m not in names]
        out[key] = {name: summarize([fold.get(key, {}).get(name, math.nan) for fold in per_fold],
                                    test_train_ratio, level)
                    for name in names}
    return out


def confusion_matrices(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray,
                       classes: Sequence[str], species: Sequence[str] | np.ndarray | None = None,
                       ) -> dict[str, np.ndarray]:
    """Confusion matrices (rows = true, columns = predicted, in ``classes`` order).

    Pass the concatenated predictions of every fold and repeat to get the matrices summed
    over folds. Keys: ``"all"`` and each species present.
    """
    y_true, y_pred = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    labels = list(classes)
    out = {OVERALL: confusion_matrix(y_true, y_pred, labels=labels)}
    if species is not None:
        species = np.asarray(species, dtype=str)
        for key in species_keys(species)[1:]:
            mask = species == key
            out[key] = confusion_matrix(y_true[mask], y_pred[mask], labels=labels)
    return out


#: Display names of the protocol's metric keys.
METRIC_NAMES: dict[str, str] = {
    "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "f1_macro": "macro F1",
    "precision_macro": "macro precision", "recall_macro": "macro recall", "f1_weighted": "weighted F1",
    "precision_weighted": "weighted precision", "recall_weighted": "weighted recall", "roc_auc": "ROC AUC",
}


def metric_name(key: str) -> str:
    """``"f1_macro"`` → ``"macro F1"``; ``"f1[Pvalb]"`` → ``"F1 (Pvalb)"``; unknown keys lose underscores."""
    if key in METRIC_NAMES:
        return METRIC_NAMES[key]
    if key.startswith("f1[") and key.endswith("]"):
        return f"F1 ({key[3:-1]})"
    return key.replace("_", " ")


def format_interval(low: float, high: float, digits: int = 3) -> str:
    """``"[low, high]"`` with ``digits`` decimals."""
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def format_estimate(mean: float, low: float, high: float, digits: int = 3) -> str:
    """``"mean [low, high]"`` with ``digits`` decimals."""
    return f"{mean:.{digits}f} {format_interval(low, high, digits)}"


def intervals_overlap(a: Sequence[float] | None, b: Sequence[float] | None) -> bool:
    """Whether two ``(low, high)`` intervals overlap (``False`` when either is missing)."""
    return bool(a and b and a[0] <= b[1] and b[0] <= a[1])
