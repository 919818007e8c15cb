"""The fused FCNN/DANN engine gives the numbers of the autograd engine, and batched members the numbers of
separate fits: bit for bit (same weights, same predictions, same epochs run)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neurotype.models.base import member_seed
from neurotype.models.dann import DANN, DANNClassifier
from neurotype.models.fcnn import FCNNClassifier
from neurotype.models.fused import (DomainBatches, StackedNetwork, dropout_draws, dropout_multiplier, keep_mask,
                                    train_members)

from _network_fixtures import problem, same_weights, validation


def test_dropout_draws_are_nn_dropouts():
    """One epoch-sized draw, cut layer by layer, equals nn.Dropout / AlphaDropout applied layer after layer."""
    rows, widths = 37, (16, 8, 5)
    for drop in (0.1, 0.3, 0.5, 0.77):
        for alpha in (False, True):
            torch.manual_seed(11)
            state = torch.get_rng_state()
            layer = nn.AlphaDropout(drop) if alpha else nn.Dropout(drop)
            ones = [layer(torch.ones(rows, w)) for w in widths]  # AlphaDropout: a * keep + b
            generator = torch.Generator()
            generator.set_state(state)
            keep = keep_mask(dropout_draws([generator], rows * sum(widths)), drop)
            start = 0
            for w, expected in zip(widths, ones):
                piece = dropout_multiplier(keep[:, start:start + rows * w].view(1, rows, w), drop, alpha)
                got = piece[0] + piece[1] if alpha else piece
                assert torch.equal(got[0], expected), (drop, alpha, w)
                start += rows * w
            assert torch.equal(generator.get_state(), torch.get_rng_state())


DANN_CASES = [
    {},
    {"lambda_": 0.7, "class_weight": "balanced_per_species"},
    {"activation": "selu", "dropout": 0.3, "optimizer": "sgd", "lr": 0.03, "mode": "unsupervised"},
    {"activation": "swish", "optimizer": "rmsprop", "batch_size": 32, "hidden": (64, 64, 32, 16), "weight_decay": 0.01},
    {"batch_norm": "after", "init": "glorot_uniform", "dropout": 0.2, "patience": None},
    {"activation": "relu-selu-swish", "dropout": 0.25, "batch_norm": "after", "lambda_": 2.0},
]


@pytest.mark.parametrize("overrides", DANN_CASES, ids=lambda o: ",".join(o) or "defaults")
@pytest.mark.parametrize("early_stopping", [False, True])
def test_fused_dann_equals_autograd(overrides, early_stopping):
    X, y, species = problem()
    extra = validation(X, y, species) if early_stopping else {}
    settings = {"max_epochs": 12, "patience": 4, "seed": 3, **overrides}
    fits = [DANNClassifier(engine=engine, **settings).fit(X, y, species=species, **extra)
            for engine in ("fused", "autograd")]
    assert [f.engine_ for f in fits] == ["fused", "autograd"]
    assert same_weights(fits[0].module_, fits[1].module_)
    assert np.array_equal(fits[0].predict_proba(X, species), fits[1].predict_proba(X, species))
    assert fits[0].n_epochs_ == fits[1].n_epochs_ and fits[0].history_ == fits[1].history_
    assert fits[0].target_cells_seen_ == fits[1].target_cells_seen_
    other = DANNClassifier(engine="fused", **{**settings, "seed": 4}).fit(X, y, species=species, **extra)
    assert not np.allclose(other.predict_proba(X, species), fits[0].predict_proba(X, species), atol=1e-4)


@pytest.mark.parametrize("overrides", [{}, {"species_flag": True, "activation": "selu", "dropout": 0.2},
                                       {"batch_norm": "after", "optimizer": "sgd", "lr": 0.05,
                                        "class_weight": "balanced"}])
def test_fused_fcnn_equals_autograd(overrides):
    X, y, species = problem(1)
    extra = validation(X, y, species)
    fits = [FCNNClassifier(max_epochs=15, patience=3, seed=2, engine=engine, **overrides).fit(
        X, y, species=species, **extra) for engine in ("fused", "autograd")]
    assert same_weights(fits[0].module_, fits[1].module_)
    assert np.array_equal(fits[0].predict_proba(X, species), fits[1].predict_proba(X, species))
    assert fits[0].n_epochs_ == fits[1].n_epochs_


def test_the_default_generator_ends_where_autograd_leaves_it():
    X, y, species = problem()
    after = []
    for engine in ("fused", "autograd"):
        DANNClassifier(max_epochs=6, patience=2, seed=1, engine=engine).fit(X, y, species=species,
                                                                            **validation(X, y, species))
        after.append(torch.rand(4))
    assert torch.equal(*after)


@pytest.mark.parametrize("cls, overrides", [
    (DANNClassifier, {"batch_norm": "after", "dropout": 0.2, "lr": 0.01}),
    (DANNClassifier, {"activation": "selu", "dropout": 0.3, "lambda_": 0.5, "lr": 0.01}),
    (FCNNClassifier, {"dropout": 0.3, "lr": 0.01}),
])
def test_batched_members_equal_separate_fits(cls, overrides):
    """An ensemble trained as one stacked network: each member is the network its seed gives alone, even
    when early stopping stops the members at different epochs."""
    X, y, species = problem(2)
    extra = validation(X, y, species)
    ensemble = cls(n_members=3, seed=5, max_epochs=40, patience=2, **overrides).fit(X, y, species=species, **extra)
    assert ensemble.engine_ == "fused" and len(ensemble.members_) == 3
    alone = [cls(seed=member_seed(5, m), max_epochs=40, patience=2, engine="autograd", **overrides).fit(
        X, y, species=species, **extra) for m in range(3)]
    for member, single in zip(ensemble.members_, alone):
        assert same_weights(member, single.module_)
    assert ensemble.member_epochs_ == [single.n_epochs_ for single in alone]
    assert len(set(ensemble.member_epochs_)) > 1, "the members should stop at different epochs"
    mean = np.mean([single.predict_proba(X, species) for single in alone], axis=0)
    assert np.allclose(ensemble.predict_proba(X, species), mean, atol=1e-7)


@pytest.mark.parametrize("activation", ["selu", "swish", "relu-selu"])
def test_members_equal_separate_fits_when_their_rows_end_inside_a_vector(activation):
    """selu, swish and the sigmoid round their vector loop's tail differently: a member whose rows x width
    do not fill whole vectors (197 rows in batches of 64: a last batch of 5; domain batches of 2 x 5) must
    get them applied to its own rows, as when it trains alone."""
    X, y, species = problem(4, n=197)
    settings = {"activation": activation, "hidden": (16, 16), "batch_size": 10, "dropout": 0.1, "max_epochs": 3,
                "patience": None, "lambda_": 0.5}
    ensemble = DANNClassifier(n_members=3, seed=5, **settings).fit(X, y, species=species)
    for member, m in zip(ensemble.members_, range(3)):
        alone = DANNClassifier(seed=member_seed(5, m), engine="autograd", **settings).fit(X, y, species=species)
        assert same_weights(member, alone.module_), m


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_members_with_their_own_hyperparameters_equal_separate_fits(optimizer):
    """Several trials of one architecture (own seed, learning rate, weight decay, λ) in one stacked network."""
    rng = np.random.default_rng(0)
    n, d = 200, 6
    X = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    y = torch.tensor((rng.normal(size=n) > 0).astype(int))
    is_target = torch.arange(n) % 3 == 0
    source, target = torch.nonzero(~is_target).squeeze(1), torch.nonzero(is_target).squeeze(1)
    seeds, lrs, decays, lambdas = [1, 2, 3], [1e-3, 1e-2, 3e-3], [0.0, 1e-3, 1e-2], [0.1, 1.0, 3.0]

    def train(which):
        modules, dropout_generators, order_generators = [], [], []
        for k in which:
            torch.manual_seed(seeds[k])
            modules.append(DANN(d, 2, (32, 16), "relu", 0.2, (8,), "after"))
            generator = torch.Generator()
            generator.set_state(torch.get_rng_state())
            dropout_generators.append(generator)
            order_generators.append(torch.Generator().manual_seed(seeds[k]))
        net = StackedNetwork([m.features for m in modules], [m.label_head for m in modules],
                             [m.domain_head for m in modules])
        result = train_members(net, X, y, torch.arange(n), batch_size=32, max_epochs=6, optimizer=optimizer,
                               lr=[lrs[k] for k in which], weight_decay=[decays[k] for k in which],
                               order_generators=order_generators, dropout_generators=dropout_generators,
                               domain=DomainBatches(source, target, 16, lambda step, total: [lambdas[k] for k in which]),
                               validation=(X[:50], y[:50]), patience=2)
        for k in range(len(which)):
            net.write_back(k, result["final"][k])
        return modules, result["epochs"]

    together, epochs = train([0, 1, 2])
    for k in range(3):
        (alone,), (alone_epochs,) = train([k])
        assert same_weights(together[k], alone), k
        assert epochs[k] == alone_epochs


def test_a_last_batch_of_a_few_rows_is_trained_as_autograd_trains_it():
    """197 labelled rows in batches of 64 leave a last batch of 5: its products (5 rows x 16 x 3 classes) are
    below the size from which ATen's batched product calls BLAS, so a batch of one member would round them
    differently from the 2-D calls autograd makes; the fused path must make autograd's calls."""
    X, y, species = problem(4, n=197)
    for cls in (FCNNClassifier, DANNClassifier):
        fits = [cls(max_epochs=6, patience=None, seed=1, engine=engine).fit(X, y, species=species)
                for engine in ("fused", "autograd")]
        assert same_weights(fits[0].module_, fits[1].module_), cls.__name__


@pytest.mark.parametrize("rows", [1, 2, 5, 12, 13, 24, 25, 64])
@pytest.mark.parametrize("shape", [(16, 2), (2, 16), (8, 1), (1, 8), (5, 5), (41, 64)])
def test_stacked_products_round_as_each_members_own_2d_product(rows, shape):
    """Each product of a three-member layer equals the member's own ``addmm``/``mm`` (autograd's calls), on
    both sides of ATen's BLAS threshold (16 x 2 x 12 = 384 < 400 <= 16 x 2 x 13) and with a dimension of 1."""
    n_in, n_out = shape
    generator = torch.Generator().manual_seed(rows * 100 + n_in * 10 + n_out)
    modules = [nn.Sequential(nn.Linear(n_in, n_out)) for _ in range(3)]
    for module in modules:
        for parameter in module.parameters():
            parameter.data = torch.randn(parameter.shape, generator=generator)
    layer = StackedNetwork(modules, [nn.Linear(n_out, 2) for _ in range(3)]).layers["trunk"][0]
    x = torch.randn(3, rows, n_in, generator=generator)
    grad = torch.randn(3, rows, n_out, generator=generator)
    weights = [m[0].weight.detach() for m in modules]
    biases = [m[0].bias.detach() for m in modules]
    assert torch.equal(layer.affine(x), torch.stack([torch.addmm(b, xk, w.t()) for b, xk, w in zip(biases, x, weights)]))
    layer.backward_weight(grad, x)
    assert torch.equal(layer.grad_weight, torch.stack([torch.mm(g.t(), xk) for g, xk in zip(grad, x)]))
    assert torch.equal(layer.grad_bias[:, 0], torch.stack([g.sum(0) for g in grad]))
    expected = torch.stack([torch.mm(g, w) for g, w in zip(grad, weights)])
    assert torch.equal(layer.backward_input(grad), expected)
    buffer = torch.zeros(3, rows + 4, n_in)  # as training writes it: into the label rows of a larger buffer
    layer.backward_input(grad, out=buffer[:, :rows])
    assert torch.equal(buffer[:, :rows], expected) and not buffer[:, rows:].any()


def test_two_threads_draw_ahead_without_changing_a_number():
    X, y, species = problem()
    fits = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        fits.append(DANNClassifier(max_epochs=8, seed=0).fit(X, y, species=species))
    assert same_weights(fits[0].module_, fits[1].module_)


def test_engines_are_checked():
    X, y, species = problem()
    with pytest.raises(ValueError, match="engine='fused' needs relu/selu/swish"):
        DANNClassifier(max_epochs=1, activation="tanh", engine="fused").fit(X, y, species=species)
    with pytest.raises(ValueError, match="engine must be one of"):
        FCNNClassifier(max_epochs=1, engine="gpu").fit(X, y)
    with pytest.raises(ValueError, match="n_members must be at least 1"):
        FCNNClassifier(max_epochs=1, n_members=0).fit(X, y)
    with pytest.raises(ValueError, match="patience must be"):
        FCNNClassifier(max_epochs=1, patience=-1).fit(X, y)
    assert DANNClassifier(max_epochs=1, activation="tanh").fit(X, y, species=species).engine_ == "autograd"
    assert FCNNClassifier(max_epochs=1).fit(X, y).engine_ == "fused"
    with pytest.raises(ValueError, match="one dropout rate"):
        model = FCNNClassifier(max_epochs=1, dropout=0.2)
        modules = [model.new_module(7, 3)]
        modules[0][5].p = 0.4  # the second layer's dropout
        net = StackedNetwork([m[:-1] for m in modules], [m[-1] for m in modules])
        train_members(net, torch.zeros(10, 7), torch.zeros(10, dtype=torch.long), torch.arange(10), batch_size=4,
                      max_epochs=1, optimizer="sgd", lr=[0.1], weight_decay=[0.0],
                      order_generators=[torch.Generator()], dropout_generators=[torch.Generator()])


def _subnormal_count(module: nn.Module) -> int:
    tiny = torch.finfo(torch.float32).tiny  # the smallest normal float32
    return sum(int(((p != 0) & (p.abs() < tiny)).sum()) for p in module.state_dict().values() if p.is_floating_point())


def test_a_fit_that_reaches_subnormal_numbers_flushes_them_on_both_engines_alike():
    """Strong weight decay under RMSprop drives weights below the smallest normal float: unflushed (the fit
    without its decorator) some end there; flushed, none does, and the two engines still agree bit for bit."""
    X, y, species = problem()
    settings = {"weight_decay": 0.5, "lr": 0.01, "optimizer": "rmsprop", "max_epochs": 40, "patience": None, "seed": 3}
    unflushed = DANNClassifier(engine="autograd", **settings)
    DANNClassifier.fit.__wrapped__(unflushed, X, y, species=species)
    assert _subnormal_count(unflushed.module_) > 0
    fits = [DANNClassifier(engine=engine, **settings).fit(X, y, species=species) for engine in ("fused", "autograd")]
    assert [_subnormal_count(f.module_) for f in fits] == [0, 0]
    assert same_weights(fits[0].module_, fits[1].module_)
    assert np.array_equal(fits[0].predict_proba(X, species), fits[1].predict_proba(X, species))
