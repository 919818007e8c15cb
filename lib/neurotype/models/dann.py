"""Domain-adversarial network (Ganin et al. 2016): mouse = source domain, human = target domain."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from neurotype.models.base import EarlyStopping, TorchClassifier, make_optimizer, mlp

__all__ = ["GradientReversal", "grad_reverse", "ganin_lambda", "DANN", "DANNClassifier"]


class GradientReversal(torch.autograd.Function):
    """Identity on the way forward; multiplies the gradient by ``-lambda`` on the way back."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = float(lambda_)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.lambda_ * grad_output, None


def grad_reverse(x: torch.Tensor, lambda_: float) -> torch.Tensor:
    """Apply the gradient-reversal layer of Ganin et al. (2016)."""
    return GradientReversal.apply(x, lambda_)


def ganin_lambda(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s schedule ``2 / (1 + exp(-gamma p)) - 1`` for training progress ``p`` in [0, 1]."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class DANN(nn.Module):
    """Feature extractor, label classifier, and a domain classifier behind gradient reversal."""

    def __init__(self, n_features: int, n_classes: int, hidden: Sequence[int] = (64, 32, 16),
                 activation: str = "relu", dropout: float = 0.1, domain_hidden: Sequence[int] = (16,)):
        super().__init__()
        if len(hidden) < 1:
            raise ValueError("the feature extractor needs at least one hidden layer")
        self.features = mlp(n_features, hidden, None, activation, dropout)
        self.label_head = nn.Linear(hidden[-1], n_classes)
        self.domain_head = mlp(hidden[-1], domain_hidden, 1, activation, 0.0)

    def forward(self, x: torch.Tensor, lambda_: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Label logits and domain logits (the latter through the reversal layer)."""
        embedding = self.features(x)
        return self.label_head(embedding), self.domain_head(grad_reverse(embedding, lambda_)).squeeze(-1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class DANNClassifier(TorchClassifier):
    """Domain-adversarial network with mouse as source and human as target domain.

    Parameters
    ----------
    mode
        ``"semi"``: human labels enter the label loss (the paper's set-up); ``"unsupervised"``:
        human cells enter only the domain loss, their labels unseen (honest mouse → human transfer).
    lambda_
        Weight of the reversed domain gradient: a constant, or ``"schedule"`` for Ganin's
        ``lambda_max * (2 / (1 + exp(-10 p)) - 1)`` over training progress ``p``.
    lambda_max
        Scale of the schedule.
    """

    def __init__(self, mode: str = "semi", lambda_: float | str = "schedule", lambda_max: float = 1.0,
                 hidden: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.1,
                 domain_hidden: Sequence[int] = (16,), lr: float = 1e-3, weight_decay: float = 1e-4,
                 batch_size: int = 64, max_epochs: int = 200, optimizer: str = "adam", patience: int = 30,
                 class_weight: str | None = None, source: str = "mouse", target: str = "human", seed: int = 0):
        self.mode, self.lambda_, self.lambda_max = mode, lambda_, lambda_max
        self.hidden, self.activation, self.dropout, self.domain_hidden = hidden, activation, dropout, domain_hidden
        self.lr, self.weight_decay, self.batch_size, self.max_epochs = lr, weight_decay, batch_size, max_epochs
        self.optimizer, self.patience, self.class_weight = optimizer, patience, class_weight
        self.source, self.target, self.seed = source, target, seed

    def _lambda(self, progress: float) -> float:
        if self.lambda_ == "schedule":
            return self.lambda_max * ganin_lambda(progress)
        return float(self.lambda_)

    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None):
        if self.mode not in ("semi", "unsupervised"):
            raise ValueError(f"mode must be 'semi' or 'unsupervised', got {self.mode!r}")
        if species is None:
            raise ValueError("DANNClassifier.fit needs species= (source and target domain of each row)")
        species = np.asarray(species)
        unknown = set(np.unique(species)) - {self.source, self.target}
        if unknown:
            raise ValueError(f"species {sorted(unknown)} are neither source {self.source!r} nor target {self.target!r}")
        Xt, yt = self._prepare_fit(X, y)
        is_target = torch.as_tensor(species == self.target)
        source_idx, target_idx = torch.nonzero(~is_target).squeeze(1), torch.nonzero(is_target).squeeze(1)
        if len(source_idx) == 0 or len(target_idx) == 0:
            raise ValueError("DANN needs training cells of both domains")
        labelled = source_idx if self.mode == "unsupervised" else torch.arange(len(yt))
        self.module_ = DANN(Xt.shape[1], len(self.classes_), self.hidden, self.activation, self.dropout,
                            self.domain_hidden)
        optimizer = make_optimizer(self.optimizer, self.module_.parameters(), self.lr, self.weight_decay)
        label_loss = nn.CrossEntropyLoss(weight=self._class_weights(yt[labelled]))
        domain_loss = nn.BCEWithLogitsLoss()
        validation = None
        if X_val is not None:
            Xv, yv = self._tensor(X_val), self._encode(y_val)
            keep = np.ones(len(yv), bool) if self.mode == "semi" else np.asarray(species_val) != self.target
            validation = (Xv[torch.as_tensor(keep)], yv[torch.as_tensor(keep)])
        stopper = EarlyStopping(self.patience)
        generator = torch.Generator().manual_seed(self.seed)
        # An epoch is one pass over the labelled cells; every step also draws a batch of target
        # cells so that each update sees both domains.
        steps_per_epoch = max(1, math.ceil(len(labelled) / self.batch_size))
        total_steps = steps_per_epoch * self.max_epochs
        half = max(1, self.batch_size // 2)
        self.target_cells_seen_ = 0
        self.history_ = []
        step = 0
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
                logits, _ = self.module_(Xt[batch])
                _, domain_logits = self.module_(Xt[domain_batch], lam)
                loss = label_loss(logits, yt[batch]) + domain_loss(domain_logits, is_target[domain_batch].float())
                loss.backward()
                optimizer.step()
                self.target_cells_seen_ += int(is_target[batch].sum()) + len(target_batch)
                step += 1
            if validation is not None:
                self.module_.eval()
                with torch.no_grad():
                    val_loss = float(nn.functional.cross_entropy(self.module_(validation[0])[0], validation[1]))
                self.history_.append(val_loss)
                if not math.isfinite(val_loss) or stopper.step(epoch, val_loss, self.module_):
                    break
        if stopper.state is not None:
            self.module_.load_state_dict(stopper.state)
        self.n_epochs_ = epoch + 1
        return self

    def _logits(self, X):
        return self.module_(X)[0]

    def transform(self, X) -> np.ndarray:
        """The learned shared embedding of each row (for domain-alignment checks)."""
        self.module_.eval()
        with torch.no_grad():
            return self.module_.embed(self._tensor(X)).numpy()
