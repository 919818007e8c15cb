"""Saved models: a directory a lab can share, and load without running anything it contains.

Layout of a model directory (schema version 2)::

    model.json       task, model name, kind, classes (in order), species seen in training,
                     features (names in order, units, training ranges, typical magnitudes),
                     preprocessing statistics, hyperparameters, seed, package versions,
                     sha256 of the training data and of the weights file
    weights.pt       networks (kind ``torch``): a dict of the state_dict's tensors and a copy
                     of model.json, read with ``torch.load(weights_only=True)``
    model.skops      logreg, svc, rf (kind ``skops``): the fitted scikit-learn estimator and a
                     copy of model.json, read with :mod:`skops.io` after every type in the file
                     has been checked against :data:`SKOPS_ALLOWED_TYPES`
    model.xgb.json   xgb (kind ``xgboost``): XGBoost's own JSON model, the copy of model.json
                     stored as a booster attribute

Nothing is unpickled: the three formats rebuild objects from data, and only objects of a fixed
list of types. The kind, and with it the one weights file read, follows from the model name;
``model.json`` must equal the copy stored inside the weights file field by field, so classes,
features, preprocessing statistics and hyperparameters (hence the architecture) cannot be
edited in one place only. The weights are then checked to fit that description (tensor
shapes, number of inputs, one score per class). Every failure is a :class:`ModelLoadError`
whose one-line message names the file and the problem.

What this does not give: who wrote the directory, or whether its model is any good. A
directory edited consistently in both places loads; it is internally consistent, nothing more.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import pandas as pd

from neurotype.data.tables import SPECIES
from neurotype.ephys.features import FEATURE_UNITS
from neurotype.protocol.reports import package_versions, to_jsonable

if TYPE_CHECKING:  # torch is imported only for networks: predicting with logreg/svc/rf/xgb starts faster
    import torch

__all__ = ["SCHEMA_VERSION", "MODEL_JSON", "WEIGHT_FILES", "SKOPS_ALLOWED_TYPES", "ModelLoadError",
           "ImputeScale", "SavedModel", "save_model", "load_model", "data_sha256", "model_kind",
           "write_atomically"]

#: Version 1 stored scikit-learn models as pickles and did not tie model.json to the weights.
SCHEMA_VERSION = 2
MODEL_JSON = "model.json"
META_KEY = "neurotype_meta"
#: The one weights file of each kind.
WEIGHT_FILES: dict[str, str] = {"torch": "weights.pt", "skops": "model.skops", "xgboost": "model.xgb.json"}
#: Files of earlier schema versions, removed when a directory is overwritten.
LEGACY_FILES = ("model.pkl",)
#: The networks :func:`_module_for` rebuilds (kind ``torch``).
NETWORKS = ("dann", "fcnn", "lspin")
#: The scikit-learn estimator class of each ``skops`` model.
SKLEARN_ESTIMATORS: dict[str, str] = {"logreg": "sklearn.linear_model._logistic.LogisticRegression",
                                      "svc": "sklearn.svm._classes.SVC",
                                      "rf": "sklearn.ensemble._forest.RandomForestClassifier"}
#: Every (skops loader, type) a ``model.skops`` file may hold; anything else is refused before
#: skops reads the file. It is exactly what the three estimators above produce (skops writes
#: every JSON scalar as a ``builtins.str`` JsonNode, and the dict key types as TypeNodes).
SKOPS_ALLOWED_TYPES: frozenset[tuple[str, str]] = frozenset({
    ("DictNode", "builtins.dict"), ("ListNode", "builtins.list"), ("TupleNode", "builtins.tuple"),
    ("JsonNode", "builtins.str"), ("TypeNode", "builtins.str"),
    ("NdArrayNode", "numpy.ndarray"), ("NdArrayNode", "numpy.float64"), ("NdArrayNode", "numpy.int64"),
    *(("ObjectNode", name) for name in SKLEARN_ESTIMATORS.values()),
    ("ObjectNode", "sklearn.tree._classes.DecisionTreeClassifier"), ("TreeNode", "sklearn.tree._tree.Tree"),
})
#: The same types, as skops names them in ``trusted=``.
SKOPS_TRUSTED = sorted({name for _, name in SKOPS_ALLOWED_TYPES})


class ModelLoadError(ValueError):
    """A model directory that cannot be used; the message names the file and the problem."""


def model_kind(model: str) -> str:
    """The storage kind of a savable model name: ``torch``, ``skops`` or ``xgboost``."""
    if model == "xgb":
        return "xgboost"
    if model in SKLEARN_ESTIMATORS:
        return "skops"
    if model in NETWORKS:
        return "torch"
    raise ValueError(f"model {model!r} is not one neurotype saves (those are "
                     f"{', '.join(sorted([*SKLEARN_ESTIMATORS, 'xgb', *NETWORKS]))})")


def _spec(model: str, kind: str):
    """The model's spec; the baselines without the registry, which imports torch for the networks."""
    if kind == "torch":
        from neurotype.models.registry import get_model

        return get_model(model)
    from neurotype.models.baselines import LOGREG, RANDOM_FOREST, SVC_RBF, XGBOOST

    return {spec.name: spec for spec in (LOGREG, SVC_RBF, RANDOM_FOREST, XGBOOST)}[model]


def data_sha256(X: pd.DataFrame, y: np.ndarray) -> str:
    """A fingerprint of the training data (values, order, labels)."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(np.asarray(X, dtype=np.float64)).tobytes())
    digest.update("\x00".join(map(str, X.columns)).encode())
    digest.update("\x00".join(map(str, np.asarray(y))).encode())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_atomically(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    An interrupted write leaves either the old file or the new one, never a mix. The new file
    gets the old one's permissions, or the umask's default for a new file.
    """
    path = Path(path)
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o666 & ~_umask()
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


class ImputeScale:
    """The fitted preprocessing of a saved model: median imputation, then standard scaling."""

    def __init__(self, medians: np.ndarray, means: np.ndarray, scales: np.ndarray):
        self.medians, self.means, self.scales = (np.asarray(a, dtype=float) for a in (medians, means, scales))

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return (np.where(np.isnan(X), self.medians, X) - self.means) / self.scales


@dataclass
class SavedModel:
    """A loaded model and its verified metadata (the parsed ``model.json``)."""

    estimator: Any
    meta: dict
    directory: Path

    @property
    def features(self) -> list[str]:
        return [f["name"] for f in self.meta["features"]]

    @property
    def units(self) -> list[str]:
        return [f["unit"] for f in self.meta["features"]]

    @property
    def training_low(self) -> np.ndarray:
        return np.asarray([f["training_range"][0] for f in self.meta["features"]], dtype=float)

    @property
    def training_high(self) -> np.ndarray:
        return np.asarray([f["training_range"][1] for f in self.meta["features"]], dtype=float)

    @property
    def typical_magnitudes(self) -> np.ndarray:
        """Median absolute value of each feature over the training cells."""
        return np.asarray([f["typical_magnitude"] for f in self.meta["features"]], dtype=float)

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def species(self) -> list[str]:
        """Species of the training cells."""
        return list(self.meta["species"])

    @property
    def uses_species(self) -> bool:
        """Whether predictions depend on each cell's species (the organism input)."""
        return bool(self.meta["params"].get("species_flag", False))


# --- saving -----------------------------------------------------------------------------------

def save_model(estimator, directory: Path | str, *, task: str, model: str, feature_set: str,
               params: Mapping[str, Any], seed: int, X: pd.DataFrame, y: np.ndarray,
               classes: list[str], species: np.ndarray, force: bool = False) -> Path:
    """Write a fitted estimator and its metadata into ``directory``.

    Parameters
    ----------
    estimator
        Fitted on ``X``, ``y`` (integer codes into ``classes``) and ``species`` (one per row).
    force
        Overwrite the model files of an existing, non-empty directory (other files are kept;
        weights files of other kinds or schema versions are removed).

    Each file is written atomically; ``model.json`` last. A directory caught half-way (new
    weights, old ``model.json``) is refused on loading, as the two no longer agree.
    """
    directory = Path(directory)
    kind = model_kind(model)
    _check_savable(estimator, kind, model, len(classes))
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: exists and is not a folder")
    if directory.exists() and any(directory.iterdir()) and not force:
        raise FileExistsError(f"{directory}: exists and is not empty; pass --force to overwrite its model files")
    meta = _metadata(estimator, task=task, model=model, kind=kind, feature_set=feature_set, params=params,
                     seed=seed, X=X, y=y, classes=classes, species=species)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHT_FILES[kind]
    write_atomically(weights, WRITERS[kind](estimator, _canonical(meta)))
    meta["files"] = {weights.name: _file_sha256(weights)}
    for stale in (*WEIGHT_FILES.values(), *LEGACY_FILES):
        if stale != weights.name:
            (directory / stale).unlink(missing_ok=True)
    write_atomically(directory / MODEL_JSON, (json.dumps(meta, indent=2, allow_nan=False) + "\n").encode())
    return directory


def _check_savable(estimator, kind: str, model: str, n_classes: int) -> None:
    if int(getattr(estimator, "n_members", 1)) > 1:
        raise ValueError("saving a seed ensemble (n_members > 1) is not supported yet; train with n_members=1")
    if kind == "torch" and not _is_module(getattr(estimator, "module_", None)):
        raise ValueError(f"model {model!r} is a network but the estimator has no fitted module_")
    if kind != "torch" and _type_name(getattr(estimator, "estimator_", None)) != _estimator_class(model):
        raise ValueError(f"model {model!r} needs a fitted {_estimator_class(model)} as estimator.estimator_")
    if not np.array_equal(np.asarray(estimator.classes_), np.arange(n_classes)):
        raise ValueError(f"the estimator was not fitted on every one of the {n_classes} classes (codes 0..K-1)")


def _is_module(obj) -> bool:
    import torch

    return isinstance(obj, torch.nn.Module)


def _estimator_class(model: str) -> str:
    return "xgboost.sklearn.XGBClassifier" if model == "xgb" else SKLEARN_ESTIMATORS[model]


def _type_name(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _metadata(estimator, *, task: str, model: str, kind: str, feature_set: str, params: Mapping[str, Any],
              seed: int, X: pd.DataFrame, y: np.ndarray, classes: list[str], species: np.ndarray) -> dict:
    """model.json's content (without ``files``), as plain JSON values."""
    names = list(X.columns)
    values = X.to_numpy(dtype=float)
    empty = [n for n, column in zip(names, values.T) if np.isnan(column).all()]
    if empty:
        raise ValueError(f"feature(s) {empty} have no value in the training data")
    unknown = sorted(set(map(str, np.unique(species))) - set(SPECIES))
    if unknown:
        raise ValueError(f"species {unknown} are not among {list(SPECIES)}")
    labels = np.asarray(classes, dtype=object)[np.asarray(y, dtype=int)]
    meta = {
        "schema_version": SCHEMA_VERSION, "task": task, "model": model, "kind": kind, "feature_set": feature_set,
        "classes": list(classes), "species": sorted(set(map(str, species))),
        "features": [{"name": name, "unit": FEATURE_UNITS.get(name, "?"),
                      "training_range": [float(np.nanmin(column)), float(np.nanmax(column))],
                      "typical_magnitude": float(np.nanmedian(np.abs(column)))}
                     for name, column in zip(names, values.T)],
        "preprocessing": _preprocessing_stats(estimator),
        "params": dict(params), "seed": int(seed),
        "training_data": {"sha256": data_sha256(X, labels), "cells": int(len(X)),
                          "species": {s: int(n) for s, n in zip(*np.unique(species, return_counts=True))}},
        "versions": package_versions(),
    }
    # Through JSON once, so that the copy in the weights file is exactly what model.json reads back.
    return json.loads(json.dumps(to_jsonable(meta), allow_nan=False))


def _preprocessing_stats(estimator) -> dict[str, list[float]]:
    pipeline = estimator.preprocessor_
    return {"medians": pipeline.named_steps["impute"].statistics_.tolist(),
            "means": pipeline.named_steps["scale"].mean_.tolist(),
            "scales": pipeline.named_steps["scale"].scale_.tolist()}


def _canonical(meta: Mapping[str, Any]) -> str:
    """The text of the copy of model.json stored in the weights file (``files`` excluded)."""
    return json.dumps({k: v for k, v in meta.items() if k != "files"}, sort_keys=True, allow_nan=False)


def _torch_bytes(estimator, meta_text: str) -> bytes:
    import torch

    buffer = io.BytesIO()
    state = {name: tensor.detach().cpu().clone() for name, tensor in estimator.module_.state_dict().items()}
    torch.save({META_KEY: meta_text, "state_dict": state}, buffer)
    return buffer.getvalue()


def _skops_bytes(estimator, meta_text: str) -> bytes:
    import skops.io

    return skops.io.dumps({META_KEY: meta_text, "estimator": estimator.estimator_})


def _xgboost_bytes(estimator, meta_text: str) -> bytes:
    booster = estimator.estimator_.get_booster()
    booster.set_attr(**{META_KEY: meta_text})
    try:
        with tempfile.TemporaryDirectory() as folder:  # the .json suffix selects XGBoost's JSON format
            path = Path(folder) / "model.json"
            estimator.estimator_.save_model(str(path))
            return path.read_bytes()
    finally:
        booster.set_attr(**{META_KEY: None})


WRITERS: dict[str, Callable[[Any, str], bytes]] = {"torch": _torch_bytes, "skops": _skops_bytes,
                                                   "xgboost": _xgboost_bytes}


# --- loading ----------------------------------------------------------------------------------

def load_model(directory: Path | str, *, feature_set: str | None = None) -> SavedModel:
    """Load a model directory written by :func:`save_model`, verifying it first.

    Raises
    ------
    ModelLoadError
        Missing or unreadable files; another schema version (version 1 held a pickle); a
        model.json that lacks a field, has one of the wrong type, or differs from the copy in
        the weights file; a weights file that holds anything but allowed types, does not fit
        the described model, or whose checksum differs; a model of another feature set than
        ``feature_set``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"{directory}: not a model directory (it does not exist or is not a folder)")
    meta_path = directory / MODEL_JSON
    meta = _read_meta(directory, meta_path)
    _check_meta(meta, meta_path)
    if feature_set is not None and meta["feature_set"] != feature_set:
        raise ModelLoadError(f"{directory}: the model was trained on feature set {meta['feature_set']!r}, "
                             f"not {feature_set!r}")
    weights = directory / WEIGHT_FILES[meta["kind"]]
    _check_checksum(weights, meta["files"], meta_path)
    stored_text, content = READERS[meta["kind"]](weights)
    _check_agreement(meta, stored_text, meta_path, weights)
    estimator = _build(meta, content, weights)
    _check_scores(estimator, meta, weights)
    return SavedModel(estimator=estimator, meta=meta, directory=directory)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _read_meta(directory: Path, meta_path: Path) -> dict:
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except FileNotFoundError:
        raise ModelLoadError(f"{directory}: no {MODEL_JSON}; not a neurotype model directory") from None
    except (ValueError, UnicodeDecodeError, RecursionError, OSError) as error:
        raise ModelLoadError(f"{meta_path}: unreadable ({_one_line(error)})") from None
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{meta_path}: expected a JSON object, found a JSON {type(meta).__name__}")
    return meta


def _check_version(meta: dict, meta_path: Path) -> None:
    version = meta.get("schema_version")
    if type(version) is not int:
        raise ModelLoadError(f"{meta_path}: schema_version must be an integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ModelLoadError(f"{meta_path}: schema version {version} is newer than this neurotype understands "
                             f"({SCHEMA_VERSION}); upgrade neurotype")
    if version == 1:
        raise ModelLoadError(f"{meta_path}: schema version 1 (pickled models, model.json not tied to the weights) "
                             "is no longer loaded because unpickling can run code; re-train the model with "
                             "`neurotype train`, or re-save it from a copy you trust with this version")
    if version != SCHEMA_VERSION:
        raise ModelLoadError(f"{meta_path}: schema version {version} does not exist (this neurotype writes "
                             f"{SCHEMA_VERSION})")


def _check_meta(meta: dict, meta_path: Path) -> None:
    """Every field the loader uses is present, of the right type and of consistent lengths."""
    _check_version(meta, meta_path)
    for key, kind in (("task", str), ("model", str), ("kind", str), ("feature_set", str), ("classes", list),
                      ("species", list), ("features", list), ("preprocessing", dict), ("params", dict),
                      ("seed", int), ("files", dict)):
        if key not in meta:
            raise ModelLoadError(f"{meta_path}: lacks the field {key!r}")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise ModelLoadError(f"{meta_path}: field {key!r} must be a JSON {_JSON_NAMES[kind]}, "
                                 f"got {type(meta[key]).__name__}")
    try:
        expected_kind = model_kind(meta["model"])
    except ValueError as error:
        raise ModelLoadError(f"{meta_path}: {error}") from None
    if meta["kind"] != expected_kind:
        raise ModelLoadError(f"{meta_path}: kind {meta['kind']!r} does not fit model {meta['model']!r} "
                             f"(stored as {expected_kind!r})")
    _check_names(meta["classes"], "classes", meta_path, at_least=2)
    _check_names(meta["species"], "species", meta_path, at_least=1)
    unknown = sorted(set(meta["species"]) - set(SPECIES))
    if unknown:
        raise ModelLoadError(f"{meta_path}: species {unknown} are not among {list(SPECIES)}")
    _check_features(meta["features"], meta_path)
    _check_preprocessing(meta["preprocessing"], len(meta["features"]), meta_path)


_JSON_NAMES = {str: "string", list: "list", dict: "object", int: "integer"}


def _check_names(values: list, field: str, meta_path: Path, at_least: int) -> None:
    if len(values) < at_least or not all(isinstance(v, str) and v for v in values):
        raise ModelLoadError(f"{meta_path}: field {field!r} must list at least {at_least} non-empty string(s)")
    if len(set(values)) != len(values):
        raise ModelLoadError(f"{meta_path}: field {field!r} lists a name twice")


def _check_features(features: list, meta_path: Path) -> None:
    if not features:
        raise ModelLoadError(f"{meta_path}: field 'features' is empty")
    for position, feature in enumerate(features):
        name = feature.get("name") if isinstance(feature, dict) else None
        where = f"feature {position + 1} ({name!r})" if isinstance(name, str) else f"feature {position + 1}"
        if not isinstance(feature, dict):
            raise ModelLoadError(f"{meta_path}: {where} must be a JSON object")
        for key in ("name", "unit", "training_range", "typical_magnitude"):
            if key not in feature:
                raise ModelLoadError(f"{meta_path}: {where} lacks {key!r}")
        if not isinstance(name, str) or not name or not isinstance(feature["unit"], str):
            raise ModelLoadError(f"{meta_path}: {where} needs a non-empty name and a unit (strings)")
        low_high = feature["training_range"]
        if not (_finite_numbers(low_high) and len(low_high) == 2 and low_high[0] <= low_high[1]):
            raise ModelLoadError(f"{meta_path}: {where} needs training_range [low, high], two finite numbers")
        if not (_finite_numbers([feature["typical_magnitude"]]) and feature["typical_magnitude"] >= 0):
            raise ModelLoadError(f"{meta_path}: {where} needs a finite, non-negative typical_magnitude")
    names = [f["name"] for f in features]
    if len(set(names)) != len(names):
        raise ModelLoadError(f"{meta_path}: field 'features' lists a name twice")


def _check_preprocessing(stats: dict, n_features: int, meta_path: Path) -> None:
    for key in ("medians", "means", "scales"):
        values = stats.get(key)
        if not (_finite_numbers(values) and len(values) == n_features):
            raise ModelLoadError(f"{meta_path}: preprocessing {key!r} must be {n_features} finite numbers "
                                 "(one per feature)")
    if min(stats["scales"]) <= 0:
        raise ModelLoadError(f"{meta_path}: preprocessing 'scales' must be positive")


def _finite_numbers(values) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _check_checksum(weights: Path, files: dict, meta_path: Path) -> None:
    """An integrity check against damage in transit; not a defence (whoever edits the file can edit this)."""
    if set(files) != {weights.name}:
        raise ModelLoadError(f"{meta_path}: field 'files' must name exactly {weights.name!r}, "
                             f"got {sorted(files)}")
    if not weights.is_file():
        raise ModelLoadError(f"{weights}: missing")
    if _file_sha256(weights) != files[weights.name]:
        raise ModelLoadError(f"{weights}: checksum mismatch; the file changed after the model was saved "
                             "(refusing to load it)")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:200] + "...") if len(text) > 200 else text or type(error).__name__


# --- the three readers: (copy of model.json as text, weights) without running code -------------

def _read_torch(path: Path) -> tuple[str, dict[str, torch.Tensor]]:
    import torch

    try:
        with warnings.catch_warnings():  # a refusal is one line, not torch's warnings about pickle protocols
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch's message suggests weights_only=False: not advice to pass on
        raise ModelLoadError(f"{path}: not a plain PyTorch weights file (it holds objects other than tensors, "
                             "or is damaged); refusing to load it") from None
    if not (isinstance(payload, dict) and set(payload) == {META_KEY, "state_dict"}
            and isinstance(payload[META_KEY], str) and isinstance(payload["state_dict"], dict)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload["state_dict"].items())):
        raise ModelLoadError(f"{path}: not a neurotype weights file (expected {META_KEY!r} and a state_dict "
                             "of tensors)")
    return payload[META_KEY], payload["state_dict"]


def _read_skops(path: Path) -> tuple[str, Any]:
    import skops.io

    data = path.read_bytes()
    _audit_skops(data, path)
    try:
        payload = skops.io.loads(data, trusted=SKOPS_TRUSTED)
    except Exception as error:
        raise ModelLoadError(f"{path}: refused by skops ({_one_line(error)})") from None
    if not (isinstance(payload, dict) and set(payload) == {META_KEY, "estimator"}
            and isinstance(payload[META_KEY], str)):
        raise ModelLoadError(f"{path}: not a neurotype model file (expected {META_KEY!r} and an estimator)")
    return payload[META_KEY], payload["estimator"]


def _audit_skops(data: bytes, path: Path) -> None:
    """Refuse a skops file naming any loader or type outside :data:`SKOPS_ALLOWED_TYPES`.

    skops trusts every scikit-learn estimator by default; this list is narrower, and is checked
    on the file's schema (plain JSON) before skops builds anything.
    """
    try:
        schema = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"), parse_constant=_reject_constant)
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise ModelLoadError(f"{path}: not a skops file ({_one_line(error)})") from None
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if {"__class__", "__module__", "__loader__"} & set(node):
            entry = (node.get("__loader__"), f"{node.get('__module__')}.{node.get('__class__')}")
            if entry not in SKOPS_ALLOWED_TYPES:
                raise ModelLoadError(f"{path}: holds {entry[1]!r} ({entry[0]}), which is not an allowed type; "
                                     "refusing to load it")
        pending.extend(node.values())


def _read_xgboost(path: Path) -> tuple[str, Any]:
    import xgboost

    data = path.read_bytes()
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
        stored = document["learner"]["attributes"][META_KEY]
    except (ValueError, UnicodeDecodeError, RecursionError, KeyError, TypeError):
        raise ModelLoadError(f"{path}: not an XGBoost JSON model written by neurotype "
                             f"(no learner attribute {META_KEY!r})") from None
    if not isinstance(stored, str):
        raise ModelLoadError(f"{path}: learner attribute {META_KEY!r} is not a string")
    classifier = xgboost.XGBClassifier()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            classifier.load_model(bytearray(data))  # XGBoost's own JSON parser, from the bytes checked above
    except Exception as error:
        raise ModelLoadError(f"{path}: XGBoost cannot read it ({_one_line(error).split(' Stack trace')[0]})") from None
    return stored, classifier


READERS: dict[str, Callable[[Path], tuple[str, Any]]] = {"torch": _read_torch, "skops": _read_skops,
                                                          "xgboost": _read_xgboost}


# --- agreement of model.json with the weights ---------------------------------------------------

def _check_agreement(meta: dict, stored_text: str, meta_path: Path, weights: Path) -> None:
    """model.json (less ``files``) must equal the copy written into the weights file at save time."""
    try:
        stored = json.loads(stored_text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ModelLoadError(f"{weights}: its copy of {MODEL_JSON} is not valid JSON") from None
    difference = _first_difference(json.loads(_canonical(meta)), stored)
    if difference is not None:
        raise ModelLoadError(f"{meta_path}: {difference} differs from the copy stored in {weights.name}; "
                             "one of the two was edited after saving (refusing to load it)")


def _first_difference(ours: Any, theirs: Any, where: str = "") -> str | None:
    """Where two JSON values first differ (``None`` if equal); 1 and 1.0, or true and 1, differ."""
    if type(ours) is not type(theirs):
        return f"field {where or 'model.json'!r}"
    if isinstance(ours, dict):
        for key in sorted(set(ours) | set(theirs)):
            if key not in ours or key not in theirs:
                return f"field {(where + '.' if where else '') + key!r}"
            found = _first_difference(ours[key], theirs[key], (where + "." if where else "") + key)
            if found:
                return found
        return None
    if isinstance(ours, list):
        if len(ours) != len(theirs):
            return f"field {where!r} (length {len(ours)} vs {len(theirs)})"
        for index, (a, b) in enumerate(zip(ours, theirs)):
            found = _first_difference(a, b, f"{where}[{index}]")
            if found:
                return found
        return None
    return None if ours == theirs else f"field {where!r}"


# --- rebuilding the estimator and checking that the weights fit --------------------------------

def _build(meta: dict, content: Any, weights: Path):
    """The estimator of ``meta`` around the loaded weights ``content``."""
    try:
        estimator = _spec(meta["model"], meta["kind"]).make(meta["params"], seed=meta["seed"])
    except (ValueError, TypeError, KeyError) as error:
        raise ModelLoadError(f"{weights.parent / MODEL_JSON}: params do not build a {meta['model']} model "
                             f"({_one_line(error)})") from None
    stats = meta["preprocessing"]
    estimator.preprocessor_ = ImputeScale(stats["medians"], stats["means"], stats["scales"])
    estimator.classes_ = np.arange(len(meta["classes"]))
    n_inputs = len(meta["features"]) + int(bool(meta["params"].get("species_flag", False)))
    if meta["kind"] == "torch":
        _attach_module(estimator, content, n_inputs, len(meta["classes"]), weights)
    else:
        _attach_sklearn(estimator, content, n_inputs, meta["model"], weights)
    return estimator


def _attach_module(estimator, state: dict[str, torch.Tensor], n_inputs: int, n_classes: int, weights: Path) -> None:
    import torch

    bad = [name for name, tensor in state.items() if not bool(torch.isfinite(tensor).all())]
    if bad:
        raise ModelLoadError(f"{weights}: tensor {bad[0]!r} holds NaN or infinite values")
    try:
        module = _module_for(estimator, n_inputs, n_classes)
        module.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as error:
        raise ModelLoadError(f"{weights}: the weights do not fit the architecture model.json describes "
                             f"({_one_line(error)})") from None
    estimator.module_ = module.eval()


def _attach_sklearn(estimator, fitted, n_inputs: int, model: str, weights: Path) -> None:
    from sklearn.preprocessing import LabelEncoder

    if _type_name(fitted) != _estimator_class(model):
        raise ModelLoadError(f"{weights}: holds a {_type_name(fitted)}, not the {_estimator_class(model)} "
                             f"of model {model!r}")
    if getattr(fitted, "n_features_in_", None) != n_inputs:
        raise ModelLoadError(f"{weights}: the estimator takes {getattr(fitted, 'n_features_in_', '?')} inputs, "
                             f"model.json describes {n_inputs}")
    estimator.encoder_ = LabelEncoder()
    estimator.encoder_.classes_ = estimator.classes_
    estimator.estimator_ = fitted


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


def _check_scores(estimator, meta: dict, weights: Path) -> None:
    """One cell at the training medians must get one finite score per class of model.json."""
    cell = np.asarray([meta["preprocessing"]["medians"]], dtype=float)
    species = np.asarray(meta["species"][:1])
    try:
        if hasattr(estimator, "predict_proba"):
            scores = np.asarray(estimator.predict_proba(cell, species=species))
        else:
            scores = np.asarray(estimator.decision_function(cell, species=species))
    except Exception as error:  # a refused model must never surface as a traceback
        raise ModelLoadError(f"{weights}: the model cannot score a cell ({_one_line(error)})") from None
    n_scores = 2 if scores.ndim == 1 else scores.shape[1]  # a binary decision function gives one column
    if n_scores != len(meta["classes"]):
        raise ModelLoadError(f"{weights}: the weights give {n_scores} class scores but model.json lists "
                             f"{len(meta['classes'])} classes")
    if not np.isfinite(scores).all():
        raise ModelLoadError(f"{weights}: the model gives non-finite scores")
