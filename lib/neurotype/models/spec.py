"""The model interface every model meets (:class:`Classifier`) and how to build, configure and tune one
(:class:`ModelSpec`). Nothing here imports a model: the registry of names is :mod:`neurotype.models.registry`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import optuna

__all__ = ["Classifier", "ModelSpec", "search_start"]


@runtime_checkable
class Classifier(Protocol):
    """What :func:`evaluate` needs from a model.

    ``X`` is a DataFrame of raw features (index = specimen id, may hold NaN), ``y`` integer
    class codes (positions in ``TaskData.classes``) and ``species`` an array of
    ``"mouse"``/``"human"`` per row. Species is always passed so that domain-adaptation
    models can use it; plain models ignore it. ``X_val``/``y_val``/``species_val`` are given
    only to models whose spec has ``uses_validation=True`` (early stopping).
    ``predict_proba(X, species=None)`` is optional.

    A model may also define ``set_pruning_callback(callback)``: during tuning it then
    receives ``callback(step, value)``, which reports an intermediate validation score to
    Optuna and raises ``optuna.TrialPruned`` when the study's pruner stops the trial. A model
    without ``uses_validation`` is called ``set_pruning_callback(callback, X_val=..., y_val=...,
    species_val=...)``: the inner validation rows, for the pruner only.

    A seed ensemble (``n_members`` > 1) may define ``first_member()``: its member 0 as a fitted single
    model, the one ``n_members=1`` fits; :func:`~neurotype.protocol.evaluation.evaluate_many` then scores
    an untuned single model from the ensemble's fits instead of fitting it again.
    """

    def fit(self, X: pd.DataFrame, y: np.ndarray, species: np.ndarray | None = None,
            X_val: pd.DataFrame | None = None, y_val: np.ndarray | None = None,
            species_val: np.ndarray | None = None) -> "Classifier": ...

    def predict(self, X: pd.DataFrame, species: np.ndarray | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelSpec:
    """How to build, configure and tune one kind of model.

    Attributes
    ----------
    name
        Registry key, e.g. ``"logreg"``.
    build
        ``build(params, seed) -> Classifier``; ``params`` holds every key of ``defaults``.
    defaults
        Every hyperparameter the model takes, with the value used when not tuning. Keys
        outside it are rejected (catches typos in fixed parameters).
    search_space
        ``search_space(trial) -> dict`` suggesting a subset of the hyperparameters with an
        Optuna trial. Values must be JSON-serialisable (they are stored with the trial).
    uses_validation
        ``True`` for models that early-stop: they are fitted with ``X_val``/``y_val`` (the
        inner validation split), also for the final refit.
    description
        One line for reports.
    search_start
        The first trial of every study (a warm start): the defaults, under the names the search
        space suggests. Where a default lies outside the space (a λ schedule, an epoch count the
        grid lacks), the spec names the space's nearest value. ``None``: the search starts at random.
    """

    name: str
    build: Callable[[Mapping[str, Any], int], Classifier]
    defaults: Mapping[str, Any]
    search_space: Callable[["optuna.Trial"], dict[str, Any]]
    uses_validation: bool = False
    description: str = ""
    search_start: Mapping[str, Any] | None = None

    def params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults updated with ``overrides``; an unknown key raises ``ValueError``."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise ValueError(f"model {self.name!r} has no hyperparameter(s) {unknown}; "
                             f"known: {sorted(self.defaults)}")
        return {**self.defaults, **overrides}

    def make(self, overrides: Mapping[str, Any] | None = None, seed: int = 0) -> Classifier:
        """A fresh, unfitted model with the given hyperparameters and seed."""
        return self.build(self.params(overrides), int(seed))


def search_start(defaults: Mapping[str, Any], keys: tuple[str, ...], **nearest: Any) -> dict[str, Any]:
    """A :attr:`ModelSpec.search_start`: ``defaults`` under ``keys``, with ``nearest`` in-space values for
    the defaults that lie outside the search space."""
    return {**{key: defaults[key] for key in keys}, **nearest}
