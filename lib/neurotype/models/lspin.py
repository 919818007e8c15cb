"""LSPIN, the locally sparse network of Yang et al. (2022): per-cell gates on the features."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from neurotype.models.base import TorchClassifier, make_optimizer, mlp

__all__ = ["expected_open_gates", "LSPIN", "LSPINClassifier", "LSPIN_PAPER_PRESET"]


def expected_open_gates(mu: torch.Tensor, sigma: float) -> torch.Tensor:
    """``Phi((mu + 0.5) / sigma)``: the probability that each stochastic gate is open (> 0)."""
    return 0.5 * (1.0 + torch.erf((mu + 0.5) / (sigma * math.sqrt(2.0))))


class LSPIN(nn.Module):
    """Locally sparse network (Yang et al., 2022): a gating network opens features per sample.

    The gating network ψ maps a sample to ``mu``; the gates are
    ``z = clip(0.5 + mu + eps, 0, 1)`` with ``eps ~ N(0, sigma^2)`` while training and
    ``eps = 0`` at inference; the prediction network sees ``x * z``.
    """

    def __init__(self, n_features: int, n_classes: int, gate_hidden: Sequence[int] = (50, 50, 50),
                 hidden: Sequence[int] = (40, 20), activation: str = "tanh", sigma: float = 0.5):
        super().__init__()
        self.sigma = float(sigma)
        # Bounded mu (tanh output), as in the reference implementation: gates can still be fully
        # open (0.5 + mu >= 1) or shut (<= 0) but the gate logits cannot run away.
        self.gate_net = mlp(n_features, gate_hidden, n_features, "tanh", final_activation=True)
        self.predictor = mlp(n_features, hidden, n_classes, activation)

    def mu(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_net(x)

    def gates(self, x: torch.Tensor, stochastic: bool | None = None) -> torch.Tensor:
        """Gates of each sample; stochastic while training unless told otherwise."""
        stochastic = self.training if stochastic is None else stochastic
        mu = self.mu(x)
        noise = self.sigma * torch.randn_like(mu) if stochastic else 0.0
        return torch.clamp(0.5 + mu + noise, 0.0, 1.0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, gates and mu."""
        mu = self.mu(x)
        noise = self.sigma * torch.randn_like(mu) if self.training else 0.0
        z = torch.clamp(0.5 + mu + noise, 0.0, 1.0)
        return self.predictor(x * z), z, mu


#: The paper's LSPIN settings (its supplementary table).
LSPIN_PAPER_PRESET = dict(lambda1=0.01047, lambda2=0.0, sigma=0.5, lr=0.0599, optimizer="sgd", epochs=1000,
                          gate_hidden=(50, 50, 50), hidden=(40, 20), activation="tanh", batch_size=None)


class LSPINClassifier(TorchClassifier):
    """Locally sparse network: a per-cell gate on every feature, trained with a sparsity penalty.

    Loss = cross-entropy + ``lambda1`` · mean Φ((μ + 0.5)/σ) (the expected share of open gates)
    + ``lambda2`` · Σ_ij K_ij ‖z_i − z_j‖² / n² with an RBF kernel K on the inputs (optional:
    similar cells get similar gates). ``batch_size=None`` trains full-batch, as the paper did.
    """

    def __init__(self, lambda1: float = 0.01047, lambda2: float = 0.0, sigma: float = 0.5, lr: float = 0.0599,
                 optimizer: str = "sgd", epochs: int = 1000, gate_hidden: Sequence[int] = (50, 50, 50),
                 hidden: Sequence[int] = (40, 20), activation: str = "tanh", batch_size: int | None = None,
                 weight_decay: float = 0.0, kernel_width: float | None = None, class_weight: str | None = None,
                 seed: int = 0):
        self.lambda1, self.lambda2, self.sigma, self.lr, self.optimizer = lambda1, lambda2, sigma, lr, optimizer
        self.epochs, self.gate_hidden, self.hidden, self.activation = epochs, gate_hidden, hidden, activation
        self.batch_size, self.weight_decay, self.kernel_width = batch_size, weight_decay, kernel_width
        self.class_weight, self.seed = class_weight, seed

    def _similarity_penalty(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        width = self.kernel_width or math.sqrt(x.shape[1])
        kernel = torch.exp(-torch.cdist(x, x).pow(2) / (2 * width ** 2))
        return (kernel * torch.cdist(z, z).pow(2)).sum() / (len(x) ** 2)

    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None):
        Xt, yt = self._prepare_fit(X, y)
        self.module_ = LSPIN(Xt.shape[1], len(self.classes_), self.gate_hidden, self.hidden, self.activation,
                             self.sigma)
        optimizer = make_optimizer(self.optimizer, self.module_.parameters(), self.lr, self.weight_decay)
        loss_fn = nn.CrossEntropyLoss(weight=self._class_weights(yt))
        generator = torch.Generator().manual_seed(self.seed)
        batch_size = self.batch_size or len(yt)
        self.module_.train()
        for _ in range(self.epochs):
            order = torch.randperm(len(yt), generator=generator) if batch_size < len(yt) else None
            for start in range(0, len(yt), batch_size):
                batch = order[start:start + batch_size] if order is not None else slice(None)
                xb = Xt[batch]
                logits, z, mu = self.module_(xb)
                loss = loss_fn(logits, yt[batch])
                loss = loss + self.lambda1 * expected_open_gates(mu, self.sigma).mean()
                if self.lambda2 > 0:
                    loss = loss + self.lambda2 * self._similarity_penalty(xb, z)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        self.module_.eval()
        return self

    def _logits(self, X):
        return self.module_(X)[0]

    def gates(self, X) -> np.ndarray:
        """Deterministic inference gates ``clip(0.5 + mu, 0, 1)`` per row and feature."""
        self.module_.eval()
        with torch.no_grad():
            return self.module_.gates(self._tensor(X), stochastic=False).numpy()
