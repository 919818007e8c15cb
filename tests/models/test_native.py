"""The C++ steps of the fused engines (neurotype.models.native, fused_step.cpp) train the network the Python
steps train, bit for bit (FCNN and DANN steps, their dropout draws, LSPIN's epochs); without a compiler the
Python steps train it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurotype.models import fused, native
from neurotype.models import lspin as lspin_module
from neurotype.models.dann import DANNClassifier
from neurotype.models.fcnn import FCNNClassifier
from neurotype.models.lspin import LSPINClassifier

from _network_fixtures import problem, same_weights, validation

CASES = [
    (DANNClassifier, {}),
    (DANNClassifier, {"lambda_": 0.7, "class_weight": "balanced_per_species", "batch_size": 50}),
    (DANNClassifier, {"activation": "selu", "dropout": 0.3, "optimizer": "sgd", "lr": 0.03, "mode": "unsupervised",
                      "weight_decay": 0.01}),
    (DANNClassifier, {"activation": "swish", "optimizer": "rmsprop", "batch_size": 32, "hidden": (64, 32, 16),
                      "weight_decay": 0.01}),
    (DANNClassifier, {"activation": "relu-selu-swish", "dropout": 0.25, "batch_norm": "after", "lambda_": 2.0,
                      "init": "glorot_uniform"}),
    (DANNClassifier, {"dropout": 0.0, "lambda_": "schedule"}),
    (FCNNClassifier, {}),
    (FCNNClassifier, {"species_flag": True, "activation": "selu", "dropout": 0.2, "optimizer": "rmsprop"}),
    (FCNNClassifier, {"batch_norm": "after", "optimizer": "sgd", "lr": 0.05, "class_weight": "balanced",
                      "weight_decay": 1e-3}),
]


def _needs_library():
    if not native.enabled():
        pytest.skip("the C++ steps are switched off (NEUROTYPE_NATIVE=0)")
    assert native.load() is not None, f"the C++ steps did not build: {native.unavailable_reason()}"


def _fit(cls, settings, X, y, species, extra, compiled: bool, monkeypatch):
    monkeypatch.setenv("NEUROTYPE_NATIVE", "1" if compiled else "0")
    return cls(**settings).fit(X, y, species=species, **extra)


@pytest.mark.parametrize("cls, overrides", CASES, ids=lambda v: v.__name__ if isinstance(v, type) else
                         ",".join(f"{k}={val}" for k, val in v.items()) or "defaults")
@pytest.mark.parametrize("early_stopping", [False, True])
def test_the_compiled_steps_train_the_network_the_python_steps_train(cls, overrides, early_stopping, monkeypatch):
    _needs_library()
    X, y, species = problem(5, n=203)  # a last, shorter batch every epoch
    extra = validation(X, y, species) if early_stopping else {}
    settings = {"max_epochs": 9, "patience": 3, "seed": 7, **overrides}
    calls = []
    original = fused._NativeSteps.epoch
    monkeypatch.setattr(fused._NativeSteps, "epoch", lambda self, *a: calls.append(1) or original(self, *a))
    python = _fit(cls, settings, X, y, species, extra, False, monkeypatch)
    generator_after_python = torch.get_rng_state()
    assert not calls
    compiled = _fit(cls, settings, X, y, species, extra, True, monkeypatch)
    # the default generator (dropout) is left where the Python steps leave it
    assert torch.equal(torch.get_rng_state(), generator_after_python)
    assert len(calls) == compiled.n_epochs_, "every epoch's steps should run in C++"
    assert python.engine_ == compiled.engine_ == "fused"
    assert same_weights(python.module_, compiled.module_)  # batch normalisation's statistics included
    assert np.array_equal(python.predict_proba(X, species), compiled.predict_proba(X, species))
    assert python.n_epochs_ == compiled.n_epochs_ and python.history_ == compiled.history_


@pytest.mark.parametrize("count, drop, plain", [(5000, 0.1, True), (1001, 0.5, False), (77, 0.77, True),
                                               (640, 0.3, False)])
def test_the_compiled_dropout_draws_are_the_python_ones(count, drop, plain):
    """Multipliers (plain dropout) or keep masks, for two members, and each generator left where
    dropout_draws leaves it; three epochs in a row."""
    _needs_library()
    library = native.load()
    compiled = [torch.Generator().manual_seed(seed) for seed in (3, 10_010)]
    python = [torch.Generator().manual_seed(seed) for seed in (3, 10_010)]
    for _ in range(3):
        got = library.dropout_multipliers(compiled, count, fused.keep_threshold(drop), drop, plain)
        keep = fused.keep_mask(fused.dropout_draws(python, count), drop)
        assert torch.equal(got, fused.dropout_multiplier(keep, drop, False) if plain else keep)
        assert all(torch.equal(a.get_state(), b.get_state()) for a, b in zip(compiled, python))
    assert 0.2 < float((got > 0).float().mean()) / (1 - drop) < 5  # not all dropped, not all kept


LSPIN_CASES = [{}, {"batch_norm": True, "init": "truncated_normal"}, {"n_members": 3},
               {"activation": "relu", "weight_decay": 1e-3, "lambda2": 0.5, "class_weight": "balanced"},
               {"batch_norm": True, "n_members": 2, "sigma": 0.8}]


@pytest.mark.parametrize("overrides", LSPIN_CASES, ids=lambda o: ",".join(o) or "defaults")
def test_the_compiled_lspin_epochs_train_the_lspin_the_python_epochs_train(overrides, monkeypatch):
    """Weights, batch-normalisation statistics, gates and the pruning hook's reports (every 100 epochs),
    with the C++ epochs and with the Python ones."""
    _needs_library()
    X, y, _ = problem(8, n=150)
    X = np.nan_to_num(X)
    fits, reports, used = [], [], []
    original = lspin_module._compiled_epochs
    monkeypatch.setattr(lspin_module, "_compiled_epochs", lambda *a: used.append(original(*a)) or used[-1])
    for compiled in (False, True):
        monkeypatch.setenv("NEUROTYPE_NATIVE", "1" if compiled else "0")
        seen = []
        model = LSPINClassifier(epochs=250, seed=4, **overrides)
        model.set_pruning_callback(lambda step, value: seen.append((step, value)), X[:40], y[:40])
        fits.append(model.fit(X, y))
        reports.append(seen)
    for python, compiled in zip(fits[0].fitted_members, fits[1].fitted_members):
        assert same_weights(python, compiled)
    assert np.array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    assert np.array_equal(fits[0].gates(X), fits[1].gates(X))
    assert reports[0] == reports[1] and [step for step, _ in reports[1]] == [100, 200]
    assert used[0] is None and used[1] is not None, "the second fit should run its epochs in C++"


def test_several_members_keep_the_python_steps(monkeypatch):
    """The C++ steps cover one member; a stacked ensemble trains in Python (and equals separate fits,
    test_fused.py)."""
    _needs_library()
    calls = []
    monkeypatch.setattr(fused._NativeSteps, "epoch", lambda self, *a: calls.append(1))
    X, y, species = problem(6)
    DANNClassifier(n_members=2, max_epochs=3, patience=None).fit(X, y, species=species)
    assert not calls


def test_the_library_name_follows_its_source(tmp_path, monkeypatch):
    """A changed source is a new library (the environment's old one is never loaded for it)."""
    before = native.library_path()
    changed = tmp_path / "fused_step.cpp"
    changed.write_text(native.SOURCE.read_text() + "\n// changed\n")
    monkeypatch.setattr(native, "SOURCE", changed)
    assert native.library_path() != before and native.library_path().parent == before.parent


def test_without_a_compiler_the_python_steps_train(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROTYPE_NATIVE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    for name, value in (("_tried", False), ("_loaded", None), ("_reason", None)):
        monkeypatch.setattr(native, name, value)
    with pytest.raises(RuntimeError, match="cannot run the C.. compiler") as error:
        native.build()
    assert "\n" not in str(error.value)
    assert native.load() is None
    assert "compiler" in native.unavailable_reason() and "\n" not in native.unavailable_reason()
    assert not list(tmp_path.glob("*.so")), "a failed build must leave no library behind"
    X, y, species = problem(7)
    fit = DANNClassifier(max_epochs=2, patience=None).fit(X, y, species=species)
    assert fit.engine_ == "fused" and fit.n_epochs_ == 2


def test_a_compile_error_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROTYPE_NATIVE_DIR", str(tmp_path))
    broken = tmp_path / "fused_step.cpp"
    broken.write_text("this is not C++;\n")
    monkeypatch.setattr(native, "SOURCE", broken)
    with pytest.raises(RuntimeError, match=r"compiling fused_step.cpp failed: .*error") as error:
        native.build()
    assert "\n" not in str(error.value)
    assert not list(tmp_path.glob("*.so")) and not list(tmp_path.glob(".*.so"))
    # the next process does not compile again: it reads the reason; make env (retry) compiles again
    compiled = []
    monkeypatch.setattr(native, "_compile", lambda target: compiled.append(target))
    with pytest.raises(RuntimeError, match=r"compiling fused_step.cpp failed: .*an earlier build") as again:
        native.build()
    assert "\n" not in str(again.value) and not compiled
    native.build(retry=True)
    assert compiled == [native.library_path()]


def test_switched_off_means_not_loaded(monkeypatch):
    """NEUROTYPE_NATIVE=0 wins even after the library loaded in this process."""
    _needs_library()
    monkeypatch.setenv("NEUROTYPE_NATIVE", "0")
    assert native.load() is None and "NEUROTYPE_NATIVE=0" in native.unavailable_reason()
