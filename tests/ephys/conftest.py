"""Shared fixtures of the NWB tests: each model cell's simulated ACTD-like session, simulated once, written
to NWB 2 with pynwb, and its features extracted once. Sweeps are sampled at 25 kHz, the ramp rises at
100 pA/s (ACTD: 25) and the noise epochs last 0.4 s (ACTD: 3 s) to keep the module quick."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurotype.ephys import extract, nwb, sessions, simulate

SESSION_OPTIONS = dict(sampling_rate=25_000.0, ramp_slope_pa_per_s=100.0, noise_epoch_s=0.4, noise_gap_s=0.2,
                       seed=5, resolution_pa=1.0)


@pytest.fixture(scope="session")
def simulated() -> dict[str, sessions.SimulatedSession]:
    """Each model cell's session (ACTD stimulus names, no test pulse)."""
    return {name: sessions.simulated_session(model, **SESSION_OPTIONS) for name, model in simulate.CELL_MODELS.items()}


@pytest.fixture(scope="session")
def nwb_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nwb")


@pytest.fixture(scope="session")
def nwb2_files(simulated, nwb_dir) -> dict[str, Path]:
    """One NWB 2 file per model cell, written with pynwb."""
    return {name: nwb.write_nwb(nwb_dir / f"{name}.nwb", session.sweeps) for name, session in simulated.items()}


@pytest.fixture(scope="session")
def extracted(nwb2_files):
    """The features table of both files, indexed by cell id (= model name)."""
    return extract.extract_features(list(nwb2_files.values())).set_index("cell_id")
