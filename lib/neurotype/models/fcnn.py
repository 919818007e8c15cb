"""The paper's fully connected network (FCNN), optionally with an organism flag."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from neurotype.models.base import EarlyStopping, flushing_subnormals, make_optimizer, mlp
from neurotype.models.fused import StackedNetwork
from neurotype.models.members import MemberNetworkClassifier
from neurotype.models.weighting import row_weights, weighted_cross_entropy

__all__ = ["FCNNClassifier"]


class FCNNClassifier(MemberNetworkClassifier):
    """The paper's fully connected network (optionally with an organism flag as a 42nd input).

    Parameters
    ----------
    hidden, activation, dropout
        Hidden-layer widths, activation (one name, or one per layer joined by ``-``), dropout
        after each hidden layer.
    lr, weight_decay, batch_size, max_epochs, optimizer, patience
        Training; ``patience`` epochs without a lower validation loss stop it (only when
        ``X_val`` is given); ``None``: no early stopping.
    class_weight
        ``None``, ``"balanced"`` or ``"balanced_per_species"``
        (:func:`neurotype.models.weighting.row_weights`).
    species_flag
        Append the organism indicator (1 = human) to the scaled features (the paper's Table 1
        "organism feature").
    batch_norm, init, n_members, engine
        As in :class:`~neurotype.models.dann.DANNClassifier`.
    seed
        Seeds weights, batches and dropout.
    """

    def __init__(self, hidden: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.1,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 64, max_epochs: int = 300,
                 optimizer: str = "adam", patience: int | None = 30, class_weight: str | None = None,
                 species_flag: bool = False, batch_norm: str | None = None, init: str = "torch", n_members: int = 1,
                 engine: str = "auto", seed: int = 0):
        self.hidden, self.activation, self.dropout = hidden, activation, dropout
        self.lr, self.weight_decay, self.batch_size, self.max_epochs = lr, weight_decay, batch_size, max_epochs
        self.optimizer, self.patience, self.class_weight = optimizer, patience, class_weight
        self.species_flag, self.batch_norm, self.init = species_flag, batch_norm, init
        self.n_members, self.engine, self.seed = n_members, engine, seed

    def set_pruning_callback(self, callback) -> None:
        """During tuning: ``callback(epoch, -validation loss)`` every 10 epochs (may raise to prune)."""
        self._pruning_callback = callback

    def new_module(self, n_features: int, n_classes: int) -> torch.nn.Sequential:
        """An untrained network of this estimator's architecture (PyTorch's initialisation)."""
        return mlp(n_features, self.hidden, n_classes, self.activation, self.dropout, batch_norm=self.batch_norm)

    @flushing_subnormals
    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None):
        """Train on ``X``/``y`` (``species`` is needed by ``species_flag`` and per-species weights)."""
        engine = self._engine()
        Xt, yt = self._prepare_fit(X, y, species)
        weights = row_weights(yt, None if species is None else np.asarray(species), self.class_weight)
        validation = (self._tensor(X_val, species_val), self._encode(y_val)) if X_val is not None else None
        EarlyStopping.from_patience(self.patience)  # checks it
        members, dropout_generators, order_generators = self._new_members(
            lambda: self.new_module(Xt.shape[1], len(self.classes_)))
        callback = getattr(self, "_pruning_callback", None) if len(members) == 1 else None
        if engine == "fused":
            net = StackedNetwork([m[:-1] for m in members], [m[-1] for m in members])
            epochs, histories = self._train_fused(net, Xt, yt, torch.arange(len(yt)), dropout_generators,
                                                  order_generators, row_weights=weights, validation=validation,
                                                  callback=callback)
        else:
            epochs, histories = self._train_each(members, dropout_generators, lambda k, module: self._fit_autograd(
                module, Xt, yt, weights, validation, order_generators[k], callback))
        self._finish(members, epochs, histories, engine)
        return self

    def _fit_autograd(self, module, Xt, yt, weights, validation, generator, callback) -> int:
        """The general path: autograd and a ``torch.optim`` optimiser, one member."""
        optimizer = make_optimizer(self.optimizer, module.parameters(), self.lr, self.weight_decay)
        stopper = EarlyStopping.from_patience(self.patience)
        epoch = -1
        for epoch in range(self.max_epochs):
            module.train()
            order = torch.randperm(len(yt), generator=generator)
            for start in range(0, len(yt), self.batch_size):
                batch = order[start:start + self.batch_size]
                optimizer.zero_grad()
                loss = weighted_cross_entropy(module(Xt[batch]), yt[batch], None if weights is None else weights[batch])
                loss.backward()
                optimizer.step()
            if validation is not None and self._end_of_epoch(epoch, validation, stopper, callback):
                break
        self._keep_best(stopper, epoch)
        return epoch + 1

    def _logits(self, X):
        return self.module_(X)

    def _member_logits(self, module, X):
        return module(X)
