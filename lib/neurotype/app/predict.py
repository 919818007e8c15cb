"""Classify a lab's own cells with a saved model, without changing a byte of the lab's other columns.

The input CSV is read as text: columns that are not features pass through exactly as written
(``0000001``, ``NA``, ``null``, a blank, a 17-digit id). Feature columns are parsed as numbers
(blank or ``NA``-like text is a missing value, imputed with the training median). Before any
prediction the table is checked, and a problem stops the run with one line naming the file:
a duplicated column name, a missing feature column, a non-numeric or infinite value, a
species the model does not know (or, unless allowed, never saw), an input column that an
output column would overwrite, and a feature whose typical value is about 1,000 times off the
training cells' (a unit mistake: "tau looks like s, expected ms"). Duplicate cell ids are
reported as a warning.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from neurotype.app.saved import SavedModel, write_atomically
from neurotype.data.tables import SPECIES, DataError

__all__ = ["MISSING_TEXT", "ID_COLUMNS", "RANGE_MARGIN", "UNIT_CHECK_DECADES", "UNIT_CHECK_MIN_CELLS",
           "Prediction", "read_cells", "feature_values", "unit_problems", "cell_species", "output_columns",
           "duplicate_ids", "predict_cells", "predict_file", "write_predictions"]

#: Text a feature column may hold for a missing value (after stripping spaces).
MISSING_TEXT: frozenset[str] = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})
#: Columns taken as the cell id (the first present) when ``id_column`` is not given.
ID_COLUMNS: tuple[str, ...] = ("specimen_id", "cell_id", "id")
#: A value is "far outside" the training range when it lies beyond the observed minimum or
#: maximum by more than this share of the range (flagged per cell, the prediction still made).
RANGE_MARGIN = 0.5
#: A column whose median magnitude is this many powers of ten off the training cells' is in the
#: wrong unit. Unit prefixes differ by 3; the median of any one class or species of the training
#: cells stays within 0.8 of all cells' (measured on both feature sets), leaving a margin of
#: more than one power of ten on both sides.
UNIT_CHECK_DECADES = 2.0
#: The column check needs this many values: one cell may be unusual, the median of three was
#: never 2 decades off in 2,000 random draws of training cells (the single-cell rate was 1-2%).
UNIT_CHECK_MIN_CELLS = 3
#: Units whose values are ratios or flags: no prefix to get wrong.
UNITLESS = frozenset({"1", "0/1"})
#: For a training unit: (the unit that makes values ~1000x smaller, the one that makes them ~1000x larger).
UNIT_NEIGHBOURS: dict[str, tuple[str, str]] = {
    "mV": ("V", "µV"), "pA": ("nA", "fA"), "ms": ("s", "µs"), "s": ("ks", "ms"), "MΩ": ("GΩ", "kΩ"),
    "GΩ": ("TΩ", "MΩ"), "mV/ms": ("V/ms", "mV/s"), "spikes/s/pA": ("spikes/ms/pA", "spikes/s/nA"),
    "Hz": ("kHz", "mHz"),
}


@dataclass
class Prediction:
    """The output table and the warnings to show the user."""

    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


# --- reading ----------------------------------------------------------------------------------

def read_cells(path: Path | str, features: list[str]) -> pd.DataFrame:
    """Every column of a CSV as text, exactly as written; the header and row lengths checked.

    The index is each row's line number in the file (the header is line 1), which messages cite.

    Raises
    ------
    DataError
        Naming the file: not found, empty, not UTF-8 or not CSV, no rows, a row with fewer or
        more fields than the header, a column name used twice, or missing feature columns.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found" + (" (it is a folder)" if path.is_dir() else ""))
    rows, lines = _csv_rows(path)
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header, body = rows[0], rows[1:]
    _check_header(path, header, features)
    if not body:
        raise DataError(f"{path}: the table has a header but no rows")
    for row, line in zip(body, lines[1:]):
        if len(row) != len(header):
            raise DataError(f"{path}: row {line} has {len(row)} fields, the header {len(header)}")
    return pd.DataFrame(body, columns=header, dtype=str, index=pd.Index(lines[1:], name="line"))


def _csv_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    """The non-blank rows of a CSV file as text, and the line each ends on (the csv module: no type guessing)."""
    rows, lines = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            for row in reader:
                if row:
                    rows.append(row)
                    lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as error:
        raise DataError(f"{path}: not a readable CSV table (line {reader.line_num}: {error})") from None
    return rows, lines


def _check_header(path: Path, header: list[str], features: list[str]) -> None:
    seen, repeated = set(), []
    for name in header:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    if repeated:
        raise DataError(f"{path}: column name(s) {', '.join(map(repr, repeated))} appear more than once in the "
                        "header; rename them so that each column has one meaning")
    missing = [name for name in features if name not in seen]
    if missing:
        raise DataError(f"{path}: missing required feature column(s) {', '.join(map(repr, missing))}")


def feature_values(cells: pd.DataFrame, features: list[str], path: Path | str) -> pd.DataFrame:
    """The feature columns as floats; missing-value text becomes NaN.

    Raises
    ------
    DataError
        Naming file, column, row and value, for text that is not a number or a number that
        is not finite (``inf``, ``1e999``).
    """
    out = {}
    for name in features:
        text = cells[name].str.strip()
        lowered = text.str.lower()
        missing = text.isin(MISSING_TEXT)
        flags = lowered.isin(["true", "false"])  # booleans as pandas writes them (has_burst, ...)
        values = pd.to_numeric(text.where(~(missing | flags)), errors="coerce")
        values = values.where(~flags, (lowered == "true").astype(float))
        overflow = text[values.isna() & ~missing].map(_overflows)  # "1e999": pandas gives NaN, it is infinite
        values[overflow[overflow].index] = np.inf
        _raise_first(path, name, cells[name], values.isna() & ~missing, "a non-numeric value")
        _raise_first(path, name, cells[name], np.isinf(values.to_numpy(dtype=float)), "a non-finite value")
        out[name] = values.astype(float)
    return pd.DataFrame(out, index=cells.index)


def _overflows(text: str) -> bool:
    try:
        return math.isinf(float(text))
    except ValueError:
        return False


def _raise_first(path, column: str, text: pd.Series, bad, what: str) -> None:
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        more = f"; {int(bad.sum())} such rows" if bad.sum() > 1 else ""
        raise DataError(f"{path}: column {column!r} has {what} {text.iloc[row]!r} (row {text.index[row]}{more})")


# --- checks before predicting -----------------------------------------------------------------

def unit_problems(saved: SavedModel, X: pd.DataFrame) -> list[str]:
    """One phrase per feature column whose median magnitude is >= 100x off the training cells'.

    Columns with a unitless feature, fewer than :data:`UNIT_CHECK_MIN_CELLS` values, or a
    training magnitude of zero are not judged.
    """
    problems = []
    for name, unit, typical in zip(saved.features, saved.units, saved.typical_magnitudes):
        values = X[name].to_numpy(dtype=float)
        values = np.abs(values[~np.isnan(values)])
        if unit in UNITLESS or typical <= 0 or len(values) < UNIT_CHECK_MIN_CELLS:
            continue
        median = float(np.median(values))
        decades = math.log10(median / typical) if median > 0 else -math.inf
        if abs(decades) >= UNIT_CHECK_DECADES:
            problems.append(_unit_phrase(name, unit, median, typical, decades))
    return problems


def _unit_phrase(name: str, unit: str, median: float, typical: float, decades: float) -> str:
    numbers = f"median |value| {median:.3g}, training cells {typical:.3g} {unit}"
    neighbours = UNIT_NEIGHBOURS.get(unit)
    if neighbours and math.isfinite(decades) and round(decades) in (-3, 3):
        likely = neighbours[0] if decades < 0 else neighbours[1]
        return f"{name} looks like {likely}, expected {unit} ({numbers})"
    size = "0" if not math.isfinite(decades) else f"10^{round(decades)} times"
    return f"{name} is {size} the training cells' typical value, wrong unit? expected {unit} ({numbers})"


def cell_species(saved: SavedModel, cells: pd.DataFrame, species: str | None, path: Path | str,
                 allow_unseen: bool = False) -> tuple[np.ndarray | None, list[str]]:
    """Each cell's species (from ``--species`` or a ``species`` column) and warnings.

    Returns ``None`` when neither is given and the model does not use species.

    Raises
    ------
    DataError
        Both sources given; neither given for a model that uses species; a value other than
        exactly one of :data:`~neurotype.data.tables.SPECIES`; or a species the model never
        saw in training unless ``allow_unseen`` (then a warning).
    """
    if species is not None and "species" in cells.columns:
        raise DataError(f"{path}: has a 'species' column and --species {species} was given; use one of the two")
    if species is None and "species" not in cells.columns:
        if saved.uses_species:
            raise DataError(f"{saved.directory}: the model uses each cell's species; pass --species or add a "
                            f"'species' column ({' or '.join(SPECIES)}) to {path}")
        return None, []
    values = np.full(len(cells), species, dtype=object) if species is not None else cells["species"].to_numpy()
    where = "--species" if species is not None else f"{path}: column 'species'"
    unknown = ~np.isin(values, SPECIES)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(f"{where} has unknown value {values[row]!r} (row {cells.index[row]}); expected exactly "
                        f"{' or '.join(map(repr, SPECIES))}")
    unseen = sorted(set(values) - set(saved.species))
    if not unseen:
        return values.astype(str), []
    count = int(np.isin(values, unseen).sum())
    message = (f"{where}: {count} cell(s) are {' and '.join(unseen)}, a species the model in {saved.directory} "
               f"never saw in training (it saw {', '.join(saved.species)})")
    if not allow_unseen:
        raise DataError(message + "; pass --allow-unseen-species to predict them anyway")
    return values.astype(str), [message + "; their predictions are flagged (column unseen_species)"]


def output_columns(saved: SavedModel, prefix: str = "") -> list[str]:
    """The columns :func:`predict_cells` adds, in order."""
    score = "prob_" if hasattr(saved.estimator, "predict_proba") else "score_"
    names = ["predicted", *(f"{score}{label}" for label in saved.classes), "imputed_features",
             "out_of_range_features", "unseen_species", "flagged"]
    if hasattr(saved.estimator, "gates"):
        names.append("top_gates")
    return [prefix + name for name in names]


def duplicate_ids(cells: pd.DataFrame, id_column: str | None, path: Path | str) -> list[str]:
    """A warning naming repeated ids (the first five), if any."""
    if id_column is None:
        id_column = next((c for c in ID_COLUMNS if c in cells.columns), None)
        if id_column is None:
            return []
    elif id_column not in cells.columns:
        raise DataError(f"{path}: no id column {id_column!r} (--id-column)")
    counts = cells[id_column].value_counts(sort=False)
    repeated = counts[counts > 1]
    if repeated.empty:
        return []
    shown = ", ".join(f"{value!r} (rows {', '.join(str(line) for line in cells.index[cells[id_column] == value])})"
                      for value in repeated.index[:5])
    more = f" and {len(repeated) - 5} more" if len(repeated) > 5 else ""
    return [f"{path}: column {id_column!r} repeats {len(repeated)} id(s): {shown}{more}; "
            "each row still gets its own prediction, in the input order"]


# --- predicting -------------------------------------------------------------------------------

def predict_cells(saved: SavedModel, cells: pd.DataFrame, X: pd.DataFrame, species: np.ndarray | None,
                  top_gates: int = 5, prefix: str = "") -> pd.DataFrame:
    """One row per cell: the passthrough columns (text, untouched), then the model's columns.

    Columns added (see :func:`output_columns`): ``predicted``; ``prob_<class>`` (or
    ``score_<class>`` for models without probabilities, e.g. the SVC: its decision function);
    ``imputed_features`` (features missing for the cell, filled with training medians);
    ``out_of_range_features`` (values far outside the training range); ``unseen_species`` (a
    species absent from training); ``flagged`` (any of the three); and for LSPIN
    ``top_gates``, the features its gates opened most for the cell.
    """
    features = saved.features
    estimator, classes = saved.estimator, np.asarray(saved.classes)
    out = cells[[c for c in cells.columns if c not in features]].copy()
    names = iter(output_columns(saved, prefix))
    out[next(names)] = classes[np.asarray(estimator.predict(X, species=species)).astype(int)]
    for column, values in zip(names, _scores(estimator, X, species).T):
        out[column] = values
    missing = X.isna().to_numpy()
    low, high = saved.training_low, saved.training_high
    values = X.to_numpy()
    outside = (values < low - RANGE_MARGIN * (high - low)) | (values > high + RANGE_MARGIN * (high - low))
    unseen = np.zeros(len(X), bool) if species is None else ~np.isin(species, saved.species)
    out[prefix + "imputed_features"] = [";".join(np.asarray(features)[row]) for row in missing]
    out[prefix + "out_of_range_features"] = [";".join(np.asarray(features)[row]) for row in outside]
    out[prefix + "unseen_species"] = unseen
    out[prefix + "flagged"] = missing.any(axis=1) | outside.any(axis=1) | unseen
    if hasattr(estimator, "gates"):
        gates = estimator.gates(X)
        order = np.argsort(-gates, axis=1, kind="stable")[:, :top_gates]
        out[prefix + "top_gates"] = [";".join(f"{features[j]}={gates[i, j]:.2f}" for j in row)
                                     for i, row in enumerate(order)]
    return out


def _scores(estimator, X: pd.DataFrame, species: np.ndarray | None) -> np.ndarray:
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(X, species=species))
    scores = np.asarray(estimator.decision_function(X, species=species))
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores  # binary: the second class's score


def predict_file(saved: SavedModel, path: Path | str, *, species: str | None = None,
                 allow_unseen_species: bool = False, allow_unit_mismatch: bool = False,
                 id_column: str | None = None, prefix: str = "", top_gates: int = 5) -> Prediction:
    """Read, check and classify the cells of one CSV file.

    Every check runs before the model does. See the module docstring for what stops the run;
    ``allow_unseen_species`` and ``allow_unit_mismatch`` turn those two into warnings.
    """
    path = Path(path)
    cells = read_cells(path, saved.features)
    collisions = [name for name in output_columns(saved, prefix) if name in cells.columns]
    if collisions:
        raise DataError(f"{path}: column(s) {', '.join(map(repr, collisions))} would be overwritten by the "
                        "output column(s) of that name; rename them, or pass --output-prefix (e.g. neurotype_)")
    X = feature_values(cells, saved.features, path)
    warnings = duplicate_ids(cells, id_column, path)
    cell_species_, species_warnings = cell_species(saved, cells, species, path, allow_unseen_species)
    warnings += species_warnings
    problems = unit_problems(saved, X)
    if problems:
        message = f"{path}: wrong unit? {'; '.join(problems)}"
        if not allow_unit_mismatch:
            raise DataError(message + "; convert the column(s), or pass --allow-unit-mismatch")
        warnings.append(message + "; predicting anyway (--allow-unit-mismatch)")
    table = predict_cells(saved, cells, X, cell_species_, top_gates=top_gates, prefix=prefix)
    warnings += _flag_summary(table, prefix)
    return Prediction(table=table, warnings=warnings)


def _flag_summary(table: pd.DataFrame, prefix: str) -> list[str]:
    messages = []
    n_imputed = int((table[prefix + "imputed_features"] != "").sum())
    n_outside = int((table[prefix + "out_of_range_features"] != "").sum())
    if n_imputed:
        messages.append(f"{n_imputed} cell(s) had missing features, imputed with the training medians "
                        f"(see column {prefix}imputed_features)")
    if n_outside:
        messages.append(f"{n_outside} cell(s) have values far outside the training range (wrong units?); "
                        f"see column {prefix}out_of_range_features")
    return messages


def write_predictions(table: pd.DataFrame, path: Path | str) -> None:
    """Write the table as CSV, atomically (a temporary file in the same folder, then renamed)."""
    write_atomically(Path(path), table.to_csv(index=False, lineterminator="\n").encode("utf-8"))
