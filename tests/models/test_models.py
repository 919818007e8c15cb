"""The networks do what their papers say: gradient reversal, LSPIN gates and penalty, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from neurotype.models.dann import DANNClassifier
from neurotype.models.fcnn import FCNNClassifier
from neurotype.models.lspin import LSPINClassifier
from neurotype.models.dann import ganin_lambda, grad_reverse
from neurotype.models.lspin import LSPIN, expected_open_gates


@pytest.fixture()
def two_domains():
    """A small separable problem with a shifted target domain."""
    rng = np.random.default_rng(0)
    n = 120
    X = rng.normal(size=(n, 6))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] > 0, "b", "a")
    species = np.where(np.arange(n) % 3 == 0, "human", "mouse")
    X[species == "human"] += 0.7
    return X, y, species


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 2.5])
def test_gradient_reversal_multiplies_the_gradient_by_minus_lambda(lam):
    x = torch.randn(5, 3, requires_grad=True)
    upstream = torch.randn(5, 3)
    (grad_reverse(x, lam) * upstream).sum().backward()
    assert torch.equal(x.grad, -lam * upstream)
    assert torch.equal(grad_reverse(x, lam), x)


def test_ganin_schedule():
    assert ganin_lambda(0.0) == 0.0
    assert ganin_lambda(1.0) == pytest.approx(2 / (1 + np.exp(-10)) - 1)
    assert 0 < ganin_lambda(0.1) < ganin_lambda(0.5) < 1


def test_lspin_inference_gates_are_clipped_mu_and_deterministic():
    net = LSPIN(7, 3, sigma=0.5).eval()
    x = torch.randn(11, 7)
    expected = torch.clamp(0.5 + net.mu(x), 0, 1)
    assert torch.equal(net.gates(x), expected)
    assert torch.equal(net.gates(x), net.gates(x))
    _, z, _ = net(x)
    assert torch.equal(z, expected)
    net.train()
    assert not torch.equal(net.gates(x), expected)  # training gates are noisy


def test_lspin_penalty_is_the_normal_cdf():
    mu = torch.linspace(-2, 2, 41, dtype=torch.float64)
    for sigma in (0.25, 0.5, 1.0):
        assert np.allclose(expected_open_gates(mu, sigma).numpy(), norm.cdf((mu.numpy() + 0.5) / sigma), atol=1e-12)


def test_same_seed_same_predictions(two_domains):
    X, y, species = two_domains
    for make in (lambda: FCNNClassifier(max_epochs=20, seed=3), lambda: LSPINClassifier(epochs=50, seed=3),
                 lambda: DANNClassifier(max_epochs=10, seed=3)):
        a = make().fit(X, y, species=species).predict_proba(X, species=species)
        b = make().fit(X, y, species=species).predict_proba(X, species=species)
        assert np.array_equal(a, b)


def test_dann_batches_contain_target_cells_and_unsupervised_ignores_target_labels(two_domains):
    X, y, species = two_domains
    model = DANNClassifier(mode="unsupervised", max_epochs=5, seed=0).fit(X, y, species=species)
    assert model.target_cells_seen_ > 0
    shuffled = y.copy()
    human = species == "human"
    shuffled[human] = np.where(y[human] == "a", "b", "a")  # flip every human label
    flipped = DANNClassifier(mode="unsupervised", max_epochs=5, seed=0).fit(X, shuffled, species=species)
    assert np.array_equal(model.predict_proba(X), flipped.predict_proba(X))
    semi = DANNClassifier(mode="semi", max_epochs=5, seed=0).fit(X, shuffled, species=species)
    assert not np.array_equal(model.predict_proba(X), semi.predict_proba(X))


def test_models_learn_an_easy_problem(two_domains):
    X, y, species = two_domains
    for model in (FCNNClassifier(max_epochs=60), LSPINClassifier(epochs=300, lr=0.2), DANNClassifier(max_epochs=40)):
        accuracy = (model.fit(X, y, species=species).predict(X, species=species) == y).mean()
        assert accuracy > 0.85, type(model).__name__


def test_bad_arguments_are_named(two_domains):
    X, y, species = two_domains
    with pytest.raises(ValueError, match="needs species"):
        DANNClassifier().fit(X, y)
    with pytest.raises(ValueError, match="neither source"):
        DANNClassifier().fit(X, y, species=np.full(len(y), "rat"))
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'"):
        FCNNClassifier(optimizer="adamw").fit(X, y)
    with pytest.raises(ValueError, match="species_flag=True needs species"):
        FCNNClassifier(species_flag=True).fit(X, y)


def test_neural_models_are_registered_and_build_from_their_specs(two_domains):
    from neurotype.models.registry import get_model
    from neurotype.models.neural import parse_architecture

    assert parse_architecture("64-32-16") == (64, 32, 16)
    with pytest.raises(ValueError, match="widths joined by '-'"):
        parse_architecture("64x32")
    X, y, species = two_domains
    codes = (y == "b").astype(int)
    for name, overrides in {"fcnn": {"max_epochs": 5}, "dann": {"max_epochs": 5, "lambda_": 0.3},
                            "lspin": {"epochs": 20}}.items():
        model = get_model(name).make(overrides, seed=1)
        assert set(model.fit(X, codes, species=species).predict(X, species=species)) <= {0, 1}
    assert get_model("lspin").make().get_params()["lambda1"] == 0.01047


def test_every_network_trains_with_subnormals_flushed_and_restores_the_mode(two_domains, monkeypatch):
    """Inside ``fit`` subnormal floats are zero (probe: a float32 of 1e-39 reads 0); outside, the caller's
    mode holds again, also after a fit that failed."""
    from neurotype.models import base
    from neurotype.models.gated_dann import GatedDANNClassifier

    X, y, species = two_domains
    seen = []
    prepare = base.TorchClassifier._prepare_fit

    def recording(self, *args, **kwargs):
        seen.append((type(self).__name__, torch.full((1,), 1e-39).item() == 0.0))
        return prepare(self, *args, **kwargs)

    monkeypatch.setattr(base.TorchClassifier, "_prepare_fit", recording)
    models = (FCNNClassifier(max_epochs=2), LSPINClassifier(epochs=5), DANNClassifier(max_epochs=2),
              GatedDANNClassifier(max_epochs=2))
    for model in models:
        model.fit(X, y, species=species)
    assert seen == [(type(m).__name__, True) for m in models]
    assert torch.full((1,), 1e-39).item() != 0.0  # the process default again
    with pytest.raises(ValueError, match="both domains"):
        DANNClassifier(max_epochs=2).fit(X, y, species=np.full(len(y), "mouse"))
    assert torch.full((1,), 1e-39).item() != 0.0
    torch.set_flush_denormal(True)  # a caller who flushes keeps flushing
    try:
        FCNNClassifier(max_epochs=2).fit(X, y)
        assert base.subnormals_flushed()
    finally:
        torch.set_flush_denormal(False)
