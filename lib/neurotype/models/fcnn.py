"""The paper's fully connected network (FCNN), optionally with an organism flag."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from neurotype.models.base import EarlyStopping, TorchClassifier, make_optimizer, mlp

__all__ = ["FCNNClassifier"]


class FCNNClassifier(TorchClassifier):
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
        optimizer = make_optimizer(self.optimizer, self.module_.parameters(), self.lr, self.weight_decay)
        loss_fn = nn.CrossEntropyLoss(weight=self._class_weights(yt))
        validation = (self._tensor(X_val, species_val), self._encode(y_val)) if X_val is not None else None
        stopper = EarlyStopping(self.patience)
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
