"""The tree ensembles report to the pruner while they grow, and still end as the model an unobserved fit gives."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from neurotype.models.baselines import BOOSTING_STAGE, FOREST_STAGE
from neurotype.models.registry import get_model


@pytest.fixture(scope="module")
def three_classes():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 260)
    X = rng.normal(size=(260, 6)) + y[:, None] * np.array([0.8, -0.5, 0.3, 0.0, 0.0, 0.2])
    species = np.where(rng.random(260) < 0.3, "human", "mouse")
    return X[:200], y[:200], species[:200], X[200:], y[200:], species[200:]


def _make(name: str, **params):
    spec = get_model(name)
    return spec.make({**spec.defaults, **params}, seed=2)


#: Trees or rounds between two reports of each tree ensemble.
STAGE = {"rf": FOREST_STAGE, "xgb": BOOSTING_STAGE}

CASES = [("rf", {"n_estimators": 300, "class_weight": "balanced_subsample", "max_features": 0.5}),
         ("rf", {"n_estimators": 200, "class_weight": "balanced", "species_flag": True}),
         ("xgb", {"n_estimators": 200, "subsample": 0.7}),
         ("xgb", {"n_estimators": 150, "species_flag": True})]


@pytest.mark.parametrize("name, params", CASES)
def test_a_reporting_fit_ends_as_the_unobserved_fit_and_reports_each_stages_loss(three_classes, name, params):
    X, y, s, Xv, yv, sv = three_classes
    plain = _make(name, **params).fit(X, y, species=s)
    reported: list[tuple[int, float]] = []
    watched = _make(name, **params)
    watched.set_pruning_callback(lambda step, value: reported.append((step, value)), X_val=Xv, y_val=yv, species_val=sv)
    watched.fit(X, y, species=s)
    assert np.array_equal(plain.predict_proba(Xv, species=sv), watched.predict_proba(Xv, species=sv))

    steps = list(range(STAGE[name], params["n_estimators"], STAGE[name]))  # every stage but the whole model
    assert [step for step, _ in reported] == steps
    for step, value in reported:  # the loss of a smaller model fitted on its own, computed by sklearn
        smaller = _make(name, **{**params, "n_estimators": step}).fit(X, y, species=s)
        assert value == pytest.approx(-log_loss(yv, smaller.predict_proba(Xv, species=sv), labels=[0, 1, 2]),
                                      rel=1e-6)


@pytest.mark.parametrize("name", ["rf", "xgb"])
def test_a_pruned_fit_stops_at_the_first_report(three_classes, name):
    X, y, s, Xv, yv, _ = three_classes

    class Pruned(Exception):
        pass

    def prune(step: int, value: float) -> None:
        raise Pruned(step)

    model = _make(name, n_estimators=500)
    model.set_pruning_callback(prune, X_val=Xv, y_val=yv)
    with pytest.raises(Pruned) as stopped:
        model.fit(X, y)
    assert stopped.value.args == (STAGE[name],)


@pytest.mark.parametrize("name", ["logreg", "svc"])
def test_the_other_baselines_never_call_the_pruner(three_classes, name):
    X, y, s, Xv, yv, _ = three_classes
    model = _make(name)
    model.set_pruning_callback(lambda step, value: pytest.fail("reported"), X_val=Xv, y_val=yv)
    model.fit(X, y)


@pytest.mark.parametrize("name", ["rf", "xgb"])
def test_two_classes_and_a_validation_class_the_training_rows_lack(three_classes, name):
    # binary: XGBoost predicts one column; class 2 appears in validation only, so its rows are left out
    X, y, s, Xv, yv, sv = three_classes
    train = y < 2
    X, y, s = X[train], y[train], s[train]
    params = {"n_estimators": 200}
    reported: list[tuple[int, float]] = []
    model = _make(name, **params)
    model.set_pruning_callback(lambda step, value: reported.append((step, value)), X_val=Xv, y_val=yv, species_val=sv)
    model.fit(X, y, species=s)
    known = yv < 2
    assert [step for step, _ in reported] == list(range(STAGE[name], 200, STAGE[name]))
    for step, value in reported:
        smaller = _make(name, n_estimators=step).fit(X, y, species=s)
        expected = -log_loss(yv[known], smaller.predict_proba(Xv[known], species=sv[known]), labels=[0, 1])
        assert value == pytest.approx(expected, rel=1e-6)
    assert np.array_equal(model.predict_proba(Xv), _make(name, **params).fit(X, y, species=s).predict_proba(Xv))


def test_no_report_when_no_validation_row_has_a_training_class(three_classes):
    X, y, s, Xv, yv, _ = three_classes
    model = _make("rf", n_estimators=200)
    model.set_pruning_callback(lambda step, value: pytest.fail("reported"), X_val=Xv[yv == 2], y_val=yv[yv == 2])
    model.fit(X[y < 2], y[y < 2])
