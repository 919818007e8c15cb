"""Feature maps: how another lab's feature table stands for ACTD's features (names, units, definitions).

A feature map is a CSV file, one row per feature of the other lab's table:

=================  ==========================================================================
column             meaning
=================  ==========================================================================
external_feature   the column name in the other lab's table (required, unique)
actd_feature       the ACTD feature it stands for (:data:`neurotype.ephys.features.FEATURE_UNITS`);
                   empty when the feature has no counterpart (the row then documents why)
unit               the unit of the external column (:data:`UNITS`); required when mapped. The
                   conversion factor to the ACTD feature's unit follows from the two units
transform          empty, or a named change of definition applied before the unit conversion
                   (:data:`TRANSFORMS`, e.g. ``ratio_to_fraction`` for a sag ratio)
note               where the two definitions differ (free text)
=================  ==========================================================================

:func:`read_feature_map` validates a map: an unknown ACTD feature, an unknown unit, a unit of
another dimension than the ACTD feature's, an unknown transform, or a second row mapping onto
the same ACTD feature (or from the same external column) raises :class:`FeatureMapError`, one
line naming the file, the row (its line in the file, the header being line 1) and the value.
:func:`apply_feature_map` renames the mapped columns of a table and converts their values;
every other column passes through untouched.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from neurotype.data.tables import DataError, read_table, to_numeric
from neurotype.ephys.features import FEATURE_UNITS

__all__ = ["FeatureMapError", "UNITS", "TRANSFORMS", "MAP_COLUMNS", "FeatureMapping", "UnmappedFeature",
           "FeatureMap", "unit_factor", "read_feature_map", "apply_feature_map", "read_mapped_cells"]


class FeatureMapError(DataError):
    """A feature map that cannot be used; the message names file, row and value."""


#: Every unit a map may name: its dimension and its size in the dimension's base unit. Spellings a
#: lab may use for the same unit are listed separately (``MOhm`` and ``MΩ``).
UNITS: Mapping[str, tuple[str, float]] = {
    "V": ("potential", 1.0), "mV": ("potential", 1e-3), "uV": ("potential", 1e-6), "µV": ("potential", 1e-6),
    "s": ("time", 1.0), "ms": ("time", 1e-3), "us": ("time", 1e-6), "µs": ("time", 1e-6),
    "A": ("current", 1.0), "nA": ("current", 1e-9), "pA": ("current", 1e-12),
    "Ohm": ("resistance", 1.0), "Ω": ("resistance", 1.0), "MOhm": ("resistance", 1e6), "MΩ": ("resistance", 1e6),
    "GOhm": ("resistance", 1e9), "GΩ": ("resistance", 1e9),
    "1": ("dimensionless", 1.0), "%": ("dimensionless", 1e-2), "0/1": ("flag", 1.0),
    "Hz": ("rate", 1.0), "spikes/s": ("rate", 1.0),
    "spikes/s/pA": ("rate per current", 1e12), "Hz/pA": ("rate per current", 1e12),
    "Hz/nA": ("rate per current", 1e9),
    "mV/ms": ("slope", 1.0), "V/s": ("slope", 1.0),
}

#: Named changes of definition, applied to the external values (in their own unit) before the unit
#: conversion. ``ratio_to_fraction``: a sag *ratio*, peak deflection / steady-state deflection
#: (>= 1), to ACTD's sag *fraction*, (peak - steady) / (peak - baseline) = 1 - 1/ratio.
TRANSFORMS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    "ratio_to_fraction": lambda values: 1.0 - 1.0 / values,
}

MAP_COLUMNS: tuple[str, ...] = ("external_feature", "actd_feature", "unit", "transform", "note")


def unit_factor(unit: str, target_unit: str) -> float:
    """The factor that converts a value in ``unit`` into ``target_unit`` (``ValueError`` across dimensions)."""
    for name in (unit, target_unit):
        if name not in UNITS:
            raise ValueError(f"unknown unit {name!r}; known units: {', '.join(UNITS)}")
    (dimension, size), (target_dimension, target_size) = UNITS[unit], UNITS[target_unit]
    if dimension != target_dimension:
        raise ValueError(f"unit {unit!r} measures {dimension}, {target_unit!r} measures {target_dimension}")
    return size / target_size


@dataclass(frozen=True)
class FeatureMapping:
    """One mapped feature: the external column, the ACTD feature, units, factor, transform and note."""

    external: str
    actd: str
    unit: str
    actd_unit: str
    factor: float
    transform: str | None
    note: str
    row: int

    def convert(self, values: np.ndarray) -> np.ndarray:
        """External values → the ACTD feature's definition and unit."""
        values = np.asarray(values, dtype=float)
        if self.transform:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = TRANSFORMS[self.transform](values)
        return values * self.factor


@dataclass(frozen=True)
class UnmappedFeature:
    """An external feature with no ACTD counterpart, and why."""

    external: str
    unit: str | None
    note: str
    row: int


@dataclass(frozen=True)
class FeatureMap:
    """A validated feature map (:func:`read_feature_map`)."""

    path: Path
    mapped: tuple[FeatureMapping, ...]
    unmapped: tuple[UnmappedFeature, ...]

    @property
    def actd_features(self) -> tuple[str, ...]:
        """The ACTD features the map provides, in the map's row order."""
        return tuple(m.actd for m in self.mapped)

    @property
    def external_features(self) -> tuple[str, ...]:
        """The external columns the map uses, in row order."""
        return tuple(m.external for m in self.mapped)

    def frame(self) -> pd.DataFrame:
        """Every row as a display table: mapped rows first, then the unmapped ones."""
        rows = [{"external feature": m.external, "ACTD feature": m.actd, "unit": m.unit, "ACTD unit": m.actd_unit,
                 "factor": m.factor, "transform": m.transform or "", "note": m.note} for m in self.mapped]
        rows += [{"external feature": u.external, "ACTD feature": "(none)", "unit": u.unit or "", "ACTD unit": "",
                  "factor": math.nan, "transform": "", "note": u.note} for u in self.unmapped]
        return pd.DataFrame(rows)

    def apply(self, frame: pd.DataFrame, source: str | Path = "input") -> pd.DataFrame:
        """Rename and convert the mapped columns of ``frame``; other columns pass through (see :func:`apply_feature_map`)."""
        missing = [m for m in self.mapped if m.external not in frame.columns]
        if missing:
            first = missing[0]
            raise FeatureMapError(f"{source}: column {first.external!r} (feature map {self.path}, row {first.row}) "
                                  f"is not in the table" + (f"; nor are {len(missing) - 1} more" if len(missing) > 1 else ""))
        targets = set(self.actd_features)
        externals = set(self.external_features)
        clash = [c for c in frame.columns if c in targets and c not in externals]
        if clash:
            raise FeatureMapError(f"{source}: column {clash[0]!r} already exists and feature map {self.path} would "
                                  "overwrite it; drop one of them")
        numeric = to_numeric(frame, list(self.external_features), Path(str(source)))
        out = frame.copy()
        for mapping in self.mapped:
            out[mapping.external] = mapping.convert(numeric[mapping.external].to_numpy())
        return out.rename(columns={m.external: m.actd for m in self.mapped})


def _text(value) -> str:
    """A cell of the map as stripped text ('' for empty cells)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _unknown_feature(path: Path, row: int, name: str) -> FeatureMapError:
    close = difflib.get_close_matches(name, list(FEATURE_UNITS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else " (see neurotype.ephys.features.FEATURE_UNITS)"
    return FeatureMapError(f"{path}: row {row}: actd_feature {name!r} is not an ACTD feature{hint}")


def read_feature_map(path: Path | str) -> FeatureMap:
    """Read and validate a feature map CSV (format in the module notes).

    Raises
    ------
    FeatureMapError
        One line naming the file, the row and the offending value.
    """
    path = Path(path)
    table = read_table(path, ("external_feature", "actd_feature", "unit"))
    table = table.astype(object)
    mapped: list[FeatureMapping] = []
    unmapped: list[UnmappedFeature] = []
    seen_external: dict[str, int] = {}
    seen_target: dict[str, int] = {}
    for position, record in enumerate(table.to_dict(orient="records")):
        row = position + 2  # the file's line: the header is line 1
        external = _text(record.get("external_feature"))
        target = _text(record.get("actd_feature"))
        unit = _text(record.get("unit"))
        transform = _text(record.get("transform"))
        note = _text(record.get("note"))
        if not external:
            raise FeatureMapError(f"{path}: row {row}: external_feature is empty")
        if external in seen_external:
            raise FeatureMapError(f"{path}: row {row}: external_feature {external!r} is already mapped in row "
                                  f"{seen_external[external]}")
        seen_external[external] = row
        if unit and unit not in UNITS:
            raise FeatureMapError(f"{path}: row {row}: unit {unit!r} is unknown; known units: {', '.join(UNITS)}")
        if transform and transform not in TRANSFORMS:
            raise FeatureMapError(f"{path}: row {row}: transform {transform!r} is unknown; known: "
                                  f"{', '.join(TRANSFORMS)} (or empty)")
        if not target:
            unmapped.append(UnmappedFeature(external, unit or None, note, row))
            continue
        if target not in FEATURE_UNITS:
            raise _unknown_feature(path, row, target)
        if target in seen_target:
            raise FeatureMapError(f"{path}: row {row}: actd_feature {target!r} is already the target of row "
                                  f"{seen_target[target]}")
        seen_target[target] = row
        if not unit:
            raise FeatureMapError(f"{path}: row {row}: unit is empty for {external!r} (mapped onto {target!r})")
        actd_unit = FEATURE_UNITS[target]
        try:
            factor = unit_factor(unit, actd_unit)
        except ValueError as error:
            raise FeatureMapError(f"{path}: row {row}: unit {unit!r} of {external!r} cannot be converted into "
                                  f"{target!r}'s unit {actd_unit!r} ({error})") from None
        mapped.append(FeatureMapping(external, target, unit, actd_unit, factor, transform or None, note, row))
    if not mapped:
        raise FeatureMapError(f"{path}: no row maps an external feature onto an ACTD feature")
    return FeatureMap(path, tuple(mapped), tuple(unmapped))


def apply_feature_map(frame: pd.DataFrame, map_path: Path | str | FeatureMap,
                      source: str | Path = "input") -> pd.DataFrame:
    """A copy of ``frame`` with the mapped columns renamed to ACTD names and converted to ACTD units.

    Parameters
    ----------
    frame
        A lab's table, one row per cell.
    map_path
        A feature map CSV (or an already read :class:`FeatureMap`).
    source
        Name of the table's file, for error messages.

    Raises
    ------
    FeatureMapError
        A bad map; a mapped column missing from ``frame``; a column of ``frame`` that already has
        an ACTD name the map would write; a non-numeric value in a mapped column.
    """
    feature_map = map_path if isinstance(map_path, FeatureMap) else read_feature_map(map_path)
    try:
        return feature_map.apply(frame, source)
    except FeatureMapError:
        raise
    except DataError as error:  # a non-numeric value, reported by to_numeric
        raise FeatureMapError(str(error)) from None


def read_mapped_cells(path: Path | str, map_path: Path | str | FeatureMap, features: Sequence[str]) -> pd.DataFrame:
    """Read a lab's CSV, apply a feature map, and check the result holds ``features`` (as ``read_cells`` does).

    What ``neurotype predict --feature-map`` reads instead of the raw file.
    """
    feature_map = map_path if isinstance(map_path, FeatureMap) else read_feature_map(map_path)
    table = read_table(Path(path), ())
    mapped = apply_feature_map(table, feature_map, source=path)
    missing = [f for f in features if f not in mapped.columns]
    if missing:
        raise FeatureMapError(f"{path}: after feature map {feature_map.path}, the model's feature column(s) "
                              f"{', '.join(map(repr, missing[:5]))}{' …' if len(missing) > 5 else ''} are missing")
    return to_numeric(mapped, list(features), Path(path))
