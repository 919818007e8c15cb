"""Classify a lab's own cells with a saved model, flagging what the model cannot vouch for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from neurotype.data.tables import read_table, to_numeric
from neurotype.app.saved import SavedModel

__all__ = ["read_cells", "predict_cells", "RANGE_MARGIN"]

#: A value is "far outside" the training range when it lies beyond the observed minimum or
#: maximum by more than this share of the range (e.g. a resting potential given in volts).
RANGE_MARGIN = 0.5


def read_cells(path: Path | str, features: list[str]) -> pd.DataFrame:
    """Read a CSV of cells whose columns use ACTD feature names; other columns pass through.

    Raises :class:`~neurotype.data.tables.DataError` naming the file, column, row and value for an
    empty file, a missing feature column, or a non-numeric value.
    """
    table = read_table(path, features, what="feature column")
    return to_numeric(table, features, Path(path))


def predict_cells(saved: SavedModel, cells: pd.DataFrame, species: str | None = None,
                  top_gates: int = 5) -> pd.DataFrame:
    """One row per cell: passthrough columns, the predicted class, class scores and flags.

    Columns: every non-feature input column; ``predicted``; ``prob_<class>`` (or
    ``score_<class>`` for models without probabilities, e.g. the SVC: its decision function);
    ``imputed_features`` (features missing for the cell, filled with training medians);
    ``out_of_range_features`` (values far outside the training range); ``flagged``; and for
    LSPIN ``top_gates``, the features its gates opened most for the cell.
    """
    features = saved.features
    X = cells[features].astype(float)
    if "species" in cells.columns:
        cell_species = cells["species"].astype(str).str.lower().to_numpy()
    else:
        cell_species = np.full(len(cells), species or "mouse")
    estimator = saved.estimator
    classes = np.asarray(saved.classes)
    out = cells[[c for c in cells.columns if c not in features]].copy()
    codes = np.asarray(estimator.predict(X, species=cell_species)).astype(int)
    out["predicted"] = classes[codes]
    if hasattr(estimator, "predict_proba"):
        scores, prefix = estimator.predict_proba(X, species=cell_species), "prob_"
    else:
        scores, prefix = estimator.decision_function(X, species=cell_species), "score_"
        if scores.ndim == 1:  # binary decision function: the score of the second class
            scores = np.column_stack([-scores, scores])
    for k, label in enumerate(classes):
        out[f"{prefix}{label}"] = scores[:, k]
    missing = X.isna()
    out["imputed_features"] = [";".join(np.asarray(features)[row]) for row in missing.to_numpy()]
    low = np.asarray(saved.meta["training_range"]["low"], dtype=float)
    high = np.asarray(saved.meta["training_range"]["high"], dtype=float)
    margin = RANGE_MARGIN * (high - low)
    values = X.to_numpy()
    outside = (values < low - margin) | (values > high + margin)
    out["out_of_range_features"] = [";".join(np.asarray(features)[row]) for row in outside]
    out["flagged"] = missing.any(axis=1).to_numpy() | outside.any(axis=1)
    if hasattr(estimator, "gates"):
        gates = estimator.gates(X)
        order = np.argsort(-gates, axis=1, kind="stable")[:, :top_gates]
        out["top_gates"] = [";".join(f"{features[j]}={gates[i, j]:.2f}" for j in row) for i, row in enumerate(order)]
    return out
