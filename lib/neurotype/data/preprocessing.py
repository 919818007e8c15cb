"""Imputation and scaling that are fitted on training rows only.

The preprocessing is an ordinary scikit-learn pipeline, so it lives inside each model and is
refitted on each outer training fold: test cells never shape the imputer's medians or the
scaler's means. ``per_species=True`` re-enacts the original code's per-species scaling (used
only by the ablation), still fitted on training rows.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["make_preprocessor", "PerGroupScaler", "organism_column"]


def organism_column(species: np.ndarray | None, n_rows: int) -> np.ndarray:
    """The organism indicator as a column: 1.0 for human rows, 0.0 otherwise."""
    if species is None:
        raise ValueError("species_flag=True needs species= (one 'mouse'/'human' per row)")
    species = np.asarray(species, dtype=str)
    if species.shape != (n_rows,):
        raise ValueError(f"species has shape {species.shape}, expected ({n_rows},)")
    return (species == "human").astype(float)[:, None]


def make_preprocessor(impute: str = "median", scale: bool = True) -> Pipeline:
    """Median imputation (with missing-value indicators off) followed by standard scaling."""
    steps = [("impute", SimpleImputer(strategy=impute, keep_empty_features=True))]
    if scale:
        steps.append(("scale", StandardScaler()))
    return Pipeline(steps)


class PerGroupScaler(TransformerMixin, BaseEstimator):
    """A preprocessor fitted separately per group (e.g. per species), on training rows only.

    ``fit(X, groups=...)`` / ``transform(X, groups=...)``: each row is transformed by the
    preprocessor of its own group. A group unseen at fit time raises ``ValueError``.
    """

    def __init__(self, base: Pipeline | None = None):
        self.base = base

    def fit(self, X, y=None, groups=None):
        if groups is None:
            raise ValueError("PerGroupScaler needs groups= (one label per row)")
        groups = np.asarray(groups)
        self.fitted_ = {g: clone(self.base or make_preprocessor()).fit(np.asarray(X)[groups == g])
                        for g in np.unique(groups)}
        return self

    def transform(self, X, groups=None):
        if groups is None:
            raise ValueError("PerGroupScaler needs groups= (one label per row)")
        X, groups = np.asarray(X, dtype=float), np.asarray(groups)
        unseen = sorted(set(np.unique(groups)) - set(self.fitted_))
        if unseen:
            raise ValueError(f"groups {unseen} were not seen when fitting")
        out = np.empty_like(X)
        for g, pre in self.fitted_.items():
            mask = groups == g
            if mask.any():
                out[mask] = pre.transform(X[mask])
        return out
