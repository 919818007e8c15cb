"""Shared fixtures: every test starts from the same seeds."""

from __future__ import annotations

import random

import numpy as np
import pytest


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
