"""Quick model configurations and a fit-and-save helper for the tests of saved models and predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from neurotype.app.saved import save_model
from neurotype.models.registry import get_model

#: One quick configuration per savable model (few epochs / trees: these tests are about files).
QUICK_PARAMS = {
    "logreg": {}, "svc": {}, "rf": {"n_estimators": 5}, "xgb": {"n_estimators": 5},
    "fcnn": {"max_epochs": 2, "species_flag": True}, "dann": {"max_epochs": 2}, "lspin": {"epochs": 5},
}
#: The broad task (mouse and human cells) for the models that need both species.
BROAD_MODELS = ("fcnn", "dann")


def fit_and_save(model: str, task, directory: Path):
    """Fit ``model`` on ``task`` and save it to ``directory``; returns the fitted estimator."""
    torch.set_num_threads(1)
    params = get_model(model).params(QUICK_PARAMS[model])
    estimator = get_model(model).make(params, seed=0)
    estimator.fit(task.X, task.y_codes, species=task.species)
    save_model(estimator, directory, task=task.task, model=model,
               feature_set=task.feature_set, params=params, seed=0, X=task.X, y=task.y_codes,
               classes=list(task.classes), species=task.species)
    return estimator


def rows_of(task, count: int = 25) -> np.ndarray:
    """Every k-th row of a task, ``count`` of them (a fixed, spread-out sample)."""
    return np.linspace(0, len(task) - 1, count).astype(int)
