"""Saved models: a directory a lab can share, load safely, and use on its own cells.

Layout of a model directory::

    model.json    task, model name, classes, features (names, order, units), preprocessing
                  statistics, training ranges, hyperparameters, seed, package versions,
                  sha256 of the training data and of every weight file
    weights.pt    PyTorch models: the ``state_dict`` (loaded with ``weights_only=True``)
    model.pkl     scikit-learn models: a pickle, unpickled only after its sha256 matches
                  the one written at save time

Loading checks the schema version, the checksums, and (when asked) the feature set, and
fails with a message that names the directory and the problem.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from neurotype.ephys.features import FEATURE_UNITS
from neurotype.protocol.reports import package_versions, to_jsonable

__all__ = ["SCHEMA_VERSION", "ModelLoadError", "SavedModel", "save_model",
           "load_model", "data_sha256"]

SCHEMA_VERSION = 1
MODEL_JSON, WEIGHTS, PICKLE = "model.json", "weights.pt", "model.pkl"


class ModelLoadError(ValueError):
    """A model directory that cannot be used; the message names the directory and the problem."""


def data_sha256(X: pd.DataFrame, y: np.ndarray) -> str:
    """A fingerprint of the training data (values, order, labels)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(np.asarray(X, dtype=np.float64)).tobytes())
    digest.update("\x00".join(map(str, X.columns)).encode())
    digest.update("\x00".join(map(str, np.asarray(y))).encode())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ImputeScale:
    """The fitted preprocessing of a saved model: median imputation, then standard scaling."""

    def __init__(self, medians: np.ndarray, means: np.ndarray, scales: np.ndarray):
        self.medians, self.means, self.scales = (np.asarray(a, dtype=float) for a in (medians, means, scales))

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return (np.where(np.isnan(X), self.medians, X) - self.means) / self.scales


def _preprocessing_stats(estimator) -> dict[str, list[float]]:
    pipeline = estimator.preprocessor_
    return {"medians": pipeline.named_steps["impute"].statistics_.tolist(),
            "means": pipeline.named_steps["scale"].mean_.tolist(),
            "scales": pipeline.named_steps["scale"].scale_.tolist()}


def _module_for(estimator, n_inputs: int, n_classes: int) -> torch.nn.Module:
    """An untrained network of the estimator's architecture, to load saved weights into."""
    from neurotype.models.base import mlp
    from neurotype.models.dann import DANN, DANNClassifier
    from neurotype.models.fcnn import FCNNClassifier
    from neurotype.models.lspin import LSPIN, LSPINClassifier

    if isinstance(estimator, DANNClassifier):
        return DANN(n_inputs, n_classes, estimator.hidden, estimator.activation, estimator.dropout,
                    estimator.domain_hidden)
    if isinstance(estimator, LSPINClassifier):
        return LSPIN(n_inputs, n_classes, estimator.gate_hidden, estimator.hidden, estimator.activation,
                     estimator.sigma)
    if isinstance(estimator, FCNNClassifier):
        return mlp(n_inputs, estimator.hidden, n_classes, estimator.activation, estimator.dropout)
    raise TypeError(f"cannot rebuild a network for {type(estimator).__name__}")


def _is_torch(estimator) -> bool:
    return isinstance(getattr(estimator, "module_", None), torch.nn.Module)


@dataclass
class SavedModel:
    """A loaded model and its metadata (the parsed ``model.json``)."""

    estimator: Any
    meta: dict
    directory: Path

    @property
    def features(self) -> list[str]:
        return [f["name"] for f in self.meta["features"]]

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])


def save_model(estimator, directory: Path | str, *, task: str, model: str, feature_set: str,
               params: Mapping[str, Any], seed: int, X: pd.DataFrame, y: np.ndarray,
               classes: list[str], species: np.ndarray | None = None, force: bool = False) -> Path:
    """Write a fitted estimator and its metadata into ``directory``.

    ``y`` are the labels the estimator was fitted on (integer codes into ``classes``).
    An existing directory is refused unless ``force``; with ``force`` only the files this
    function writes are replaced.
    """
    directory = Path(directory)
    if int(getattr(estimator, "n_members", 1)) > 1:
        raise ValueError("saving a seed ensemble (n_members > 1) is not supported yet; train with n_members=1")
    if directory.exists() and any(directory.iterdir()) and not force:
        raise FileExistsError(f"{directory}: exists and is not empty; pass --force to overwrite its model files")
    directory.mkdir(parents=True, exist_ok=True)
    names = list(X.columns)
    values = X.to_numpy(dtype=float)
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "task": task, "model": model, "feature_set": feature_set, "classes": list(classes),
        "features": [{"name": n, "unit": FEATURE_UNITS.get(n, "?")} for n in names],
        "training_range": {"low": np.nanmin(values, axis=0).tolist(), "high": np.nanmax(values, axis=0).tolist()},
        "params": to_jsonable(dict(params)), "seed": int(seed),
        "training_data": {"sha256": data_sha256(X, np.asarray(classes, dtype=object)[np.asarray(y, dtype=int)]),
                          "cells": int(len(X)),
                          "species": {s: int(n) for s, n in zip(*np.unique(species, return_counts=True))}
                          if species is not None else None},
        "versions": package_versions(),
    }
    if _is_torch(estimator):
        meta["kind"] = "torch"
        meta["estimator_class"] = type(estimator).__name__
        meta["preprocessing"] = _preprocessing_stats(estimator)
        meta["estimator_classes"] = np.asarray(estimator.classes_).tolist()
        meta["n_inputs"] = len(names) + int(bool(getattr(estimator, "species_flag", False)))
        torch.save(estimator.module_.state_dict(), directory / WEIGHTS)
        meta["files"] = {WEIGHTS: _file_sha256(directory / WEIGHTS)}
        (directory / PICKLE).unlink(missing_ok=True)
    else:
        meta["kind"] = "sklearn"
        with open(directory / PICKLE, "wb") as handle:
            pickle.dump(estimator, handle, protocol=pickle.HIGHEST_PROTOCOL)
        meta["files"] = {PICKLE: _file_sha256(directory / PICKLE)}
        (directory / WEIGHTS).unlink(missing_ok=True)
    (directory / MODEL_JSON).write_text(json.dumps(to_jsonable(meta), indent=2, allow_nan=False) + "\n")
    return directory


def load_model(directory: Path | str, *, feature_set: str | None = None) -> SavedModel:
    """Load a model directory written by :func:`save_model`, verifying it first.

    Raises
    ------
    ModelLoadError
        Missing or unreadable files, a newer schema, a checksum mismatch (a file changed
        after saving), or a model of another feature set than ``feature_set``.
    """
    directory = Path(directory)
    meta_path = directory / MODEL_JSON
    if not directory.is_dir():
        raise ModelLoadError(f"{directory}: not a model directory (it does not exist or is not a folder)")
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ModelLoadError(f"{directory}: no {MODEL_JSON}; not a neurotype model directory") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{meta_path}: unreadable ({error})") from None
    version = meta.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ModelLoadError(f"{meta_path}: schema version {version!r} is newer than this neurotype understands "
                             f"({SCHEMA_VERSION}); upgrade neurotype")
    if feature_set is not None and meta.get("feature_set") != feature_set:
        raise ModelLoadError(f"{directory}: the model was trained on feature set {meta.get('feature_set')!r}, "
                             f"not {feature_set!r}")
    for name, expected in meta.get("files", {}).items():
        path = directory / name
        if not path.is_file():
            raise ModelLoadError(f"{path}: missing")
        if _file_sha256(path) != expected:
            raise ModelLoadError(f"{path}: checksum mismatch; the file changed after the model was saved "
                                 "(refusing to load it)")
    from neurotype.models.registry import get_model

    if meta.get("kind") == "torch":
        try:
            estimator = get_model(meta["model"]).make(meta["params"], seed=meta["seed"])
            estimator.classes_ = np.asarray(meta["estimator_classes"])
            stats = meta["preprocessing"]
            estimator.preprocessor_ = ImputeScale(stats["medians"], stats["means"], stats["scales"])
            module = _module_for(estimator, meta["n_inputs"], len(estimator.classes_))
            module.load_state_dict(torch.load(directory / WEIGHTS, weights_only=True))
        except (KeyError, RuntimeError, ValueError, TypeError) as error:
            raise ModelLoadError(f"{directory}: the weights do not fit the described model ({error})") from None
        estimator.module_ = module.eval()
    elif meta.get("kind") == "sklearn":
        with open(directory / PICKLE, "rb") as handle:
            estimator = pickle.load(handle)  # checksum verified above
    else:
        raise ModelLoadError(f"{meta_path}: unknown model kind {meta.get('kind')!r}")
    return SavedModel(estimator=estimator, meta=meta, directory=directory)

