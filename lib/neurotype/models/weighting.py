"""Per-row loss weights for the imbalanced broad-type task (human cells: 68 aspiny of 299)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["CLASS_WEIGHTS", "row_weights", "weighted_cross_entropy"]

#: Accepted values of the networks' ``class_weight`` parameter.
CLASS_WEIGHTS: tuple[str | None, ...] = (None, "balanced", "balanced_per_species")


def row_weights(y: torch.Tensor, species: np.ndarray | None, scheme: str | None) -> torch.Tensor | None:
    """Loss weight of every labelled row.

    Parameters
    ----------
    y
        Integer class codes of the labelled rows.
    species
        Species of the same rows (needed by ``"balanced_per_species"`` only).
    scheme
        ``None``: no weights. ``"balanced"``: ``n / (k · n_c)`` for class ``c`` (scikit-learn's
        rule), so each class carries the same total weight. ``"balanced_per_species"``: the same
        rule over (species, class) groups, so that the 68 human aspiny cells weigh as much in
        total as each other group.

    Returns
    -------
    torch.Tensor or None
        One float weight per row (mean 1), or ``None`` for ``scheme=None``.
    """
    if scheme is None:
        return None
    if scheme not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight must be one of {list(CLASS_WEIGHTS)}, got {scheme!r}")
    codes = np.asarray(y)
    if scheme == "balanced_per_species":
        if species is None:
            raise ValueError("class_weight='balanced_per_species' needs species= for every row")
        species = np.asarray(species)
        if species.shape != codes.shape:
            raise ValueError(f"species has shape {species.shape}, labels {codes.shape}")
        keys = np.char.add(species.astype(str), np.char.add("|", codes.astype(str)))
    else:
        keys = codes.astype(str)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    weights = len(codes) / (len(counts) * counts[inverse])
    return torch.as_tensor(weights, dtype=torch.float32)


def weighted_cross_entropy(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy averaged with row weights: ``sum(w_i l_i) / sum(w_i)`` (plain mean without weights)."""
    losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    if weights is None:
        return losses.mean()
    return (weights * losses).sum() / weights.sum()
