"""The paper's fully connected network (FCNN), optionally with an organism flag."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from neurotype.models.base import EarlyStopping, TorchClassifier, make_optimizer, mlp
from neurotype.models.weighting import row_weights, weighted_cross_entropy

__all__ = ["FCNNClassifier"]


class FCNNClassifier(TorchClassifier):
    """The paper's fully connected network (optionally with an organism flag as a 42nd input).

    Parameters
    ----------
    hidden, activation, dropout
        Hidden-layer widths, activation, dropout after each hidden layer.
    lr, weight_decay, batch_size, max_epochs, optimizer, patience
        Training; ``patience`` epochs without a lower validation loss stop it (only when
        ``X_val`` is given).
    class_weight
        ``None``, ``"balanced"`` or ``"balanced_per_species"``
        (:func:`neurotype.models.weighting.row_weights`).
    species_flag
        Append the organism indicator (1 = human) to the scaled features (the paper's Table 1
        "organism feature").
    seed
        Seeds weights, batches and dropout.
    """

    def __init__(self, hidden: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.1,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 64, max_epochs: int = 300,
                 optimizer: str = "adam", patience: int = 30, class_weight: str | None = None,
                 species_flag: bool = False, seed: int = 0):
        self.hidden, self.activation, self.dropout = hidden, activation, dropout
        self.lr, self.weight_decay, self.batch_size, self.max_epochs = lr, weight_decay, batch_size, max_epochs
        self.optimizer, self.patience, self.class_weight = optimizer, patience, class_weight
        self.species_flag, self.seed = species_flag, seed

    def set_pruning_callback(self, callback) -> None:
        """During tuning: ``callback(epoch, -validation loss)`` every 10 epochs (may raise to prune)."""
        self._pruning_callback = callback

    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None):
        """Train on ``X``/``y`` (``species`` is needed by ``species_flag`` and per-species weights)."""
        Xt, yt = self._prepare_fit(X, y, species)
        weights = row_weights(yt, None if species is None else np.asarray(species), self.class_weight)
        self.module_ = mlp(Xt.shape[1], self.hidden, len(self.classes_), self.activation, self.dropout)
        optimizer = make_optimizer(self.optimizer, self.module_.parameters(), self.lr, self.weight_decay)
        callback = getattr(self, "_pruning_callback", None)
        epoch = -1
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
                loss = weighted_cross_entropy(self.module_(Xt[batch]), yt[batch],
                                              None if weights is None else weights[batch])
                loss.backward()
                optimizer.step()
            if validation is not None and self._end_of_epoch(epoch, validation, stopper, callback):
                break
        self._keep_best(stopper, epoch)
        return self

    def _logits(self, X):
        return self.module_(X)
