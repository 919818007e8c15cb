"""LSPIN, the locally sparse network of Yang et al. (2022): per-cell gates on the features.

Two training paths give the same model:

``autograd``
    The general path: any optimiser, mini-batches, the optional similarity term; one
    :class:`LSPIN` module at a time, gradients by autograd.
``fused``
    Full-batch SGD (the paper's set-up) written out by hand: forward pass, backward pass and
    update as batched matrix products (``torch.bmm``) over a stack of ``K`` models that
    share the training rows (the members of a seed ensemble). No autograd graph, no optimiser
    object, activations updated in place. It is several times faster on a CPU and is tested to
    give the same weights as the autograd path (same initialisation, same gate noise).

Both draw the gate noise of member ``m`` from its own generator (:func:`member_seed`), one
``n × d`` block of standard normals per epoch, so the two paths see identical noise.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from sklearn.base import clone
from torch import nn

from neurotype.models import native
from neurotype.models.base import (TorchClassifier, aten_kernel, batch_norm_members, batch_norm_members_backward,
                                   flushing_subnormals, initialise, make_optimizer, member_seed, mlp)

__all__ = ["expected_open_gates", "member_seed", "rbf_kernel", "LSPIN", "LSPINClassifier",
           "open_gates", "noise_generator", "train_full_batch_sgd", "LSPIN_PAPER_PRESET", "ENGINES",
           "PRUNE_EVERY"]

#: Training paths of :class:`LSPINClassifier` (``auto`` picks ``fused`` whenever it applies).
ENGINES = ("auto", "fused", "autograd")
_FUSED_ACTIVATIONS = ("tanh", "relu")
# Fused elementwise backward kernels (one pass each instead of three or four).
tanh_backward = aten_kernel("tanh_backward")
threshold_backward = aten_kernel("threshold_backward")
hardtanh_backward = aten_kernel("hardtanh_backward")


def expected_open_gates(mu: torch.Tensor, sigma: float) -> torch.Tensor:
    """``Phi((mu + 0.5) / sigma)``: the probability that each stochastic gate is open (> 0)."""
    return 0.5 * (1.0 + torch.erf((mu + 0.5) / (sigma * math.sqrt(2.0))))


def open_gates(mu: torch.Tensor, sigma: float, stochastic: bool,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Gates ``clip(0.5 + mu + eps, 0, 1)``, ``eps ~ N(0, sigma^2)`` when ``stochastic`` else 0."""
    # train_full_batch_sgd draws the same standard normals, as normal_(0.5, sigma) with the 0.5 folded in
    noise = sigma * torch.randn(mu.shape, generator=generator, dtype=mu.dtype) if stochastic else 0.0
    return torch.clamp(0.5 + mu + noise, 0.0, 1.0)


#: Epochs between two reports of the validation loss to a tuning pruner (both training paths).
PRUNE_EVERY = 100


def noise_generator(seed: int) -> torch.Generator:
    """The seeded generator of a model's gate noise (shared by LSPIN and the gated DANN)."""
    return torch.Generator().manual_seed(int(seed) + 7_919)


def rbf_kernel(x: torch.Tensor, width: float | None = None) -> torch.Tensor:
    """``K_ij = exp(-||x_i - x_j||^2 / (2 width^2))`` (default width ``sqrt(n_features)``)."""
    width = width or math.sqrt(x.shape[1])
    return torch.exp(-torch.cdist(x, x).pow(2) / (2 * width ** 2))


class LSPIN(nn.Module):
    """Locally sparse network (Yang et al., 2022): a gating network opens features per sample.

    The gating network ψ maps a sample to ``mu``; the gates are
    ``z = clip(0.5 + mu + eps, 0, 1)`` with ``eps ~ N(0, sigma^2)`` while training and
    ``eps = 0`` at inference; the prediction network sees ``x * z``.
    """

    def __init__(self, n_features: int, n_classes: int, gate_hidden: Sequence[int] = (50, 50, 50),
                 hidden: Sequence[int] = (40, 20), activation: str = "tanh", sigma: float = 0.5,
                 batch_norm: bool = False):
        super().__init__()
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.sigma = float(sigma)
        # Bounded mu (tanh output), as in the reference implementation: gates can still be fully
        # open (0.5 + mu >= 1) or shut (<= 0) but the gate logits cannot run away.
        self.gate_net = mlp(n_features, gate_hidden, n_features, "tanh", final_activation=True)
        # The reference lspin_model.Model normalises the input of every hidden layer of the
        # prediction network (the gated features, then each hidden activation) when its
        # batch_normalization flag is on, its default; the output layer reads the last activation.
        self.predictor = mlp(n_features, hidden, n_classes, activation, batch_norm="before" if batch_norm else None)

    def mu(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_net(x)

    def gates(self, x: torch.Tensor, stochastic: bool | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
        """Gates of each sample; stochastic while training unless told otherwise."""
        stochastic = self.training if stochastic is None else stochastic
        return open_gates(self.mu(x), self.sigma, stochastic, generator)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, gates and mu (noisy gates in training mode, drawn from ``generator``)."""
        mu = self.mu(x)
        z = open_gates(mu, self.sigma, self.training, generator)
        return self.predictor(x * z), z, mu


def _linears(sequential: nn.Sequential) -> list[nn.Linear]:
    return [layer for layer in sequential if isinstance(layer, nn.Linear)]


def _stack(modules: Sequence[LSPIN], part: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Weights ``(K, in, out)`` and biases ``(K, 1, out)`` of each linear layer of ``part``."""
    layers = [_linears(getattr(m, part)) for m in modules]
    weights = [torch.stack([ls[i].weight.detach().T for ls in layers]).contiguous() for i in range(len(layers[0]))]
    biases = [torch.stack([ls[i].bias.detach()[None, :] for ls in layers]).contiguous()
              for i in range(len(layers[0]))]
    return weights, biases


def _unstack(modules: Sequence[LSPIN], part: str, weights: list[torch.Tensor], biases: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for k, module in enumerate(modules):
            for layer, w, b in zip(_linears(getattr(module, part)), weights, biases):
                layer.weight.copy_(w[k].T)
                layer.bias.copy_(b[k, 0])


def _affine(b: torch.Tensor, a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``b + a @ w`` per member: the product, then the bias added in place. ``torch.baddbmm(b, a, w)``
    gave the same numbers on every layer shape of the paper's LSPIN, but its copy of the broadcast
    bias into the result costs more than the addition (1,139 x 50 on one thread: 50 against 44 us)."""
    return torch.bmm(a, w).add_(b)


def _tanh_layer(b: torch.Tensor, a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``tanh(b + a @ w)``, computed in place on the product."""
    return _affine(b, a, w).tanh_()


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last (short) axis; 4x faster than ``torch.softmax`` on ``(K, n, 5)`` here."""
    out = (logits - logits.amax(-1, keepdim=True)).exp_()
    return out.div_(out.sum(-1, keepdim=True))


def train_full_batch_sgd(modules: Sequence[LSPIN], X: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
                         lambda1: float, lambda2: float = 0.0, weight_decay: float = 0.0,
                         class_weights: torch.Tensor | None = None, generators: Sequence[torch.Generator],
                         activation: str = "tanh", kernel_width: float | None = None,
                         on_epoch: Callable[[int], None] | None = None) -> None:
    """Train ``K`` LSPIN modules on the same rows with full-batch SGD, fused and batched.

    Each module is trained exactly as the autograd path would train it alone (the loss of
    :class:`LSPINClassifier`, ``torch.optim.SGD`` with ``weight_decay``, one noise block per
    epoch from its generator); the stacked weights are copied back into the modules. The epochs run
    in C++ where :mod:`neurotype.models.native` is available (``fused_step.cpp``'s ``Lspin``: the calls
    of the loop below, in its order, so the same weights bit for bit), else in the loop below.

    Parameters
    ----------
    modules
        ``K`` freshly initialised :class:`LSPIN` modules of one shape (their gating network
        all tanh; ``activation`` the prediction network's).
    X, y
        Preprocessed features ``(n, d)`` (float32) and class codes ``(n,)``.
    generators
        One noise generator per module.
    on_epoch
        After every :data:`PRUNE_EVERY`-th epoch but the last, the current weights (and batch-normalisation
        statistics) are copied into ``modules`` and ``on_epoch(epochs done)`` is called (e.g. to
        score a validation split for a pruner, which may raise to stop training). It reads the
        modules only; the training is the same with or without it.
    """
    if activation not in _FUSED_ACTIVATIONS:
        raise ValueError(f"the fused path supports activations {_FUSED_ACTIVATIONS}, got {activation!r}")
    if len(generators) != len(modules):
        raise ValueError(f"{len(modules)} modules but {len(generators)} generators")
    K, (n, d) = len(modules), X.shape
    sigma = modules[0].sigma
    gate_w, gate_b = _stack(modules, "gate_net")
    pred_w, pred_b = _stack(modules, "predictor")
    n_classes = pred_w[-1].shape[-1]
    norms = [[layer for layer in module.predictor if isinstance(layer, nn.BatchNorm1d)] for module in modules]
    if norms[0] and len(norms[0]) != len(pred_w) - 1:
        raise ValueError("the fused path supports batch normalisation before every hidden prediction layer only")
    bn_w = [torch.stack([ls[i].weight.detach()[None, :] for ls in norms]).contiguous() for i in range(len(norms[0]))]
    bn_b = [torch.stack([ls[i].bias.detach()[None, :] for ls in norms]).contiguous() for i in range(len(norms[0]))]
    bn_mean = [torch.stack([ls[i].running_mean[None, :] for ls in norms]) for i in range(len(norms[0]))]
    bn_var = [torch.stack([ls[i].running_var[None, :] for ls in norms]) for i in range(len(norms[0]))]
    bn_gw, bn_gb = [torch.zeros_like(w) for w in bn_w], [torch.zeros_like(b) for b in bn_b]
    # each member's batch-normalisation weight, bias, running statistics and gradients: views, updated in place
    bn_member = [[(bn_w[i][k, 0], bn_b[i][k, 0], bn_mean[i][k, 0], bn_var[i][k, 0], bn_gw[i][k, 0], bn_gb[i][k, 0])
                  for k in range(K)] for i in range(len(bn_w))]

    def per_member(rows: torch.Tensor) -> torch.Tensor:
        """Per-row values ``(n, c)`` -> one copy per member ``(K, n, c)``."""
        return rows.expand(K, *rows.shape).contiguous()

    Xk = per_member(X)
    XkT = Xk.transpose(1, 2)
    onehot = per_member(torch.nn.functional.one_hot(y, n_classes).to(X.dtype))
    weights = torch.ones(n, dtype=X.dtype) if class_weights is None else class_weights.to(X.dtype)[y]
    row_coef = per_member((weights / weights.sum())[:, None])  # d CE / d logits = coef * (softmax - onehot)
    penalty_coef = lambda1 / (sigma * math.sqrt(2.0 * math.pi) * n * d)
    density_scale = -0.5 / sigma ** 2  # phi((mu + 0.5) / sigma) is exp(density_scale (mu + 0.5)^2), unnormalised
    kernel_alpha = 4.0 * lambda2 / n ** 2  # the lambda2 term's weight in the gates' gradient
    kernel = degree = None
    if lambda2 > 0:
        kernel = rbf_kernel(X, kernel_width)
        degree = kernel.sum(1)[None, :, None]
        kernel = kernel.expand(K, n, n)
    noise = torch.empty(K, n, d, dtype=X.dtype)

    def stacked(members: list[torch.Tensor]) -> torch.Tensor:
        return members[0][None] if K == 1 else torch.stack(members)

    def batch_norm(i: int, a: torch.Tensor) -> tuple[torch.Tensor, list]:
        """Training-mode batch normalisation of each member's rows, as ``nn.BatchNorm1d`` does it."""
        outs, caches = batch_norm_members(a, bn_member[i], True, norms[0][i].momentum, norms[0][i].eps)
        return stacked(outs), caches

    def batch_norm_backward(i: int, grad: torch.Tensor, caches: list) -> torch.Tensor:
        """The input gradient; the weight and bias gradients go into ``bn_gw[i]`` and ``bn_gb[i]``."""
        return stacked(batch_norm_members_backward(grad, caches, bn_member[i], norms[0][i].eps))

    params = gate_w + gate_b + pred_w + pred_b + bn_w + bn_b

    def write_back() -> None:
        _unstack(modules, "gate_net", gate_w, gate_b)
        _unstack(modules, "predictor", pred_w, pred_b)
        with torch.no_grad():
            for k, layers in enumerate(norms):
                for i, layer in enumerate(layers):
                    layer.weight.copy_(bn_w[i][k, 0])
                    layer.bias.copy_(bn_b[i][k, 0])
                    layer.running_mean.copy_(bn_mean[i][k, 0])
                    layer.running_var.copy_(bn_var[i][k, 0])

    compiled = _compiled_epochs(Xk, XkT, onehot, row_coef, noise, gate_w, gate_b, pred_w, pred_b, bn_w, bn_b,
                                bn_gw, bn_gb, bn_member, norms, generators, sigma, activation, kernel, degree,
                                kernel_alpha, penalty_coef, density_scale, lr, weight_decay)
    if compiled is not None:  # the same epochs, in C++
        done = 0
        while done < epochs:
            chunk = min(PRUNE_EVERY, epochs - done) if on_epoch is not None else epochs - done
            compiled.run(chunk)
            done += chunk
            if on_epoch is not None and done % PRUNE_EVERY == 0 and done < epochs:
                write_back()
                on_epoch(done)
    else:
        for epoch in range(epochs):
            # forward: gating network (tanh throughout)
            gate_acts = [Xk]
            for w, b in zip(gate_w, gate_b):
                gate_acts.append(_tanh_layer(b, gate_acts[-1], w))
            mu = gate_acts[-1]
            for k in range(K):  # 0.5 + sigma * eps, eps ~ N(0, 1)
                noise[k].normal_(0.5, sigma, generator=generators[k])
            pre = noise.add(mu)
            z = pre.clamp(0.0, 1.0)
            # prediction network (pred_acts: each layer's output; linear_in: its product's input)
            pred_acts = [Xk * z]
            linear_in, bn_caches = [], []
            for i, (w, b) in enumerate(zip(pred_w, pred_b)):
                inputs = pred_acts[-1]
                if i < len(bn_w):
                    inputs, cache = batch_norm(i, inputs)
                    bn_caches.append(cache)
                linear_in.append(inputs)
                if i == len(pred_w) - 1:
                    a = _affine(b, inputs, w)
                elif activation == "tanh":
                    a = _tanh_layer(b, inputs, w)
                else:
                    a = _affine(b, inputs, w).clamp_(min=0.0)
                pred_acts.append(a)
            # backward: cross-entropy
            grad = _softmax(pred_acts[-1]).sub_(onehot).mul_(row_coef)
            pred_gw, pred_gb = [None] * len(pred_w), [None] * len(pred_w)
            for i in range(len(pred_w) - 1, -1, -1):
                pred_gw[i] = torch.bmm(linear_in[i].transpose(1, 2), grad)
                pred_gb[i] = grad.sum(1, keepdim=True)
                grad = torch.bmm(grad, pred_w[i].transpose(1, 2))
                if i < len(bn_w):
                    grad = batch_norm_backward(i, grad, bn_caches[i])
                if i > 0:
                    a = pred_acts[i]
                    grad = tanh_backward(grad, a) if activation == "tanh" else threshold_backward(grad, a, 0.0)
            # grad is now d loss / d (x * z); through the gates and the clamp
            grad_z = grad.mul_(Xk)
            if kernel is not None:  # lambda2 * sum_ij K_ij |z_i - z_j|^2 / n^2, over each member's rows
                grad_z.add_(z * degree - torch.bmm(kernel, z), alpha=kernel_alpha)
            # clamp passes the gradient where 0 < pre < 1 (torch.clamp: <=; equality has probability 0)
            grad_mu = hardtanh_backward(grad_z, pre, 0.0, 1.0)
            # + lambda1 * mean Phi((mu + 0.5) / sigma): d/d mu = phi((mu + 0.5) / sigma) / sigma
            density = (mu + 0.5).square_().mul_(density_scale).exp_()
            grad = tanh_backward(grad_mu.add_(density, alpha=penalty_coef), mu)  # through the final tanh
            gate_gw, gate_gb = [None] * len(gate_w), [None] * len(gate_w)
            for i in range(len(gate_w) - 1, -1, -1):
                gate_gw[i] = torch.bmm(XkT if i == 0 else gate_acts[i].transpose(1, 2), grad)
                gate_gb[i] = grad.sum(1, keepdim=True)
                if i > 0:
                    grad = torch.bmm(grad, gate_w[i].transpose(1, 2))
                    grad = tanh_backward(grad, gate_acts[i])
            # SGD step (torch.optim.SGD: grad + weight_decay * param, then param -= lr * grad)
            grads = gate_gw + gate_gb + pred_gw + pred_gb + bn_gw + bn_gb
            if weight_decay:
                torch._foreach_add_(grads, params, alpha=weight_decay)
            torch._foreach_add_(params, grads, alpha=-lr)
            if on_epoch is not None and (epoch + 1) % PRUNE_EVERY == 0 and epoch + 1 < epochs:
                write_back()
                on_epoch(epoch + 1)
    write_back()
    with torch.no_grad():
        for layers in norms:
            for layer in layers:
                layer.num_batches_tracked += epochs


def _compiled_epochs(Xk, XkT, onehot, row_coef, noise, gate_w, gate_b, pred_w, pred_b, bn_w, bn_b, bn_gw, bn_gb,
                     bn_member, norms, generators, sigma, activation, kernel, degree, kernel_alpha, penalty_coef,
                     density_scale, lr, weight_decay):
    """:func:`train_full_batch_sgd`'s epochs in C++ (``fused_step.cpp``'s ``Lspin``: its calls, in its order,
    on these tensors), or ``None`` where :mod:`neurotype.models.native` is unavailable or switched off."""
    library = native.load()
    settings = {(layer.momentum, layer.eps) for layers in norms for layer in layers}
    if library is None or len(settings) > 1:
        return None
    momentum, eps = settings.pop() if settings else (0.1, 1e-5)
    members = [tensor for layer in bn_member for member in layer for tensor in member]
    return library.Lspin(Xk, XkT, onehot, row_coef, noise, gate_w, gate_b, pred_w, pred_b, bn_w + bn_b, bn_gw + bn_gb,
                         members, float(momentum), float(eps), list(generators), float(sigma), activation == "tanh",
                         kernel, degree, float(kernel_alpha), float(penalty_coef), float(density_scale), float(lr),
                         float(weight_decay))


#: The paper's LSPIN settings (its supplementary table).
LSPIN_PAPER_PRESET = dict(lambda1=0.01047, lambda2=0.0, sigma=0.5, lr=0.0599, optimizer="sgd", epochs=1000,
                          gate_hidden=(50, 50, 50), hidden=(40, 20), activation="tanh", batch_size=None)


class LSPINClassifier(TorchClassifier):
    """Locally sparse network: a per-cell gate on every feature, trained with a sparsity penalty.

    Loss = cross-entropy + ``lambda1`` · mean Φ((μ + 0.5)/σ) (the expected share of open gates)
    + ``lambda2`` · Σ_ij K_ij ‖z_i − z_j‖² / n² with an RBF kernel K on the inputs (optional:
    similar cells get similar gates). ``batch_size=None`` trains full-batch, as the paper did.

    Parameters
    ----------
    n_members
        Size of a seed ensemble: members ``m = 0..n_members-1`` are initialised and perturbed
        with :func:`member_seed` ``(seed, m)`` and trained on the same rows; predictions average
        their class probabilities, :meth:`gates` their gates. ``1`` is a single LSPIN.
    engine
        ``"fused"`` (full-batch SGD written out, batched over members), ``"autograd"``
        (general), or ``"auto"``: fused whenever it applies (SGD, full batch, tanh/relu).
    batch_norm
        Batch normalisation before every hidden layer of the prediction network (on the gated
        features and on each hidden activation), as the reference ``lspin_model.Model`` does by
        default; TensorFlow's momentum 0.99 and epsilon 1e-3.
    init
        Weight initialisation of both networks (:data:`neurotype.models.base.INITIALISATIONS`):
        ``"torch"`` (PyTorch's), or ``"truncated_normal"`` (the reference code's: σ = 0.1, draws
        beyond 2σ redrawn, zero biases).
    """

    def __init__(self, lambda1: float = 0.01047, lambda2: float = 0.0, sigma: float = 0.5, lr: float = 0.0599,
                 optimizer: str = "sgd", epochs: int = 1000, gate_hidden: Sequence[int] = (50, 50, 50),
                 hidden: Sequence[int] = (40, 20), activation: str = "tanh", batch_size: int | None = None,
                 weight_decay: float = 0.0, kernel_width: float | None = None, class_weight: str | None = None,
                 n_members: int = 1, engine: str = "auto", batch_norm: bool = False, init: str = "torch",
                 seed: int = 0):
        self.lambda1, self.lambda2, self.sigma, self.lr, self.optimizer = lambda1, lambda2, sigma, lr, optimizer
        self.epochs, self.gate_hidden, self.hidden, self.activation = epochs, gate_hidden, hidden, activation
        self.batch_size, self.weight_decay, self.kernel_width = batch_size, weight_decay, kernel_width
        self.class_weight, self.n_members, self.engine, self.seed = class_weight, n_members, engine, seed
        self.batch_norm, self.init = batch_norm, init

    def set_pruning_callback(self, callback, X_val=None, y_val=None, species_val=None) -> None:
        """During tuning: ``callback(epoch, -validation loss)`` every :data:`PRUNE_EVERY` epochs (may raise to prune).

        LSPIN trains for a fixed number of epochs without early stopping, so the validation rows
        (``X_val``, ``y_val``) serve the pruner only; they never change the training. LSPIN takes no
        organism column, so ``species_val`` is not used.
        """
        self._pruning_callback = callback
        self._pruning_validation = None if X_val is None else (X_val, y_val)

    def _pruning_hook(self, members: Sequence[LSPIN]) -> Callable[[int], None] | None:
        """``hook(epochs done)``: the members' mean-probability validation loss to the pruning callback."""
        callback = getattr(self, "_pruning_callback", None)
        validation = getattr(self, "_pruning_validation", None)
        if callback is None or validation is None:
            return None
        known = np.isin(np.asarray(validation[1]), self.classes_)
        Xv = self._tensor(np.asarray(validation[0], dtype=float)[known])
        yv = self._encode(np.asarray(validation[1])[known])

        def hook(epoch: int) -> None:
            with torch.no_grad():
                probabilities = torch.stack([torch.softmax(m.eval()(Xv)[0], dim=1) for m in members]).mean(0)
            for m in members:
                m.train()
            loss = float(nn.functional.nll_loss(probabilities.clamp_min(1e-12).log(), yv))
            if math.isfinite(loss):
                callback(epoch, -loss)
        return hook

    def new_module(self, n_features: int, n_classes: int) -> LSPIN:
        """An untrained network of this estimator's architecture (PyTorch's initialisation)."""
        return LSPIN(n_features, n_classes, self.gate_hidden, self.hidden, self.activation, self.sigma,
                     bool(self.batch_norm))

    def _similarity_penalty(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        kernel = rbf_kernel(x, self.kernel_width)
        return (kernel * torch.cdist(z, z).pow(2)).sum() / (len(x) ** 2)

    def _check(self, n_rows: int) -> str:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if int(self.n_members) < 1:
            raise ValueError(f"n_members must be at least 1, got {self.n_members!r}")
        if self.epochs < 0:
            raise ValueError(f"epochs must be non-negative, got {self.epochs!r}")
        for name in ("lambda1", "lambda2", "lr"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)!r}")
        full_batch = self.batch_size is None or self.batch_size >= n_rows
        fusable = self.optimizer.lower() == "sgd" and full_batch and self.activation in _FUSED_ACTIVATIONS
        if self.engine == "fused" and not fusable:
            raise ValueError("engine='fused' needs optimizer='sgd', full batches (batch_size=None) and a "
                             f"tanh/relu prediction network; got optimizer={self.optimizer!r}, "
                             f"batch_size={self.batch_size!r}, activation={self.activation!r}")
        return "fused" if self.engine == "fused" or (self.engine == "auto" and fusable) else "autograd"

    @flushing_subnormals
    def fit(self, X, y, species=None, X_val=None, y_val=None, species_val=None):
        """Fit every member on ``X``, ``y`` (validation arguments are ignored: no early stopping)."""
        Xt, yt = self._prepare_fit(X, y)
        engine = self._check(len(yt))
        seeds = [member_seed(self.seed, m) for m in range(int(self.n_members))]
        members = []
        for seed in seeds:
            torch.manual_seed(seed)
            members.append(initialise(self.new_module(Xt.shape[1], len(self.classes_)), self.init))
        generators = [noise_generator(seed) for seed in seeds]
        weights = self._class_weights(yt)
        # the fused path trains the members together; the autograd path one after the other, and the
        # pruner follows its first member
        hook = self._pruning_hook(members if engine == "fused" else members[:1])
        if engine == "fused":
            train_full_batch_sgd(members, Xt, yt, epochs=self.epochs, lr=self.lr, lambda1=self.lambda1,
                                 lambda2=self.lambda2, weight_decay=self.weight_decay, class_weights=weights,
                                 generators=generators, activation=self.activation, kernel_width=self.kernel_width,
                                 on_epoch=hook)
        else:
            for seed, module, generator in zip(seeds, members, generators):
                self._fit_autograd(module, Xt, yt, weights, generator, seed, hook if module is members[0] else None)
        for module in members:
            module.eval()
        self.members_ = members
        self.module_ = members[0]
        self.engine_ = engine
        return self

    def _fit_autograd(self, module: LSPIN, Xt: torch.Tensor, yt: torch.Tensor, weights: torch.Tensor | None,
                      noise: torch.Generator, seed: int, hook: Callable[[int], None] | None = None) -> None:
        optimizer = make_optimizer(self.optimizer, module.parameters(), self.lr, self.weight_decay)
        loss_fn = nn.CrossEntropyLoss(weight=weights)
        order_generator = torch.Generator().manual_seed(seed)
        batch_size = self.batch_size or len(yt)
        module.train()
        for epoch in range(self.epochs):
            if hook is not None and epoch and epoch % PRUNE_EVERY == 0:
                hook(epoch)
            order = torch.randperm(len(yt), generator=order_generator) if batch_size < len(yt) else None
            for start in range(0, len(yt), batch_size):
                batch = order[start:start + batch_size] if order is not None else slice(None)
                xb = Xt[batch]
                logits, z, mu = module(xb, generator=noise)
                loss = loss_fn(logits, yt[batch])
                loss = loss + self.lambda1 * expected_open_gates(mu, self.sigma).mean()
                if self.lambda2 > 0:
                    loss = loss + self.lambda2 * self._similarity_penalty(xb, z)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()

    def _logits(self, X):
        return self.module_(X)[0]

    @property
    def fitted_members(self) -> list[LSPIN]:
        """The trained members; an estimator restored with only ``module_`` (e.g. by
        :mod:`neurotype.app.saved`, which stores one module) counts as a single member."""
        members = getattr(self, "members_", None)
        if members is None:
            if getattr(self, "module_", None) is None:
                raise ValueError("this LSPINClassifier is not fitted yet; call fit first")
            return [self.module_]
        return members

    def first_member(self) -> "LSPINClassifier":
        """Member 0 as a fitted single LSPIN (``n_members=1``), sharing its network with this estimator.

        Member 0 keeps the seed (:func:`member_seed`), the rows and the gate noise of a single LSPIN of
        this seed, and batched members train as they would alone, so on one torch thread this is the
        model that ``n_members=1`` fits, bit for bit (``tests/models/test_lspin.py``; with more threads the
        products of one member and of a batch may be split differently, which rounds differently).
        """
        first = self.fitted_members[0]
        single = clone(self).set_params(n_members=1)
        for name, value in vars(self).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(single, name, value)
        single.members_, single.module_ = [first], first
        return single

    def predict_proba(self, X, species=None) -> np.ndarray:
        """Class probabilities, averaged over the members."""
        Xt = self._tensor(X)
        with torch.no_grad():
            probabilities = [torch.softmax(m.eval()(Xt)[0], dim=1) for m in self.fitted_members]
        return torch.stack(probabilities).mean(0).numpy()

    def member_gates(self, X) -> np.ndarray:
        """Deterministic inference gates of every member, shape ``(n_members, rows, features)``."""
        Xt = self._tensor(X)
        with torch.no_grad():
            return torch.stack([m.eval().gates(Xt, stochastic=False) for m in self.fitted_members]).numpy()

    def gates(self, X) -> np.ndarray:
        """Deterministic inference gates ``clip(0.5 + mu, 0, 1)`` per row and feature (mean over members)."""
        return self.member_gates(X).mean(0)
