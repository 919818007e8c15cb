"""How strongly each feature separates cell classes: effect sizes, not only pictures.

Two classes (broad type: aspiny/inhibitory vs spiny/excitatory)
    * **rank-biserial correlation** ``r = P(X_a > X_b) - P(X_a < X_b)`` from the Mann-Whitney U
      statistic: scale-free, robust to the heavy tails of features such as ``latency``, in [-1, 1];
      ``r = 0.5`` means a cell of class *a* exceeds one of class *b* 75 % of the time. A
      stratified bootstrap gives its percentile interval.
    * **Cohen's d** (difference of means over the pooled standard deviation), the familiar
      parametric companion.
Several classes (five mouse subclasses)
    * **epsilon²** of the Kruskal-Wallis test, ``H / (n - 1)``: the share of rank variance explained
      by the class, in [0, 1];
    * **eta²** of one-way ANOVA, ``SS_between / SS_total``: the same on raw values.
    * **one-vs-rest rank-biserial** per class, to see *which* class a feature singles out.

Every statistic uses the cells where the feature is present (the ramp features are missing for
some cells); p-values are Benjamini-Hochberg adjusted over the features tested.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "cohens_d",
    "rank_biserial",
    "eta_squared",
    "epsilon_squared",
    "bootstrap_rank_biserial",
    "two_class_separation",
    "multi_class_separation",
    "one_vs_rest_rank_biserial",
]


def _clean(values) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def _two_samples(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _clean(a), _clean(b)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"each class needs at least 2 finite values; got {a.size} and {b.size}")
    return a, b


def cohens_d(a, b) -> float:
    """Cohen's d of ``a`` over ``b``: (mean a - mean b) / pooled standard deviation.

    Parameters
    ----------
    a, b : array-like
        Values of the two classes; NaNs are dropped.

    Returns
    -------
    float
        NaN when both classes are constant.
    """
    a, b = _two_samples(a, b)
    pooled = ((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2)
    if pooled == 0:
        return float("nan")
    return float((a.mean() - b.mean()) / np.sqrt(pooled))


def rank_biserial(a, b) -> float:
    """Rank-biserial correlation ``P(a > b) - P(a < b)`` (ties count half), from Mann-Whitney U.

    Parameters
    ----------
    a, b : array-like
        Values of the two classes; NaNs are dropped.

    Returns
    -------
    float
        In [-1, 1]; positive when ``a`` tends to be larger.
    """
    a, b = _two_samples(a, b)
    return _rank_biserial_from_u(stats.mannwhitneyu(a, b, alternative="two-sided").statistic, a.size, b.size)


def _rank_biserial_from_u(u: float, n_a: int, n_b: int) -> float:
    return float(2.0 * u / (n_a * n_b) - 1.0)


def _groups(values, labels) -> tuple[list[np.ndarray], list]:
    values = np.asarray(values, dtype=float).ravel()
    labels = np.asarray(labels, dtype=object).ravel()
    if values.size != labels.size:
        raise ValueError(f"values and labels differ in length: {values.size} and {labels.size}")
    keep = np.isfinite(values) & pd.notna(labels)
    names = sorted(set(labels[keep]), key=str)
    groups = [values[keep & (labels == name)] for name in names]
    if len(groups) < 2 or any(g.size < 1 for g in groups):
        raise ValueError(f"need at least two classes with finite values; got {dict(zip(names, map(len, groups)))}")
    return groups, names


def eta_squared(values, labels) -> float:
    """Eta² of a one-way ANOVA: between-class sum of squares over the total.

    Parameters
    ----------
    values : array-like
        One feature; NaNs are dropped.
    labels : array-like
        Class of each value.

    Returns
    -------
    float
        In [0, 1].
    """
    return _eta_squared(_groups(values, labels)[0])


def _eta_squared(groups: Sequence[np.ndarray]) -> float:
    pooled = np.concatenate(groups)
    total = ((pooled - pooled.mean()) ** 2).sum()
    between = sum(g.size * (g.mean() - pooled.mean()) ** 2 for g in groups)
    return float(between / total) if total > 0 else float("nan")


def epsilon_squared(values, labels) -> float:
    """Epsilon² of the Kruskal-Wallis test, ``H / (n - 1)`` (H with scipy's tie correction).

    Parameters
    ----------
    values : array-like
        One feature; NaNs are dropped.
    labels : array-like
        Class of each value.

    Returns
    -------
    float
        In [0, 1]: the share of the variance of the ranks that the classes explain.
    """
    groups, _ = _groups(values, labels)
    return _epsilon_squared(stats.kruskal(*groups).statistic, sum(g.size for g in groups))


def _epsilon_squared(h: float, n: int) -> float:
    return float(h / (n - 1))


def bootstrap_rank_biserial(a, b, *, n_boot: int = 1000, level: float = 0.95,
                            rng: np.random.Generator) -> tuple[float, float]:
    """Percentile interval of the rank-biserial correlation, resampling each class separately.

    Parameters
    ----------
    a, b : array-like
        Values of the two classes; NaNs are dropped.
    n_boot : int, default 1000
        Bootstrap replicates.
    level : float, default 0.95
        Coverage of the interval.
    rng : numpy.random.Generator
        Seeded source of the resamples.

    Returns
    -------
    (float, float)
        Lower and upper end.
    """
    a, b = _two_samples(a, b)
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10; got {n_boot}")
    boot_a = a[rng.integers(0, a.size, size=(n_boot, a.size))]
    boot_b = b[rng.integers(0, b.size, size=(n_boot, b.size))]
    # Midranks of every replicate at once; U of a = rank sum of a minus its minimum.
    ranks = stats.rankdata(np.concatenate([boot_a, boot_b], axis=1), axis=1)
    u = ranks[:, :a.size].sum(axis=1) - a.size * (a.size + 1) / 2.0
    r = 2.0 * u / (a.size * b.size) - 1.0
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(r, [tail, 1.0 - tail])
    return float(low), float(high)


def _adjust(p_values: pd.Series) -> pd.Series:
    finite = p_values.notna()
    adjusted = pd.Series(np.nan, index=p_values.index)
    if finite.any():
        adjusted[finite] = stats.false_discovery_control(p_values[finite].to_numpy(), method="bh")
    return adjusted


def _check_columns(table: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {', '.join(map(repr, missing))}")


def two_class_separation(table: pd.DataFrame, features: Sequence[str], label: str, class_a: str, class_b: str, *,
                         n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Effect sizes of every feature for class ``class_a`` against ``class_b``.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell, with the feature columns and ``label``.
    features : sequence of str
        Feature columns to score.
    label : str
        Column holding the class.
    class_a, class_b : str
        The two classes; positive effects mean larger values in ``class_a``.
    n_boot : int, default 1000
        Bootstrap replicates of the rank-biserial interval (0 skips the interval).
    seed : int, default 0
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature: ``n_a``, ``n_b``, ``median_a``, ``median_b``, ``rank_biserial``,
        ``rb_low``, ``rb_high``, ``cohens_d``, ``p_value`` (Mann-Whitney), ``p_adjusted`` (BH),
        sorted by ``|rank_biserial|``, largest first.
    """
    _check_columns(table, [*features, label])
    for name in (class_a, class_b):
        if not (table[label] == name).any():
            raise ValueError(f"column {label!r} has no cell of class {name!r}; classes: {sorted(table[label].dropna().unique())}")
    rng = np.random.default_rng(seed)
    rows = {}
    for feature in features:
        a, b = _two_samples(table.loc[table[label] == class_a, feature], table.loc[table[label] == class_b, feature])
        low, high = bootstrap_rank_biserial(a, b, n_boot=n_boot, rng=rng) if n_boot else (np.nan, np.nan)
        test = stats.mannwhitneyu(a, b, alternative="two-sided")
        rows[feature] = {
            "n_a": a.size, "n_b": b.size, "median_a": float(np.median(a)), "median_b": float(np.median(b)),
            "rank_biserial": _rank_biserial_from_u(test.statistic, a.size, b.size), "rb_low": low, "rb_high": high,
            "cohens_d": cohens_d(a, b), "p_value": float(test.pvalue),
        }
    result = pd.DataFrame.from_dict(rows, orient="index")
    result["p_adjusted"] = _adjust(result["p_value"])
    result.index.name = "feature"
    return result.reindex(result["rank_biserial"].abs().sort_values(ascending=False).index)


def multi_class_separation(table: pd.DataFrame, features: Sequence[str], label: str) -> pd.DataFrame:
    """Epsilon², eta² and the Kruskal-Wallis test of every feature across the classes in ``label``.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell, with the feature columns and ``label``.
    features : sequence of str
        Feature columns to score.
    label : str
        Column holding the class.

    Returns
    -------
    pandas.DataFrame
        Indexed by feature: ``n``, ``epsilon_squared``, ``eta_squared``, ``h``, ``p_value``,
        ``p_adjusted`` (BH), sorted by ``epsilon_squared``, largest first.
    """
    _check_columns(table, [*features, label])
    rows = {}
    for feature in features:
        groups, _ = _groups(table[feature], table[label])
        test = stats.kruskal(*groups)
        n = int(sum(g.size for g in groups))
        rows[feature] = {
            "n": n, "epsilon_squared": _epsilon_squared(test.statistic, n), "eta_squared": _eta_squared(groups),
            "h": float(test.statistic), "p_value": float(test.pvalue),
        }
    result = pd.DataFrame.from_dict(rows, orient="index")
    result["p_adjusted"] = _adjust(result["p_value"])
    result.index.name = "feature"
    return result.sort_values("epsilon_squared", ascending=False)


def one_vs_rest_rank_biserial(table: pd.DataFrame, features: Sequence[str], label: str,
                              classes: Sequence[str] | None = None) -> pd.DataFrame:
    """Rank-biserial correlation of each class against all other cells, for every feature.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell, with the feature columns and ``label``.
    features : sequence of str
        Feature columns.
    label : str
        Column holding the class.
    classes : sequence of str, optional
        Column order of the result (default: sorted classes).

    Returns
    -------
    pandas.DataFrame
        Features × classes; positive where the class has larger values than the rest.
    """
    _check_columns(table, [*features, label])
    classes = list(classes) if classes is not None else sorted(table[label].dropna().unique(), key=str)
    values = {}
    for name in classes:
        inside = table[label] == name
        if not inside.any():
            raise ValueError(f"column {label!r} has no cell of class {name!r}")
        values[name] = [rank_biserial(table.loc[inside, f], table.loc[~inside & table[label].notna(), f]) for f in features]
    result = pd.DataFrame(values, index=list(features))
    result.index.name = "feature"
    return result
