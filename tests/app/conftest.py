"""Small saved models of every storage kind, fitted in-process (seconds, one torch thread)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from _saved_fixtures import BROAD_MODELS, QUICK_PARAMS, fit_and_save


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory, broad_paper41, subclass_paper41) -> dict[str, tuple[Path, object]]:
    """Model name -> (its directory, the fitted estimator that was saved)."""
    root = tmp_path_factory.mktemp("saved_models")
    out = {}
    for model in QUICK_PARAMS:
        task = broad_paper41 if model in BROAD_MODELS else subclass_paper41
        out[model] = (root / model, fit_and_save(model, task, root / model))
    return out


@pytest.fixture
def copy_model(saved_models, tmp_path):
    """A fresh copy of a saved model directory, to edit."""
    def copy(model: str) -> Path:
        target = tmp_path / f"{model}_copy"
        shutil.copytree(saved_models[model][0], target)
        return target
    return copy
