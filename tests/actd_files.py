"""Helpers for the refresh tests: the allensdk venv runner and a writer of ACTD-style NWB 1 files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurotype import paths


def allensdk_python() -> Path:
    """The refresh venv's interpreter; fail under CI, skip elsewhere, when it is missing."""
    python = Path(os.environ.get("NEUROTYPE_ALLENSDK_PYTHON", paths.ROOT / ".venv-allensdk" / "bin" / "python"))
    if not python.exists():
        reason = f"{python} is missing; create it with `make allensdk-env`"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return python


def run_allensdk(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run Python ``code`` under the allensdk venv with lib/ on the path and no network; parse its last stdout line as JSON.

    Proxies point at a closed local port, so any attempt to reach the Allen API fails loudly
    instead of quietly downloading. ``env`` adds or overrides environment variables (e.g.
    ``NEUROTYPE_ROOT`` to point the code at a copy of the data).
    """
    environment = {**os.environ, "PYTHONPATH": str(paths.ROOT / "lib"), "NEUROTYPE_ROOT": str(paths.ROOT),
                   "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                   "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": "",
                   **(env or {})}
    done = subprocess.run([str(allensdk_python()), "-c", code, *args], capture_output=True, text=True,
                          env=environment, cwd=paths.ROOT, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"allensdk subprocess failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_nwb1(path: Path, sweeps: dict[int, tuple[str, np.ndarray, np.ndarray, float]]) -> Path:
    """Write an NWB 1 file in the ACTD layout that allensdk's ``NwbDataSet`` reads.

    Parameters
    ----------
    path : Path
        File to create.
    sweeps : dict
        ``{sweep_number: (stimulus_name, current_pA, potential_mV, sampling_rate_hz)}``. Data are
        stored as ACTD stores them: float32 in amperes and volts, ``conversion`` 1.0, ``unit`` as bytes.
    """
    with h5py.File(path, "w") as f:
        f.attrs["nwb_version"] = np.bytes_("NWB-1.0.5")
        f.create_group("general")
        for number, (name, current_pa, potential_mv, rate) in sweeps.items():
            key = f"Sweep_{number}"
            for group_path, values, unit in ((f"stimulus/presentation/{key}", current_pa * 1e-12, b"Amps"),
                                             (f"acquisition/timeseries/{key}", potential_mv * 1e-3, b"Volts")):
                group = f.create_group(group_path)
                data = group.create_dataset("data", data=np.asarray(values, dtype=np.float32))
                data.attrs["conversion"] = np.float32(1.0)
                data.attrs["unit"] = np.bytes_(unit)
                start = group.create_dataset("starting_time", data=0.0)
                start.attrs["rate"] = float(rate)
            stim = f[f"stimulus/presentation/{key}"]
            stim.create_dataset("aibs_stimulus_name", data=np.bytes_(name))
            stim.create_dataset("aibs_stimulus_amplitude_pa", data=float(np.mean(current_pa)))
            for kind, target in (("stimulus", f"/stimulus/presentation/{key}"), ("response", f"/acquisition/timeseries/{key}")):
                epoch = f.create_group(f"epochs/{key}/{kind}")
                epoch.create_dataset("idx_start", data=np.int64(0))
                epoch.create_dataset("count", data=np.int64(len(current_pa)))
                epoch["timeseries"] = h5py.SoftLink(target)
    return path


def nwb_arrays(current_pa: np.ndarray, potential_mv: np.ndarray, rate: float):
    """What a reader of :func:`write_nwb1` gets back: float32 round trip, SI -> mV/pA."""
    i = np.asarray(current_pa * 1e-12, dtype=np.float32).astype(float) * 1e12
    v = np.asarray(potential_mv * 1e-3, dtype=np.float32).astype(float) * 1e3
    return np.arange(len(i)) / rate, v, i
