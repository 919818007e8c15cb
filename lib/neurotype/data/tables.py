"""Load the bundled Allen Cell Types Database (ACTD) snapshot as tidy tables, one row per cell.

Two sources, two feature sets:

``paper41``
    The paper's own 41-feature tables (``data/paper41``): 14 spike features averaged over
    one Noise sweep plus 27 ACTD features, for 1,424 mouse and 299 human cells.
``actd``
    ACTD's precomputed features (``data/actd/ephys_features.csv``) on every spiny or aspiny
    cell: 1,813 mouse and 400 human cells before the subclass exclusions.

Every table carries the same metadata columns (:data:`META_COLUMNS`) followed by the
feature columns of its feature set. Metadata come from the ACTD specimen records in
``data/actd/cells.json`` (the allensdk ``CellTypesCache`` file), read here with the
standard library and pandas alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping, Sequence

import numpy as np
import pandas as pd

from neurotype import paths

__all__ = [
    "DataError", "FeatureSetName", "TaskName", "SPECIES", "SUBCLASSES", "BROAD_CLASSES",
    "CRE_LINE_SUBCLASS", "EXCITATORY_LINES", "NOISE_SPIKE_FEATURES", "PAPER_ACTD_FEATURES",
    "PAPER41_FEATURES", "ACTD_FEATURES", "FEATURE_SETS", "META_COLUMNS", "Exclusion",
    "CellSelection", "TaskData", "feature_names", "read_actd_cells", "load_actd", "load_paper41",
    "select_cells", "contradicts_line", "load_task", "read_table", "to_numeric", "broad_task", "subclass_task", "duplicate_groups",
]

FeatureSetName = Literal["paper41", "actd"]
TaskName = Literal["broad", "subclass"]


class DataError(ValueError):
    """A data file that cannot be used as it is; the message names file, column and value."""


# --- vocabularies -----------------------------------------------------------------------------

SPECIES: tuple[str, ...] = ("mouse", "human")
#: ACTD ``donor__species`` values and the short names used throughout neurotype.
ACTD_SPECIES: Mapping[str, str] = {"Mus musculus": "mouse", "Homo Sapiens": "human"}
BROAD_CLASSES: tuple[str, ...] = ("aspiny", "spiny")
DENDRITE_TYPES: tuple[str, ...] = ("aspiny", "sparsely spiny", "spiny")
SUBCLASSES: tuple[str, ...] = ("Glutamatergic", "Pvalb", "Sst", "Vip", "Htr3a+|Vip-")
#: How the paper's tables spell the subclasses in their ``transgenic_line`` column.
PAPER41_SUBCLASS_LABELS: Mapping[str, str] = {
    "Glutamatergic": "Glutamatergic", "Pvalb+": "Pvalb", "Sst+": "Sst", "Vip+": "Vip",
    "Htr3a+|Vip-": "Htr3a+|Vip-",
}

CRE_LINE_SUBCLASS: Mapping[str, str] = {
    # Pvalb
    "Pvalb-IRES-Cre": "Pvalb",
    "Slc32a1-T2A-FlpO|Vipr2-IRES2-Cre": "Pvalb",
    "Nkx2-1-CreERT2": "Pvalb",
    # Htr3a+|Vip-
    "Ndnf-IRES2-dgCre": "Htr3a+|Vip-",
    "Gad2-IRES-Cre": "Htr3a+|Vip-",
    "Htr3a-Cre_NO152": "Htr3a+|Vip-",
    # Sst
    "Sst-IRES-Cre": "Sst",
    "Nos1-CreERT2": "Sst",
    "Nos1-CreERT2|Sst-IRES-FlpO": "Sst",
    "Oxtr-T2A-Cre": "Sst",
    "Chrna2-Cre_OE25": "Sst",
    # Vip
    "Vip-IRES-Cre": "Vip",
    "Chat-IRES-Cre-neo": "Vip",
    # Glutamatergic: the excitatory (projection-neuron) lines
    "Ctgf-T2A-dgCre": "Glutamatergic",
    "Cux2-CreERT2": "Glutamatergic",
    "Esr2-IRES2-Cre": "Glutamatergic",
    "Esr2-IRES2-Cre-neo": "Glutamatergic",
    "Esr2-IRES2-Cre-neo|PhiC31-neo": "Glutamatergic",
    "Esr2-IRES2-Cre|PhiC31-neo": "Glutamatergic",
    "Glt25d2-Cre_NF107": "Glutamatergic",
    "Nr5a1-Cre": "Glutamatergic",
    "Ntsr1-Cre_GN220": "Glutamatergic",
    "Rbp4-Cre_KL100": "Glutamatergic",
    "Rorb-IRES2-Cre": "Glutamatergic",
    "Scnn1a-Tg2-Cre": "Glutamatergic",
    "Scnn1a-Tg3-Cre": "Glutamatergic",
    "Sim1-Cre_KJ18": "Glutamatergic",
    "Tlx3-Cre_PL56": "Glutamatergic",
}
"""Mouse Cre line (ACTD ``line_name``) → the paper's five-class subclass.

Origin: the paper's Fig 3 (after Rodríguez-Collado & Rueda 2021 and Tremblay et al. 2016) groups
Cre lines into four GABAergic subclasses and one Glutamatergic subclass. The excitatory lines
are those the paper's mouse table labels Glutamatergic. The mapping is verified against the
paper's own table: mapping each of its 1,424 mouse cells' ACTD line reproduces its label exactly
(``tests/test_data.py``). Lines absent from this mapping (e.g. ``Penk-IRES2-Cre-neo``,
``Vipr2-IRES2-Cre``, the ``|Pvalb-T2A-Dre`` intersections) are excluded by the
``unknown_line`` rule.
"""
EXCITATORY_LINES: frozenset[str] = frozenset(k for k, v in CRE_LINE_SUBCLASS.items() if v == "Glutamatergic")

#: The 14 spike features averaged over one Noise sweep (paper41 only; ipfx/ACTD names and units).
NOISE_SPIKE_FEATURES: tuple[str, ...] = (
    "threshold_v", "threshold_i", "peak_v", "peak_i", "trough_v", "trough_i", "upstroke",
    "upstroke_v", "downstroke", "downstroke_v", "fast_trough_v", "fast_trough_i", "width",
    "upstroke_downstroke_ratio",
)
#: The 27 ACTD precomputed features the paper uses, in its tables' column order.
PAPER_ACTD_FEATURES: tuple[str, ...] = (
    "f_i_curve_slope", "fast_trough_v_long_square", "fast_trough_v_ramp", "fast_trough_v_short_square",
    "input_resistance_mohm", "latency", "peak_v_long_square", "peak_v_ramp", "peak_v_short_square",
    "ri", "sag", "seal_gohm", "tau", "threshold_i_long_square", "threshold_i_ramp",
    "threshold_i_short_square", "threshold_v_long_square", "threshold_v_ramp",
    "threshold_v_short_square", "trough_v_long_square", "trough_v_ramp", "trough_v_short_square",
    "upstroke_downstroke_ratio_long_square", "upstroke_downstroke_ratio_ramp",
    "upstroke_downstroke_ratio_short_square", "vm_for_sag", "vrest",
)
PAPER41_FEATURES: tuple[str, ...] = NOISE_SPIKE_FEATURES + PAPER_ACTD_FEATURES
#: ACTD's own features: the paper's 27 plus spike-train features ACTD also computes. Left out on
#: purpose: identifiers and sweep bookkeeping, ``electrode_0_pa`` (an amplifier offset, a property
#: of the rig), absolute event times (``*_t_*``: protocol timing; ``latency`` keeps the physiology)
#: and the ``slow_trough_*`` pair (undefined for over half of the cells).
ACTD_FEATURES: tuple[str, ...] = PAPER_ACTD_FEATURES + (
    "adaptation", "avg_isi", "has_burst", "has_delay", "has_pause",
)
FEATURE_SETS: Mapping[str, tuple[str, ...]] = {"paper41": PAPER41_FEATURES, "actd": ACTD_FEATURES}

META_COLUMNS: tuple[str, ...] = (
    "specimen_id", "species", "dendrite_type", "cre_line", "reporter_status", "layer",
    "structure", "subclass",
)


def feature_names(feature_set: str) -> tuple[str, ...]:
    """The feature columns of a feature set, in their fixed order."""
    try:
        return FEATURE_SETS[feature_set]
    except KeyError:
        raise DataError(f"unknown feature set {feature_set!r}; choose one of {sorted(FEATURE_SETS)}") from None


# --- reading files ----------------------------------------------------------------------------

def read_table(path: Path, required: Sequence[str], what: str = "column") -> pd.DataFrame:
    """Read a CSV table; a missing or empty file or a missing required column raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a readable CSV table ({error})") from None
    if table.empty:
        raise DataError(f"{path}: the table has a header but no rows")
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise DataError(f"{path}: missing required {what}(s) {', '.join(map(repr, missing))}")
    return table


def to_numeric(table: pd.DataFrame, columns: Sequence[str], path: Path, id_column: str | None = None) -> pd.DataFrame:
    """Cast feature columns to float; a non-numeric value raises a DataError naming it."""
    out = table.copy()
    for column in columns:
        values = out[column]
        if values.dtype == bool:
            out[column] = values.astype(float)
            continue
        converted = pd.to_numeric(values, errors="coerce")
        bad = converted.isna() & values.notna()
        if values.dtype == object:
            # Booleans written as text by pandas ("True"/"False") are numeric flags.
            lowered = values.astype(str).str.strip().str.lower()
            flags = lowered.isin(["true", "false"])
            converted = converted.where(~flags, (lowered == "true").astype(float))
            bad = bad & ~flags
        if bad.any():
            row = bad.to_numpy().nonzero()[0][0]
            where = f"row {row + 2}" + (f", {id_column} {table[id_column].iloc[row]!r}" if id_column else "")
            raise DataError(f"{path}: column {column!r} has a non-numeric value {values.iloc[row]!r} ({where})")
        out[column] = converted.astype(float)
    return out


def read_actd_cells(cache_dir: Path = paths.ACTD_CACHE) -> pd.DataFrame:
    """Cell metadata from the ``CellTypesCache`` specimen records, one tidy row per cell.

    Returns
    -------
    pandas.DataFrame
        The :data:`META_COLUMNS` (``subclass`` from :data:`CRE_LINE_SUBCLASS`, missing
        for human cells and unmapped lines), in file order.
    """
    path = Path(cache_dir) / "cells.json"
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected an allensdk CellTypesCache directory)")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(records, list) or not records:
        raise DataError(f"{path}: expected a non-empty JSON list of specimen records")
    raw = pd.DataFrame.from_records(records)
    required = ["specimen__id", "donor__species", "tag__dendrite_type", "line_name",
                "cell_reporter_status", "structure__layer", "structure_parent__acronym"]
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise DataError(f"{path}: specimen records lack key(s) {', '.join(map(repr, missing))}")
    unknown = ~raw["donor__species"].isin(list(ACTD_SPECIES))
    if unknown.any():
        row = unknown.to_numpy().nonzero()[0][0]
        raise DataError(f"{path}: column 'donor__species' has unknown species {raw['donor__species'].iloc[row]!r} "
                        f"(specimen {raw['specimen__id'].iloc[row]}); known: {sorted(ACTD_SPECIES)}")
    bad_dendrite = ~raw["tag__dendrite_type"].isin(DENDRITE_TYPES)
    if bad_dendrite.any():
        row = bad_dendrite.to_numpy().nonzero()[0][0]
        raise DataError(f"{path}: column 'tag__dendrite_type' has unknown value {raw['tag__dendrite_type'].iloc[row]!r} "
                        f"(specimen {raw['specimen__id'].iloc[row]}); known: {list(DENDRITE_TYPES)}")
    cells = pd.DataFrame({
        "specimen_id": raw["specimen__id"].astype("int64"),
        "species": raw["donor__species"].map(ACTD_SPECIES),
        "dendrite_type": raw["tag__dendrite_type"],
        "cre_line": raw["line_name"].replace("", None),
        "reporter_status": raw["cell_reporter_status"],
        "layer": raw["structure__layer"].astype("string"),
        "structure": raw["structure_parent__acronym"],
    })
    cells["subclass"] = cells["cre_line"].map(CRE_LINE_SUBCLASS).where(cells["species"] == "mouse")
    return cells


def load_actd(cache_dir: Path = paths.ACTD_CACHE, *, cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every ACTD cell (2,333) with its metadata and the ``actd`` features, no exclusions.

    ``cells``: the specimen records if already read (:func:`read_actd_cells` of ``cache_dir``).
    """
    cells = read_actd_cells(cache_dir) if cells is None else cells
    path = Path(cache_dir) / "ephys_features.csv"
    features = read_table(path, ("specimen_id", *ACTD_FEATURES))
    features = to_numeric(features, ACTD_FEATURES, path, "specimen_id")
    features = features[["specimen_id", *ACTD_FEATURES]]
    if features["specimen_id"].duplicated().any():
        dup = features.loc[features["specimen_id"].duplicated(), "specimen_id"].iloc[0]
        raise DataError(f"{path}: specimen_id {dup} appears more than once")
    table = cells.merge(features, on="specimen_id", how="inner", validate="one_to_one")
    return table.reset_index(drop=True)


def _paper41_file(directory: Path, species: str) -> pd.DataFrame:
    path = Path(directory) / f"{species}_ephys_data.csv"
    meta = ["dendrite_type", "file_name"] + (["transgenic_line", "reporter_status"] if species == "mouse" else [])
    table = read_table(path, (*meta, *PAPER41_FEATURES))
    ids = table["file_name"].astype(str).str.extract(r"^(\d+)_(\d+)$")
    if ids.isna().any(axis=None):
        row = ids[0].isna().to_numpy().nonzero()[0][0]
        raise DataError(f"{path}: column 'file_name' value {table['file_name'].iloc[row]!r} is not "
                        f"'<specimen_id>_<sweep_number>' (row {row + 2})")
    table["specimen_id"] = ids[0].astype("int64")
    table["sweep_number"] = ids[1].astype("int64")
    table = to_numeric(table, PAPER41_FEATURES, path, "specimen_id")
    bad = ~table["dendrite_type"].isin(BROAD_CLASSES)
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise DataError(f"{path}: column 'dendrite_type' has value {table['dendrite_type'].iloc[row]!r} "
                        f"(specimen {table['specimen_id'].iloc[row]}); expected one of {list(BROAD_CLASSES)}")
    if species == "mouse":
        labels = table["transgenic_line"].map(PAPER41_SUBCLASS_LABELS)
        if labels.isna().any():
            row = labels.isna().to_numpy().nonzero()[0][0]
            raise DataError(f"{path}: column 'transgenic_line' has unknown subclass "
                            f"{table['transgenic_line'].iloc[row]!r} (specimen {table['specimen_id'].iloc[row]}); "
                            f"known: {sorted(PAPER41_SUBCLASS_LABELS)}")
        table["subclass"] = labels
    else:
        table["subclass"] = None
        table["reporter_status"] = None
    table["species"] = species
    return table


def load_paper41(directory: Path = paths.PAPER41, cache_dir: Path | None = paths.ACTD_CACHE, *,
                 cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's 41-feature tables (mouse then human) as one tidy table.

    Parameters
    ----------
    directory
        Folder holding ``mouse_ephys_data.csv`` and ``human_ephys_data.csv``.
    cache_dir
        ACTD cache whose specimen records supply Cre line, layer and structure. ``None``
        leaves those columns empty (for tables of cells that are not in the ACTD).
    cells
        The specimen records if already read (:func:`read_actd_cells` of ``cache_dir``).

    Returns
    -------
    pandas.DataFrame
        :data:`META_COLUMNS`, ``sweep_number`` (the Noise sweep the spike features come
        from), then the 41 features.
    """
    parts = [_paper41_file(directory, species) for species in SPECIES]
    table = pd.concat(parts, ignore_index=True)
    if cache_dir is not None:
        cells = (read_actd_cells(cache_dir) if cells is None else cells).set_index("specimen_id")
        known = table["specimen_id"].isin(cells.index)
        for column in ("cre_line", "layer", "structure"):
            table[column] = table["specimen_id"].map(cells[column]).where(known)
        table["reporter_status"] = table["reporter_status"].where(table["species"] == "mouse",
                                                                  table["specimen_id"].map(cells["reporter_status"]))
    else:
        for column in ("cre_line", "layer", "structure"):
            table[column] = None
    return table[[*META_COLUMNS, "sweep_number", *PAPER41_FEATURES]]


# --- cell selection ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Exclusion:
    """One step of the selection funnel: a rule and how many cells of a species it removed."""

    species: str
    rule: str
    description: str
    removed: int
    remaining: int


EXCLUSION_RULES: Mapping[str, str] = {
    "start": "ACTD cells with electrophysiology",
    "sparsely_spiny": "dendrite type 'sparsely spiny' (neither class)",
    "unknown_line": "Cre line not in the five-subclass mapping",
    "dendrite_contradicts_line": "spiny cell of an inhibitory line, or aspiny cell of an excitatory line",
    "no_noise_sweep_features": "not in the paper's 41-feature table (no usable Noise sweep)",
}


@dataclass(frozen=True)
class CellSelection:
    """The cells a task uses, with the funnel that led to them."""

    table: pd.DataFrame
    funnel: tuple[Exclusion, ...]
    feature_set: str
    task: str

    def funnel_frame(self) -> pd.DataFrame:
        return pd.DataFrame([e.__dict__ for e in self.funnel])


def contradicts_line(table: pd.DataFrame) -> pd.Series:
    """Mouse cells whose dendrite type contradicts their Cre line (spiny in an inhibitory line or the reverse)."""
    excitatory = table["cre_line"].isin(EXCITATORY_LINES)
    return ((table["dendrite_type"] == "spiny") & ~excitatory) | ((table["dendrite_type"] == "aspiny") & excitatory)


def select_cells(feature_set: FeatureSetName = "paper41", task: TaskName = "broad", *,
                 data_dir: Path = paths.DATA) -> CellSelection:
    """Apply the exclusion rules of a task and feature set, counting what each removes.

    The funnel always starts from every ACTD cell of a species. Both tasks drop sparsely
    spiny cells. The ``paper41`` feature set then follows the paper's curation (mouse:
    unknown lines and line-contradicting dendrite types out; both species: cells without
    the paper's Noise-sweep features out), which yields its 1,424 mouse and 299 human
    cells. The ``actd`` feature set keeps every spiny/aspiny cell for the broad task
    (1,813 mouse, 400 human) and applies the two line rules for the subclass task.
    """
    feature_names(feature_set)
    if task not in ("broad", "subclass"):
        raise DataError(f"unknown task {task!r}; choose 'broad' or 'subclass'")
    cells = read_actd_cells(Path(data_dir) / "actd")  # parsed once for both tables
    actd = load_actd(Path(data_dir) / "actd", cells=cells)
    species_list = ("mouse",) if task == "subclass" else SPECIES
    rules = ["sparsely_spiny"]
    if feature_set == "paper41" or task == "subclass":
        rules += ["unknown_line", "dendrite_contradicts_line"]
    if feature_set == "paper41":
        rules += ["no_noise_sweep_features"]
        paper = load_paper41(Path(data_dir) / "paper41", Path(data_dir) / "actd", cells=cells)
    funnel: list[Exclusion] = []
    kept_parts = []
    for species in species_list:
        current = actd[actd["species"] == species]
        funnel.append(Exclusion(species, "start", EXCLUSION_RULES["start"], 0, len(current)))
        for rule in rules:
            if rule in ("unknown_line", "dendrite_contradicts_line") and species != "mouse":
                continue
            if rule == "sparsely_spiny":
                drop = current["dendrite_type"] == "sparsely spiny"
            elif rule == "unknown_line":
                drop = current["subclass"].isna()
            elif rule == "dendrite_contradicts_line":
                drop = contradicts_line(current)
            else:
                drop = ~current["specimen_id"].isin(paper.loc[paper["species"] == species, "specimen_id"])
            current = current[~drop]
            funnel.append(Exclusion(species, rule, EXCLUSION_RULES[rule], int(drop.sum()), len(current)))
        kept_parts.append(current)
    kept = pd.concat(kept_parts, ignore_index=True)
    if feature_set == "paper41":
        table = paper[paper["specimen_id"].isin(kept["specimen_id"])].reset_index(drop=True)
        if len(table) != len(kept):
            raise DataError(f"{Path(data_dir) / 'paper41'}: {len(kept) - len(table)} selected ACTD cells are "
                            "missing from the paper's tables")
    else:
        table = kept.reset_index(drop=True)
    return CellSelection(table=table, funnel=tuple(funnel), feature_set=feature_set, task=task)


# --- tasks ------------------------------------------------------------------------------------

def duplicate_groups(features: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Group id per row; rows with identical feature vectors (NaNs equal) share one.

    Used as the ``groups`` of every split so that duplicated cells can never sit on
    both sides of a split.
    """
    frame = pd.DataFrame(np.asarray(features, dtype=float))
    keys = frame.round(12).astype(str).agg("|".join, axis=1)
    return pd.factorize(keys)[0].astype(np.int64)


@dataclass(frozen=True)
class TaskData:
    """Features, labels and bookkeeping of one classification task.

    Attributes
    ----------
    X
        Feature matrix (cells × features), index = specimen id, columns in the
        feature set's fixed order; may contain NaN (imputed inside the model pipeline).
    y
        Label per cell (strings from ``classes``).
    species
        ``"mouse"`` or ``"human"`` per cell.
    groups
        Duplicate groups (:func:`duplicate_groups`): splits keep a group together.
    """

    task: str
    feature_set: str
    X: pd.DataFrame
    y: np.ndarray
    classes: tuple[str, ...]
    species: np.ndarray
    groups: np.ndarray
    meta: pd.DataFrame = field(repr=False)

    @property
    def cell_ids(self) -> np.ndarray:
        return self.X.index.to_numpy()

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.X.columns)

    @property
    def y_codes(self) -> np.ndarray:
        """Labels as integers 0..K-1 in the order of ``classes``."""
        return pd.Categorical(self.y, categories=self.classes).codes.astype(np.int64)

    @property
    def strata(self) -> np.ndarray:
        """Label × species, the stratification key of every split."""
        return np.char.add(np.char.add(self.y.astype(str), "|"), self.species.astype(str))

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> "TaskData":
        """The cells at positions ``index``."""
        index = np.asarray(index)
        return TaskData(self.task, self.feature_set, self.X.iloc[index], self.y[index], self.classes,
                        self.species[index], self.groups[index], self.meta.iloc[index])


def load_task(task: TaskName, feature_set: FeatureSetName = "paper41", *,
              nan_policy: Literal["impute", "drop"] = "impute",
              species: Sequence[str] | None = None, data_dir: Path = paths.DATA) -> TaskData:
    """Build a task: ``broad`` (aspiny vs spiny, both species) or ``subclass`` (five mouse subclasses).

    Parameters
    ----------
    nan_policy
        ``"impute"`` keeps cells with missing features (imputed later, inside the model's
        pipeline, from training rows only); ``"drop"`` removes them here.
    species
        Restrict to these species (default: all the task uses).
    """
    selection = select_cells(feature_set, task, data_dir=data_dir)
    table = selection.table
    if species is not None:
        unknown = sorted(set(species) - set(SPECIES))
        if unknown:
            raise DataError(f"unknown species {unknown}; known: {list(SPECIES)}")
        table = table[table["species"].isin(species)]
    names = feature_names(feature_set)
    if nan_policy == "drop":
        table = table[table[list(names)].notna().all(axis=1)]
    elif nan_policy != "impute":
        raise DataError(f"unknown nan_policy {nan_policy!r}; choose 'impute' or 'drop'")
    table = table.reset_index(drop=True)
    if task == "broad":
        labels, classes = table["dendrite_type"].to_numpy(dtype=str), BROAD_CLASSES
    else:
        labels, classes = table["subclass"].to_numpy(dtype=str), SUBCLASSES
    X = table[list(names)].set_axis(pd.Index(table["specimen_id"], name="specimen_id"))
    meta = table[list(META_COLUMNS)].set_axis(X.index)
    return TaskData(task=task, feature_set=feature_set, X=X, y=labels, classes=tuple(classes),
                    species=table["species"].to_numpy(dtype=str), groups=duplicate_groups(X), meta=meta)


def broad_task(feature_set: FeatureSetName = "paper41", **kwargs) -> TaskData:
    """Aspiny (inhibitory) vs spiny (excitatory) cells of both species."""
    return load_task("broad", feature_set, **kwargs)


def subclass_task(feature_set: FeatureSetName = "paper41", **kwargs) -> TaskData:
    """The five mouse subclasses (:data:`SUBCLASSES`)."""
    return load_task("subclass", feature_set, **kwargs)
