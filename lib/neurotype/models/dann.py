"""Domain-adversarial network (Ganin et al. 2016): mouse = source domain, human = target domain."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from neurotype.models.base import (EarlyStopping, TorchClassifier, flushing_subnormals, layer_activations,
                                   make_optimizer, mlp)
from neurotype.models.fused import DomainBatches, StackedNetwork
from neurotype.models.members import MemberNetworkClassifier
from neurotype.models.weighting import CLASS_WEIGHTS, row_weights, weighted_cross_entropy

__all__ = ["GradientReversal", "grad_reverse", "ganin_lambda", "DANN", "DomainAdversarialClassifier",
           "DANNClassifier"]




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
    """Feature extractor, label classifier, and a domain classifier behind gradient reversal.

    ``activation`` is one name or one per feature-extractor layer (the domain classifier uses the
    last one); ``batch_norm="after"`` puts a batch normalisation between each feature layer's
    product and its activation.
    """

    def __init__(self, n_features: int, n_classes: int, hidden: Sequence[int] = (64, 32, 16),
                 activation: str | Sequence[str] = "relu", dropout: float = 0.1, domain_hidden: Sequence[int] = (16,),
                 batch_norm: str | None = None):
        super().__init__()
        if len(hidden) < 1:
            raise ValueError("the feature extractor needs at least one hidden layer")
        self.features = mlp(n_features, hidden, None, activation, dropout, batch_norm=batch_norm)
        self.label_head = nn.Linear(hidden[-1], n_classes)
        self.domain_head = mlp(hidden[-1], domain_hidden, 1, layer_activations(activation, len(hidden))[-1], 0.0)

    def forward(self, x: torch.Tensor, lambda_: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Label logits and domain logits (the latter through the reversal layer)."""
        embedding = self.features(x)
        return self.label_head(embedding), self.domain_head(grad_reverse(embedding, lambda_)).squeeze(-1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class DomainAdversarialClassifier(TorchClassifier):
    """What the DANN and the LSPIN-gated DANN share: the λ schedule, the parameter and domain
    checks, and the validation rows that early stopping may look at."""

    def _lambda(self, progress: float) -> float:
        if self.lambda_ == "schedule":
            return self.lambda_max * ganin_lambda(progress)
        return float(self.lambda_)

    def _check_parameters(self) -> None:
        if self.mode not in ("semi", "unsupervised"):
            raise ValueError(f"mode must be 'semi' or 'unsupervised', got {self.mode!r}")
        if isinstance(self.lambda_, str):
            if self.lambda_ != "schedule":
                raise ValueError(f"lambda_ must be a number >= 0 or 'schedule', got {self.lambda_!r}")
        elif not float(self.lambda_) >= 0:
            raise ValueError(f"lambda_ must be a number >= 0 or 'schedule', got {self.lambda_!r}")
        if self.class_weight not in CLASS_WEIGHTS:
            raise ValueError(f"class_weight must be one of {list(CLASS_WEIGHTS)}, got {self.class_weight!r}")
        if self.source == self.target:
            raise ValueError(f"source and target must differ, both are {self.source!r}")
        if int(self.batch_size) < 2:
            raise ValueError(f"batch_size must be at least 2, got {self.batch_size!r}")

    def _domains(self, species) -> np.ndarray:
        """``species`` as an array, checked to hold only the source and target domains."""
        if species is None:
            raise ValueError(f"{type(self).__name__}.fit needs species= (source and target domain of each row)")
        species = np.asarray(species)
        unknown = set(np.unique(species)) - {self.source, self.target}
        if unknown:
            raise ValueError(f"species {sorted(unknown)} are neither source {self.source!r} nor target {self.target!r}")
        return species

    def _validation(self, X_val, y_val, species_val) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Early-stopping rows: all of them, or in unsupervised mode the source rows only."""
        if X_val is None:
            return None
        keep = np.ones(len(X_val), bool)
        if self.mode == "unsupervised":
            if species_val is None:
                raise ValueError("unsupervised mode with X_val needs species_val= (target rows are left out)")
            keep = np.asarray(species_val) != self.target
        return self._tensor(np.asarray(X_val, dtype=float)[keep]), self._encode(np.asarray(y_val)[keep])


class DANNClassifier(DomainAdversarialClassifier, MemberNetworkClassifier):
    """Domain-adversarial network with mouse as source and human as target domain.

    Every update draws a batch of labelled cells for the label loss and a domain batch of
    ``batch_size // 2`` source and as many target cells (sampled with replacement) for the domain
    loss; both go through the feature extractor in one pass. An epoch is one pass over the
    labelled cells.

    Parameters
    ----------
    mode
        ``"semi"``: human labels enter the label loss (the paper's set-up); ``"unsupervised"``:
        human cells enter only the domain loss, their labels unseen (honest mouse → human
        transfer). Early stopping then watches the validation loss of source cells only.
    lambda_
        Weight of the reversed domain gradient: a constant ``>= 0`` (the paper tunes it), or
        ``"schedule"`` for Ganin's ``lambda_max * (2 / (1 + exp(-10 p)) - 1)`` over training
        progress ``p``.
    lambda_max
        Scale of the schedule.
    hidden, activation, dropout
        Feature extractor: hidden-layer widths, activation (one name, or one per layer joined
        by ``-``), dropout after each layer.
    domain_hidden
        Hidden widths of the domain classifier.
    lr, weight_decay, batch_size, max_epochs, optimizer, patience
        Training; ``patience`` epochs without a lower validation loss stop it (only when
        ``X_val`` is given; otherwise all ``max_epochs`` run). ``patience=None``: no early
        stopping, the last epoch's weights are kept.
    class_weight
        ``None``, ``"balanced"`` or ``"balanced_per_species"``
        (:func:`neurotype.models.weighting.row_weights`), over the labelled rows.
    source, target
        Species names of the two domains (swap them for human → mouse transfer).
    batch_norm
        ``None``, or ``"after"``: a batch normalisation between each feature layer's product and
        its activation (Keras's momentum 0.99 and epsilon 1e-3).
    init
        Weight initialisation (:data:`neurotype.models.base.INITIALISATIONS`): ``"torch"``
        (PyTorch's own), ``"glorot_uniform"`` (Keras's default) or ``"truncated_normal"``.
    n_members
        Seed ensemble: ``n_members`` networks seeded ``member_seed(seed, m)``, predictions averaged.
    engine
        ``"fused"`` (:mod:`neurotype.models.fused`: the same training written out, every member at
        once; relu/selu/swish, sgd/rmsprop/adam), ``"autograd"``, or ``"auto"`` (fused whenever it
        applies).
    seed
        Seeds weights, batches and dropout.

    Attributes
    ----------
    target_cells_seen_
        Target-domain rows drawn into training batches (label and domain batches together), summed
        over members.
    target_labels_used_
        Target-domain rows that entered the label loss (0 in unsupervised mode), summed over members.
    history_
        Validation loss per epoch (member 0).
    n_epochs_, member_epochs_
        Epochs run by member 0 and by each member.
    """

    def __init__(self, mode: str = "semi", lambda_: float | str = "schedule", lambda_max: float = 1.0,
                 hidden: Sequence[int] = (64, 32, 16), activation: str = "relu", dropout: float = 0.1,
                 domain_hidden: Sequence[int] = (16,), lr: float = 1e-3, weight_decay: float = 1e-4,
                 batch_size: int = 64, max_epochs: int = 200, optimizer: str = "adam", patience: int | None = 30,
                 class_weight: str | None = None, source: str = "mouse", target: str = "human",
                 batch_norm: str | None = None, init: str = "torch", n_members: int = 1, engine: str = "auto",
                 seed: int = 0):
        self.mode, self.lambda_, self.lambda_max = mode, lambda_, lambda_max
        self.hidden, self.activation, self.dropout, self.domain_hidden = hidden, activation, dropout, domain_hidden
        self.lr, self.weight_decay, self.batch_size, self.max_epochs = lr, weight_decay, batch_size, max_epochs
        self.optimizer, self.patience, self.class_weight = optimizer, patience, class_weight
        self.source, self.target = source, target
        self.batch_norm, self.init, self.n_members, self.engine, self.seed = batch_norm, init, n_members, engine, seed

    def set_pruning_callback(self, callback) -> None:
        """During tuning: ``callback(epoch, -validation loss)`` every 10 epochs (may raise to prune)."""
        self._pruning_callback = callback

    def new_module(self, n_features: int, n_classes: int) -> DANN:
        """An untrained network of this estimator's architecture (PyTorch's initialisation)."""
        return DANN(n_features, n_classes, self.hidden, self.activation, self.dropout, self.domain_hidden,
                    self.batch_norm)

    @flushing_subnormals
    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None, label_mask=None):
        """Train on ``X``/``y``; ``species`` names each row's domain (source or target).

        Parameters
        ----------
        label_mask
            Optional boolean per row: rows marked ``False`` enter only the domain loss and their
            labels are never read (e.g. the unlabelled share of human cells in a learning
            curve). In unsupervised mode target rows are unlabelled whatever the mask says.
        """
        self._check_parameters()
        engine = self._engine()
        species = self._domains(species)
        is_target_np = species == self.target
        labelled_np = np.ones(len(species), bool) if label_mask is None else np.asarray(label_mask, bool)
        if labelled_np.shape != species.shape:
            raise ValueError(f"label_mask has shape {labelled_np.shape}, expected {species.shape}")
        if self.mode == "unsupervised":
            labelled_np = labelled_np & ~is_target_np
        if not labelled_np.any():
            raise ValueError("no labelled training row: the label loss would be empty")
        # Unlabelled rows' labels are unseen: replace them by a labelled row's label before
        # encoding, so that nothing downstream can read them (classes come from labelled rows).
        y = np.asarray(y).copy()
        y[~labelled_np] = y[labelled_np][0]
        Xt, yt = self._prepare_fit(X, y)
        is_target = torch.as_tensor(is_target_np)
        source_idx, target_idx = torch.nonzero(~is_target).squeeze(1), torch.nonzero(is_target).squeeze(1)
        if len(source_idx) == 0 or len(target_idx) == 0:
            raise ValueError(f"DANN needs training cells of both domains ({self.source!r} and {self.target!r}); "
                             f"got {len(source_idx)} and {len(target_idx)}")
        labelled = torch.nonzero(torch.as_tensor(labelled_np)).squeeze(1)
        weights_labelled = row_weights(yt[labelled], species[labelled.numpy()], self.class_weight)
        weights = None
        if weights_labelled is not None:
            weights = torch.zeros(len(yt))
            weights[labelled] = weights_labelled
        validation = self._validation(X_val, y_val, species_val)
        EarlyStopping.from_patience(self.patience)  # checks it
        half = max(1, self.batch_size // 2)
        members, dropout_generators, order_generators = self._new_members(
            lambda: self.new_module(Xt.shape[1], len(self.classes_)))
        callback = getattr(self, "_pruning_callback", None) if len(members) == 1 else None
        if engine == "fused":
            net = StackedNetwork([m.features for m in members], [m.label_head for m in members],
                                 [m.domain_head for m in members])
            K = len(members)
            lambdas = lambda step, total: [self._lambda(step / max(1, total - 1))] * K  # noqa: E731
            epochs, histories = self._train_fused(
                net, Xt, yt, labelled, dropout_generators, order_generators, row_weights=weights,
                domain=DomainBatches(source_idx, target_idx, half, lambdas), validation=validation, callback=callback)
        else:
            epochs, histories = self._train_each(members, dropout_generators, lambda k, module: self._fit_autograd(
                module, Xt, yt, labelled, weights, source_idx, target_idx, half, validation, order_generators[k],
                callback))
        self._finish(members, epochs, histories, engine)
        # Every epoch passes once over the labelled rows and draws `half` target rows per step.
        labelled_targets = int(is_target[labelled].sum())
        steps_per_epoch = max(1, math.ceil(len(labelled) / self.batch_size))
        self.target_labels_used_ = sum(labelled_targets * e for e in epochs)
        self.target_cells_seen_ = self.target_labels_used_ + sum(e * steps_per_epoch * half for e in epochs)
        return self

    def _fit_autograd(self, module: DANN, Xt, yt, labelled, weights, source_idx, target_idx, half, validation,
                      generator: torch.Generator, callback) -> int:
        """The general path: autograd and a ``torch.optim`` optimiser, one member."""
        optimizer = make_optimizer(self.optimizer, module.parameters(), self.lr, self.weight_decay)
        domain_loss = nn.BCEWithLogitsLoss()
        stopper = EarlyStopping.from_patience(self.patience)
        steps_per_epoch = max(1, math.ceil(len(labelled) / self.batch_size))
        total_steps = steps_per_epoch * self.max_epochs
        domain_target = torch.cat([torch.zeros(half), torch.ones(half)])
        step = 0
        epoch = -1
        for epoch in range(self.max_epochs):
            module.train()
            order = labelled[torch.randperm(len(labelled), generator=generator)]
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                source_batch = source_idx[torch.randint(len(source_idx), (half,), generator=generator)]
                target_batch = target_idx[torch.randint(len(target_idx), (half,), generator=generator)]
                rows = torch.cat([batch, source_batch, target_batch])
                lam = self._lambda(step / max(1, total_steps - 1))
                optimizer.zero_grad()
                embedding = module.features(Xt[rows])
                logits = module.label_head(embedding[:len(batch)])
                domain_logits = module.domain_head(grad_reverse(embedding[len(batch):], lam)).squeeze(-1)
                loss = (weighted_cross_entropy(logits, yt[batch], None if weights is None else weights[batch])
                        + domain_loss(domain_logits, domain_target))
                loss.backward()
                optimizer.step()
                step += 1
            if validation is not None and self._end_of_epoch(epoch, validation, stopper, callback):
                break
        self._keep_best(stopper, epoch)
        return epoch + 1

    def _logits(self, X):
        return self.module_(X)[0]

    def _member_logits(self, module, X):
        return module(X)[0]

    def transform(self, X) -> np.ndarray:
        """The learned shared embedding of each row (member 0's; for domain-alignment checks)."""
        self.module_.eval()
        with torch.no_grad():
            return self.module_.embed(self._tensor(X)).numpy()
