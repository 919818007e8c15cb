"""Counts that describe a cell selection (computed here, drawn in :mod:`neurotype.plots`)."""

from __future__ import annotations

import pandas as pd

from neurotype.data.tables import BROAD_CLASSES, SPECIES, SUBCLASSES

__all__ = ["line_counts", "dendrite_counts", "subclass_counts"]


def line_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Cells per (subclass, Cre line) among the mouse cells of a tidy table."""
    mouse = table[(table["species"] == "mouse") & table["subclass"].notna()]
    counts = mouse.groupby(["subclass", "cre_line"]).size().rename("cells").reset_index()
    order = {s: i for i, s in enumerate(SUBCLASSES)}
    return counts.sort_values(["subclass", "cells"], key=lambda c: c.map(order) if c.name == "subclass" else -c,
                              ignore_index=True)


def dendrite_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Cells per species (rows) and dendrite type (columns: aspiny, spiny)."""
    counts = pd.crosstab(table["species"], table["dendrite_type"])
    return counts.reindex(index=[s for s in SPECIES if s in counts.index], columns=list(BROAD_CLASSES), fill_value=0)


def subclass_counts(table: pd.DataFrame) -> pd.Series:
    """Cells per mouse subclass, in the fixed subclass order."""
    counts = table.loc[table["species"] == "mouse", "subclass"].value_counts()
    return counts.reindex(list(SUBCLASSES), fill_value=0).rename("cells")
