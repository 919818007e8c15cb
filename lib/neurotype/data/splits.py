"""Seeded, stratified, duplicate-aware splits.

Every split stratifies on label × species (:attr:`neurotype.data.tables.TaskData.strata`) and keeps
each duplicate group (:func:`neurotype.data.tables.duplicate_groups`) on one side, so identical cells
can never be both trained on and tested on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from neurotype.data.tables import TaskData

__all__ = ["Fold", "outer_folds", "inner_split", "fold_index"]


@dataclass(frozen=True)
class Fold:
    """Positions (into the task's rows) of one outer fold's training and test cells."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


def _group_kfold(strata: np.ndarray, groups: np.ndarray, n_splits: int, seed: int):
    if n_splits < 2:
        raise ValueError(f"need at least 2 folds, got {n_splits}")
    smallest = int(np.unique(strata, return_counts=True)[1].min())
    if smallest < n_splits:
        raise ValueError(f"the smallest label × species stratum has {smallest} cells, fewer than {n_splits} folds")
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return splitter.split(np.zeros(len(strata)), strata, groups)


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
