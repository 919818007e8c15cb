"""Shared fixtures: every test starts from the same seeds; seeded task tables; short simulated sweeps of the
two model cells (each simulates in < 0.3 s, only when a test asks for them)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from neurotype.ephys import simulate, stimuli


@pytest.fixture(autouse=True)
def seed_everything():
    random.seed(0)
    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def broad_paper41():
    from neurotype.data.tables import broad_task

    return broad_task("paper41")


@pytest.fixture(scope="session")
def subclass_paper41():
    from neurotype.data.tables import subclass_task

    return subclass_task("paper41")


# --- simulated sweeps (ephys and refresh tests) ------------------------------------------------


@pytest.fixture(scope="session")
def rheobases() -> dict[str, float]:
    """Rheobase (pA, to 4 pA) of each model cell."""
    return {name: simulate.find_rheobase(model, resolution_pa=4.0) for name, model in simulate.CELL_MODELS.items()}


@pytest.fixture(scope="session")
def noise_sweeps(rheobases) -> dict[str, simulate.SimulationResult]:
    """Each model's response to a shortened ACTD noise sweep (three 0.6 s epochs), seed 3."""
    return {
        name: simulate.simulate(model, stimuli.noise(rheobases[name], epoch_duration=0.6, gap=0.2, seed=3))
        for name, model in simulate.CELL_MODELS.items()
    }


@pytest.fixture(scope="session")
def step_sweeps(rheobases) -> dict[str, simulate.SimulationResult]:
    """Each model's response to a 1 s long square at 1.5 x rheobase."""
    return {
        name: simulate.simulate(model, stimuli.long_square(1.5 * rheobases[name]))
        for name, model in simulate.CELL_MODELS.items()
    }
