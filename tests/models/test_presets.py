"""The reference-faithful presets (``*_paper``) are built as the paper's code builds them, search the paper's
grid, and leave the improved variants (``fcnn``, ``dann``, ``lspin``, ``gated_dann``) as they were."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
import torch
from scipy.stats import truncnorm
from torch import nn

from neurotype.models.base import initialise
from neurotype.models.lspin import LSPIN
from neurotype.models.neural import PAPER_ACTIVATIONS, PAPER_ARCHITECTURES, parse_architecture
from neurotype.models.registry import MODELS, REFERENCE_NETWORKS, get_model


def small_problem(n: int = 150, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = np.where(X[:, 0] > 0, "spiny", "aspiny")
    species = np.where(np.arange(n) % 3 == 0, "human", "mouse")
    return X, y, species


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def test_registry_keeps_both_variants():
    assert {spec.name for spec in REFERENCE_NETWORKS} == {"fcnn_reference", "dann_reference", "lspin_reference"}
    assert {"fcnn", "dann", "lspin", "gated_dann", "fcnn_reference", "dann_reference", "lspin_reference"} <= set(MODELS)
    # the improved variants keep PyTorch's initialisation and no batch normalisation
    X, y, species = small_problem()
    for name, overrides in {"fcnn": {"max_epochs": 1}, "dann": {"max_epochs": 1}, "lspin": {"epochs": 1},
                            "gated_dann": {"max_epochs": 1}}.items():
        model = get_model(name).make(overrides, seed=0).fit(X, y, species=species)
        assert not [m for m in model.module_.modules() if isinstance(m, nn.BatchNorm1d)], name
        assert model.get_params().get("init", "torch") == "torch", name


def test_lspin_paper_is_the_reference_model_with_the_papers_settings():
    """Section 3.2: prediction 40-20, gating 50-50-50, tanh, λ1 = 0.01047, λ2 = 0, σ = 0.5, 1000 epochs,
    learning rate 0.0599, SGD; the reference lspin_model.Model: batch normalisation before every hidden
    prediction layer, truncated-normal weights (σ = 0.1) in both networks, zero biases."""
    model = get_model("lspin_reference").make(seed=0)
    params = model.get_params()
    assert (params["hidden"], params["gate_hidden"], params["activation"]) == ((40, 20), (50, 50, 50), "tanh")
    assert (params["lambda1"], params["lambda2"], params["sigma"]) == (0.01047, 0.0, 0.5)
    assert (params["epochs"], params["lr"], params["optimizer"], params["batch_size"]) == (1000, 0.0599, "sgd", None)
    X, y, _ = small_problem()
    fitted = get_model("lspin_reference").make({"epochs": 2}, seed=0).fit(X, y)
    kinds = [type(layer).__name__ for layer in fitted.module_.predictor]
    assert kinds == ["BatchNorm1d", "Linear", "Tanh", "BatchNorm1d", "Linear", "Tanh", "Linear"]
    assert [layer.num_features for layer in fitted.module_.predictor if isinstance(layer, nn.BatchNorm1d)] == [6, 40]
    assert not [m for m in fitted.module_.gate_net.modules() if isinstance(m, nn.BatchNorm1d)]
    # TensorFlow's batch normalisation defaults: moving-average momentum 0.99 (PyTorch counts 1 - 0.99), eps 1e-3
    bn = fitted.module_.predictor[0]
    assert bn.eps == pytest.approx(1e-3) and bn.momentum == pytest.approx(0.01)


def test_truncated_normal_initialisation_has_the_reference_statistics():
    """TensorFlow's truncated_normal_initializer(stddev=0.1): N(0, 0.1^2) with draws beyond 2σ redrawn. Its
    standard deviation is 0.1 · sd of a standard normal truncated to [-2, 2] (scipy: 0.8796), not 0.1."""
    torch.manual_seed(3)
    net = initialise(LSPIN(200, 5, gate_hidden=(300, 300), hidden=(300, 300), batch_norm=True), "truncated_normal")
    weights = torch.cat([layer.weight.detach().reshape(-1) for layer in linears(net)])
    assert weights.numel() > 300_000
    assert weights.abs().max() <= 0.2
    assert float(weights.mean()) == pytest.approx(0.0, abs=1e-3)
    assert float(weights.std()) == pytest.approx(0.1 * truncnorm.std(-2, 2), rel=0.01)
    # share beyond one σ: 2 (Φ(2) - Φ(1)) / (2Φ(2) - 1), from the normal table (0.3173 - 0.0455) / 0.9545
    assert float((weights.abs() > 0.1).float().mean()) == pytest.approx((0.3173 - 0.0455) / 0.9545, abs=0.005)
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in linears(net))


def test_glorot_uniform_initialisation_is_kerass_default():
    torch.manual_seed(0)
    model = get_model("dann_reference").make({"architecture": "256-128-64-32-16"}, seed=0)
    net = initialise(model.new_module(41, 2), model.init)
    for layer in linears(net):
        fan_out, fan_in = layer.weight.shape
        limit = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= limit
        assert float(layer.weight.detach().std()) == pytest.approx(limit / math.sqrt(3), rel=0.2 if layer.weight.numel() < 100
                                                          else 0.06)
        assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize("name", ["fcnn_reference", "dann_reference"])
def test_paper_networks_normalise_every_feature_layer(name):
    X, y, species = small_problem()
    model = get_model(name).make({"architecture": "64-32-16-8", "activation": "relu-selu-swish-relu",
                                  "max_epochs": 2, "dropout": 0.2}, seed=0)
    model.fit(X, y, species=species)
    features = model.module_.features if name == "dann_reference" else model.module_[:-1]
    kinds = [type(layer).__name__ for layer in features]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "BatchNorm1d", "SELU", "AlphaDropout",
                     "Linear", "BatchNorm1d", "SiLU", "Dropout", "Linear", "BatchNorm1d", "ReLU", "Dropout"]
    assert model.patience is None and model.n_epochs_ == 2  # every epoch runs
    if name == "dann_reference":
        assert model.lambda_ == 1.0  # a constant λ (the paper's update rules), not Ganin's schedule


@pytest.mark.parametrize("name", ["fcnn_reference", "dann_reference"])
def test_paper_search_space_is_the_papers_grid(name):
    """Section 2.2: weight decay 1e-4 to 1, six architectures, relu/selu/swish in each layer, learning
    rate 1e-3 to 0.2, dropout 0 to 0.5, batch 32 or 64, 500/1000/1500/2000 epochs, SGD/RMSprop/Adam; λ in
    [0.1, 5] (issue 14)."""
    spec = get_model(name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {"architecture": set(), "activation": set(), "optimizer": set(), "batch_size": set(), "max_epochs": set()}
    for _ in range(300):
        trial = study.ask()
        params = spec.params(spec.search_space(trial))
        study.tell(trial, 0.0)
        assert params["architecture"] in PAPER_ARCHITECTURES
        activations = params["activation"].split("-")
        assert len(activations) == len(parse_architecture(params["architecture"]))
        assert set(activations) <= set(PAPER_ACTIVATIONS)
        assert 1e-4 <= params["weight_decay"] <= 1.0 and 1e-3 <= params["lr"] <= 0.2
        assert 0.0 <= params["dropout"] <= 0.5
        if name == "dann_reference":
            assert 0.1 <= params["lambda_"] <= 5.0
        for key in ("architecture", "optimizer", "batch_size", "max_epochs"):
            seen[key].add(params[key])
        seen["activation"].update(activations)
    assert len(PAPER_ARCHITECTURES) == 6 and seen["architecture"] == set(PAPER_ARCHITECTURES)
    assert seen["optimizer"] == {"sgd", "rmsprop", "adam"} and seen["batch_size"] == {32, 64}
    assert seen["max_epochs"] == {500, 1000, 1500, 2000} and seen["activation"] == set(PAPER_ACTIVATIONS)
    assert {"100-50-25", "64-32-16-8", "256-128-64-32-16"} <= set(PAPER_ARCHITECTURES)


def test_lspin_paper_search_space_brackets_the_published_values():
    spec = get_model("lspin_reference")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    lambdas, rates = [], []
    for _ in range(200):
        trial = study.ask()
        params = spec.params(spec.search_space(trial))
        study.tell(trial, 0.0)
        lambdas.append(params["lambda1"])
        rates.append(params["lr"])
        assert (params["architecture"], params["gate_architecture"]) == ("40-20", "50-50-50")
        assert (params["epochs"], params["sigma"], params["lambda2"], params["batch_norm"]) == (1000, 0.5, 0.0, True)
    assert min(lambdas) < 0.01047 < max(lambdas) and min(rates) < 0.0599 < max(rates)


@pytest.mark.parametrize("name, overrides", [("fcnn_reference", {"max_epochs": 3}), ("dann_reference", {"max_epochs": 3}),
                                             ("lspin_reference", {"epochs": 30})])
def test_paper_presets_same_seed_same_predictions(name, overrides):
    X, y, species = small_problem()
    spec = get_model(name)
    first = spec.make(overrides, seed=7).fit(X, y, species=species).predict_proba(X, species=species)
    again = spec.make(overrides, seed=7).fit(X, y, species=species).predict_proba(X, species=species)
    other = spec.make(overrides, seed=8).fit(X, y, species=species).predict_proba(X, species=species)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other, atol=1e-4)


# --- where every search starts ---------------------------------------------------------------------

def _all_specs():
    """Every registered model and the chapters' own (chapter 04's logistic regression with scaling choices)."""
    from neurotype.experiments.transfer import LOGREG_SCALING
    from neurotype.models.registry import MODELS

    return {**MODELS, LOGREG_SCALING.name: LOGREG_SCALING}


#: Defaults that lie outside their search space, so the start holds the space's nearest value instead.
OUTSIDE_THE_SPACE = {"fcnn": {"max_epochs"}, "dann": {"max_epochs", "lambda_"}, "gated_dann": {"max_epochs", "lambda_"},
                     "svc": {"gamma"}, "rf": {"max_depth", "max_features"}}


@pytest.mark.parametrize("name", sorted(_all_specs()))
def test_every_search_starts_at_the_defaults_inside_its_space(name):
    """The start is one point of the search space (Optuna warns, here an error, for a value outside it)
    naming every searched parameter; where a default is a point of the space, the start is that default."""
    import warnings

    spec = _all_specs()[name]
    assert spec.search_start is not None, f"{name}: no search_start"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(dict(spec.search_start))
    trial = study.ask()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec.search_space(trial)
    assert trial.params == dict(spec.search_start)
    differing = set()
    for key, distribution in trial.distributions.items():
        default_key = "activation" if key.startswith("activation_") else key
        default = spec.defaults[default_key]
        try:
            inside = distribution._contains(distribution.to_internal_repr(default))
        except (ValueError, TypeError):
            inside = False
        if inside:
            assert spec.search_start[key] == default, (name, key)
        else:
            differing.add(key)
    assert differing == OUTSIDE_THE_SPACE.get(name, set())
