"""A tiny seeded problem for the network tests (tests/models): test_fused.py and test_native.py."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def problem(seed: int = 0, n: int = 240):
    """Three classes, two species, a shifted human domain, a few missing values."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 7))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "b", "a")
    y[::7] = "c"
    species = np.where(np.arange(n) % 3 == 0, "human", "mouse")
    X[species == "human"] += 0.7
    X[rng.random(X.shape) < 0.01] = np.nan
    return X, y, species


def validation(X, y, species):
    return {"X_val": X[:60], "y_val": y[:60], "species_val": species[:60]}


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
