"""Seeded, stratified, duplicate-aware splits.

Every split stratifies on label × species (:attr:`neurotype.data.tables.TaskData.strata`) and keeps
each duplicate group (:func:`neurotype.data.tables.duplicate_groups`) on one side, so identical cells
can never be both trained on and tested on.

The folds are scikit-learn's ``StratifiedGroupKFold(shuffle=True, random_state=seed)`` folds, computed
by :func:`stratified_group_folds`: the same greedy assignment, with each group's candidate folds scored
in one array operation instead of one call per fold. scikit-learn takes about 0.2 s per split of this
project's 1,700 singleton groups; the book makes several hundred splits (every tuned fold's inner split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurotype.data.tables import TaskData

__all__ = ["Fold", "outer_folds", "inner_split", "fold_index", "stratified_group_folds"]


@dataclass(frozen=True)
class Fold:
    """Positions (into the task's rows) of one outer fold's training and test cells."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


# numpy.isclose's default tolerances, which scikit-learn's tie-break uses
_RTOL, _ATOL = 1e-5, 1e-8


def stratified_group_folds(strata: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """The fold (``0 .. n_splits - 1``) of each row: ``StratifiedGroupKFold(n_splits, shuffle=True,
    random_state=seed)``'s test folds, number for number.

    scikit-learn shuffles the groups, orders them by the spread of their class counts, and puts each
    group, in turn, into the fold whose class shares across folds are then the most even (the mean
    over classes of the standard deviation over folds of ``counts / class total``; near ties go to
    the fold with fewer rows). It scores the ``n_splits`` candidate folds one ``np.std`` call at a
    time; here one call scores them all. The counts are integers, so the candidates' count tables are
    the same numbers, and ``np.std`` along an axis of a stack performs, for every candidate, the
    operations it performs on that candidate's table alone (a test checks the folds against
    scikit-learn's on random inputs and on this project's tasks).
    """
    rng = np.random.RandomState(seed)  # sklearn's check_random_state(int)
    _, y_inv, y_cnt = np.unique(strata, return_inverse=True, return_counts=True)
    _, groups_inv, groups_cnt = np.unique(groups, return_inverse=True, return_counts=True)
    n_groups, n_classes = len(groups_cnt), len(y_cnt)
    if n_splits > n_groups:
        raise ValueError(f"cannot split {n_groups} groups of cells into {n_splits} folds")
    y_counts_per_group = np.zeros((n_groups, n_classes))
    np.add.at(y_counts_per_group, (groups_inv.ravel(), y_inv.ravel()), 1)
    perm = np.arange(n_groups)
    rng.shuffle(perm)
    y_counts_per_group = y_counts_per_group[perm]
    inv_perm = np.empty_like(perm)
    inv_perm[perm] = np.arange(n_groups)
    groups_inv = inv_perm[groups_inv.ravel()]
    order = np.argsort(-np.std(y_counts_per_group, axis=1), kind="stable")

    y_counts_per_fold = np.zeros((n_splits, n_classes))
    diagonal = np.arange(n_splits)
    fold_of_group = np.empty(n_groups, dtype=np.intp)
    for group in order:
        counts = y_counts_per_group[group]
        candidates = np.repeat(y_counts_per_fold[None], n_splits, axis=0)
        candidates[diagonal, diagonal] += counts  # candidate i: the group in fold i
        evaluations = np.std(candidates / y_cnt, axis=1).mean(axis=1).tolist()
        samples = y_counts_per_fold.sum(axis=1).tolist()
        best, min_eval, min_samples = 0, evaluations[0], samples[0]
        for i in range(1, n_splits):  # scikit-learn's rule: lower, or as low with fewer rows
            value = evaluations[i]
            if value < min_eval or (abs(value - min_eval) <= _ATOL + _RTOL * abs(min_eval)
                                    and samples[i] < min_samples):
                best, min_eval, min_samples = i, value, samples[i]
        y_counts_per_fold[best] += counts
        fold_of_group[group] = best
    return fold_of_group[groups_inv]


def _group_kfold(strata: np.ndarray, groups: np.ndarray, n_splits: int, seed: int):
    """``(train, test)`` positions of each of the ``n_splits`` folds, in order."""
    if n_splits < 2:
        raise ValueError(f"need at least 2 folds, got {n_splits}")
    smallest = int(np.unique(strata, return_counts=True)[1].min())
    if smallest < n_splits:
        raise ValueError(f"the smallest label × species stratum has {smallest} cells, fewer than {n_splits} folds")
    fold_of_row = stratified_group_folds(strata, groups, n_splits, seed)
    for fold in range(n_splits):
        yield np.flatnonzero(fold_of_row != fold), np.flatnonzero(fold_of_row == fold)


def fold_index(repeat: int, fold: int, n_folds: int) -> int:
    """Running number ``repeat * n_folds + fold`` of an outer fold; fold ``i`` is seeded with ``seed + i``."""
    return int(repeat) * int(n_folds) + int(fold)


def outer_folds(task: TaskData, n_folds: int = 5, n_repeats: int = 5, seed: int = 0) -> list[Fold]:
    """Repeated stratified group K-fold; repeat ``r`` is shuffled with seed ``seed + r``."""
    folds = []
    for repeat in range(n_repeats):
        for k, (train, test) in enumerate(_group_kfold(task.strata, task.groups, n_folds, seed + repeat)):
            folds.append(Fold(repeat, k, np.sort(train), np.sort(test)))
    return folds


def inner_split(task: TaskData, positions: np.ndarray, validation_fraction: float = 0.2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split training positions into fit and validation positions (same stratification and groups).

    Returns positions into ``task`` (a subset of ``positions``), never any other row.
    """
    if not 0.0 < validation_fraction < 0.5:
        raise ValueError(f"validation_fraction must be in (0, 0.5), got {validation_fraction}")
    positions = np.asarray(positions)
    n_splits = int(round(1.0 / validation_fraction))
    fit, validation = next(_group_kfold(task.strata[positions], task.groups[positions], n_splits, seed))
    return np.sort(positions[fit]), np.sort(positions[validation])
