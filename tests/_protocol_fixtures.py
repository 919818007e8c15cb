"""Tiny seeded synthetic tasks and a spying model for the protocol tests.

Kept out of ``conftest.py`` on purpose (main has its own): the test modules import from here.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from neurotype.models.baselines import SklearnClassifier
from neurotype.data.tables import TaskData, duplicate_groups
from neurotype.models.spec import ModelSpec


@pytest.fixture(autouse=True)
def protocol_seed():
    """Every protocol test starts from the same global seeds."""
    random.seed(0)
    np.random.seed(0)


def make_task(n_per_stratum: Mapping[tuple[str, str], int] | None = None, n_features: int = 4,
              shift: float = 1.5, nan_share: float = 0.05, seed: int = 0, task: str = "broad",
              classes: tuple[str, ...] = ("aspiny", "spiny")) -> TaskData:
    """A small classification task built directly as a :class:`TaskData`.

    Each class's features are Gaussian around ``shift · class index``; human cells get a
    constant offset (a "domain shift"), a few feature values are missing, and specimen ids
    are large distinct integers like the real ones.
    """
    rng = np.random.default_rng(seed)
    if n_per_stratum is None:
        n_per_stratum = {(c, s): n for c in classes for s, n in (("mouse", 24), ("human", 16))}
    labels, species = [], []
    for (label, organism), n in n_per_stratum.items():
        labels += [label] * n
        species += [organism] * n
    labels, species = np.array(labels), np.array(species)
    codes = pd.Categorical(labels, categories=classes).codes
    X = rng.normal(size=(len(labels), n_features)) + shift * codes[:, None] + 0.7 * (species == "human")[:, None]
    X[rng.random(X.shape) < nan_share] = np.nan
    order = rng.permutation(len(labels))
    X, labels, species = X[order], labels[order], species[order]
    ids = pd.Index(500_000_000 + rng.choice(10_000_000, size=len(labels), replace=False), name="specimen_id")
    frame = pd.DataFrame(X, index=ids, columns=[f"feature_{i}" for i in range(n_features)])
    meta = pd.DataFrame({"species": species, "label": labels}, index=ids)
    return TaskData(task=task, feature_set="synthetic", X=frame, y=labels, classes=classes, species=species,
                    groups=duplicate_groups(frame), meta=meta)


@pytest.fixture
def toy_task() -> TaskData:
    return make_task()


class SpyLog:
    """What every spied model was fitted on and asked to predict (specimen ids)."""

    def __init__(self) -> None:
        self.fits: list[dict[str, Any]] = []
        self.predictions: list[np.ndarray] = []

    def fitted_ids(self) -> set:
        return {i for call in self.fits for i in call["ids"]}

    def validation_ids(self) -> set:
        return {i for call in self.fits for i in call["val_ids"]}


class SpyClassifier:
    """Logistic regression that writes every id it sees into a :class:`SpyLog`."""

    def __init__(self, log: SpyLog, C: float, uses_validation: bool):
        self.log, self.uses_validation = log, uses_validation
        self.model = SklearnClassifier(LogisticRegression(C=C, max_iter=2000))

    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None):
        self.log.fits.append({"ids": list(X.index), "species": list(species),
                              "val_ids": [] if X_val is None else list(X_val.index)})
        self.model.fit(X, y, species=species)
        return self

    def predict(self, X, species=None):
        self.log.predictions.append(np.asarray(X.index))
        return self.model.predict(X, species=species)


def spy_spec(log: SpyLog, uses_validation: bool = False) -> ModelSpec:
    def build(params: Mapping[str, Any], seed: int) -> SpyClassifier:
        return SpyClassifier(log, params["C"], uses_validation)

    return ModelSpec(name="spy", build=build, defaults={"C": 1.0}, uses_validation=uses_validation,
                     search_space=lambda trial: {"C": trial.suggest_float("C", 1e-2, 1e2, log=True)})
