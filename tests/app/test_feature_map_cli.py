"""`neurotype predict --feature-map MAP`, driven in subprocesses: bad maps stop with exit status 2 and one line
naming file, row and value; a good map makes a lab's renamed, rescaled file predict exactly like the original."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from neurotype import paths

pytestmark = pytest.mark.slow  # runs the neurotype command in subprocesses: not part of make test-fast

SCRIPT = Path(sys.executable).with_name("neurotype")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT / "lib")}  # this checkout's package wins
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _map(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([["external_feature", "actd_feature", "unit", "transform", "note"], *rows])
    return path


@pytest.mark.parametrize("rows, value", [
    ([["Tau (s)", "tau", "s", "", ""], ["Rest", "vrestt", "mV", "", ""]], "row 3: actd_feature 'vrestt'"),
    ([["Tau (s)", "tau", "sec", "", ""]], "row 2: unit 'sec' is unknown"),
    ([["Tau (s)", "tau", "s", "", ""], ["Tau (ms)", "tau", "ms", "", ""]],
     "row 3: actd_feature 'tau' is already the target of row 2"),
])
def test_a_bad_map_exits_2_with_one_line(tmp_path, rows, value):
    feature_map = _map(tmp_path / "map.csv", rows)
    cells = tmp_path / "cells.csv"
    cells.write_text("Tau (s)\n0.02\n")
    result = run("predict", "--model", str(tmp_path / "no_model"), "--input", str(cells), "--feature-map",
                 str(feature_map), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and value in lines[0] and str(feature_map) in lines[0], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.slow
def test_a_mapped_file_predicts_like_the_original(tmp_path):
    trained = run("train", "--task", "subclass", "--model", "logreg", "--out", "model", "--quiet", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    original = pd.read_csv(paths.PAPER41 / "mouse_ephys_data.csv").iloc[::50].reset_index(drop=True)
    original = original.drop(columns=["transgenic_line", "neurotransmitter", "reporter_status", "dendrite_type",
                                      "layer", "file_name"])
    original.insert(0, "cell", [f"c{i}" for i in range(len(original))])
    original.to_csv(tmp_path / "original.csv", index=False)
    # A lab's own file: tau in seconds, latency in ms, two columns under the lab's names
    lab = original.rename(columns={"tau": "Membrane tau (s)", "latency": "Latency (ms)"})
    lab["Membrane tau (s)"] = lab["Membrane tau (s)"] / 1000
    lab["Latency (ms)"] = lab["Latency (ms)"] * 1000
    lab.to_csv(tmp_path / "lab.csv", index=False)
    feature_map = _map(tmp_path / "map.csv", [["Membrane tau (s)", "tau", "s", "", ""],
                                              ["Latency (ms)", "latency", "ms", "", ""]])
    for name, extra in (("original", []), ("lab", ["--feature-map", str(feature_map)])):
        result = run("predict", "--model", "model", "--input", f"{name}.csv", "--output", f"{name}_out.csv",
                     *extra, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    expected, mapped = pd.read_csv(tmp_path / "original_out.csv"), pd.read_csv(tmp_path / "lab_out.csv")
    assert mapped["predicted"].tolist() == expected["predicted"].tolist()
    probabilities = [c for c in expected.columns if c.startswith("prob_")]
    assert probabilities and (mapped[probabilities] - expected[probabilities]).abs().to_numpy().max() < 1e-9
