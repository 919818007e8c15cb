"""What the FCNN and the DANN share: seed-ensemble members, the training engine, averaged predictions.

A network with ``n_members = K`` is ``K`` networks of one architecture, member ``m`` seeded with
:func:`~neurotype.models.base.member_seed` ``(seed, m)`` (member 0: ``seed`` itself); it predicts
the mean of their class probabilities. Each member is built, initialised and trained exactly as
a network of that seed alone would be, so the ``K`` can be trained one after the other (the
``autograd`` engine) or together as one stacked network (the ``fused`` engine,
:mod:`neurotype.models.fused`); tests check that both give the same members.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from neurotype.models.base import TorchClassifier, initialise, layer_activations, member_seed
from neurotype.models.fused import StackedNetwork, fusable, train_members

__all__ = ["ENGINES", "MemberNetworkClassifier"]

#: Training paths: ``fused`` (the same arithmetic written out, all members at once), ``autograd``
#: (the general path, one member after the other), ``auto`` (fused whenever it applies).
ENGINES = ("auto", "fused", "autograd")


class MemberNetworkClassifier(TorchClassifier):
    """Plumbing of :class:`~neurotype.models.fcnn.FCNNClassifier` and
    :class:`~neurotype.models.dann.DANNClassifier`: members, engine choice, predictions."""

    def _engine(self) -> str:
        """The engine this fit uses (checks ``engine``, ``n_members`` and ``patience``)."""
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if int(self.n_members) < 1:
            raise ValueError(f"n_members must be at least 1, got {self.n_members!r}")
        activations = layer_activations(self.activation, len(self.hidden))
        can_fuse = fusable(activations, self.optimizer)
        if self.engine == "fused" and not can_fuse:
            raise ValueError("engine='fused' needs relu/selu/swish activations and an sgd/rmsprop/adam optimiser; "
                             f"got activation={self.activation!r}, optimizer={self.optimizer!r}")
        return "fused" if self.engine == "fused" or (self.engine == "auto" and can_fuse) else "autograd"

    def _new_members(self, build: Callable[[], nn.Module]
                     ) -> tuple[list[nn.Module], list[torch.Generator], list[torch.Generator]]:
        """Build and initialise every member; return them with their dropout and order generators.

        A member's dropout draws continue the default generator from where its initialisation
        left it (as a network trained alone draws them), so each gets a generator holding that
        state; its mini-batch order comes from a generator seeded with its seed.
        """
        members, dropout_generators, order_generators = [], [], []
        for m in range(int(self.n_members)):
            seed = member_seed(self.seed, m)
            torch.manual_seed(seed)
            members.append(initialise(build(), self.init))
            generator = torch.Generator()
            generator.set_state(torch.get_rng_state())
            dropout_generators.append(generator)
            order_generators.append(torch.Generator().manual_seed(seed))
        return members, dropout_generators, order_generators

    def _train_each(self, members: Sequence[nn.Module], dropout_generators: Sequence[torch.Generator],
                    train_one: Callable[[int, nn.Module], int]) -> tuple[list[int], list[list[float]]]:
        """The autograd engine: train the members one after the other on the default generator
        (``train_one(member index, module)`` returns the epochs run and fills ``history_``)."""
        epochs, histories = [], []
        for k, (module, generator) in enumerate(zip(members, dropout_generators)):
            torch.set_rng_state(generator.get_state())
            self.module_ = module
            self.history_ = []
            epochs.append(train_one(k, module))
            histories.append(self.history_)
        return epochs, histories

    def _train_fused(self, net: StackedNetwork, Xt: torch.Tensor, yt: torch.Tensor, rows: torch.Tensor,
                     dropout_generators: Sequence[torch.Generator], order_generators: Sequence[torch.Generator],
                     **kwargs) -> tuple[list[int], list[list[float]]]:
        """The fused engine: train every member at once (:func:`~neurotype.models.fused.train_members`
        on ``rows`` of ``Xt``/``yt``, this estimator's optimiser settings), write the trained weights back
        into the members and return their epochs and histories."""
        K = len(dropout_generators)
        result = train_members(net, Xt, yt, rows, batch_size=int(self.batch_size), max_epochs=int(self.max_epochs),
                               optimizer=self.optimizer, lr=[self.lr] * K, weight_decay=[self.weight_decay] * K,
                               order_generators=order_generators, dropout_generators=dropout_generators,
                               patience=self.patience, **kwargs)
        for k in range(K):
            net.write_back(k, result["final"][k])
        if K == 1:  # leave the default generator where the autograd engine would leave it
            torch.set_rng_state(dropout_generators[0].get_state())
        return result["epochs"], result["history"]

    def _finish(self, members: list[nn.Module], epochs: Sequence[int], histories: Sequence[list[float]],
                engine: str) -> None:
        for module in members:
            module.eval()
        self.members_ = members
        self.module_ = members[0]
        self.n_epochs_ = int(epochs[0])
        self.member_epochs_ = [int(e) for e in epochs]
        self.history_ = list(histories[0])
        self.engine_ = engine

    @property
    def fitted_members(self) -> list[nn.Module]:
        """The trained members (an estimator restored with only ``module_`` counts as one member)."""
        members = getattr(self, "members_", None)
        if members is None:
            if getattr(self, "module_", None) is None:
                raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit first")
            return [self.module_]
        return members

    def predict_proba(self, X, species=None) -> np.ndarray:
        """Class probabilities (the mean over members)."""
        Xt = self._tensor(X, species)
        members = self.fitted_members
        with torch.no_grad():
            probabilities = [torch.softmax(self._member_logits(m.eval(), Xt), dim=1) for m in members]
        if len(probabilities) == 1:
            return probabilities[0].numpy()
        return torch.stack(probabilities).mean(0).numpy()

    def _member_logits(self, module: nn.Module, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
