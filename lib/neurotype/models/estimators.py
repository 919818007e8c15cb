"""scikit-learn-style estimators around the networks of :mod:`neurotype.models.nets`.

All share one interface, which the evaluation protocol relies on::

    fit(X, y, species=None, X_val=None, y_val=None, species_val=None)
    predict(X, species=None) / predict_proba(X, species=None)

``species`` (``"mouse"``/``"human"`` per row) is used by the domain-adversarial network and by
the optional organism flag; other models ignore it. Imputation and scaling are part of every
estimator and are fitted on the rows passed to ``fit`` only. ``X_val``/``y_val`` (an inner
validation split of the training rows) drive early stopping when given.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from neurotype.models.nets import DANN, LSPIN, expected_open_gates, ganin_lambda, mlp
from neurotype.preprocessing import make_preprocessor

__all__ = ["FCNNClassifier", "DANNClassifier", "LSPINClassifier", "LSPIN_PAPER_PRESET"]

OPTIMIZERS = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}


def _optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    try:
        return OPTIMIZERS[name.lower()](params, lr=lr, weight_decay=weight_decay)
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") from None


class _TorchClassifier(ClassifierMixin, BaseEstimator):
    """Shared plumbing: preprocessing, label encoding, seeding, early stopping, prediction."""

    def _prepare_fit(self, X, y, species=None):
        torch.manual_seed(self.seed)
        self._rng = np.random.default_rng(self.seed)
        self.classes_ = np.unique(np.asarray(y))
        self.preprocessor_ = make_preprocessor().fit(np.asarray(X, dtype=float))
        return self._tensor(X, species), self._encode(y)

    def _encode(self, y) -> torch.Tensor:
        y = np.asarray(y)
        unknown = set(np.unique(y)) - set(self.classes_)
        if unknown:
            raise ValueError(f"labels {sorted(unknown)} were not seen when fitting")
        return torch.as_tensor(np.searchsorted(self.classes_, y), dtype=torch.long)

    def _tensor(self, X, species=None) -> torch.Tensor:
        Z = self.preprocessor_.transform(np.asarray(X, dtype=float))
        if getattr(self, "species_flag", False):
            if species is None:
                raise ValueError("species_flag=True needs species= for every row")
            Z = np.column_stack([Z, (np.asarray(species) == "human").astype(float)])
        return torch.as_tensor(Z, dtype=torch.float32)

    def _class_weights(self, y: torch.Tensor) -> torch.Tensor | None:
        if self.class_weight is None:
            return None
        if self.class_weight != "balanced":
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        counts = torch.bincount(y, minlength=len(self.classes_)).float().clamp(min=1)
        return counts.sum() / (len(counts) * counts)

    def _logits(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def predict_proba(self, X, species=None) -> np.ndarray:
        self.module_.eval()
        with torch.no_grad():
            return torch.softmax(self._logits(self._tensor(X, species)), dim=1).numpy()

    def predict(self, X, species=None) -> np.ndarray:
        return self.classes_[self.predict_proba(X, species).argmax(axis=1)]


class _EarlyStopping:
    """Keep the weights of the epoch with the lowest validation loss; stop after ``patience`` epochs without one."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_epoch, self.state = patience, math.inf, -1, None

    def step(self, epoch: int, loss: float, module: nn.Module) -> bool:
        if loss < self.best - 1e-6:
            self.best, self.best_epoch, self.state = loss, epoch, copy.deepcopy(module.state_dict())
        return epoch - self.best_epoch >= self.patience


class FCNNClassifier(_TorchClassifier):
    """The paper's fully connected network (optionally with an organism flag as a 42nd input)."""

    def __init__(self, hidden: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.1,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 64, max_epochs: int = 300,
                 optimizer: str = "adam", patience: int = 30, class_weight: str | None = None,
                 species_flag: bool = False, seed: int = 0):
        self.hidden, self.activation, self.dropout = hidden, activation, dropout
        self.lr, self.weight_decay, self.batch_size, self.max_epochs = lr, weight_decay, batch_size, max_epochs
        self.optimizer, self.patience, self.class_weight = optimizer, patience, class_weight
        self.species_flag, self.seed = species_flag, seed

    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None):
        Xt, yt = self._prepare_fit(X, y, species)
        self.module_ = mlp(Xt.shape[1], self.hidden, len(self.classes_), self.activation, self.dropout)
        optimizer = _optimizer(self.optimizer, self.module_.parameters(), self.lr, self.weight_decay)
        loss_fn = nn.CrossEntropyLoss(weight=self._class_weights(yt))
        validation = (self._tensor(X_val, species_val), self._encode(y_val)) if X_val is not None else None
        stopper = _EarlyStopping(self.patience)
        generator = torch.Generator().manual_seed(self.seed)
        self.history_ = []
        for epoch in range(self.max_epochs):
            self.module_.train()
            order = torch.randperm(len(yt), generator=generator)
            for start in range(0, len(yt), self.batch_size):
                batch = order[start:start + self.batch_size]
                optimizer.zero_grad()
                loss = loss_fn(self.module_(Xt[batch]), yt[batch])
                loss.backward()
                optimizer.step()
            if validation is not None:
                self.module_.eval()
                with torch.no_grad():
                    val_loss = float(nn.functional.cross_entropy(self.module_(validation[0]), validation[1]))
                self.history_.append(val_loss)
                if not math.isfinite(val_loss) or stopper.step(epoch, val_loss, self.module_):
                    break
        if stopper.state is not None:
            self.module_.load_state_dict(stopper.state)
        self.n_epochs_ = epoch + 1
        return self

    def _logits(self, X):
        return self.module_(X)


class DANNClassifier(_TorchClassifier):
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
        optimizer = _optimizer(self.optimizer, self.module_.parameters(), self.lr, self.weight_decay)
        label_loss = nn.CrossEntropyLoss(weight=self._class_weights(yt[labelled]))
        domain_loss = nn.BCEWithLogitsLoss()
        validation = None
        if X_val is not None:
            Xv, yv = self._tensor(X_val), self._encode(y_val)
            keep = np.ones(len(yv), bool) if self.mode == "semi" else np.asarray(species_val) != self.target
            validation = (Xv[torch.as_tensor(keep)], yv[torch.as_tensor(keep)])
        stopper = _EarlyStopping(self.patience)
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


#: The paper's LSPIN settings (its supplementary table).
LSPIN_PAPER_PRESET = dict(lambda1=0.01047, lambda2=0.0, sigma=0.5, lr=0.0599, optimizer="sgd", epochs=1000,
                          gate_hidden=(50, 50, 50), hidden=(40, 20), activation="tanh", batch_size=None)


class LSPINClassifier(_TorchClassifier):
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
        optimizer = _optimizer(self.optimizer, self.module_.parameters(), self.lr, self.weight_decay)
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
