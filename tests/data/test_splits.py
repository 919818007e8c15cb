"""Splits are seeded, stratified, duplicate-aware; preprocessing never sees test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sklearn.model_selection import StratifiedGroupKFold

from neurotype.data.preprocessing import PerGroupScaler, make_preprocessor
from neurotype.data.splits import inner_split, outer_folds, stratified_group_folds


def _sklearn_folds(strata: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> np.ndarray:
    """Each row's test fold under scikit-learn's own StratifiedGroupKFold (the reference)."""
    fold_of_row = np.full(len(strata), -1)
    splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(len(strata)), strata, groups)):
        fold_of_row[test] = fold
    return fold_of_row


def test_folds_are_scikit_learns_on_random_tables():
    rng = np.random.default_rng(5)
    checked = 0
    while checked < 60:
        rows, n_classes, n_splits = int(rng.integers(20, 300)), int(rng.integers(2, 9)), int(rng.integers(2, 8))
        strata = np.array([f"class {c}" for c in rng.integers(0, n_classes, rows)])
        groups = np.arange(rows)  # singletons, and a random share of rows in shared (duplicate) groups
        shared = rng.random(rows) < rng.random() * 0.5
        groups[shared] = rng.integers(0, max(1, rows // 3), shared.sum())
        if np.unique(strata, return_counts=True)[1].min() < n_splits or len(np.unique(groups)) < n_splits:
            continue
        seed = int(rng.integers(0, 2**31))
        assert np.array_equal(stratified_group_folds(strata, groups, n_splits, seed),
                              _sklearn_folds(strata, groups, n_splits, seed))
        checked += 1


@pytest.mark.parametrize("task_name", ["broad_paper41", "subclass_paper41"])
def test_outer_and_inner_folds_are_scikit_learns_on_the_tasks(task_name, request):
    task = request.getfixturevalue(task_name)
    for seed in (0, 1):
        folds = outer_folds(task, 5, 1, seed=seed)
        reference = _sklearn_folds(task.strata, task.groups, 5, seed)
        assert all(np.array_equal(fold.test, np.flatnonzero(reference == fold.fold)) for fold in folds)
        fit, validation = inner_split(task, folds[seed].train, 0.2, seed=seed + 10)
        inner = _sklearn_folds(task.strata[folds[seed].train], task.groups[folds[seed].train], 5, seed + 10)
        assert np.array_equal(validation, folds[seed].train[inner == 0])
        assert np.array_equal(fit, folds[seed].train[inner != 0])


def test_outer_folds_partition_and_stratify(broad_paper41):
    folds = outer_folds(broad_paper41, n_folds=5, n_repeats=2, seed=3)
    assert len(folds) == 10
    for repeat in range(2):
        tests = np.concatenate([f.test for f in folds if f.repeat == repeat])
        assert np.array_equal(np.sort(tests), np.arange(len(broad_paper41)))
    overall = pd.Series(broad_paper41.strata).value_counts(normalize=True)
    for fold in folds:
        assert not set(fold.train) & set(fold.test)
        share = pd.Series(broad_paper41.strata[fold.test]).value_counts(normalize=True)
        assert (share.reindex(overall.index) - overall).abs().max() < 0.03
        assert {"mouse", "human"} <= set(broad_paper41.species[fold.test])


def test_outer_folds_are_seeded(broad_paper41):
    a = outer_folds(broad_paper41, 5, 1, seed=7)
    b = outer_folds(broad_paper41, 5, 1, seed=7)
    c = outer_folds(broad_paper41, 5, 1, seed=8)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b))
    assert not all(np.array_equal(x.test, y.test) for x, y in zip(a, c))


def test_duplicate_pair_never_split(broad_paper41):
    ids = broad_paper41.cell_ids
    pair = {int(np.flatnonzero(ids == 322762730)[0]), int(np.flatnonzero(ids == 466632464)[0])}
    for seed in range(5):
        for fold in outer_folds(broad_paper41, 5, 1, seed=seed):
            assert pair <= set(fold.test) or pair <= set(fold.train)
            fit, val = inner_split(broad_paper41, fold.train, 0.2, seed=seed)
            assert pair <= set(fit) or pair <= set(val) or not pair & set(fold.train)


def test_inner_split_stays_inside_training_rows(broad_paper41):
    fold = outer_folds(broad_paper41, 5, 1, seed=0)[0]
    fit, val = inner_split(broad_paper41, fold.train, 0.2, seed=0)
    assert set(fit) | set(val) == set(fold.train)
    assert not set(fit) & set(val)
    assert not (set(fit) | set(val)) & set(fold.test)
    assert 0.15 < len(val) / len(fold.train) < 0.25


def test_too_few_cells_for_folds(broad_paper41):
    tiny = broad_paper41.subset(np.r_[0:3, np.flatnonzero(broad_paper41.y == "spiny")[:3]])
    with pytest.raises(ValueError, match="fewer than 5 folds"):
        outer_folds(tiny, 5, 1)


def test_scaler_statistics_come_from_training_rows_only(broad_paper41):
    fold = outer_folds(broad_paper41, 5, 1, seed=0)[0]
    X = broad_paper41.X.to_numpy()
    train, test = X[fold.train], X[fold.test]
    pre = make_preprocessor().fit(train)
    medians = np.nanmedian(train, axis=0)
    assert np.allclose(pre.named_steps["impute"].statistics_, medians)
    imputed = np.where(np.isnan(train), medians, train)
    assert np.allclose(pre.named_steps["scale"].mean_, imputed.mean(axis=0))
    assert np.allclose(pre.named_steps["scale"].scale_, imputed.std(axis=0))
    test_imputed = np.where(np.isnan(test), medians, test)
    assert not np.allclose(pre.named_steps["scale"].mean_, test_imputed.mean(axis=0))
    # the test rows are transformed with the training statistics
    assert np.allclose(pre.transform(test), (test_imputed - imputed.mean(axis=0)) / imputed.std(axis=0))


def test_per_species_scaler_fits_each_species_on_its_training_rows(broad_paper41):
    X, species = broad_paper41.X.to_numpy(), broad_paper41.species
    scaler = PerGroupScaler().fit(X, groups=species)
    out = scaler.transform(X, groups=species)
    for name in ("mouse", "human"):
        assert np.allclose(out[species == name].mean(axis=0), 0, atol=1e-8)
    with pytest.raises(ValueError, match="not seen"):
        scaler.transform(X[:2], groups=np.array(["rat", "rat"]))
