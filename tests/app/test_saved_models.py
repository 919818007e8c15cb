"""Saved model directories: exact round trips, no code run whatever a file says, model.json tied to the weights."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
import torch

from neurotype.app.saved import (SCHEMA_VERSION, SKOPS_TRUSTED, WEIGHT_FILES, ModelLoadError, load_model,
                                 model_kind, save_model, write_atomically)

from _saved_fixtures import QUICK_PARAMS, rows_of


class WritesMarker:
    """Unpickling this runs code: ``exec`` writes the marker file (the issue's crafted pickle)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "CODE_RAN"


def payload(marker: Path) -> bytes:
    return pickle.dumps(WritesMarker(marker))


def refused(directory: Path, marker: Path, expected: str) -> str:
    """Load ``directory``: it must be refused with one line containing ``expected``, no code run."""
    with pytest.raises(ModelLoadError) as caught:
        load_model(directory)
    message = str(caught.value)
    assert not marker.exists(), "a payload ran while loading"
    assert "\n" not in message and str(directory) in message
    assert expected in message, message
    return message


def read_meta(directory: Path) -> dict:
    return json.loads((directory / "model.json").read_text())


def write_meta(directory: Path, meta) -> None:
    (directory / "model.json").write_text(json.dumps(meta))


def restamp(directory: Path, weights: str) -> None:
    """Record a replaced weights file's sha256 in model.json: the attacker controls every file."""
    meta = read_meta(directory)
    meta["files"] = {weights: hashlib.sha256((directory / weights).read_bytes()).hexdigest()}
    write_meta(directory, meta)


def test_the_planted_payload_is_live(marker):
    """Unpickled, the payload does write the marker: the refusals below are not vacuous."""
    pickle.loads(payload(marker))
    assert marker.read_text() == "code ran"


# --- round trips ------------------------------------------------------------------------------

@pytest.mark.parametrize("model", list(QUICK_PARAMS))
def test_a_loaded_model_predicts_exactly_as_the_saved_one(saved_models, model, broad_paper41, subclass_paper41):
    directory, original = saved_models[model]
    task = broad_paper41 if model in ("fcnn", "dann") else subclass_paper41
    rows = rows_of(task)
    X, species = task.X.iloc[rows], task.species[rows]
    loaded = load_model(directory)
    score = "predict_proba" if hasattr(original, "predict_proba") else "decision_function"
    expected = getattr(original, score)(X, species=species)
    assert np.allclose(getattr(loaded.estimator, score)(X, species=species), expected, rtol=0, atol=1e-12)
    assert list(loaded.estimator.predict(X, species=species)) == list(original.predict(X, species=species))
    assert sorted(os.listdir(directory)) == sorted(["model.json", WEIGHT_FILES[model_kind(model)]])
    meta = read_meta(directory)
    assert meta["schema_version"] == SCHEMA_VERSION == 2 and meta["classes"] == list(task.classes)
    assert meta["species"] == sorted(set(task.species))


def test_the_lspin_gates_survive_the_round_trip(saved_models, subclass_paper41):
    directory, original = saved_models["lspin"]
    X = subclass_paper41.X.iloc[rows_of(subclass_paper41)]
    assert np.array_equal(load_model(directory).estimator.gates(X), original.gates(X))


def test_every_feature_has_a_unit_a_training_range_and_a_typical_magnitude(saved_models, subclass_paper41):
    features = read_meta(saved_models["logreg"][0])["features"]
    tau = next(f for f in features if f["name"] == "tau")
    values = subclass_paper41.X["tau"].dropna()
    assert tau["unit"] == "ms" and tau["training_range"] == [values.min(), values.max()]
    assert tau["typical_magnitude"] == pytest.approx(float(np.median(values.abs())))
    assert all(f["unit"] != "?" for f in features)


# --- nothing runs, whatever the files say -----------------------------------------------------

def test_a_pickle_as_model_json_is_refused(copy_model, marker):
    directory = copy_model("logreg")
    (directory / "model.json").write_bytes(payload(marker))
    refused(directory, marker, "unreadable")


def _plant_model_pkl(directory: Path, marker, edit_meta) -> None:
    """Edit model.json with ``edit_meta(meta)`` and plant a pickle as model.pkl."""
    meta = read_meta(directory)
    edit_meta(meta)
    write_meta(directory, meta)
    (directory / "model.pkl").write_bytes(payload(marker))


def test_a_model_json_without_files_and_a_planted_model_pkl(copy_model, marker):
    """The issue's reproduction: without a ``files`` entry the old loader unpickled model.pkl unchecked."""
    directory = copy_model("logreg")
    _plant_model_pkl(directory, marker, lambda meta: meta.pop("files"))
    refused(directory, marker, "lacks the field 'files'")


def test_kind_sklearn_on_a_torch_model_with_a_planted_model_pkl(copy_model, marker):
    directory = copy_model("lspin")
    _plant_model_pkl(directory, marker, lambda meta: meta.update(
        kind="sklearn", files={"model.pkl": hashlib.sha256(payload(marker)).hexdigest()}))
    refused(directory, marker, "kind 'sklearn' does not fit model 'lspin'")


def test_a_torch_model_relabelled_as_logreg_reads_only_model_skops(copy_model, marker):
    directory = copy_model("lspin")
    meta = read_meta(directory)
    meta.update(model="logreg", kind="skops")
    write_meta(directory, meta)
    (directory / "model.skops").write_bytes(payload(marker))
    restamp(directory, "model.skops")
    refused(directory, marker, "not a skops file")


def test_a_schema_1_directory_with_a_pickle_is_refused_with_a_way_forward(copy_model, marker):
    directory = copy_model("logreg")
    _plant_model_pkl(directory, marker, lambda meta: meta.update(
        schema_version=1, files={"model.pkl": hashlib.sha256(payload(marker)).hexdigest()}))
    message = refused(directory, marker, "schema version 1")
    assert "re-train" in message and "neurotype train" in message


@pytest.mark.parametrize("how", ["pickled object inside", "bare pickle"])
def test_weights_pt_holding_pickled_objects_is_refused(copy_model, marker, how):
    directory = copy_model("lspin")
    weights = directory / "weights.pt"
    if how == "bare pickle":
        weights.write_bytes(payload(marker))
    else:
        stored = torch.load(weights, weights_only=True)
        stored["state_dict"]["evil"] = WritesMarker(marker)
        torch.save(stored, weights)
    restamp(directory, "weights.pt")
    refused(directory, marker, "not a plain PyTorch weights file")


@pytest.mark.parametrize("model, file, message", [
    ("rf", "model.skops", "not a skops file"),
    ("xgb", "model.xgb.json", "not an XGBoost JSON model written by neurotype")])
def test_a_pickle_in_place_of_the_model_file_is_refused(copy_model, marker, model, file, message):
    directory = copy_model(model)
    (directory / file).write_bytes(payload(marker))
    restamp(directory, file)
    refused(directory, marker, message)


def _rewrite_skops_schema(path: Path, edit) -> None:
    """Edit schema.json inside a skops zip (what a crafted file would hold)."""
    source = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "schema.json":
                data = json.dumps(edit(json.loads(data))).encode()
            target.writestr(name, data)
    path.write_bytes(out.getvalue())


def test_a_skops_file_naming_a_function_is_refused(copy_model, marker):
    """A crafted schema calling ``builtins.exec``: refused before skops builds anything."""
    directory = copy_model("logreg")

    def plant(schema):
        schema["content"]["estimator"] = {
            "__class__": "exec", "__module__": "builtins", "__loader__": "FunctionNode", "__id__": 1,
            "content": {"module_path": "builtins", "function": "exec"}}
        return schema

    _rewrite_skops_schema(directory / "model.skops", plant)
    restamp(directory, "model.skops")
    refused(directory, marker, "'builtins.exec' (FunctionNode), which is not an allowed type")


def test_a_skops_file_with_a_type_skops_would_trust_but_neurotype_does_not(copy_model, marker):
    """skops trusts every scikit-learn estimator by default; the allowlist here is narrower."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    directory = copy_model("logreg")
    stored = skops.io.loads((directory / "model.skops").read_bytes(), trusted=SKOPS_TRUSTED)
    stored["estimator"] = Pipeline([("scale", StandardScaler())])
    (directory / "model.skops").write_bytes(skops.io.dumps(stored))
    restamp(directory, "model.skops")
    refused(directory, marker, "'sklearn.pipeline.Pipeline' (ObjectNode), which is not an allowed type")


# --- model.json cannot change the meaning on its own -----------------------------------------

def _swap_classes(meta):
    meta["classes"] = meta["classes"][::-1]


def _rename_class(meta):
    meta["classes"][0] = "Renamed"


def _reorder_features(meta):
    meta["features"][0], meta["features"][1] = meta["features"][1], meta["features"][0]


def _edit_mean(meta):
    meta["preprocessing"]["means"][3] += 1.0


def _fewer_classes(meta):
    meta["classes"] = meta["classes"][:-1]


def _claim_human_cells(meta):
    meta["species"] = ["human", "mouse"]


EDITS = {"swapped classes": (_swap_classes, "field 'classes[0]'"),
         "renamed class": (_rename_class, "field 'classes[0]'"),
         "reordered features": (_reorder_features, "field 'features[0].name'"),
         "edited preprocessing mean": (_edit_mean, "field 'preprocessing.means[3]'"),
         "fewer classes than the weights": (_fewer_classes, "field 'classes' (length"),
         "species never seen": (_claim_human_cells, "field 'species'")}


@pytest.mark.parametrize("model", ["logreg", "xgb", "lspin"])
@pytest.mark.parametrize("edit", list(EDITS))
def test_editing_model_json_alone_is_refused(copy_model, marker, model, edit):
    directory = copy_model(model)
    change, expected = EDITS[edit]
    meta = read_meta(directory)
    change(meta)
    write_meta(directory, meta)
    message = refused(directory, marker, expected)
    assert f"differs from the copy stored in {WEIGHT_FILES[model_kind(model)]}" in message


def test_editing_the_architecture_alone_is_refused(copy_model, marker):
    directory = copy_model("lspin")
    meta = read_meta(directory)
    meta["params"]["architecture"] = "20-20"
    write_meta(directory, meta)
    refused(directory, marker, "field 'params.architecture'")


def _rewrite_both(directory: Path, change) -> None:
    """Apply ``change`` to model.json and to the copy inside the weights file alike."""
    meta = read_meta(directory)
    change(meta)
    text = json.dumps({k: v for k, v in meta.items() if k != "files"}, sort_keys=True)
    weights = directory / WEIGHT_FILES[meta["kind"]]
    if meta["kind"] == "torch":
        stored = torch.load(weights, weights_only=True)
        stored["neurotype_meta"] = text
        torch.save(stored, weights)
    elif meta["kind"] == "skops":
        stored = skops.io.loads(weights.read_bytes(), trusted=SKOPS_TRUSTED)
        stored["neurotype_meta"] = text
        weights.write_bytes(skops.io.dumps(stored))
    else:
        document = json.loads(weights.read_text())
        document["learner"]["attributes"]["neurotype_meta"] = text
        weights.write_text(json.dumps(document))
    write_meta(directory, meta)
    restamp(directory, weights.name)


@pytest.mark.parametrize(("model", "expected"), [
    ("logreg", "the weights give 5 class scores but model.json lists 4 classes"),
    ("xgb", "the weights give 5 class scores but model.json lists 4 classes"),
    ("lspin", "the weights do not fit the architecture"),
])
def test_fewer_classes_in_both_copies_than_the_weights_hold(copy_model, marker, model, expected):
    directory = copy_model(model)
    _rewrite_both(directory, _fewer_classes)
    refused(directory, marker, expected)


def test_a_consistently_edited_architecture_does_not_fit_the_weights(copy_model, marker):
    directory = copy_model("lspin")
    _rewrite_both(directory, lambda meta: meta["params"].update(architecture="20-20"))
    refused(directory, marker, "the weights do not fit the architecture")


def test_a_consistent_edit_that_fits_the_weights_loads(copy_model, marker):
    """What the checks cannot see: renaming a class in both copies. The README says so."""
    directory = copy_model("logreg")
    _rewrite_both(directory, _rename_class)
    assert load_model(directory).classes[0] == "Renamed"


# --- malformed model.json --------------------------------------------------------------------

@pytest.mark.parametrize(("edit", "expected"), [
    (lambda meta: [meta], "expected a JSON object, found a JSON list"),
    (lambda meta: {**meta, "schema_version": 0}, "schema version 0 does not exist"),
    (lambda meta: {**meta, "schema_version": "2"}, "schema_version must be an integer, got '2'"),
    (lambda meta: {**meta, "schema_version": 99}, "schema version 99 is newer"),
    (lambda meta: {k: v for k, v in meta.items() if k != "classes"}, "lacks the field 'classes'"),
    (lambda meta: {**meta, "classes": "Pvalb"}, "field 'classes' must be a JSON list"),
    (lambda meta: {**meta, "features": [{k: v for k, v in f.items() if k != "training_range"}
                                        for f in meta["features"]]}, "lacks 'training_range'"),
    (lambda meta: {**meta, "model": "os.system"}, "model 'os.system' is not one neurotype saves"),
])
def test_malformed_model_json_is_refused_in_one_line(copy_model, marker, edit, expected):
    directory = copy_model("logreg")
    write_meta(directory, edit(read_meta(directory)))
    refused(directory, marker, expected)


def test_nan_in_model_json_is_refused(copy_model, marker):
    directory = copy_model("logreg")
    text = (directory / "model.json").read_text()
    (directory / "model.json").write_text(text.replace('"medians": [', '"medians": [NaN, ', 1))
    refused(directory, marker, "unreadable (NaN is not a number JSON allows)")


# --- saving ----------------------------------------------------------------------------------

def test_save_model_refuses_a_file_as_directory(saved_models, subclass_paper41, tmp_path):
    target = tmp_path / "a_file"
    target.write_text("keep me\n")
    estimator = saved_models["logreg"][1]
    with pytest.raises(ValueError, match="exists and is not a folder"):
        save_model(estimator, target, task="subclass", model="logreg", feature_set="paper41", params={}, seed=0,
                   X=subclass_paper41.X, y=subclass_paper41.y_codes, classes=list(subclass_paper41.classes),
                   species=subclass_paper41.species)
    assert target.read_text() == "keep me\n"


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    os.chmod(target, 0o640)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, b"new\n")
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["out.csv"]
    monkeypatch.undo()
    write_atomically(target, b"new\n")
    assert target.read_text() == "new\n" and (target.stat().st_mode & 0o777) == 0o640
