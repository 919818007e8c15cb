"""LSPIN does what Yang et al. (2022) say: local gates, sparsity from lambda1, two equal training paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurotype.models.gated_dann import GatedDANNClassifier
from neurotype.models.lspin import LSPINClassifier
from neurotype.models.lspin import LSPIN, member_seed


def local_task(n: int = 600, d: int = 8, seed: int = 0):
    """Feature 0 tells the group; group 0's label is the sign of feature 1, group 1's of feature 2."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    group = rng.integers(0, 2, n)
    X[:, 0] = np.where(group == 1, 2.0, -2.0) + 0.3 * rng.normal(size=n)
    informative = np.where(group == 1, 2, 1)
    y = (X[np.arange(n), informative] > 0).astype(int)
    return X, y, group


@pytest.fixture(scope="module")
def local():
    return local_task()


def test_lspin_opens_each_samples_own_features(local):
    X, y, group = local
    model = LSPINClassifier(epochs=1200, lr=0.3, lambda1=0.1, seed=0).fit(X, y)
    assert (model.predict(X) == y).mean() > 0.95
    gates = model.gates(X)
    for g, own, other in ((0, 1, 2), (1, 2, 1)):
        mean = gates[group == g].mean(0)
        noise = np.delete(mean, [0, own, other])
        assert mean[own] > mean[other] + 0.5, (g, mean)
        assert mean[own] > noise.max() + 0.5, (g, mean)


def test_raising_lambda1_closes_gates(local):
    X, y, _ = local
    open_share = [LSPINClassifier(epochs=600, lr=0.3, lambda1=lam, seed=0).fit(X, y).gates(X).mean()
                  for lam in (0.003, 0.1, 1.0)]
    assert open_share[0] > open_share[1] > open_share[2], open_share
    assert open_share[2] < 0.05


@pytest.mark.parametrize("overrides", [{}, {"class_weight": "balanced", "weight_decay": 1e-3},
                                       {"lambda2": 0.5, "lambda1": 0.3, "sigma": 0.3}, {"activation": "relu"},
                                       {"batch_norm": True, "init": "truncated_normal"},
                                       {"batch_norm": True, "lambda2": 0.5, "class_weight": "balanced",
                                        "weight_decay": 1e-3}])
def test_fused_training_equals_autograd(local, overrides):
    X, y, _ = local
    fused = LSPINClassifier(epochs=60, lr=0.2, engine="fused", seed=4, **overrides).fit(X, y)
    plain = LSPINClassifier(epochs=60, lr=0.2, engine="autograd", seed=4, **overrides).fit(X, y)
    assert fused.engine_ == "fused" and plain.engine_ == "autograd"
    for a, b in zip(fused.module_.parameters(), plain.module_.parameters()):
        assert torch.allclose(a, b, atol=2e-5), (a - b).abs().max()
    assert np.allclose(fused.predict_proba(X), plain.predict_proba(X), atol=1e-5)
    assert np.allclose(fused.gates(X), plain.gates(X), atol=1e-5)
    # ... and differs from an untrained or differently seeded model (the comparison can fail)
    other = LSPINClassifier(epochs=60, lr=0.2, engine="fused", seed=5, **overrides).fit(X, y)
    assert not np.allclose(fused.predict_proba(X), other.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("overrides", [{}, {"batch_norm": True, "init": "truncated_normal"}])
def test_batched_members_equal_separate_fits(local, overrides):
    X, y, _ = local
    ensemble = LSPINClassifier(epochs=40, lr=0.2, n_members=3, seed=2, **overrides).fit(X, y)
    gates = ensemble.member_gates(X)
    assert gates.shape == (3, len(X), X.shape[1])
    for m in range(3):
        alone = LSPINClassifier(epochs=40, lr=0.2, seed=member_seed(2, m), **overrides).fit(X, y)
        assert np.allclose(gates[m], alone.gates(X), atol=1e-5)
        for a, b in zip(ensemble.members_[m].state_dict().values(), alone.module_.state_dict().values()):
            assert torch.allclose(a.float(), b.float(), atol=1e-5)
    singles = [LSPINClassifier(epochs=40, lr=0.2, seed=member_seed(2, m), **overrides).fit(X, y).predict_proba(X)
               for m in range(3)]
    assert np.allclose(ensemble.predict_proba(X), np.mean(singles, axis=0), atol=1e-5)
    assert np.allclose(ensemble.gates(X), gates.mean(0))


@pytest.mark.parametrize("overrides", [{}, {"batch_norm": True, "init": "truncated_normal"}])
def test_first_member_is_the_single_model_bit_for_bit_on_one_thread(local, overrides):
    """On one thread an ensemble's member 0 is exactly the LSPIN that n_members=1 fits (what lets a
    chapter's single LSPIN be read off its seed ensemble instead of being fitted twice)."""
    X, y, _ = local  # on one thread: the autouse fixture one_thread (tests/models/conftest.py)
    ensemble = LSPINClassifier(epochs=40, lr=0.2, n_members=3, seed=2, **overrides).fit(X, y)
    alone = LSPINClassifier(epochs=40, lr=0.2, seed=2, **overrides).fit(X, y)
    first = ensemble.first_member()
    assert first.n_members == 1 and len(first.fitted_members) == 1 and ensemble.n_members == 3
    for a, b in zip(first.module_.state_dict().values(), alone.module_.state_dict().values()):
        assert torch.equal(a, b)
    assert np.array_equal(first.predict_proba(X), alone.predict_proba(X))
    assert np.array_equal(first.predict(X), alone.predict(X))
    # ... and member 0 alone is not the ensemble (the comparison can fail)
    assert not np.allclose(ensemble.predict_proba(X), alone.predict_proba(X), atol=1e-4)
    with pytest.raises(ValueError, match="not fitted yet"):
        LSPINClassifier(n_members=2).first_member()


def test_fused_path_rejects_what_it_cannot_train(local):
    X, y, _ = local
    with pytest.raises(ValueError, match="engine='fused' needs optimizer='sgd'"):
        LSPINClassifier(epochs=2, optimizer="adam", engine="fused").fit(X, y)
    with pytest.raises(ValueError, match="engine must be one of"):
        LSPINClassifier(epochs=2, engine="gpu").fit(X, y)
    with pytest.raises(ValueError, match="n_members must be at least 1, got 0"):
        LSPINClassifier(epochs=2, n_members=0).fit(X, y)
    with pytest.raises(ValueError, match="sigma must be positive, got -0.1"):
        LSPIN(3, 2, sigma=-0.1)
    assert LSPINClassifier(epochs=2, optimizer="adam").fit(X, y).engine_ == "autograd"
    assert LSPINClassifier(epochs=2, batch_size=64).fit(X, y).engine_ == "autograd"


def test_same_seed_same_metrics(subclass_paper41):
    from neurotype.protocol.evaluation import evaluate

    task = subclass_paper41
    runs = [evaluate(task, "lspin", n_folds=3, n_repeats=1, seed=1, params={"epochs": 30}) for _ in range(2)]
    assert runs[0].metrics == runs[1].metrics
    assert runs[0].predictions == runs[1].predictions
    shifted = evaluate(task, "lspin", n_folds=3, n_repeats=1, seed=2, params={"epochs": 30})
    assert shifted.predictions != runs[0].predictions


def test_gated_dann_gates_and_determinism():
    rng = np.random.default_rng(0)
    n = 160
    X = rng.normal(size=(n, 6))
    y = np.where(X[:, 0] > 0, "spiny", "aspiny")
    species = np.where(np.arange(n) % 3 == 0, "human", "mouse")
    X[species == "human"] += 0.5
    make = lambda: GatedDANNClassifier(max_epochs=30, lambda1=0.05, seed=1)  # noqa: E731
    a, b = make().fit(X, y, species=species), make().fit(X, y, species=species)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert (a.predict(X) == y).mean() > 0.85
    gates = a.gates(X)
    with torch.no_grad():
        mu = a.module_.gate_net(a._tensor(X)).numpy()
    assert np.array_equal(gates, np.clip(0.5 + mu, 0, 1))
    with pytest.raises(ValueError, match="needs species"):
        make().fit(X, y)
    with pytest.raises(ValueError, match="neither source"):
        make().fit(X, y, species=np.full(n, "rat"))


def test_lspin_and_gated_dann_are_registered(local):
    from neurotype.models.registry import get_model
    from neurotype.models.neural import LSPIN_PRESETS

    X, y, _ = local
    assert get_model("lspin").make().get_params()["lambda1"] == 0.01047
    assert set(LSPIN_PRESETS) >= {"paper", "tuned"}
    species = np.where(np.arange(len(y)) % 4 == 0, "human", "mouse")
    model = get_model("gated_dann").make({"max_epochs": 3}, seed=0)
    assert set(model.fit(X, y, species=species).predict(X, species=species)) <= {0, 1}


def test_gated_dann_shares_the_dann_checks():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 4))
    y = np.where(X[:, 0] > 0, "spiny", "aspiny")
    species = np.where(np.arange(40) % 2 == 0, "human", "mouse")
    assert GatedDANNClassifier(max_epochs=0).fit(X, y, species=species).predict(X).shape == (40,)
    with pytest.raises(ValueError, match="needs species_val"):
        GatedDANNClassifier(max_epochs=1, mode="unsupervised").fit(X, y, species=species, X_val=X, y_val=y)
    with pytest.raises(ValueError, match="lambda_ must be a number >= 0 or 'schedule'"):
        GatedDANNClassifier(lambda_="ramp").fit(X, y, species=species)


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("overrides", [{}, {"batch_norm": True, "init": "truncated_normal", "n_members": 2}])
def test_the_pruning_hook_reads_the_validation_loss_and_changes_nothing(local, engine, overrides):
    X, y, _ = local
    fit, val = slice(0, 450), slice(450, None)
    plain = LSPINClassifier(epochs=250, lr=0.2, engine=engine, seed=2, **overrides).fit(X[fit], y[fit])
    reports = []
    watched = LSPINClassifier(epochs=250, lr=0.2, engine=engine, seed=2, **overrides)
    watched.set_pruning_callback(lambda step, value: reports.append((step, value)), X_val=X[val], y_val=y[val])
    watched.fit(X[fit], y[fit])
    assert np.array_equal(watched.predict_proba(X), plain.predict_proba(X))  # the hook reads, never writes
    assert [step for step, _ in reports] == [100, 200]  # every 100 epochs, not after the last
    # The value at 200 epochs is minus the validation loss of a model trained for exactly 200 epochs.
    # (the fused path trains an ensemble's members together and reports their mean; the autograd
    # path trains them one after the other and reports the first)
    short = LSPINClassifier(epochs=200, lr=0.2, engine=engine, seed=2, **overrides).fit(X[fit], y[fit])
    if engine == "autograd":
        short.members_ = short.members_[:1]
    probabilities = short.predict_proba(X[val])
    loss = -np.mean(np.log(probabilities[np.arange(len(probabilities)), y[val]]))
    assert reports[1][1] == pytest.approx(-loss, rel=1e-5)

    def prune(step, value):
        raise RuntimeError(f"pruned at {step}")

    watched.set_pruning_callback(prune, X_val=X[val], y_val=y[val])
    with pytest.raises(RuntimeError, match="pruned at 100"):
        watched.fit(X[fit], y[fit])
