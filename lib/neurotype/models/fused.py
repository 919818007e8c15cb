"""Hand-written mini-batch training of the fully connected networks (FCNN and DANN), batched over members.

The autograd path of :class:`~neurotype.models.fcnn.FCNNClassifier` and
:class:`~neurotype.models.dann.DANNClassifier` spends almost all its time on per-step overhead:
their matrices are tiny (128 rows by 64 units), and one Adam step of autograd, ``nn.Module``
calls and the optimiser object costs far more than its arithmetic. This module trains the same
networks with the forward pass, the backward pass and the optimiser step written out:

* the ``K`` members (a seed ensemble, or several trials of one architecture) are stacked, every
  layer a batched matrix product (``torch.baddbmm``) over members, save the products and the
  element-wise functions that a batch would round differently, which go member by member; one
  member's passes run on 2-D rows with autograd's own calls (``addmm``, ``mm``);
* each member's parameters and gradients are one row of a flat buffer, so an optimiser step is
  a few element-wise operations per member whatever the number of layers (Adam: one call of
  ``torch.optim.Adam(fused=True)``'s kernel on the member's parameters);
* the backward pass calls the same ATen kernels autograd calls (``threshold_backward``,
  ``elu_backward``, ``silu_backward``, ``_log_softmax_backward_data``,
  ``native_batch_norm_backward``), and SGD and RMSprop repeat ``torch.optim``'s single-tensor
  arithmetic operation by operation;
* dropout masks are drawn exactly as ``torch.nn.Dropout`` draws them (``bernoulli_`` on the
  default CPU generator: one 64-bit Mersenne-Twister draw per unit, kept when the 53-bit uniform
  is below the keep probability), a whole epoch in one call, one epoch ahead on a second thread
  when torch may use two;
* mini-batch orders and domain batches come from the same ``randperm``/``randint`` calls on the
  same generator, the domain batches of a whole epoch drawn in one call (``randint`` over the
  least common multiple of the two ranges, reduced modulo each: the same numbers).

One member's steps (the FCNN or DANN of a tuning trial or a fold) run in C++ where the environment could
build :mod:`neurotype.models.native` (``fused_step.cpp``): the same ATen calls with the same arguments, in
the same order, without the interpreter between them and with the GIL released, so that the dropout
thread draws while the steps run; the dropout draws themselves are made there in one pass, from the
same stream (a default DANN fit: 1.45 s on one thread and 1.23 s on two in Python, 1.05 s and 0.66 s
in C++, 2026-11-30). Several members, and environments without the library, take the Python steps
below; both give the same network (tests/models/test_native.py).

So a network trained here is the autograd path's network bit for bit, and a member of a stacked
ensemble is the network its seed gives alone: batch normalisation, the products a batch would round
differently (fewer than :data:`BATCHED_BLAS_FROM` multiply-adds, or a dimension of 1) and selu, silu
and the sigmoid where a member's values end inside a vector iteration (:data:`VECTOR_ITERATION`) go
member by member; tests compare weights, predictions and epochs run, on shapes on both sides of
each threshold.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from neurotype.models import native
from neurotype.models.base import aten_kernel, batch_norm_members, batch_norm_members_backward

__all__ = ["FUSED_ACTIVATIONS", "FUSED_OPTIMIZERS", "fusable", "Layer", "StackedNetwork", "dropout_draws",
           "keep_threshold", "keep_mask", "dropout_multiplier", "FusedOptimizer", "DomainBatches", "train_members"]

#: Activations and optimisers the fused path implements (others fall back to autograd).
FUSED_ACTIVATIONS = ("relu", "selu", "swish")
FUSED_OPTIMIZERS = ("adam", "sgd", "rmsprop")
_ACTIVATION_NAMES = {nn.ReLU: "relu", nn.SELU: "selu", nn.SiLU: "swish", nn.Tanh: "tanh"}
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
#: ATen's ``bmm``/``baddbmm`` on CPU hand a product to BLAS only from this many multiply-adds
#: (``m * n * k``, aten/src/ATen/native/LinearAlgebra.cpp); below it they loop in their own order.
BATCHED_BLAS_FROM = 400
#: ATen's element-wise loops take two vectors of floats per iteration (32 floats with AVX-512, 16 with
#: AVX2) and finish with a scalar routine that rounds selu, silu and the sigmoid differently. A member of
#: a stack meets that split where it would alone only if its elements fill whole iterations; otherwise
#: those functions go member by member (this many floats covers both instruction sets).
VECTOR_ITERATION = 64
_MASK53 = (1 << 53) - 1
threshold_backward = aten_kernel("threshold_backward")
elu_backward = aten_kernel("elu_backward")
silu_backward = aten_kernel("silu_backward")
log_softmax_backward = aten_kernel("_log_softmax_backward_data")


def _selu_backward(grad: torch.Tensor, pre: torch.Tensor) -> torch.Tensor:
    """SELU's backward as autograd computes it (``elu_backward`` on the input)."""
    return elu_backward(grad, _SELU_ALPHA, _SELU_SCALE, 1.0, False, pre)


def fusable(activations: Sequence[str], optimizer: str) -> bool:
    """Whether the fused path implements these activations and this optimiser."""
    return all(a in FUSED_ACTIVATIONS for a in activations) and optimizer.lower() in FUSED_OPTIMIZERS


@dataclass
class Layer:
    """One fully connected layer of the stacked network and what follows it.

    ``weight`` ``(K, out, in)`` and ``bias`` ``(K, 1, out)`` are views into the flat parameter
    buffer; ``bn`` holds the batch normalisation after the product (``Linear → BN → activation``)
    if any; ``activation`` is ``None`` for an output layer; ``dropout`` the drop probability.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    activation: str | None
    dropout: float = 0.0
    bn: dict | None = None
    grad_weight: torch.Tensor | None = None
    grad_bias: torch.Tensor | None = None

    def __post_init__(self):
        # the transposed views stay valid: the optimiser updates the flat buffer in place
        self.weight_t = self.weight.transpose(1, 2)
        self.members = [(self.weight[k], self.weight[k].t(), self.bias[k, 0]) for k in range(self.weight.shape[0])]
        if self.grad_weight is None or self.grad_bias is None:
            raise ValueError("a layer needs its gradient buffers (grad_weight, grad_bias)")
        self.member_grads = [(self.grad_weight[k], self.grad_bias[k, 0]) for k in range(self.weight.shape[0])]
        #: One member: the passes run on its 2-D rows with the very calls ``F.linear`` and its
        #: backward make (``addmm``, ``mm``).
        self.single = self.weight.shape[0] == 1
        self._size = self.weight.shape[1] * self.weight.shape[2]  # out x in

    def by_member(self, rows: int) -> bool:
        """Whether a product over ``rows`` rows must go member by member to round as each member's
        own 2-D product: ATen multiplies a batch of matrices with its own loop below
        :data:`BATCHED_BLAS_FROM` multiply-adds, and MKL's batched kernel rounds a matrix-vector
        product (a dimension of 1, e.g. the domain head's single logit) differently."""
        return rows * self._size < BATCHED_BLAS_FROM or min(rows, *self.weight.shape[1:]) == 1

    def affine(self, x: torch.Tensor) -> torch.Tensor:
        """``x W^T + b`` per member (``F.linear``'s ``addmm``); ``x`` is ``(rows, in)`` for one member."""
        if self.single:
            _, weight_t, bias = self.members[0]
            return torch.addmm(bias, x, weight_t)
        if self.by_member(x.shape[1]):
            return torch.stack([torch.addmm(bias, rows, weight_t) for rows, (_, weight_t, bias) in zip(x, self.members)])
        return torch.baddbmm(self.bias, x, self.weight_t)

    def backward_weight(self, grad: torch.Tensor, x: torch.Tensor) -> None:
        """``grad^T x`` and ``sum(grad)`` into the gradient buffer (``addmm``'s backward)."""
        if self.single:
            grad_weight, grad_bias = self.member_grads[0]
            torch.mm(grad.t(), x, out=grad_weight)
            torch.sum(grad, 0, out=grad_bias)
            return
        if self.by_member(x.shape[1]):
            for member_grad, rows, (grad_weight, _) in zip(grad, x, self.member_grads):
                torch.mm(member_grad.t(), rows, out=grad_weight)
        else:
            torch.bmm(grad.transpose(1, 2), x, out=self.grad_weight)
        torch.sum(grad, 1, keepdim=True, out=self.grad_bias)

    def backward_input(self, grad: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``grad W``: the gradient with respect to the layer's input (into ``out`` if given)."""
        if self.single:
            return torch.mm(grad, self.members[0][0], out=out)
        if self.by_member(grad.shape[1]):
            out = grad.new_empty(grad.shape[0], grad.shape[1], self.weight.shape[2]) if out is None else out
            for k, (weight, _, _) in enumerate(self.members):
                torch.mm(grad[k], weight, out=out[k])
            return out
        return torch.bmm(grad, self.weight, out=out)


def _blocks(sequential: nn.Sequential) -> list[tuple[nn.Linear, nn.BatchNorm1d | None, str | None, float]]:
    """``(linear, batch norm after it, activation, dropout)`` for each linear layer of an ``mlp``."""
    blocks: list[list] = []
    for layer in sequential:
        if isinstance(layer, nn.Linear):
            blocks.append([layer, None, None, 0.0])
        elif isinstance(layer, nn.BatchNorm1d):
            if not blocks or blocks[-1][2] is not None:
                raise ValueError("the fused path supports batch normalisation only between a linear layer and "
                                 "its activation")
            blocks[-1][1] = layer
        elif type(layer) in _ACTIVATION_NAMES:
            blocks[-1][2] = _ACTIVATION_NAMES[type(layer)]
        elif isinstance(layer, (nn.Dropout, nn.AlphaDropout)):
            if isinstance(layer, nn.AlphaDropout) != (blocks[-1][2] == "selu"):
                raise ValueError("the fused path expects alpha dropout exactly after SELU")
            blocks[-1][3] = float(layer.p)
        else:
            raise ValueError(f"the fused path cannot train a {type(layer).__name__} layer")
    return [tuple(block) for block in blocks]


class StackedNetwork:
    """``K`` members of one architecture (trunk, label head, optional domain head) in flat buffers.

    Parameters
    ----------
    trunks
        The members' feature extractors (``nn.Sequential`` built by
        :func:`neurotype.models.base.mlp`, each hidden layer ``Linear [BN] activation [dropout]``).
    label_heads
        The members' label classifiers (a ``nn.Linear`` or an ``mlp``).
    domain_heads
        The members' domain classifiers (an ``mlp`` ending in one logit), or ``None``.
    """

    def __init__(self, trunks: Sequence[nn.Sequential], label_heads: Sequence[nn.Module],
                 domain_heads: Sequence[nn.Module] | None = None):
        self.K = len(trunks)
        #: The leading dimensions of the passes' tensors: none for one member (its 2-D rows), else ``(K,)``.
        self.leading: tuple[int, ...] = () if self.K == 1 else (self.K,)
        wrap = lambda m: m if isinstance(m, nn.Sequential) else nn.Sequential(m)  # noqa: E731
        parts = {"trunk": [_blocks(t) for t in trunks], "label": [_blocks(wrap(h)) for h in label_heads]}
        if domain_heads is not None:
            parts["domain"] = [_blocks(wrap(h)) for h in domain_heads]
        self.modules = parts
        tensors: list[torch.Tensor] = []  # per parameter: the K members' tensors stacked, (K, ...)
        for blocks in parts.values():
            for i in range(len(blocks[0])):
                linears = [b[i][0] for b in blocks]
                tensors.append(torch.stack([lin.weight.detach() for lin in linears]))
                tensors.append(torch.stack([lin.bias.detach()[None, :] for lin in linears]))
                if blocks[0][i][1] is not None:
                    bns = [b[i][1] for b in blocks]
                    tensors.append(torch.stack([bn.weight.detach()[None, :] for bn in bns]))
                    tensors.append(torch.stack([bn.bias.detach()[None, :] for bn in bns]))
        # Member-major: member k's parameters lie together in row k of (K, P), so that the
        # optimiser can update one member's row with exactly the operations a network trained
        # alone sees (same lengths, same vectorised loops); each (K, ...) view strides over rows.
        K = self.K
        sizes = [t[0].numel() for t in tensors]
        #: Each parameter's length in a member's row (the tensors an optimiser of one network sees).
        self.sizes = sizes
        self.flat = torch.cat([t.reshape(K, -1) for t in tensors], dim=1).reshape(-1)
        self.flat_grad = torch.zeros_like(self.flat)
        self.rows = self.flat.view(K, -1)
        self.grad_rows = self.flat_grad.view(K, -1)
        views = [v.view(t.shape) for v, t in zip(torch.split(self.rows, sizes, dim=1), tensors)]
        grads = [v.view(t.shape) for v, t in zip(torch.split(self.grad_rows, sizes, dim=1), tensors)]
        self.layers: dict[str, list[Layer]] = {}
        index = 0
        for name, blocks in parts.items():
            layers = []
            for i, (linear, bn, activation, dropout) in enumerate(blocks[0]):
                layer = Layer(views[index], views[index + 1], activation, dropout, grad_weight=grads[index],
                              grad_bias=grads[index + 1])
                index += 2
                if bn is not None:
                    members_bn = [b[i][1] for b in blocks]
                    layer.bn = {"weight": views[index], "bias": views[index + 1],
                                "grad_weight": grads[index], "grad_bias": grads[index + 1],
                                "running_mean": torch.stack([m.running_mean for m in members_bn]),
                                "running_var": torch.stack([m.running_var for m in members_bn]),
                                "eps": bn.eps, "momentum": bn.momentum, "steps": 0}
                    # each member's weight, bias, running statistics and gradient buffers (views, built once)
                    layer.bn["members"] = [(views[index][k, 0], views[index + 1][k, 0], layer.bn["running_mean"][k],
                                            layer.bn["running_var"][k], grads[index][k, 0], grads[index + 1][k, 0])
                                           for k in range(K)]
                    index += 2
                layers.append(layer)
            self.layers[name] = layers

    # --- state ------------------------------------------------------------------------------------

    def _tensors(self, member: int) -> list[torch.Tensor]:
        """One member's parameters and batch-normalisation statistics, in :meth:`write_back` order."""
        out = []
        for layers in self.layers.values():
            for layer in layers:
                out += [layer.weight[member], layer.bias[member]]
                if layer.bn is not None:
                    bn = layer.bn
                    out += [bn["weight"][member], bn["bias"][member], bn["running_mean"][member],
                            bn["running_var"][member], torch.tensor(bn["steps"])]
        return out

    def state(self, member: int) -> list[torch.Tensor]:
        """A copy of one member's parameters and batch-normalisation statistics."""
        return [t.clone() for t in self._tensors(member)]

    def write_back(self, member: int, state: list[torch.Tensor] | None = None) -> None:
        """Copy one member's parameters (the current ones, or a saved :meth:`state`) into its modules."""
        state = self._tensors(member) if state is None else state
        position = 0
        with torch.no_grad():
            for name, layers in self.layers.items():
                for layer, (linear, bn, _, _) in zip(layers, self.modules[name][member]):
                    linear.weight.copy_(state[position])
                    linear.bias.copy_(state[position + 1][0])
                    position += 2
                    if bn is not None:
                        bn.weight.copy_(state[position][0])
                        bn.bias.copy_(state[position + 1][0])
                        bn.running_mean.copy_(state[position + 2])
                        bn.running_var.copy_(state[position + 3])
                        bn.num_batches_tracked.fill_(int(state[position + 4]))
                        position += 5

    # --- passes -----------------------------------------------------------------------------------

    def forward(self, part: str, x: torch.Tensor, noise: Sequence[torch.Tensor | tuple] | None,
                saved: list | None) -> torch.Tensor:
        """Run ``x`` ``(K, rows, in)`` (one member: ``(rows, in)``) through one part; ``noise`` holds
        each dropout layer's multiplier (``None`` at evaluation); ``saved`` collects what
        :meth:`backward` needs."""
        dropped = 0
        for layer in self.layers[part]:
            pre = layer.affine(x)
            bn_saved = None
            if layer.bn is not None:
                pre, bn_saved = self._batch_norm(layer.bn, pre, training=saved is not None)
            if layer.activation is None:
                out = pre
            elif layer.activation == "relu":
                out = torch.relu(pre)
            elif layer.activation == "selu":
                out = self.member_wise(torch.selu, pre)
            elif layer.activation == "swish":
                out = self.member_wise(F.silu, pre)
            else:
                raise ValueError(f"the fused path cannot train a {layer.activation!r} activation")
            activated, mask = out, None
            if layer.dropout > 0 and noise is not None:
                mask = noise[dropped]
                dropped += 1
                if isinstance(mask, tuple):  # alpha dropout: out * a_mask + b
                    mask, shift = mask
                    out = (out * mask).add_(shift)
                else:
                    out = out * mask
            if saved is not None:
                saved.append((x, pre, activated, mask, bn_saved))
            x = out
        return x

    def member_wise(self, op: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
        """``op(*tensors)`` element-wise, applied member by member where a member's elements do not
        fill whole iterations of ATen's vector loop (see :data:`VECTOR_ITERATION`)."""
        if self.K == 1 or tensors[0][0].numel() % VECTOR_ITERATION == 0:
            return op(*tensors)
        return torch.stack([op(*member) for member in zip(*tensors)])

    def _batch_norm(self, bn: dict, pre: torch.Tensor, training: bool):
        """``native_batch_norm`` (what ``nn.BatchNorm1d`` calls) on each member's rows."""
        outs, caches = batch_norm_members(self._members(pre), bn["members"], training, bn["momentum"], bn["eps"])
        if training:
            bn["steps"] += 1
        return self._joined(outs), caches

    def for_passes(self, stacked: torch.Tensor) -> torch.Tensor:
        """A ``(K, ...)`` tensor as the passes take it (see :attr:`leading`)."""
        return stacked[0] if self.K == 1 else stacked

    def _members(self, rows: torch.Tensor) -> list[torch.Tensor] | torch.Tensor:
        """Each member's rows: ``rows`` itself for one member (2-D), else its first dimension."""
        return [rows] if self.K == 1 else rows

    def _joined(self, members: Sequence[torch.Tensor]) -> torch.Tensor:
        """Each member's result as the passes hold it: the inverse of :meth:`_members`."""
        return members[0] if self.K == 1 else torch.stack(members)

    def backward(self, part: str, grad: torch.Tensor, saved: list, input_grad: bool = True,
                 out: torch.Tensor | None = None) -> torch.Tensor | None:
        """Back-propagate ``grad`` (d loss / d output of ``part``) through it, writing every
        parameter gradient into the flat gradient buffer; returns d loss / d input (into ``out``
        if given)."""
        layers = self.layers[part]
        for i in range(len(layers) - 1, -1, -1):
            layer = layers[i]
            x, pre, activated, mask, bn_saved = saved[i]
            if mask is not None:
                grad = grad * mask
            if layer.activation == "relu":
                grad = threshold_backward(grad, activated, 0)
            elif layer.activation == "selu":
                grad = self.member_wise(_selu_backward, grad, pre)
            elif layer.activation == "swish":
                grad = self.member_wise(silu_backward, grad, pre)
            if layer.bn is not None:
                grad = self._batch_norm_backward(layer.bn, grad, bn_saved)
            layer.backward_weight(grad, x)
            if i > 0 or input_grad:
                grad = layer.backward_input(grad, out if i == 0 else None)
        return grad if input_grad else None

    def _batch_norm_backward(self, bn: dict, grad: torch.Tensor, caches) -> torch.Tensor:
        # the weight and bias gradients go straight into the gradient buffer
        return self._joined(batch_norm_members_backward(self._members(grad), caches, bn["members"], bn["eps"]))

    def dropout_layers(self, part: str = "trunk") -> list[Layer]:
        return [layer for layer in self.layers[part] if layer.dropout > 0]


_ALPHA_DROPOUT = 1.7580993408473766  # torch's AlphaDropout: -SELU_SCALE * SELU_ALPHA


def dropout_draws(generators: Sequence[torch.Generator], count: int) -> torch.Tensor:
    """``count`` uniform draws per member, as ``bernoulli_`` makes them: the low 53 bits of one
    ``random64`` each (``int64``; ``u = m * 2**-53``)."""
    draws = torch.empty(len(generators), count, dtype=torch.int64)
    for k, generator in enumerate(generators):
        draws[k].random_(generator=generator)
    return draws.bitwise_and_(_MASK53)


def keep_threshold(drop: float) -> int:
    """The 53-bit draws ``m`` that :func:`keep_mask` keeps: ``m < keep_threshold(drop)``.

    ``u < 1 - drop`` with ``u = m * 2**-53`` (exact) is ``m < (1 - drop) * 2**53``, i.e.
    ``m < ceil((1 - drop) * 2**53)`` for the integer ``m``.
    """
    return math.ceil((1.0 - drop) * 2.0 ** 53)


def keep_mask(draws: torch.Tensor, drop: float) -> torch.Tensor:
    """``bernoulli_(1 - drop)`` from :func:`dropout_draws` (float 0/1)."""
    return draws.lt(keep_threshold(drop)).to(torch.float32)


def dropout_multiplier(keep: torch.Tensor, drop: float, alpha: bool) -> torch.Tensor | tuple:
    """What ``nn.Dropout`` multiplies by (``keep / (1 - p)``, in place), or ``AlphaDropout``'s
    ``(a * keep, b)`` with ``out = x * a keep + b``, as ``torch``'s ``_dropout_impl`` computes them."""
    if not alpha:
        return keep.div_(1.0 - drop)
    a = 1.0 / math.sqrt((_ALPHA_DROPOUT * _ALPHA_DROPOUT * drop + 1) * (1.0 - drop))
    shift = keep.add(-1).mul_(_ALPHA_DROPOUT * a).add_(_ALPHA_DROPOUT * a * drop)
    return keep.mul_(a), shift


class FusedOptimizer:
    """``torch.optim`` Adam / SGD / RMSprop (their defaults, no momentum) on a stacked network.

    Each member's parameters are one row of the flat buffer. SGD and RMSprop apply, row by row, the
    operations ``torch.optim``'s single-tensor code applies to each parameter (element-wise, so one
    row at a time gives every element the same arithmetic as a network trained alone). Adam is
    ``torch.optim.Adam(fused=True)``'s kernel (:func:`~neurotype.models.base.make_optimizer`'s
    Adam), called on each member's parameters as separate tensors: the kernel handles a tensor in
    whole vectors and a scalar tail that rounds differently, so the tensors it sees must be the
    ones a network trained alone has: ``sizes``, each parameter's length in a row
    (:attr:`StackedNetwork.sizes`). ``lr`` and ``weight_decay`` hold one value per member.
    """

    def __init__(self, name: str, rows: torch.Tensor, grad_rows: torch.Tensor, lr: Sequence[float],
                 weight_decay: Sequence[float], sizes: Sequence[int]):
        self.name = name.lower()
        if self.name not in FUSED_OPTIMIZERS:
            raise ValueError(f"the fused path supports optimisers {FUSED_OPTIMIZERS}, got {name!r}")
        self.rows, self.grad_rows = rows, grad_rows
        self.lr, self.weight_decay = [float(v) for v in lr], [float(v) for v in weight_decay]
        if self.name == "adam":
            sizes = list(sizes)
            if sum(sizes) != rows.shape[1]:
                raise ValueError(f"parameter sizes {sizes} do not add up to a row of {rows.shape[1]}")
            exp_avg, exp_avg_sq = torch.zeros_like(rows), torch.zeros_like(rows)
            # per member: its parameters, gradients and both moments, each a list of views of its row
            self._adam = [[list(torch.split(buffer[k], sizes)) for buffer in (rows, grad_rows, exp_avg, exp_avg_sq)]
                          for k in range(rows.shape[0])]
            #: torch.optim.Adam(fused=True) keeps each parameter's step as a float32 scalar tensor
            self._adam_step = torch.zeros(())
            self._adam_steps = [self._adam_step] * len(sizes)
        elif self.name == "rmsprop":
            self.square_avg = torch.zeros_like(rows)

    def step(self) -> None:
        if self.name == "adam":
            self._adam_step.add_(1)
            for (params, grads, exp_avgs, exp_avg_sqs), lr, weight_decay in zip(self._adam, self.lr,
                                                                                self.weight_decay):
                torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], self._adam_steps, lr=lr, beta1=0.9,
                                   beta2=0.999, weight_decay=weight_decay, eps=1e-8, amsgrad=False, maximize=False)
            return
        if len(self.lr) == 1:
            self._step(None, self.rows, self.grad_rows, self.lr[0], self.weight_decay[0])
            return
        for k in range(self.rows.shape[0]):
            self._step(k, self.rows[k], self.grad_rows[k], self.lr[k], self.weight_decay[k])

    def _step(self, k: int | None, param: torch.Tensor, grad: torch.Tensor, lr: float, weight_decay: float) -> None:
        """One member's row (``k``; ``None``: the only member, its ``(1, P)`` buffer)."""
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        if self.name == "sgd":
            param.add_(grad, alpha=-lr)
        else:
            alpha, eps = 0.99, 1e-8
            square_avg = self.square_avg if k is None else self.square_avg[k]
            square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            param.addcdiv_(grad, square_avg.sqrt().add_(eps), value=-lr)


@dataclass
class DomainBatches:
    """Where the domain loss draws its rows: ``half`` source and ``half`` target rows per step."""

    source: torch.Tensor
    target: torch.Tensor
    half: int
    #: ``lambdas(step, total_steps)``: each member's weight of the reversed domain gradient
    lambdas: Callable[[int, int], Sequence[float]] = field(default=lambda step, total: [0.0])


def _member_scalar(values: Sequence[float]) -> float | torch.Tensor:
    """One number if all members share it, else a ``(K, 1, 1)`` tensor (for exact products only)."""
    values = [float(v) for v in values]
    if len(set(values)) == 1:
        return values[0]
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1)


class _Epoch:
    """One epoch of every member, drawn up front: its steps' input rows, the label loss's
    gradient seeds and the dropout multipliers, each step a view into epoch-sized tensors."""

    def __init__(self, net: StackedNetwork, X: torch.Tensor, y: torch.Tensor, labelled: torch.Tensor,
                 batch_size: int, order_generators, row_weights, domain: "DomainBatches | None"):
        K, n = net.K, len(labelled)
        order = torch.stack([labelled[torch.randperm(n, generator=g)] for g in order_generators])
        full, last = divmod(n, batch_size)
        #: each step's labelled rows, in order (the last step takes what is left)
        self.batch_rows: list[int] = [batch_size] * full + ([last] if last else [])
        half = domain.half if domain is not None else 0
        if domain is not None:
            n_source, n_target = len(domain.source), len(domain.target)
            lcm = n_source * n_target // math.gcd(n_source, n_target)
            # torch.randint(m, ...) keeps draw % m: drawing % lcm and reducing % m gives the same numbers
            rows = []
            for g in order_generators:
                draws = torch.randint(lcm, (len(self.batch_rows), 2, half), generator=g)
                rows.append(torch.cat([domain.source[draws[:, 0] % n_source],
                                       domain.target[draws[:, 1] % n_target]], dim=1))
            domain_rows = torch.stack(rows)  # (K, steps, 2 half)
        # input rows of each step: its label batch, then its source and target rows
        self.x: list[torch.Tensor] = []
        if full:
            rows_full = order[:, :full * batch_size].view(K, full, batch_size)
            if domain is not None:
                rows_full = torch.cat([rows_full, domain_rows[:, :full]], dim=2)
            x_full = X[rows_full]
            self.x += [x_full[:, s] for s in range(full)]
        if last:
            rows_last = order[:, full * batch_size:]
            if domain is not None:
                rows_last = torch.cat([rows_last, domain_rows[:, full]], dim=1)
            self.x.append(X[rows_last])
        # d loss / d log-probabilities: -(1 / batch) at each row's class (weighted: -(w_i / sum w))
        y_order = y[order]
        if row_weights is None:
            coef = torch.empty(K, n)
            coef[:, :full * batch_size] = torch.ones(()) / batch_size
            if last:
                coef[:, full * batch_size:] = torch.ones(()) / last
        else:
            w = row_weights[order]
            coef = torch.empty(K, n)
            if full:
                w_full = w[:, :full * batch_size].view(K, full, batch_size)
                coef[:, :full * batch_size] = ((torch.ones(()) / w_full.sum(2, keepdim=True)) * w_full).view(K, -1)
            if last:
                w_last = w[:, full * batch_size:]
                coef[:, full * batch_size:] = (torch.ones(()) / w_last.sum(1, keepdim=True)) * w_last
        n_classes = net.layers["label"][-1].weight.shape[1]
        self.grad_log_probs = torch.zeros(K, n, n_classes).scatter_(-1, y_order[..., None], (-coef)[..., None])
        self.noise: list[list] = [[] for _ in self.batch_rows]
        self.x = [net.for_passes(x) for x in self.x]
        #: each step's gradient seeds: views of the epoch's, cut along the rows
        self.grad_log_probs = torch.split(net.for_passes(self.grad_log_probs), self.batch_rows, dim=-2)
        self._net = net

    def row_counts(self, half: int) -> list[int]:
        return [nb + 2 * half for nb in self.batch_rows]

    def split_noise(self, keep: torch.Tensor, dropout_layers: list[Layer], half: int, plain: bool) -> None:
        """Cut the epoch's dropout draws into each step's layers: per step, each dropout layer's
        ``rows x width`` draws, layer after layer (the order ``nn.Dropout`` draws them)."""
        draws = self._net.for_passes(keep)
        cuts = [(step, rows, layer) for step, rows in enumerate(self.row_counts(half)) for layer in dropout_layers]
        sizes = [rows * layer.weight.shape[1] for _, rows, layer in cuts]
        for (step, rows, layer), piece in zip(cuts, torch.split(draws, sizes, dim=-1)):
            piece = piece.view(*self._net.leading, rows, layer.weight.shape[1])
            if not plain:
                piece = dropout_multiplier(piece, layer.dropout, layer.activation == "selu")
            self.noise[step].append(piece)


class _Done:
    """A finished future (:class:`_Inline`'s)."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value

    def cancel(self) -> bool:
        return False


class _Inline:
    """An executor that runs each job at once, on the calling thread."""

    def submit(self, fn) -> _Done:
        return _Done(fn())

    def shutdown(self, wait: bool = True) -> None:
        pass


class _DropoutStream:
    """Each epoch's dropout draws of every member, made one epoch ahead (on a second thread when
    torch may use more than one).

    The draws of a member follow one another on its generator whatever thread makes them, so
    drawing ahead changes no number; it only lets the random-number generation (a quarter to a
    third of a DANN fit's time on one core) overlap the training of the previous epoch.
    """

    def __init__(self, generators: Sequence[torch.Generator], dropout_layers: list[Layer], count: int,
                 threaded: bool):
        self.generators, self.count = list(generators), count
        drops = {layer.dropout for layer in dropout_layers}
        if len(drops) != 1:
            raise ValueError(f"the fused path needs one dropout rate for every layer, got {sorted(drops)}")
        self.drop = drops.pop()
        #: plain dropout everywhere: one division for the whole epoch
        self.plain = not any(layer.activation == "selu" for layer in dropout_layers)
        # the generators' states before any draw and after each epoch's draws
        self.states: list[list[torch.Tensor]] = [[g.get_state() for g in self.generators]]
        self._library = native.load()
        self._pool = ThreadPoolExecutor(max_workers=1) if threaded else _Inline()
        self._next = self._pool.submit(self._draw)

    def _draw(self) -> torch.Tensor:
        if self._library is not None:  # the same draws and multipliers in one pass (fused_step.cpp)
            keep = self._library.dropout_multipliers(self.generators, self.count, keep_threshold(self.drop),
                                                     self.drop, self.plain)
        else:
            keep = keep_mask(dropout_draws(self.generators, self.count), self.drop)
            keep = dropout_multiplier(keep, self.drop, False) if self.plain else keep
        self.states.append([g.get_state() for g in self.generators])
        return keep

    def next_epoch(self) -> torch.Tensor:
        keep = self._next.result()
        self._next = self._pool.submit(self._draw)
        return keep

    def close(self, epochs_used: int) -> list[torch.Tensor]:
        """Stop drawing; the generators' states after the last epoch used."""
        self._next.cancel()
        self._pool.shutdown(wait=True)
        return self.states[epochs_used]


class _NativeSteps:
    """One member's steps in C++ (:mod:`neurotype.models.native`): the calls of the Python loop of
    :func:`_train_members`, made from ``fused_step.cpp`` on the same tensors (the network's and the
    optimiser's buffers, the epoch's rows, gradient seeds and dropout multipliers)."""

    _ACTIVATION_CODES = {None: 0, "relu": 1, "selu": 2, "swish": 3}
    _OPTIMIZER_CODES = {"adam": 0, "sgd": 1, "rmsprop": 2}

    def __init__(self, library, net: StackedNetwork, opt: FusedOptimizer, domain_target: torch.Tensor | None,
                 half: int):
        self.network = library.Network()
        self.norms = []
        for part, layers in net.layers.items():
            for layer in layers:
                norm = None
                if layer.bn is not None:
                    norm = list(layer.bn["members"][0])
                    self.norms.append(layer.bn)
                self.network.add_layer(part, layer.weight[0], layer.bias[0, 0], layer.grad_weight[0],
                                       layer.grad_bias[0, 0], self._ACTIVATION_CODES[layer.activation],
                                       layer.dropout > 0, norm, float(layer.bn["momentum"]) if norm else 0.0,
                                       float(layer.bn["eps"]) if norm else 0.0)
        if domain_target is not None:
            self.network.set_domain(half, domain_target)
        code = self._OPTIMIZER_CODES[opt.name]
        if opt.name == "adam":
            params, grads, exp_avgs, exp_avg_sqs = opt._adam[0]
            self.network.set_adam(params, grads, exp_avgs, exp_avg_sqs, opt._adam_step, opt.lr[0], opt.weight_decay[0])
        else:
            self.network.set_rows_optimizer(code, opt.rows, opt.grad_rows, getattr(opt, "square_avg", None),
                                            opt.lr[0], opt.weight_decay[0])

    @classmethod
    def of(cls, net: StackedNetwork, opt: FusedOptimizer, domain_target: torch.Tensor | None,
           half: int) -> "_NativeSteps | None":
        """The C++ steps of a one-member network, or ``None`` (several members, or no library)."""
        if net.K != 1:
            return None
        library = native.load()
        return None if library is None else cls(library, net, opt, domain_target, half)

    def epoch(self, plan: "_Epoch", lambdas: list[float], grad_buffers: dict | None) -> None:
        masks, shifts = [], []
        for noise in plan.noise:
            masks.append([entry[0] if isinstance(entry, tuple) else entry for entry in noise])
            shifts.append([entry[1] if isinstance(entry, tuple) else None for entry in noise])
        if not any(masks):
            masks, shifts = [], []
        buffers = [] if grad_buffers is None else [grad_buffers[nb] for nb in plan.batch_rows]
        self.network.epoch(plan.x, masks, shifts, list(plan.grad_log_probs), plan.batch_rows, lambdas, buffers)
        for bn in self.norms:  # each training forward counts a batch, as StackedNetwork._batch_norm does
            bn["steps"] += len(plan.batch_rows)


def train_members(net: StackedNetwork, X: torch.Tensor, y: torch.Tensor, labelled: torch.Tensor, **kwargs) -> dict:
    """Train the ``K`` members of ``net`` as :class:`~neurotype.models.fcnn.FCNNClassifier`
    (``domain=None``) or :class:`~neurotype.models.dann.DANNClassifier` train one network.

    Each member draws its own mini-batch order and domain batches from ``order_generators[k]``
    and its dropout from ``dropout_generators[k]``; ``lr`` and ``weight_decay`` give one value per
    member. With ``validation`` rows, every epoch scores each member's validation loss; a member
    whose loss has not improved for ``patience`` epochs (``None``: never) stops: its best weights
    are kept and it no longer counts, training ends when every member has stopped. ``callback``
    (one member only) receives ``(epoch, -validation loss)`` every 10 epochs.

    A step's products are far too small to share between threads (on a busy machine two threads
    made a fit several times slower), so the steps run on one torch thread; when the caller
    grants torch more than one, a second thread draws the next epoch's dropout meanwhile.

    Returns
    -------
    dict
        ``epochs`` (per member, epochs run), ``history`` (per member, validation losses),
        ``final`` (per member, the state to keep: the best validation epoch's, or the one it
        stopped with; ``None``: the current weights).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_members(net, X, y, labelled, threaded=threads > 1, **kwargs)
    finally:
        torch.set_num_threads(threads)


def _train_members(net: StackedNetwork, X: torch.Tensor, y: torch.Tensor, labelled: torch.Tensor, *, threaded: bool,
                  batch_size: int, max_epochs: int, optimizer: str, lr: Sequence[float],
                  weight_decay: Sequence[float], order_generators: Sequence[torch.Generator],
                  dropout_generators: Sequence[torch.Generator], row_weights: torch.Tensor | None = None,
                  domain: DomainBatches | None = None,
                  validation: tuple[torch.Tensor, torch.Tensor] | None = None, patience: int | None = None,
                  callback: Callable[[int, float], None] | None = None) -> dict:
    K = net.K
    if not (len(order_generators) == len(dropout_generators) == len(lr) == len(weight_decay) == K):
        raise ValueError(f"{K} members need {K} generators, learning rates and weight decays")
    if len(labelled) == 0:
        raise ValueError("no labelled row to train on")
    opt = FusedOptimizer(optimizer, net.rows, net.grad_rows, lr, weight_decay, net.sizes)
    dropout_layers = net.dropout_layers()
    batch_size = int(batch_size)
    total_steps = max(1, math.ceil(len(labelled) / batch_size)) * max_epochs
    half = domain.half if domain is not None else 0
    members = net.leading
    rows_key = (slice(None),) * len(members)  # indexes the members, before a slice of rows
    if domain is not None:
        domain_target = torch.cat([torch.zeros(half), torch.ones(half)]).expand(*members, 2 * half)[..., None]
        width = net.layers["trunk"][-1].weight.shape[1]
        grad_buffers = {nb: torch.empty(*members, nb + 2 * half, width)
                        for nb in {batch_size, len(labelled) % batch_size} if nb}
    stream = None
    if dropout_layers:
        per_epoch = (len(labelled) + max(1, math.ceil(len(labelled) / batch_size)) * 2 * half) \
            * sum(layer.weight.shape[1] for layer in dropout_layers)
        stream = _DropoutStream(dropout_generators, dropout_layers, per_epoch, threaded)
    best = [None] * K
    best_loss = [math.inf] * K
    best_epoch = [-1] * K
    stopped_at: list[int | None] = [None] * K
    history: list[list[float]] = [[] for _ in range(K)]
    step = 0
    epoch = -1
    compiled = _NativeSteps.of(net, opt, domain_target if domain is not None else None, half)
    for epoch in range(max_epochs):
        plan = _Epoch(net, X, y, labelled, batch_size, order_generators, row_weights, domain)
        if stream is not None:
            plan.split_noise(stream.next_epoch(), dropout_layers, half, stream.plain)
        if compiled is not None:  # the same steps, in C++
            lambdas = [] if domain is None else [_member_scalar(domain.lambdas(step + s, total_steps))
                                                 for s in range(len(plan.batch_rows))]
            compiled.epoch(plan, lambdas, grad_buffers if domain is not None else None)
            step += len(plan.batch_rows)
        else:
            for nb, x, noise, grad_log_probs in zip(plan.batch_rows, plan.x, plan.noise, plan.grad_log_probs):
                saved_trunk: list = []
                embedding = net.forward("trunk", x, noise, saved_trunk)
                saved_label: list = []
                # the label rows and the domain rows (rows are the second-to-last dimension, with or without
                # members before them)
                label_rows, domain_rows = rows_key + (slice(None, nb),), rows_key + (slice(nb, None),)
                logits = net.forward("label", embedding[label_rows] if domain is not None else embedding, None,
                                     saved_label)
                log_probs = torch.log_softmax(logits, -1)
                # weighted_cross_entropy's backward, as autograd computes it
                grad_logits = log_softmax_backward(grad_log_probs, log_probs, -1, torch.float32)
                if domain is None:
                    grad_embedding = net.backward("label", grad_logits, saved_label)
                else:
                    grad_embedding = grad_buffers[nb]
                    net.backward("label", grad_logits, saved_label, out=grad_embedding[label_rows])
                    saved_domain: list = []
                    domain_logits = net.forward("domain", embedding[domain_rows], None, saved_domain)
                    # BCE-with-logits' backward (mean): (sigmoid - target) / numel
                    grad_domain = (net.member_wise(torch.sigmoid, domain_logits) - domain_target).div_(2 * half)
                    grad_reversed = net.backward("domain", grad_domain, saved_domain)
                    # the reversal layer: -lambda times the gradient
                    torch.mul(grad_reversed, -_member_scalar(domain.lambdas(step, total_steps)),
                              out=grad_embedding[domain_rows])
                net.backward("trunk", grad_embedding, saved_trunk, input_grad=False)
                opt.step()
                step += 1
        if validation is None:
            continue
        with torch.inference_mode():
            val_logits = net.forward("label", net.forward("trunk", validation[0].expand(*members, *validation[0].shape),
                                                          None, None), None, None)
        member_logits = net._members(val_logits)
        for k in range(K):
            if stopped_at[k] is not None:
                continue
            loss = float(F.cross_entropy(member_logits[k], validation[1]))
            history[k].append(loss)
            if callback is not None and epoch % 10 == 9 and math.isfinite(loss):
                callback(epoch, -loss)
            if patience is not None and math.isfinite(loss) and loss < best_loss[k] - 1e-6:
                best_loss[k], best_epoch[k], best[k] = loss, epoch, net.state(k)
            if not math.isfinite(loss) or (patience is not None and epoch - best_epoch[k] >= patience):
                stopped_at[k] = epoch
                if best[k] is None:  # stopped without a best epoch: keep the weights it stopped with
                    best[k] = net.state(k)
        if all(s is not None for s in stopped_at):
            break
    epochs = [(epoch if s is None else s) + 1 for s in stopped_at]
    if stream is not None:  # leave each dropout generator after the last epoch trained
        for generator, state in zip(dropout_generators, stream.close(epoch + 1)):
            generator.set_state(state)
    return {"epochs": epochs, "history": history, "final": best}

