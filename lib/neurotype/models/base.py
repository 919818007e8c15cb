"""Shared pieces of the PyTorch models: layers, optimisers, and the estimator plumbing.

Every estimator follows one interface, which the evaluation protocol relies on::

    fit(X, y, species=None, X_val=None, y_val=None, species_val=None)
    predict(X, species=None) / predict_proba(X, species=None)

``species`` (``"mouse"``/``"human"`` per row) is used by the domain-adversarial network and by
the optional organism flag; other models ignore it. Imputation and scaling are part of every
estimator and are fitted on the rows passed to ``fit`` only. ``X_val``/``y_val`` (an inner
validation split of the training rows) drive early stopping when given.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

from neurotype.data.preprocessing import make_preprocessor, organism_column

__all__ = ["ACTIVATIONS", "layer_activations", "BATCH_NORM", "mlp", "INITIALISATIONS", "initialise",
           "member_seed", "OPTIMIZERS", "aten_kernel", "batch_norm_members", "batch_norm_members_backward",
           "make_optimizer", "flushing_subnormals", "subnormals_flushed", "TorchClassifier", "EarlyStopping"]


#: torch's own tanh: on this build (torch 2.13, subnormals flushed) it is twice as fast as the
#: ``2 sigmoid(2x) - 1`` form the project used before (20 vs 42 us on 1,139 x 50, one thread).
ACTIVATIONS = {"relu": nn.ReLU, "selu": nn.SELU, "swish": nn.SiLU, "tanh": nn.Tanh}


def layer_activations(activation: str | Sequence[str], n_layers: int) -> tuple[str, ...]:
    """One activation name per hidden layer: ``"relu"`` for all of them, or one per layer
    (a sequence, or names joined by ``-`` such as ``"relu-selu-swish"``)."""
    names = tuple(activation.split("-")) if isinstance(activation, str) else tuple(activation)
    if len(names) == 1:
        names = names * n_layers
    if len(names) != n_layers:
        raise ValueError(f"{len(names)} activations {activation!r} for {n_layers} hidden layers")
    for name in names:
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return names


#: Batch normalisation as TensorFlow/Keras define it by default (moving averages with momentum
#: 0.99, epsilon 1e-3), the layers the papers' reference code used; PyTorch's momentum counts the
#: other way round (new = (1 - m) old + m batch), so Keras's 0.99 is 0.01 here.
BATCH_NORM = {"eps": 1e-3, "momentum": 0.01}


def mlp(n_in: int, hidden: Sequence[int], n_out: int | None, activation: str | Sequence[str] = "relu",
        dropout: float = 0.0, final_activation: bool = False, batch_norm: str | None = None) -> nn.Sequential:
    """Fully connected layers ``n_in → hidden… → n_out`` (``n_out=None``: stop after the hidden layers).

    Each hidden layer is ``Linear → activation → dropout`` (alpha dropout after SELU).
    ``activation`` is one name or one per hidden layer (:func:`layer_activations`).
    ``batch_norm``: ``None`` (none), ``"before"`` (a batch normalisation on the input of every
    hidden layer: ``BN → Linear → activation``, as LSPIN's reference code does) or ``"after"``
    (``Linear → BN → activation``, the usual Keras block). Batch normalisation adds no random
    draws, so the default initialisation is unchanged.
    """
    if batch_norm not in (None, "before", "after"):
        raise ValueError(f"batch_norm must be None, 'before' or 'after', got {batch_norm!r}")
    activations = layer_activations(activation, len(hidden))
    if final_activation and len(set(activations)) > 1:
        raise ValueError("final_activation needs a single activation")
    layers: list[nn.Module] = []
    width = n_in
    for size, name in zip(hidden, activations):
        if batch_norm == "before":
            layers.append(nn.BatchNorm1d(width, **BATCH_NORM))
        layers.append(nn.Linear(width, size))
        if batch_norm == "after":
            layers.append(nn.BatchNorm1d(size, **BATCH_NORM))
        layers.append(ACTIVATIONS[name]())
        if dropout > 0:
            layers.append(nn.AlphaDropout(dropout) if name == "selu" else nn.Dropout(dropout))
        width = size
    if n_out is not None:
        layers.append(nn.Linear(width, n_out))
        if final_activation:
            layers.append(ACTIVATIONS[activations[0] if activations else layer_activations(activation, 1)[0]]())
    return nn.Sequential(*layers)


#: Weight initialisations: PyTorch's own (``"torch"``, the default: nothing is redrawn);
#: ``"truncated_normal"``, TensorFlow's ``truncated_normal_initializer(stddev=0.1)`` that LSPIN's
#: reference code uses for both networks (normal draws beyond two standard deviations are redrawn;
#: zero biases); ``"glorot_uniform"``, Keras's default for ``Dense`` layers (zero biases).
INITIALISATIONS = ("torch", "truncated_normal", "glorot_uniform")
TRUNCATED_NORMAL_STD = 0.1


def initialise(module: nn.Module, scheme: str = "torch") -> nn.Module:
    """Redraw the weights of every ``nn.Linear`` in ``module`` with ``scheme`` (in module order)."""
    if scheme not in INITIALISATIONS:
        raise ValueError(f"init must be one of {INITIALISATIONS}, got {scheme!r}")
    if scheme == "torch":
        return module
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                if scheme == "truncated_normal":
                    std = TRUNCATED_NORMAL_STD
                    nn.init.trunc_normal_(layer.weight, mean=0.0, std=std, a=-2 * std, b=2 * std)
                else:
                    nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
    return module


def member_seed(seed: int, member: int) -> int:
    """Seed of ensemble member ``member`` (member 0 keeps ``seed`` itself)."""
    return int(seed) + 10_007 * int(member)


OPTIMIZERS = {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}


def aten_kernel(name: str, overload: str = "default") -> Callable[..., torch.Tensor]:
    """The C++ entry of an overload of ``aten::<name>`` (the same kernel as ``torch.ops.aten.<name>``,
    called without the two Python frames of the operator objects, which cost about as much as a small
    step's arithmetic: 2-4 microseconds a call, several calls per step)."""
    overload = getattr(getattr(torch.ops.aten, name), overload)
    return getattr(overload, "_op", overload)


_native_batch_norm = aten_kernel("native_batch_norm")
_native_batch_norm_backward_out = aten_kernel("native_batch_norm_backward", "out")


def batch_norm_members(rows: Iterable[torch.Tensor], members: Sequence[tuple], training: bool, momentum: float,
                       eps: float) -> tuple[list[torch.Tensor], list[tuple]]:
    """``native_batch_norm`` (what ``nn.BatchNorm1d`` calls) on each member's rows, for the hand-written
    engines (:mod:`neurotype.models.fused`, :func:`neurotype.models.lspin.train_full_batch_sgd`).

    ``members`` holds each member's ``(weight, bias, running_mean, running_var, grad_weight, grad_bias)``:
    views into the engine's own stacks, whatever their layout; the running statistics are updated in
    place in training mode. Returns each member's output and what :func:`batch_norm_members_backward`
    needs.
    """
    outs, caches = [], []
    for x, (weight, bias, running_mean, running_var, _, _) in zip(rows, members):
        out, mean, invstd = _native_batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps)
        outs.append(out)
        caches.append((x, mean, invstd))
    return outs, caches


def batch_norm_members_backward(grads: Iterable[torch.Tensor], caches: Sequence[tuple], members: Sequence[tuple],
                                eps: float) -> list[torch.Tensor]:
    """Each member's input gradient through :func:`batch_norm_members`; the weight and bias gradients go
    straight into the members' ``grad_weight`` and ``grad_bias`` views."""
    inputs = []
    for grad, (x, mean, invstd), (weight, _, running_mean, running_var, grad_weight, grad_bias) in zip(
            grads, caches, members):
        grad_in, _, _ = _native_batch_norm_backward_out(grad, x, weight, running_mean, running_var, mean, invstd,
                                                        True, eps, [True, True, True], out0=torch.empty_like(x),
                                                        out1=grad_weight, out2=grad_bias)
        inputs.append(grad_in)
    return inputs


def make_optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """``torch.optim``'s optimiser of this name; Adam is its fused kernel (``fused=True``): one call per
    step instead of eight element-wise operations per parameter, the same algorithm rounded differently
    in the last bits, and what the fused engine (:class:`~neurotype.models.fused.FusedOptimizer`) calls."""
    try:
        optimizer = OPTIMIZERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") from None
    if optimizer is torch.optim.Adam:
        return optimizer(params, lr=lr, weight_decay=weight_decay, fused=True)
    return optimizer(params, lr=lr, weight_decay=weight_decay)


def subnormals_flushed() -> bool:
    """Whether this thread's float arithmetic treats subnormal numbers as zero (``torch.set_flush_denormal``).

    torch has no getter; the probe is a float32 just below the smallest normal one, which survives
    only when subnormals are kept.
    """
    return torch.full((1,), 1e-39).item() == 0.0


_Fit = TypeVar("_Fit", bound=Callable)


def flushing_subnormals(fit: _Fit) -> _Fit:
    """Run a ``fit`` with subnormal floats flushed to zero on the calling thread, then restore the mode.

    Why: with a strong weight decay, weights and activations shrink into the subnormal range
    (below 1.2e-38), where x86 arithmetic runs 10-100x slower; in tuning, such trials trained up to
    ten times slower per epoch than the median trial (measured in chapter 03's studies; one
    256-128-64-32 swish DANN at weight decay 0.41, 4.4x). Flushing changes a number only where it is
    subnormal, far below anything a float32 network can resolve, and TensorFlow, which the paper's
    code used, runs its CPU kernels in the same mode. Both training engines run under it, so the
    fused and the autograd paths still agree bit for bit.

    The mode belongs to a thread. The chapters' workers train on their calling thread (one torch
    thread each), so every operation of a fit is flushed. With several torch threads (LSPIN's
    fused path splits its products over them), torch's pool threads keep the mode they were
    started with, so a subnormal may be kept on one thread and flushed on another: a difference
    below 1.2e-38, in results that already depend on the number of threads.
    """

    @functools.wraps(fit)
    def wrapped(*args, **kwargs):
        before = subnormals_flushed()
        torch.set_flush_denormal(True)
        try:
            return fit(*args, **kwargs)
        finally:
            torch.set_flush_denormal(before)

    return wrapped  # type: ignore[return-value]


class TorchClassifier(ClassifierMixin, BaseEstimator):
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
            Z = np.hstack([Z, organism_column(species, len(Z))])
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

    def _end_of_epoch(self, epoch: int, validation: tuple[torch.Tensor, torch.Tensor],
                      stopper: "EarlyStopping | None", callback=None) -> bool:
        """Score the validation rows, record the loss, report to a pruning callback; ``True`` means stop
        (a non-finite loss, or ``patience`` epochs without a better one; ``stopper=None``: no early stopping)."""
        self.module_.eval()
        with torch.no_grad():
            val_loss = float(nn.functional.cross_entropy(self._logits(validation[0]), validation[1]))
        self.history_.append(val_loss)
        if callback is not None and epoch % 10 == 9 and math.isfinite(val_loss):
            callback(epoch, -val_loss)
        return not math.isfinite(val_loss) or (stopper is not None and stopper.step(epoch, val_loss, self.module_))

    def _keep_best(self, stopper: "EarlyStopping | None", epoch: int) -> None:
        """Restore the best validation epoch's weights (if any) and record how many epochs ran."""
        if stopper is not None and stopper.state is not None:
            self.module_.load_state_dict(stopper.state)
        self.n_epochs_ = epoch + 1


class EarlyStopping:
    """Keep the weights of the epoch with the lowest validation loss; stop after ``patience`` epochs without one."""

    def __init__(self, patience: int):
        self.patience, self.best, self.best_epoch, self.state = patience, math.inf, -1, None

    @classmethod
    def from_patience(cls, patience: int | None) -> "EarlyStopping | None":
        """``None`` (no early stopping: every epoch runs, the last weights stay) or a stopper."""
        if patience is None:
            return None
        if int(patience) < 0:
            raise ValueError(f"patience must be a non-negative number of epochs or None, got {patience!r}")
        return cls(int(patience))

    def step(self, epoch: int, loss: float, module: nn.Module) -> bool:
        if loss < self.best - 1e-6:
            self.best, self.best_epoch, self.state = loss, epoch, copy.deepcopy(module.state_dict())
        return epoch - self.best_epoch >= self.patience
