"""`neurotype features` and `neurotype predict --nwb` as a user runs them: in process through the CLI's
``main`` (quick), and the NWB-to-predictions route through the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from neurotype import paths
from neurotype.app import cli
from neurotype.ephys.extract import FEATURES

pytestmark = pytest.mark.slow  # runs the neurotype command on NWB files: not part of make test-fast

SCRIPT = Path(sys.executable).with_name("neurotype")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(paths.ROOT / "lib")}  # this checkout's package wins
    return subprocess.run([str(SCRIPT), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def run_main(*args, cwd: Path, capsys) -> tuple[int, str]:
    """``neurotype ARGS`` in this process; returns the exit code and standard error."""
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        code = cli.main([str(a) for a in args])
    finally:
        os.chdir(previous)
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("features_cli")


@pytest.fixture(scope="module")
def not_nwb(workdir) -> Path:
    path = workdir / "cell7.nwb"
    path.write_text("exported from the wrong program\n")
    return path


def test_features_writes_one_row_per_file_and_one_warning_per_bad_file(nwb2_files, not_nwb, workdir, capsys):
    code, stderr = run_main("features", *nwb2_files.values(), not_nwb, "--out", "features.csv", cwd=workdir,
                            capsys=capsys)
    assert code == 0, stderr
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {not_nwb}: not an HDF5 file, so not NWB (NWB 1 and 2 are both HDF5)"]
    assert "3 cell(s) written to features.csv: 2 with every current-clamp feature, 0 partial, 1 without any" \
        in stderr
    table = pd.read_csv(workdir / "features.csv")
    assert list(table.columns) == ["cell_id", "file", *FEATURES, "sweeps_used", "failed_features", "qc"]
    assert list(table["cell_id"]) == [*nwb2_files, "cell7"]
    assert table.loc[2, "qc"] == "not an HDF5 file, so not NWB (NWB 1 and 2 are both HDF5)"
    before = (workdir / "features.csv").read_bytes()
    code, stderr = run_main("features", *nwb2_files.values(), "--out", "features.csv", cwd=workdir, capsys=capsys)
    assert code == 2 and stderr.strip().splitlines() == [
        "neurotype features: error: features.csv: an output file exists; pass --force to overwrite it"]
    assert (workdir / "features.csv").read_bytes() == before


@pytest.mark.parametrize("arguments, message", [
    (["missing.nwb"], "missing.nwb: no such file or folder"),
    (["{bad}", "--out", "none.csv"], "none of the 1 file(s) gave any feature"),
    (["{good}", "--stimulus-map", "rig.yml"], "rig.yml: unknown protocol 'steps'"),
])
def test_features_bad_input_exits_2_with_one_line(arguments, message, nwb2_files, not_nwb, workdir, capsys):
    (workdir / "rig.yml").write_text("steps: [IV*]\n")
    arguments = [a.format(bad=not_nwb, good=next(iter(nwb2_files.values()))) for a in arguments]
    code, stderr = run_main("features", *arguments, "--quiet", cwd=workdir, capsys=capsys)
    errors = [line for line in stderr.splitlines() if not line.startswith("warning:")]
    assert code == 2 and len(errors) == 1 and message in errors[0], stderr


def test_predict_from_nwb_equals_predict_from_the_features_csv(nwb2_files, not_nwb, workdir, capsys):
    code, stderr = run_main("train", "--task", "broad", "--model", "logreg", "--out", "logreg_model", "--quiet",
                            cwd=workdir, capsys=capsys)
    assert code == 0, stderr
    folder = Path(next(iter(nwb2_files.values()))).parent
    from_nwb = run("predict", "--model", "logreg_model", "--nwb", folder, not_nwb, "--output", "from_nwb.csv",
                   cwd=workdir)
    assert from_nwb.returncode == 0, from_nwb.stderr
    assert sum(str(not_nwb) in line for line in from_nwb.stderr.splitlines()) == 1
    assert run_main("features", folder, "--out", "cells.csv", "--quiet", cwd=workdir, capsys=capsys)[0] == 0
    code, stderr = run_main("predict", "--model", "logreg_model", "--input", "cells.csv", "--output", "from_csv.csv",
                            cwd=workdir, capsys=capsys)
    assert code == 0, stderr
    by_nwb, by_csv = pd.read_csv(workdir / "from_nwb.csv"), pd.read_csv(workdir / "from_csv.csv")
    assert list(by_nwb["cell_id"]) == list(nwb2_files)
    assert {"predicted", "prob_aspiny", "prob_spiny", "imputed_features", "qc"} <= set(by_nwb.columns)
    # The same table; numbers agree to the last bits that pandas' CSV reader rounds (it is not round-trip exact).
    pd.testing.assert_frame_equal(by_nwb, by_csv, check_exact=False, rtol=1e-12)
    assert (by_nwb["imputed_features"] == "input_resistance_mohm;seal_gohm").all()
    with pytest.raises(SystemExit) as usage:  # argparse: --nwb and --input exclude each other
        run_main("predict", "--model", "logreg_model", "--nwb", folder, "--input", "cells.csv", cwd=workdir,
                 capsys=capsys)
    assert usage.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
