"""The real `neurotype` console script, driven in subprocesses: round trip, bad input, guards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurotype import paths
from neurotype.data.tables import subclass_task

SCRIPT = Path(sys.executable).with_name("neurotype")
META = ["transgenic_line", "neurotransmitter", "reporter_status", "dendrite_type", "layer", "file_name"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT / "lib")}  # this checkout's package wins
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def cells_csv(workdir) -> Path:
    table = pd.read_csv(paths.PAPER41 / "mouse_ephys_data.csv").iloc[::97].reset_index(drop=True)
    table.insert(0, "cell_id", [f"cell{i}" for i in range(len(table))])
    path = workdir / "cells.csv"
    table.drop(columns=META).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def lspin_model(workdir) -> Path:
    result = run("train", "--task", "subclass", "--model", "lspin", "--param", "epochs=80", "--seed", "3",
                 "--out", "lspin_model", "--quiet", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "lspin_model"


def test_help_on_every_subcommand(workdir):
    for command in ([], ["data", "summary"], ["evaluate"], ["tune"], ["train"], ["predict"]):
        result = run(*command, "--help", cwd=workdir)
        assert result.returncode == 0 and "usage: neurotype" in result.stdout


def test_train_predict_round_trip_matches_the_library(workdir, lspin_model, cells_csv):
    result = run("predict", "--model", str(lspin_model), "--input", str(cells_csv), "--output", "preds.csv",
                 cwd=workdir)
    assert result.returncode == 0, result.stderr
    predictions = pd.read_csv(workdir / "preds.csv")
    cells = pd.read_csv(cells_csv)
    assert list(predictions["cell_id"]) == list(cells["cell_id"])  # extra columns pass through

    from neurotype.models.registry import get_model

    task = subclass_task("paper41")
    model = get_model("lspin").make({"epochs": 80}, seed=3).fit(task.X, task.y_codes, species=task.species)
    features = list(task.feature_names)
    probabilities = model.predict_proba(cells[features])
    expected = np.asarray(task.classes)[probabilities.argmax(axis=1)]
    assert list(predictions["predicted"]) == list(expected)
    columns = [f"prob_{c}" for c in task.classes]
    assert np.allclose(predictions[columns].to_numpy(), probabilities, atol=1e-6)
    assert predictions["top_gates"].str.count("=").eq(5).all()
    meta = json.loads((lspin_model / "model.json").read_text())
    assert [f["name"] for f in meta["features"]] == features
    units = {f["name"]: f["unit"] for f in meta["features"]}
    assert "?" not in units.values()
    assert units["threshold_v_long_square"] == "mV" and units["f_i_curve_slope"] == "spikes/s/pA"
    assert meta["feature_set"] == "paper41" and meta["seed"] == 3 and len(meta["training_data"]["sha256"]) == 64


def test_missing_and_out_of_range_values_are_flagged(workdir, lspin_model, cells_csv):
    cells = pd.read_csv(cells_csv)
    cells.loc[0, "tau"] = np.nan
    cells.loc[1, "vrest"] = cells.loc[1, "vrest"] / 1000  # volts instead of millivolts
    cells.to_csv(workdir / "odd.csv", index=False)
    result = run("predict", "--model", str(lspin_model), "--input", "odd.csv", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "missing features" in result.stderr and "far outside the training range" in result.stderr
    predictions = pd.read_csv(pd.io.common.StringIO(result.stdout), keep_default_na=False)
    assert predictions.loc[0, "imputed_features"] == "tau"
    assert predictions.loc[1, "out_of_range_features"] == "vrest"
    assert list(predictions["flagged"].astype(str)[:3]) == ["True", "True", "False"]


def _corrupt(workdir: Path, cells_csv: Path, name: str, edit) -> Path:
    table = pd.read_csv(cells_csv)
    table = edit(table)
    path = workdir / name
    if table is None:
        path.write_text("")
    else:
        table.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("case", "edit", "message"), [
    ("missing_column", lambda t: t.drop(columns=["tau"]), "missing required feature column(s) 'tau'"),
    ("empty", lambda t: None, "the file is empty"),
    ("non_numeric", lambda t: t.astype({"sag": object}).assign(sag=lambda d: d["sag"].where(d.index != 2, "0.05 ms")),
     "column 'sag' has a non-numeric value '0.05 ms' (row 4)"),
])
def test_bad_input_files_exit_2_with_one_message(workdir, lspin_model, cells_csv, case, edit, message):
    path = _corrupt(workdir, cells_csv, f"{case}.csv", edit)
    result = run("predict", "--model", str(lspin_model), "--input", str(path), "--output", f"{case}.out.csv",
                 cwd=workdir)
    assert result.returncode == 2
    assert message in result.stderr and str(path.name) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / f"{case}.out.csv").exists()


def test_unreadable_model_directories(workdir, cells_csv, lspin_model):
    (workdir / "empty_model").mkdir()
    broken = workdir / "broken_model"
    broken.mkdir()
    (broken / "model.json").write_text("{not json")
    newer = workdir / "newer_model"
    newer.mkdir()
    meta = json.loads((lspin_model / "model.json").read_text())
    (newer / "model.json").write_text(json.dumps({**meta, "schema_version": 99}))
    for directory, message in [("nowhere", "not a model directory"), ("empty_model", "no model.json"),
                               ("broken_model", "unreadable"), ("newer_model", "schema version 99 is newer")]:
        result = run("predict", "--model", directory, "--input", str(cells_csv), cwd=workdir)
        assert result.returncode == 2 and message in result.stderr, (directory, result.stderr)
        assert "Traceback" not in result.stderr
    result = run("predict", "--model", str(lspin_model), "--input", str(cells_csv), "--feature-set", "actd",
                 cwd=workdir)
    assert result.returncode == 2 and "trained on feature set 'paper41', not 'actd'" in result.stderr


def test_tampered_files_are_rejected(workdir, cells_csv):
    for model, weights in (("lspin", "weights.pt"), ("logreg", "model.pkl")):
        out = f"tampered_{model}"
        extra = ["--param", "epochs=5"] if model == "lspin" else []
        assert run("train", "--task", "subclass", "--model", model, *extra, "--out", out, "--quiet",
                   cwd=workdir).returncode == 0
        path = workdir / out / weights
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        result = run("predict", "--model", out, "--input", str(cells_csv), cwd=workdir)
        assert result.returncode == 2 and "checksum mismatch" in result.stderr, result.stderr


def test_existing_outputs_need_force(workdir, lspin_model, cells_csv):
    target = workdir / "keep.csv"
    target.write_text("precious\n")
    result = run("predict", "--model", str(lspin_model), "--input", str(cells_csv), "--output", "keep.csv",
                 cwd=workdir)
    assert result.returncode == 2 and "pass --force" in result.stderr
    assert target.read_text() == "precious\n"
    result = run("train", "--task", "subclass", "--model", "lspin", "--out", str(lspin_model), cwd=workdir)
    assert result.returncode == 2 and "pass --force" in result.stderr
    result = run("predict", "--model", str(lspin_model), "--input", str(cells_csv), "--output", "keep.csv",
                 "--force", cwd=workdir)
    assert result.returncode == 0 and target.read_text().startswith("cell_id,")


def test_evaluate_writes_a_report_and_guards_it(workdir):
    args = ("evaluate", "--task", "subclass", "--model", "logreg", "--smoke", "--out", "eval")
    result = run(*args, cwd=workdir)
    assert result.returncode == 0, result.stderr
    report = json.loads((workdir / "eval" / "report.json").read_text())
    assert report["model"] == "logreg" and report["parameters"]["n_folds"] == 2
    assert "f1_macro" in result.stdout
    again = run(*args, cwd=workdir)
    assert again.returncode == 2 and "pass --force" in again.stderr


def test_unknown_hyperparameter_is_a_clean_error(workdir):
    result = run("train", "--task", "broad", "--model", "logreg", "--param", "depth=3", "--out", "x", cwd=workdir)
    assert result.returncode == 2 and "no hyperparameter(s) ['depth']" in result.stderr


def test_tune_resumes_its_study_and_feeds_train(workdir):
    args = ("tune", "--task", "subclass", "--model", "logreg", "--study-dir", "studies", "--out", "best.json")
    assert run(*args, "--trials", "2", cwd=workdir).returncode == 0
    result = run(*args, "--trials", "3", "--force", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "after 3 trials" in result.stdout
    best = json.loads((workdir / "best.json").read_text())["best_params"]
    assert set(best) >= {"C", "class_weight"}
    trained = run("train", "--task", "subclass", "--model", "logreg", "--params", "best.json", "--out", "tuned",
                  "--quiet", cwd=workdir)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((workdir / "tuned" / "model.json").read_text())["params"]["C"] == best["C"]
