"""LSPIN-gated DANN: the paper's proposed next step, a per-cell gate in front of the DANN.

The LSPIN gating network ψ (Yang et al. 2022) maps each cell to gates
``z = clip(0.5 + mu + eps, 0, 1)`` on its features; the domain-adversarial network of
:mod:`neurotype.models.dann` (feature extractor, label head, domain head behind gradient
reversal) then sees ``x * z``. The loss is the DANN's (label cross-entropy + domain loss with the
reversed gradient) plus LSPIN's ``lambda1 · mean Φ((mu + 0.5)/sigma)``. Training follows
:class:`~neurotype.models.dann.DANNClassifier`: mini-batches of labelled cells, each step also
drawing a balanced batch of source and target cells for the domain loss, Ganin's λ schedule, and
early stopping on the inner validation split.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from neurotype.models.base import EarlyStopping, flushing_subnormals, make_optimizer, mlp
from neurotype.models.dann import DANN, DomainAdversarialClassifier
from neurotype.models.lspin import noise_generator, expected_open_gates, open_gates

__all__ = ["GatedDANN", "GatedDANNClassifier"]


class GatedDANN(nn.Module):
    """LSPIN's gating network in front of a :class:`~neurotype.models.dann.DANN`."""

    def __init__(self, n_features: int, n_classes: int, gate_hidden: Sequence[int] = (50, 50, 50),
                 hidden: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.1,
                 domain_hidden: Sequence[int] = (16,), sigma: float = 0.5):
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.sigma = float(sigma)
        self.gate_net = mlp(n_features, gate_hidden, n_features, "tanh", final_activation=True)
        self.dann = DANN(n_features, n_classes, hidden, activation, dropout, domain_hidden)

    def gates(self, x: torch.Tensor, stochastic: bool | None = None,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Gates and mu; noisy while training unless told otherwise."""
        stochastic = self.training if stochastic is None else stochastic
        mu = self.gate_net(x)
        return open_gates(mu, self.sigma, stochastic, generator), mu

    def forward(self, x: torch.Tensor, lambda_: float = 0.0, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Label logits, domain logits (through the reversal layer) and mu."""
        z, mu = self.gates(x, generator=generator)
        labels, domains = self.dann(x * z, lambda_)
        return labels, domains, mu


class GatedDANNClassifier(DomainAdversarialClassifier):
    """DANN (mouse = source, human = target) behind LSPIN's per-cell feature gates.

    Parameters
    ----------
    lambda1, sigma, gate_hidden
        LSPIN's sparsity weight, gate noise and gating-network widths.
    mode, lambda_, lambda_max, hidden, activation, dropout, domain_hidden, lr, weight_decay, batch_size,
    max_epochs, optimizer, patience, class_weight, source, target
        As in :class:`~neurotype.models.dann.DANNClassifier`.
    """

    def __init__(self, lambda1: float = 0.01047, sigma: float = 0.5, gate_hidden: Sequence[int] = (50, 50, 50),
                 mode: str = "semi", lambda_: float | str = "schedule", lambda_max: float = 1.0,
                 hidden: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.1,
                 domain_hidden: Sequence[int] = (16,), lr: float = 1e-3, weight_decay: float = 1e-4,
                 batch_size: int = 64, max_epochs: int = 200, optimizer: str = "adam", patience: int = 30,
                 class_weight: str | None = None, source: str = "mouse", target: str = "human", seed: int = 0):
        self.lambda1, self.sigma, self.gate_hidden = lambda1, sigma, gate_hidden
        self.mode, self.lambda_, self.lambda_max = mode, lambda_, lambda_max
        self.hidden, self.activation, self.dropout, self.domain_hidden = hidden, activation, dropout, domain_hidden
        self.lr, self.weight_decay, self.batch_size, self.max_epochs = lr, weight_decay, batch_size, max_epochs
        self.optimizer, self.patience, self.class_weight = optimizer, patience, class_weight
        self.source, self.target, self.seed = source, target, seed

    @flushing_subnormals
    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None):
        """Fit on ``X``, ``y`` with ``species`` naming each row's domain; early-stop on the validation rows."""
        self._check_parameters()
        if self.lambda1 < 0:
            raise ValueError(f"lambda1 must be non-negative, got {self.lambda1!r}")
        species = self._domains(species)
        Xt, yt = self._prepare_fit(X, y)
        is_target = torch.as_tensor(species == self.target)
        source_idx, target_idx = torch.nonzero(~is_target).squeeze(1), torch.nonzero(is_target).squeeze(1)
        if len(source_idx) == 0 or len(target_idx) == 0:
            raise ValueError("the gated DANN needs training cells of both domains")
        labelled = source_idx if self.mode == "unsupervised" else torch.arange(len(yt))
        self.module_ = GatedDANN(Xt.shape[1], len(self.classes_), self.gate_hidden, self.hidden, self.activation,
                                 self.dropout, self.domain_hidden, self.sigma)
        optimizer = make_optimizer(self.optimizer, self.module_.parameters(), self.lr, self.weight_decay)
        label_loss = nn.CrossEntropyLoss(weight=self._class_weights(yt[labelled]))
        domain_loss = nn.BCEWithLogitsLoss()
        validation = self._validation(X_val, y_val, species_val)
        stopper = EarlyStopping(self.patience)
        generator = torch.Generator().manual_seed(self.seed)
        noise = noise_generator(self.seed)
        steps_per_epoch = max(1, math.ceil(len(labelled) / self.batch_size))
        total_steps = steps_per_epoch * self.max_epochs
        half = max(1, self.batch_size // 2)
        self.history_, step, epoch = [], 0, -1
        for epoch in range(self.max_epochs):
            self.module_.train()
            order = labelled[torch.randperm(len(labelled), generator=generator)]
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                target_batch = target_idx[torch.randint(len(target_idx), (half,), generator=generator)]
                source_batch = source_idx[torch.randint(len(source_idx), (half,), generator=generator)]
                domain_batch = torch.cat([source_batch, target_batch])
                lam = self._lambda(step / max(1, total_steps - 1))
                optimizer.zero_grad()
                logits, _, mu = self.module_(Xt[batch], generator=noise)
                _, domain_logits, _ = self.module_(Xt[domain_batch], lam, generator=noise)
                loss = (label_loss(logits, yt[batch]) + domain_loss(domain_logits, is_target[domain_batch].float())
                        + self.lambda1 * expected_open_gates(mu, self.sigma).mean())
                loss.backward()
                optimizer.step()
                step += 1
            if validation is not None and self._end_of_epoch(epoch, validation, stopper):
                break
        self._keep_best(stopper, epoch)
        self.module_.eval()
        return self

    def _logits(self, X):
        return self.module_(X)[0]

    def gates(self, X) -> np.ndarray:
        """Deterministic inference gates ``clip(0.5 + mu, 0, 1)`` per row and feature."""
        self.module_.eval()
        with torch.no_grad():
            return self.module_.gates(self._tensor(X), stochastic=False)[0].numpy()
