"""Classical baselines behind the :class:`~neurotype.protocol.evaluation.Classifier` interface.

Four models, registered in :data:`neurotype.protocol.evaluation.MODELS`:

``logreg``
    Multinomial logistic regression (L2).
``svc``
    RBF support-vector classifier. No probabilities: calibrating them would need an internal
    cross-validation (``CalibratedClassifierCV``) that nothing here uses; predictions come from
    the decision function.
``rf``
    Random forest.
``xgb``
    Gradient-boosted trees (``xgboost.XGBClassifier``, ``tree_method="hist"``).

Each is :func:`neurotype.data.preprocessing.make_preprocessor` (median imputation, standard scaling)
followed by the estimator, refitted on every training fold. With ``species_flag=True`` an
organism column (0 = mouse, 1 = human) is appended *after* scaling, as the raw 0/1 indicator:
the paper's "organism feature", also offered to the baselines so that comparisons with it are
fair. All estimators run single-threaded (``n_jobs=1``): the protocol parallelises, if at all,
over folds.

During tuning the two tree ensembles report their inner-validation loss to Optuna's pruner while they
grow, as LSPIN does while it trains: the forest after every :data:`FOREST_STAGE` trees (grown with
``warm_start``, which draws each tree's seed as a one-shot fit does), the boosted trees after every
:data:`BOOSTING_STAGE` rounds (a training callback that only reads the booster). A trial that is not
pruned ends with exactly the model an unobserved fit gives; tests compare them.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import LabelEncoder
from sklearn.svm import SVC
from sklearn.utils.metaestimators import available_if

from neurotype.models.spec import ModelSpec, search_start
from neurotype.data.preprocessing import make_preprocessor, organism_column

if TYPE_CHECKING:
    import optuna

__all__ = ["SklearnClassifier", "organism_column", "LOGREG", "SVC_RBF", "RANDOM_FOREST", "XGBOOST", "FOREST_STAGE",
           "BOOSTING_STAGE"]

#: Trees a random forest grows between two reports to the pruner during tuning.
FOREST_STAGE = 100
#: Boosting rounds XGBoost runs between two reports to the pruner during tuning.
BOOSTING_STAGE = 50


def _estimator_has(method: str):
    return lambda self: hasattr(self.estimator, method)


class SklearnClassifier(ClassifierMixin, BaseEstimator):
    """Preprocessing (fitted on the training rows) + a scikit-learn classifier.

    Parameters
    ----------
    estimator
        An unfitted scikit-learn classifier (cloned at fit time).
    species_flag
        Append the organism column (1 = human) after scaling.

    Labels may be any values; they are encoded internally (XGBoost needs 0..K-1 codes),
    and :meth:`predict` returns the original values.
    """

    def __init__(self, estimator: BaseEstimator, species_flag: bool = False):
        self.estimator = estimator
        self.species_flag = species_flag

    def _design(self, X: pd.DataFrame | np.ndarray, species: np.ndarray | None) -> np.ndarray:
        Z = self.preprocessor_.transform(np.asarray(X, dtype=float))
        if self.species_flag:
            Z = np.hstack([Z, organism_column(species, len(Z))])
        return Z

    def set_pruning_callback(self, callback: Callable[[int, float], None] | None, X_val=None, y_val=None,
                             species_val=None) -> None:
        """During tuning: ``callback(trees or rounds so far, -validation log loss)`` while a random forest or
        XGBoost grows (every :data:`FOREST_STAGE` trees, :data:`BOOSTING_STAGE` rounds; it may raise to
        prune). Other estimators never call it. The validation rows serve the pruner only.
        """
        self._pruning = None if callback is None or X_val is None else (callback, X_val, y_val, species_val)

    def fit(self, X: pd.DataFrame | np.ndarray, y: np.ndarray, species: np.ndarray | None = None,
            X_val: pd.DataFrame | None = None, y_val: np.ndarray | None = None,
            species_val: np.ndarray | None = None) -> "SklearnClassifier":
        """Fit preprocessing and estimator on ``X``; the validation arguments are ignored."""
        X = np.asarray(X, dtype=float)
        self.encoder_ = LabelEncoder().fit(np.asarray(y))
        self.classes_ = self.encoder_.classes_
        self.preprocessor_ = make_preprocessor().fit(X)
        estimator, Z, codes = clone(self.estimator), self._design(X, species), self.encoder_.transform(y)
        pruning, self._pruning = getattr(self, "_pruning", None), None  # the fitted model keeps no trial
        report = None if pruning is None else self._validation_loss(*pruning)
        if report is not None and isinstance(estimator, RandomForestClassifier):
            self.estimator_ = self._grow_forest(estimator, Z, codes, report)
        elif report is not None and type(estimator).__name__ == "XGBClassifier":  # xgboost is imported lazily
            self.estimator_ = self._boost_reporting(estimator, Z, codes, report)
        else:
            self.estimator_ = estimator.fit(Z, codes)
        return self

    def _validation_loss(self, callback, X_val, y_val, species_val) -> Callable[[int, Callable], None] | None:
        """``report(step, probabilities_of)``: the validation rows' log loss under ``probabilities_of``
        (the model so far, on their design matrix), negated, to ``callback``; ``None`` if no validation
        row has a class of the training rows.

        The pruner reads the log loss, as it does for the networks and LSPIN; the study still chooses
        among complete trials by the tuning metric.
        """
        y_val = np.asarray(y_val)
        known = np.isin(y_val, self.classes_)  # a class the training rows lack has no column
        if not known.any():
            return None
        Z_val = self._design(np.asarray(X_val, dtype=float)[known], None if species_val is None
                             else np.asarray(species_val)[known])
        codes = self.encoder_.transform(y_val[known])

        def report(step: int, probabilities_of) -> None:
            p = np.asarray(probabilities_of(Z_val), dtype=float)
            p = np.column_stack([1 - p, p]) if p.ndim == 1 else p
            loss = float(-np.mean(np.log(np.clip(p[np.arange(len(codes)), codes], 1e-12, None))))
            if np.isfinite(loss):
                callback(step, -loss)
        return report

    @staticmethod
    def _grow_forest(forest: RandomForestClassifier, Z, codes, report) -> RandomForestClassifier:
        """Fit ``forest`` in stages of :data:`FOREST_STAGE` trees, reporting between them."""
        total = forest.n_estimators
        forest.set_params(warm_start=True)
        with warnings.catch_warnings():
            # sklearn warns that "balanced" class weights computed on each warm-start's rows may differ
            # from the whole fit's: every stage here is fitted on the same rows
            warnings.filterwarnings("ignore", message="class_weight presets", category=UserWarning)
            for trees in range(FOREST_STAGE, total, FOREST_STAGE):
                forest.set_params(n_estimators=trees).fit(Z, codes)
                report(trees, forest.predict_proba)
            forest.set_params(n_estimators=total).fit(Z, codes)
        return forest.set_params(warm_start=False)

    @staticmethod
    def _boost_reporting(booster_model, Z, codes, report):
        """Fit an ``XGBClassifier`` with a callback reporting every :data:`BOOSTING_STAGE` rounds."""
        import xgboost

        total = booster_model.n_estimators

        class Report(xgboost.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                rounds = epoch + 1
                if rounds % BOOSTING_STAGE == 0 and rounds < total:
                    report(rounds, lambda Z_val: model.inplace_predict(Z_val, iteration_range=(0, rounds)))
                return False

        booster_model.set_params(callbacks=[Report()]).fit(Z, codes)
        return booster_model.set_params(callbacks=None)  # the fitted model keeps no reference to the trial

    def predict(self, X: pd.DataFrame | np.ndarray, species: np.ndarray | None = None) -> np.ndarray:
        """Predicted labels (same values as the training ``y``)."""
        codes = np.asarray(self.estimator_.predict(self._design(X, species))).astype(int)
        return self.encoder_.inverse_transform(codes)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X: pd.DataFrame | np.ndarray, species: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities, columns in the order of :attr:`classes_`."""
        return self.estimator_.predict_proba(self._design(X, species))

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X: pd.DataFrame | np.ndarray, species: np.ndarray | None = None) -> np.ndarray:
        """The estimator's decision function on the preprocessed features."""
        return self.estimator_.decision_function(self._design(X, species))


# --- logistic regression ----------------------------------------------------------------------

def _build_logreg(params: Mapping[str, Any], seed: int) -> SklearnClassifier:
    model = LogisticRegression(C=params["C"], class_weight=params["class_weight"], max_iter=5000,
                               random_state=seed)
    return SklearnClassifier(model, species_flag=params["species_flag"])


def _space_logreg(trial: "optuna.Trial") -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 1e-3, 1e3, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"])}


_LOGREG_DEFAULTS = {"C": 1.0, "class_weight": None, "species_flag": False}
LOGREG = ModelSpec(
    name="logreg", build=_build_logreg, search_space=_space_logreg, defaults=_LOGREG_DEFAULTS,
    description="L2 logistic regression on median-imputed, standardised features",
    search_start=search_start(_LOGREG_DEFAULTS, ("C", "class_weight")))


# --- RBF support-vector classifier ------------------------------------------------------------

def _build_svc(params: Mapping[str, Any], seed: int) -> SklearnClassifier:
    model = SVC(kernel="rbf", C=params["C"], gamma=params["gamma"], class_weight=params["class_weight"],
                random_state=seed)
    return SklearnClassifier(model, species_flag=params["species_flag"])


def _space_svc(trial: "optuna.Trial") -> dict[str, Any]:
    return {"C": trial.suggest_float("C", 1e-2, 1e3, log=True),
            "gamma": trial.suggest_float("gamma", 1e-4, 1.0, log=True),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced"])}


_SVC_DEFAULTS = {"C": 1.0, "gamma": "scale", "class_weight": None, "species_flag": False}
SVC_RBF = ModelSpec(
    name="svc", build=_build_svc, search_space=_space_svc, defaults=_SVC_DEFAULTS,
    description="RBF support-vector classifier (decision function, no probabilities)",
    # gamma "scale" is 1 / (features x variance): 1/41 on the paper's 41 standardised features (the
    # start on ACTD's own 32 features too, where "scale" gives 1/32)
    search_start=search_start(_SVC_DEFAULTS, ("C", "class_weight"), gamma=1 / 41))


# --- random forest ----------------------------------------------------------------------------

def _build_rf(params: Mapping[str, Any], seed: int) -> SklearnClassifier:
    model = RandomForestClassifier(n_estimators=params["n_estimators"], max_depth=params["max_depth"],
                                   min_samples_leaf=params["min_samples_leaf"],
                                   max_features=params["max_features"], class_weight=params["class_weight"],
                                   n_jobs=1, random_state=seed)
    return SklearnClassifier(model, species_flag=params["species_flag"])


def _space_rf(trial: "optuna.Trial") -> dict[str, Any]:
    return {"n_estimators": trial.suggest_int("n_estimators", 100, 500, step=100),
            "max_depth": trial.suggest_int("max_depth", 2, 32, log=True),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 20, log=True),
            "max_features": trial.suggest_float("max_features", 0.1, 1.0),
            "class_weight": trial.suggest_categorical("class_weight", [None, "balanced", "balanced_subsample"])}


_RF_DEFAULTS = {"n_estimators": 300, "max_depth": None, "min_samples_leaf": 1, "max_features": "sqrt",
                "class_weight": None, "species_flag": False}
RANDOM_FOREST = ModelSpec(
    name="rf", build=_build_rf, search_space=_space_rf, defaults=_RF_DEFAULTS,
    description="random forest (single-threaded)",
    # unlimited depth: the space's deepest, 32, which cuts no tree (fitted on every cell of either task,
    # the default forest's deepest tree has 20 levels); "sqrt" of the paper's 41 features is 6 per
    # split, as 0.15 gives (int(0.15 x 41); of ACTD's 32, 4 instead of 5)
    search_start=search_start(_RF_DEFAULTS, ("n_estimators", "min_samples_leaf", "class_weight"), max_depth=32,
                              max_features=0.15))


# --- XGBoost ----------------------------------------------------------------------------------

def _build_xgb(params: Mapping[str, Any], seed: int) -> SklearnClassifier:
    import xgboost

    model = xgboost.XGBClassifier(
        n_estimators=params["n_estimators"], max_depth=params["max_depth"],
        learning_rate=params["learning_rate"], subsample=params["subsample"],
        colsample_bytree=params["colsample_bytree"], min_child_weight=params["min_child_weight"],
        reg_lambda=params["reg_lambda"], tree_method="hist", n_jobs=1, random_state=seed, verbosity=0)
    return SklearnClassifier(model, species_flag=params["species_flag"])


def _space_xgb(trial: "optuna.Trial") -> dict[str, Any]:
    return {"n_estimators": trial.suggest_int("n_estimators", 50, 600, step=50),
            "max_depth": trial.suggest_int("max_depth", 2, 8),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 10.0, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True)}


_XGB_DEFAULTS = {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.1, "subsample": 0.8,
                 "colsample_bytree": 0.8, "min_child_weight": 1.0, "reg_lambda": 1.0, "species_flag": False}
XGBOOST = ModelSpec(
    name="xgb", build=_build_xgb, search_space=_space_xgb, defaults=_XGB_DEFAULTS,
    description="gradient-boosted trees (xgboost, hist, single-threaded)",
    search_start=search_start(_XGB_DEFAULTS, tuple(key for key in _XGB_DEFAULTS if key != "species_flag")))
