"""The registry of model names: what ``evaluate``, ``tune``, the command line and saved models resolve a
name with.

Every entry is listed here explicitly; importing a model module registers nothing. The four baselines are
scikit-learn / XGBoost pipelines (:mod:`neurotype.models.baselines`), the rest are the PyTorch networks
(:mod:`neurotype.models.neural`).
"""

from __future__ import annotations

from neurotype.models import baselines, neural
from neurotype.models.spec import ModelSpec

__all__ = ["MODELS", "BASELINES", "NETWORKS", "REFERENCE_NETWORKS", "register_model", "get_model"]

#: Baselines of both tables, in the order tables list them.
BASELINES: tuple[ModelSpec, ...] = (baselines.LOGREG, baselines.SVC_RBF, baselines.RANDOM_FOREST, baselines.XGBOOST)
#: The paper's networks (our improved variants) and the LSPIN-gated DANN.
NETWORKS: tuple[ModelSpec, ...] = (neural.FCNN, neural.DANN_SPEC, neural.LSPIN_SPEC, neural.GATED_DANN_SPEC)
#: The same networks as the paper's code built them (``*_reference``: reference-faithful presets).
REFERENCE_NETWORKS: tuple[ModelSpec, ...] = (neural.FCNN_REFERENCE, neural.DANN_REFERENCE, neural.LSPIN_REFERENCE)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (*BASELINES, *NETWORKS, *REFERENCE_NETWORKS)}
"""Name → :class:`~neurotype.models.spec.ModelSpec`. Extend it with :func:`register_model`."""


def register_model(name: str, spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add a model to :data:`MODELS` under ``name`` (``replace=True`` to overwrite one)."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"spec must be a ModelSpec, got {type(spec).__name__}")
    if name in MODELS and not replace:
        raise ValueError(f"a model named {name!r} is already registered; pass replace=True to overwrite it")
    if spec.name != name:
        raise ValueError(f"registry name {name!r} differs from the spec's own name {spec.name!r}")
    MODELS[name] = spec
    return spec


def get_model(model: str | ModelSpec) -> ModelSpec:
    """The spec of a registered model name (a :class:`~neurotype.models.spec.ModelSpec` passes through)."""
    if isinstance(model, ModelSpec):
        return model
    try:
        return MODELS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; known models: {sorted(MODELS)}") from None
