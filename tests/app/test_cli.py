"""The real `neurotype` console script, driven in subprocesses: round trip, bad input, guards.

Every bad input of issue 13 is one row of the matrix below: exit status 2, exactly one line on
standard error naming the file and the problem, no traceback, and no output file left behind.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurotype import paths
from neurotype.data.tables import subclass_task

pytestmark = pytest.mark.slow  # runs the neurotype command in subprocesses: not part of make test-fast

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


@pytest.fixture(scope="module")
def xgb_model(workdir) -> Path:
    """The model of the bad-input matrix: XGBoost loads without importing skops (seconds per run)."""
    result = run("train", "--task", "subclass", "--model", "xgb", "--param", "n_estimators=20", "--out", "xgb_model",
                 "--quiet", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "xgb_model"


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
    assert meta["schema_version"] == 2 and sorted(os.listdir(lspin_model)) == ["model.json", "weights.pt"]


def test_missing_and_out_of_range_values_are_flagged(workdir, lspin_model, cells_csv):
    cells = pd.read_csv(cells_csv)
    cells.loc[0, "tau"] = np.nan
    cells.loc[1, "vrest"] = cells.loc[1, "vrest"] / 1000  # one cell in volts: flagged, the column is fine
    cells.to_csv(workdir / "odd.csv", index=False)
    result = run("predict", "--model", str(lspin_model), "--input", "odd.csv", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "missing features" in result.stderr and "far outside the training range" in result.stderr
    predictions = pd.read_csv(pd.io.common.StringIO(result.stdout), keep_default_na=False)
    assert predictions.loc[0, "imputed_features"] == "tau"
    assert predictions.loc[1, "out_of_range_features"] == "vrest"
    assert list(predictions["flagged"].astype(str)[:3]) == ["True", "True", "False"]


def test_passthrough_ids_round_trip_through_the_command(workdir, xgb_model, cells_csv):
    ids = ["0000001", "NA", "None", "null", "", "9007199254740995", "9007199254740997"]
    with open(cells_csv, newline="") as handle:
        rows = list(csv.reader(handle))
    rows = [rows[0]] + [[ids[i % len(ids)], *row[1:]] for i, row in enumerate(rows[1:])]
    with open(workdir / "ids.csv", "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    result = run("predict", "--model", str(xgb_model), "--input", "ids.csv", "--output", "ids.out.csv",
                 cwd=workdir)
    assert result.returncode == 0, result.stderr
    with open(workdir / "ids.out.csv", newline="") as handle:
        written = [row["cell_id"] for row in csv.DictReader(handle)]
    assert written == [row[0] for row in rows[1:]]


def test_unseen_species_can_be_allowed_with_a_warning(workdir, xgb_model, cells_csv):
    result = run("predict", "--model", str(xgb_model), "--input", str(cells_csv), "--species", "human",
                 "--allow-unseen-species", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "human, a species the model" in result.stderr and "never saw in training" in result.stderr
    assert set(pd.read_csv(pd.io.common.StringIO(result.stdout))["unseen_species"]) == {True}


# --- the matrix of bad input ----------------------------------------------------------------

class WritesMarker:
    """Unpickling this runs code (writes a marker file): the crafted pickle of the issue."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


def _write_table(path: Path, table: pd.DataFrame) -> Path:
    table.to_csv(path, index=False)
    return path


def _edited_cells(edit):
    def make(workdir, cells_csv, model, name):
        path = workdir / f"{name}.csv"
        table = edit(pd.read_csv(cells_csv, dtype=str, keep_default_na=False))
        if table is None:
            path.write_text("")
        else:
            _write_table(path, table)
        return ["--model", str(model), "--input", str(path)], path.name
    return make


def _raw_cells(transform):
    def make(workdir, cells_csv, model, name):
        path = workdir / f"{name}.csv"
        path.write_text(transform(cells_csv.read_text()))
        return ["--model", str(model), "--input", str(path)], path.name
    return make


def _edited_model(edit):
    def make(workdir, cells_csv, model, name):
        directory = workdir / f"{name}_model"
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(model, directory)
        meta = json.loads((directory / "model.json").read_text())
        (directory / "model.json").write_text(json.dumps(edit(meta, directory)))
        return ["--model", str(directory), "--input", str(cells_csv)], "model.json"
    return make


def _plain(*args: str, names: str):
    def make(workdir, cells_csv, model, name):
        return [arg.format(model=model, cells=cells_csv) for arg in args], names
    return make


def _set(cell_column: str, row: int, value: str):
    def edit(table):
        table.loc[row, cell_column] = value
        return table
    return edit


def _schema_1_with_pickle(meta, directory):
    (directory / "model.pkl").write_bytes(pickle.dumps(WritesMarker(directory.parent / "CODE_RAN")))
    return {**meta, "schema_version": 1, "files": {"model.pkl": "0" * 64}}


def _without_training_range(meta, directory):
    del meta["features"][0]["training_range"]
    return meta


def _fewer_classes(meta, directory):
    return {**meta, "classes": meta["classes"][:-1]}


PREDICT_CASES = {
    # the lab's table
    "missing feature column": (_edited_cells(lambda t: t.drop(columns=["tau"])),
                               "missing required feature column(s) 'tau'"),
    "empty file": (_edited_cells(lambda t: None), "the file is empty"),
    "non-numeric value": (_edited_cells(_set("sag", 2, "0.05 ms")),
                          "column 'sag' has a non-numeric value '0.05 ms' (row 4)"),
    "inf value": (_edited_cells(_set("sag", 2, "inf")), "column 'sag' has a non-finite value 'inf' (row 4)"),
    "duplicated header": (_raw_cells(lambda text: text.replace("cell_id", "tau", 1)),
                          "column name(s) 'tau' appear more than once in the header"),
    "user column named predicted": (_raw_cells(lambda text: text.replace("cell_id", "predicted", 1)),
                                    "column(s) 'predicted' would be overwritten"),
    "unknown species value": (_edited_cells(lambda t: t.assign(species="Mus musculus")),
                              "column 'species' has unknown value 'Mus musculus' (row 2)"),
    "species the model never saw": (_plain("--model", "{model}", "--input", "{cells}", "--species", "human",
                                           names="--species"), "a species the model"),
    "tau in seconds": (_edited_cells(lambda t: t.assign(tau=(t["tau"].astype(float) / 1000).astype(str))),
                       "tau looks like s, expected ms"),
    "currents in nA": (_edited_cells(lambda t: t.assign(
        threshold_i_long_square=(t["threshold_i_long_square"].astype(float) / 1000).astype(str))),
        "threshold_i_long_square looks like nA, expected pA"),
    "ragged row": (_raw_cells(lambda text: text.replace("\n", ",extra\n", 2).replace(",extra\n", "\n", 1)),
                   "row 2 has 43 fields, the header 42"),
    "input is a folder": (_plain("--model", "{model}", "--input", ".", names="."), "file not found (it is a folder)"),
    # the model directory
    "model directory missing": (_plain("--model", "nowhere", "--input", "{cells}", names="nowhere"),
                                "not a model directory"),
    "model.json a list": (_edited_model(lambda meta, d: [meta]), "expected a JSON object, found a JSON list"),
    "model.json lacks training_range": (_edited_model(_without_training_range), "lacks 'training_range'"),
    "fewer classes than the weights": (
        _edited_model(_fewer_classes), "field 'classes' (length 4 vs 5) differs from the copy stored in model.xgb.json"),
    "schema_version 0": (_edited_model(lambda meta, d: {**meta, "schema_version": 0}),
                         "schema version 0 does not exist"),
    "schema_version 99": (_edited_model(lambda meta, d: {**meta, "schema_version": 99}),
                          "schema version 99 is newer than this neurotype understands"),
    "schema 1 with a pickle": (_edited_model(_schema_1_with_pickle), "re-train the model with `neurotype train`"),
    "no files entry": (_edited_model(lambda meta, d: {k: v for k, v in meta.items() if k != "files"}),
                       "lacks the field 'files'"),
    "kind changed to sklearn": (_edited_model(lambda meta, d: {**meta, "kind": "sklearn"}),
                                "kind 'sklearn' does not fit model 'xgb'"),
    "swapped classes": (_edited_model(lambda meta, d: {**meta, "classes": meta["classes"][::-1]}),
                        "field 'classes[0]' differs from the copy stored in model.xgb.json"),
    "edited preprocessing": (_edited_model(lambda meta, d: {**meta, "preprocessing": {
        **meta["preprocessing"], "means": [m * 2 for m in meta["preprocessing"]["means"]]}}),
        "field 'preprocessing.means[0]' differs"),
    "another feature set": (_plain("--model", "{model}", "--input", "{cells}", "--feature-set", "actd",
                                   names="xgb_model"), "trained on feature set 'paper41', not 'actd'"),
}


@pytest.mark.parametrize("case", list(PREDICT_CASES))
def test_bad_input_to_predict_exits_2_with_one_line(workdir, xgb_model, cells_csv, case):
    make, message = PREDICT_CASES[case]
    name = case.replace(" ", "_")
    args, must_name = make(workdir, cells_csv, xgb_model, name)
    result = run("predict", *args, "--output", f"{name}.out.csv", cwd=workdir)
    assert result.returncode == 2, (case, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("neurotype predict: error: "), result.stderr
    assert message in result.stderr and must_name in result.stderr, (case, result.stderr)
    assert not (workdir / f"{name}.out.csv").exists()
    assert not (workdir / "CODE_RAN").exists()


def _output_case(output: str, expected: str, *extra: str):
    return output, expected, extra


OUTPUT_CASES = {
    "directory as output": _output_case("a_folder", "a_folder: is a folder; an output file must be a file name"),
    "unwritable output": _output_case("/proc/neurotype/out.csv", "/proc/neurotype/out.csv: cannot write in /proc"),
    "output below a file": _output_case("cells.csv/out.csv", "cannot be created, cells.csv is a file, not a folder"),
    "input as output": _output_case("cells.csv", "cells.csv: is also the input", "--force"),
    "input as output by another path": _output_case("./sub/../cells.csv", "is also the input", "--force"),
    "input as output by a hard link": _output_case("cells_link.csv", "is also the input", "--force"),
    "model.json as output": _output_case("xgb_model/model.json", "is also the input", "--force"),
}


@pytest.mark.parametrize("case", list(OUTPUT_CASES))
def test_bad_outputs_are_refused_before_anything_runs(workdir, xgb_model, cells_csv, case):
    output, expected, extra = OUTPUT_CASES[case]
    (workdir / "a_folder").mkdir(exist_ok=True)
    (workdir / "sub").mkdir(exist_ok=True)
    if not (workdir / "cells_link.csv").exists():
        os.link(cells_csv, workdir / "cells_link.csv")
    before = {p: p.read_bytes() for p in (cells_csv, xgb_model / "model.json")}
    result = run("predict", "--model", str(xgb_model), "--input", "cells.csv", "--output", output, *extra,
                 cwd=workdir)
    assert result.returncode == 2, (case, result.stderr)
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not stop root")
def test_a_read_only_folder_is_refused(workdir, xgb_model, cells_csv):
    locked = workdir / "locked"
    locked.mkdir(exist_ok=True)
    locked.chmod(0o500)
    try:
        result = run("predict", "--model", str(xgb_model), "--input", str(cells_csv), "--output",
                     "locked/out.csv", cwd=workdir)
    finally:
        locked.chmod(0o700)
    assert result.returncode == 2 and "cannot write in" in result.stderr


COMMAND_CASES = {
    "train --out FILE": (("train", "--task", "subclass", "--model", "logreg", "--out", "cells.csv"),
                         "cells.csv: exists and is not a folder; a model directory is a folder"),
    "train --out below a file": (("train", "--task", "subclass", "--model", "logreg", "--out", "cells.csv/m"),
                                 "cannot be created, cells.csv is a file, not a folder"),
    "train --params FOLDER": (("train", "--task", "subclass", "--model", "logreg", "--params", "a_folder",
                               "--out", "params_model"), "a_folder: file not found (--params)"),
    "evaluate --out FILE": (("evaluate", "--task", "subclass", "--model", "logreg", "--smoke", "--out",
                             "cells.csv"), "cells.csv/report.json: cannot be created, cells.csv is a file"),
    "tune --out DIR": (("tune", "--task", "subclass", "--model", "logreg", "--trials", "1", "--out", "a_folder"),
                       "a_folder: is a folder; a parameters file must be a file name"),
}


@pytest.mark.parametrize("case", list(COMMAND_CASES))
def test_bad_output_locations_of_train_evaluate_tune(workdir, cells_csv, case):
    args, expected = COMMAND_CASES[case]
    (workdir / "a_folder").mkdir(exist_ok=True)
    before = cells_csv.read_bytes()
    result = run(*args, cwd=workdir)
    assert result.returncode == 2, (case, result.stderr)
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert cells_csv.read_bytes() == before and not (workdir / "params_model").exists()
    assert os.listdir(workdir / "a_folder") == []


def test_tampered_files_are_rejected(workdir, cells_csv):
    for model, weights in (("lspin", "weights.pt"), ("logreg", "model.skops"), ("xgb", "model.xgb.json")):
        out = f"tampered_{model}"
        extra = {"lspin": ["--param", "epochs=5"], "xgb": ["--param", "n_estimators=5"]}.get(model, [])
        assert run("train", "--task", "subclass", "--model", model, *extra, "--out", out, "--quiet",
                   cwd=workdir).returncode == 0
        path = workdir / out / weights
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
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
    assert not [p for p in os.listdir(workdir) if p.endswith(".tmp")]  # the atomic write cleaned up


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
