"""The live-refresh path, offline: allensdk (in its own venv) on the bundled cache and on synthetic NWB files.

Each test runs code under ``.venv-allensdk`` in a subprocess with proxies pointing at a closed
port, so nothing can be downloaded. With ``CI`` set, a missing venv fails these tests.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from actd_files import nwb_arrays, run_allensdk, write_nwb1
from neurotype.ephys import features, simulate, stimuli
from neurotype import paths

pytestmark = pytest.mark.slow  # runs allensdk in its own venv: not part of make test-fast

RATE = 50_000.0

#: Largest |ipfx - allensdk| accepted per feature on the same sweep (units of the feature).
#: Both extractors implement the same algorithm (ipfx grew out of allensdk.ephys); the bound
#: allows for floating-point differences only, far below any biological difference.
AGREEMENT_ATOL = {name: 1e-6 for name in features.SPIKE_FEATURES} | {"width": 1e-9}


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cell_types_cache_reads_the_bundled_snapshot_without_network():
    cache_files = sorted(p for p in paths.ACTD_CACHE.iterdir() if p.is_file())
    before = {p.name: _digest(p) for p in cache_files}
    counts = run_allensdk(
        "import json, sys\n"
        "from allensdk.core.cell_types_cache import CellTypesCache\n"
        "from allensdk.api.queries.cell_types_api import CellTypesApi\n"
        "cache = CellTypesCache(manifest_file=sys.argv[1])\n"
        "print(json.dumps({'all': len(cache.get_cells()),\n"
        "                  'mouse': len(cache.get_cells(species=[CellTypesApi.MOUSE])),\n"
        "                  'human': len(cache.get_cells(species=[CellTypesApi.HUMAN])),\n"
        "                  'features': len(cache.get_ephys_features()),\n"
        "                  'feature_ids': len({r['specimen_id'] for r in cache.get_ephys_features()})}))\n",
        str(paths.ACTD_CACHE / "manifest.json"),
    )
    assert counts == {"all": 2333, "mouse": 1920, "human": 413, "features": 2333, "feature_ids": 2333}
    assert {p.name: _digest(p) for p in cache_files} == before, "reading the cache must not rewrite it"


@pytest.fixture(scope="module")
def simulated_nwb(tmp_path_factory, noise_sweeps):
    """An NWB 1 file with a long square, the two model cells' noise responses and a silent noise sweep."""
    fs, rs = noise_sweeps["fast-spiking"], noise_sweeps["regular-spiking"]
    quiet = stimuli.noise(5.0, epoch_duration=0.2, gap=0.05, seed=9)
    quiet_result = simulate.simulate(simulate.REGULAR_SPIKING, quiet)
    step = simulate.simulate(simulate.FAST_SPIKING, stimuli.long_square(400.0, duration=0.2))
    sweeps = {
        5: ("Long Square", step.i, step.v, RATE),
        40: ("Noise 1", quiet_result.i, quiet_result.v, RATE),
        41: ("Noise 1", fs.i, fs.v, RATE),
        42: ("Noise 2", rs.i, rs.v, RATE),
    }
    path = write_nwb1(tmp_path_factory.mktemp("nwb") / "ephys.nwb", sweeps)
    return path, {"fast-spiking": (41, fs), "regular-spiking": (42, rs), "quiet": (40, quiet_result)}


@pytest.fixture(scope="module")
def allensdk_on_nwb(simulated_nwb):
    """One allensdk subprocess that reads the file with NwbDataSet and runs the refresh extraction."""
    path, _ = simulated_nwb
    return run_allensdk(
        "import json, sys\n"
        "from allensdk.core.nwb_data_set import NwbDataSet\n"
        "from neurotype.data import refresh\n"
        "path = sys.argv[1]\n"
        "data = NwbDataSet(path)\n"
        "out = {'sweeps': sorted(data.get_sweep_numbers()),\n"
        "       'names': {n: data.get_sweep_metadata(n)['aibs_stimulus_name'].decode() for n in data.get_sweep_numbers()},\n"
        "       'noise': refresh.noise_sweep_numbers(path),\n"
        "       'lengths': {n: len(refresh.read_nwb_sweep(path, n)[0]) for n in data.get_sweep_numbers()},\n"
        "       'default': refresh.nwb_noise_features(path),\n"
        "       'per_sweep': {n: refresh.nwb_noise_features(path, n) for n in (40, 41, 42)}}\n"
        "print(json.dumps(out, default=float))\n",
        str(path),
    )


def test_nwb_dataset_reads_the_synthetic_file(allensdk_on_nwb, simulated_nwb):
    _, truth = simulated_nwb
    assert allensdk_on_nwb["sweeps"] == [5, 40, 41, 42]
    assert allensdk_on_nwb["names"] == {"5": "Long Square", "40": "Noise 1", "41": "Noise 1", "42": "Noise 2"}
    assert allensdk_on_nwb["noise"] == [40, 41, 42]
    for key, (number, result) in truth.items():
        assert allensdk_on_nwb["lengths"][str(number)] == result.t.size


def test_refresh_picks_the_first_noise_sweep_with_spikes(allensdk_on_nwb, simulated_nwb):
    _, truth = simulated_nwb
    default = allensdk_on_nwb["default"]
    assert default["sweep_number"] == 41  # sweep 40 is silent
    assert default["n_spikes"] == truth["fast-spiking"][1].n_spikes
    silent = allensdk_on_nwb["per_sweep"]["40"]
    assert silent["n_spikes"] == 0 and all(np.isnan(silent[name]) for name in features.SPIKE_FEATURES)


@pytest.mark.parametrize("cell", ["fast-spiking", "regular-spiking"])
def test_ipfx_and_allensdk_agree_on_the_same_sweep(allensdk_on_nwb, simulated_nwb, cell):
    _, truth = simulated_nwb
    number, result = truth[cell]
    from_allensdk = allensdk_on_nwb["per_sweep"][str(number)]
    t, v, i = nwb_arrays(result.i, result.v, RATE)
    from_ipfx = features.sweep_spike_features(t, v, i)
    assert from_allensdk["n_spikes"] == from_ipfx.attrs["n_spikes"] == result.n_spikes
    for name in features.SPIKE_FEATURES:
        assert from_allensdk[name] == pytest.approx(from_ipfx[name], abs=AGREEMENT_ATOL[name], rel=0), name


def test_refresh_command_runs_offline_on_a_prepared_cache(tmp_path, noise_sweeps):
    """The whole ``--with-sweeps`` path on a cache directory with one mouse, one human and one broken cell."""
    paper = {s: pd.read_csv(paths.PAPER41 / f"{s}_ephys_data.csv") for s in ("mouse", "human")}
    picks = {"mouse": paper["mouse"].iloc[1], "human": paper["human"].iloc[0]}
    cache = tmp_path / "out" / "actd"
    cache.mkdir(parents=True)
    for name in ("manifest.json", "cells.json", "ephys_features.csv"):
        shutil.copy2(paths.ACTD_CACHE / name, cache / name)
    bundled_before = {p: _digest(p) for p in [*paths.ACTD_CACHE.iterdir(), *paths.PAPER41.iterdir()] if p.is_file()}
    ids = []
    for species, row in picks.items():
        specimen, sweep = (int(x) for x in row["file_name"].split("_"))
        ids.append(specimen)
        result = noise_sweeps["fast-spiking" if species == "mouse" else "regular-spiking"]
        folder = cache / f"specimen_{specimen}"
        folder.mkdir()
        write_nwb1(folder / "ephys.nwb", {sweep: ("Noise 1", result.i, result.v, RATE),
                                          sweep + 1: ("Noise 2", result.i, result.v, RATE)})
        records = [{"sweep_number": sweep + 1, "stimulus_name": "Noise 2", "num_spikes": result.n_spikes},
                   {"sweep_number": sweep, "stimulus_name": "Noise 1", "num_spikes": result.n_spikes},
                   {"sweep_number": 3, "stimulus_name": "Long Square", "num_spikes": 2}]
        (folder / "ephys_sweeps.json").write_text(json.dumps(records))
    # A third cell whose NWB file is corrupt: recorded as a failure, the run goes on.
    broken = int(paper["mouse"].iloc[2]["file_name"].split("_")[0])
    ids.append(broken)
    (cache / f"specimen_{broken}").mkdir()
    (cache / f"specimen_{broken}" / "ephys.nwb").write_bytes(b"not an HDF5 file")
    (cache / f"specimen_{broken}" / "ephys_sweeps.json").write_text(json.dumps(
        [{"sweep_number": 7, "stimulus_name": "Noise 1", "num_spikes": 9}]))
    summary = run_allensdk(
        "import json, sys\nfrom neurotype.data import refresh\n"
        "summary = refresh.refresh(sys.argv[1], with_sweeps=True, reuse_cache=True, keep_nwb=True,\n"
        "                          specimen_ids=[int(x) for x in sys.argv[2:]], log=lambda m: None)\n"
        "print(json.dumps(summary))\n",
        str(tmp_path / "out"), *map(str, ids),
    )
    assert summary["cells"] == 2333 and summary["noise_cells"] == 3 and summary["noise_cells_with_spikes"] == 2
    assert summary["noise_cells_failed"] == 1
    noise = pd.read_csv(tmp_path / "out" / "noise_features.csv").set_index("specimen_id")
    assert "OSError" in noise.loc[broken, "error"] and noise.loc[broken, "n_spikes"] == 0
    assert "replaced_bundled_snapshot" not in summary
    for species, row in picks.items():
        table = pd.read_csv(tmp_path / "out" / "paper41" / f"{species}_ephys_data.csv")
        assert list(table.columns) == list(paper[species].columns)
        assert len(table) == 1
        got = table.iloc[0]
        # The paper's sweep is preferred over the first Noise sweep with spikes.
        assert got["file_name"] == row["file_name"]
        metadata = [c for c in paper[species].columns if c not in features.SPIKE_FEATURES and c != "file_name"]
        # Metadata and the 27 ACTD features come from the cache: they must equal the paper's table.
        for column in metadata:
            if pd.api.types.is_numeric_dtype(paper[species][column]):
                assert got[column] == pytest.approx(row[column], rel=1e-9, nan_ok=True), column
            else:
                assert got[column] == row[column], column
        result = noise_sweeps["fast-spiking" if species == "mouse" else "regular-spiking"]
        expected = features.sweep_spike_features(*nwb_arrays(result.i, result.v, RATE))
        for name in features.SPIKE_FEATURES:
            assert got[name] == pytest.approx(expected[name], abs=AGREEMENT_ATOL[name] + 1e-9 * abs(expected[name]))
    after = {p: _digest(p) for p in bundled_before}
    assert after == bundled_before, "without --force the bundled snapshot stays untouched"


def test_force_replaces_the_bundled_snapshot_of_the_root_it_is_given(tmp_path, noise_sweeps):
    """``--force`` through the command line, on a throw-away copy of the repository's data folder."""
    root = tmp_path / "root"
    shutil.copytree(paths.DATA / "actd", root / "data" / "actd")
    shutil.copytree(paths.PAPER41, root / "data" / "paper41")
    (root / "data" / "actd" / "ephys_features.csv").write_text("stale\n")
    cache = root / "data" / "refresh" / "actd"
    cache.mkdir(parents=True)
    for name in ("manifest.json", "cells.json", "ephys_features.csv"):
        shutil.copy2(paths.ACTD_CACHE / name, cache / name)
    row = pd.read_csv(paths.PAPER41 / "mouse_ephys_data.csv").iloc[0]
    specimen, sweep = (int(x) for x in row["file_name"].split("_"))
    result = noise_sweeps["fast-spiking"]
    (cache / f"specimen_{specimen}").mkdir()
    write_nwb1(cache / f"specimen_{specimen}" / "ephys.nwb", {sweep: ("Noise 1", result.i, result.v, RATE)})
    (cache / f"specimen_{specimen}" / "ephys_sweeps.json").write_text(json.dumps(
        [{"sweep_number": sweep, "stimulus_name": "Noise 1", "num_spikes": result.n_spikes}]))
    real_before = {p: _digest(p) for p in [*paths.ACTD_CACHE.iterdir(), *paths.PAPER41.iterdir()] if p.is_file()}
    summary = run_allensdk(
        "import runpy, sys\nsys.argv = ['neurotype.data.refresh', *sys.argv[1:]]\n"
        "runpy.run_module('neurotype.data.refresh', run_name='__main__')\n",
        "--with-sweeps", "--reuse-cache", "--force", "--specimen-ids", str(specimen),
        env={"NEUROTYPE_ROOT": str(root)},
    )
    assert summary["replaced_bundled_snapshot"] is True
    assert summary["paper41_rows"] == {"mouse": 1, "human": 0}
    assert _digest(root / "data" / "actd" / "ephys_features.csv") == _digest(paths.ACTD_CACHE / "ephys_features.csv")
    replaced = pd.read_csv(root / "data" / "paper41" / "mouse_ephys_data.csv")
    assert replaced["file_name"].tolist() == [row["file_name"]]
    assert {p: _digest(p) for p in real_before} == real_before, "only the given root is touched"
