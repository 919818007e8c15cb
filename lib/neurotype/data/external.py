"""Other labs' Patch-seq cells, for external validation: loaded as tidy tables and as tasks.

Two independent data sets, bundled under ``data/external/`` (provenance in ``data/PROVENANCE.md``),
recorded and featurised by other pipelines and labelled by transcriptomics rather than Cre line:

``scala2021_m1``
    Mouse primary motor cortex, Scala et al. (2021), room temperature; 29 features from the Berens
    lab's own code (names, units and definitions differ from ACTD's). Labels: ``RNA family``.
``lee2023_human_gaba``
    Human GABAergic interneurons, Lee, Dalley et al. (2023); 93 IPFX features. Labels:
    ``Revised_subclass_label`` (the manuscript's revised taxonomy; ``subclass_label`` is kept too).
``scala2021_m1_phys_temp``
    The 184 cells of the same M1 study recorded at physiological temperature (33–34 °C, as ACTD);
    a side check of how much of the shift temperature explains.

:func:`load_external` returns every cell with a label column mapped onto the book's five classes
(:data:`LABEL_MAPS`) and the funnel of what was excluded; :func:`external_task` applies a
feature map (:mod:`neurotype.data.feature_map`) and returns a :class:`~neurotype.data.tables.TaskData`
whose columns are ACTD feature names, so that models trained on ACTD cells can be applied to it.
These cells are for testing only: nothing in neurotype trains or tunes on their labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from neurotype import paths
from neurotype.data.feature_map import FeatureMap, apply_feature_map, read_feature_map
from neurotype.data.tables import SUBCLASSES, DataError, Exclusion, TaskData, duplicate_groups, to_numeric

__all__ = ["EXTERNAL", "FEATURE_MAPS", "ExternalSource", "EXTERNAL_SOURCES", "LABEL_MAPS", "ExternalData",
           "ExternalTask", "load_external", "external_task", "feature_map_path"]

#: The bundled external data, ``data/external``.
EXTERNAL: Path = paths.DATA / "external"
#: The bundled feature maps, one per data set.
FEATURE_MAPS: Path = EXTERNAL / "feature_maps"

#: Each data set's label → the book's class (``None``: excluded). Origin: the issue's mapping; M1's
#: excitatory families (IT, ET, CT, NP) are Glutamatergic, Lamp5 and Sncg together stand for ACTD's
#: Htr3a+|Vip− class (Htr3a-expressing, Vip-negative), as do human LAMP5/PAX6/Other.
LABEL_MAPS: Mapping[str, Mapping[str, str | None]] = {
    "scala2021_m1": {"IT": "Glutamatergic", "ET": "Glutamatergic", "CT": "Glutamatergic", "NP": "Glutamatergic",
                     "Pvalb": "Pvalb", "Sst": "Sst", "Vip": "Vip", "Lamp5": "Htr3a+|Vip-", "Sncg": "Htr3a+|Vip-",
                     "low quality": None},
    "lee2023_human_gaba": {"PVALB": "Pvalb", "SST": "Sst", "VIP": "Vip", "LAMP5/PAX6/Other": "Htr3a+|Vip-"},
}


@dataclass(frozen=True)
class ExternalSource:
    """Where one external data set lives and how its tables join."""

    name: str
    title: str
    species: str
    folder: str
    features_file: str
    meta_file: str
    meta_separator: str
    feature_id: str
    meta_id: str
    label_column: str
    label_map: str
    temperature: str
    citation: str
    #: metadata columns kept in the tidy table (renamed)
    meta_columns: Mapping[str, str]
    #: a column whose non-empty value means the authors excluded the cell
    exclusion_column: str | None = None
    #: the classes the study recorded by design (``None``: any); a fact of the study, not a cell's label
    population: tuple[str, ...] | None = None


EXTERNAL_SOURCES: dict[str, ExternalSource] = {
    "scala2021_m1": ExternalSource(
        name="scala2021_m1", title="mouse motor cortex (Scala et al. 2021)", species="mouse",
        folder="scala2021_m1", features_file="m1_patchseq_ephys_features.csv",
        meta_file="m1_patchseq_meta_data.csv", meta_separator="\t", feature_id="cell id", meta_id="Cell",
        label_column="RNA family", label_map="scala2021_m1", temperature="room temperature (Scala et al. 2021)",
        citation="Scala et al. 2021, Nature 598:144",
        meta_columns={"RNA type": "lab_type", "Inferred layer": "layer", "Cre": "cre", "Soma depth (µm)": "soma_depth"},
        exclusion_column="Exclusion reasons"),
    "lee2023_human_gaba": ExternalSource(
        name="lee2023_human_gaba", title="human GABAergic interneurons (Lee, Dalley et al. 2023)", species="human",
        folder="lee2023_human_gaba", features_file="LeeDalley_ephys_fx.csv",
        meta_file="LeeDalley_manuscript_metadata_v2.csv", meta_separator=",", feature_id="specimen_id",
        meta_id="specimen_id_x", label_column="Revised_subclass_label", label_map="lee2023_human_gaba",
        temperature="not recorded in the bundled files", citation="Lee, Dalley et al. 2023, Science 382:eadf6484",
        meta_columns={"Transcriptomic_type ": "lab_type", "Cortical_layer": "layer", "condition": "condition",
                      "subclass_label": "original_label", "Donor": "donor"},
        population=("Pvalb", "Sst", "Vip", "Htr3a+|Vip-")),
    "scala2021_m1_phys_temp": ExternalSource(
        name="scala2021_m1_phys_temp", title="mouse motor cortex at 33–34 °C (Scala et al. 2021)", species="mouse",
        folder="scala2021_m1", features_file="m1_patchseq_phys_temp_ephys_features.csv",
        meta_file="m1_patchseq_phys_temp_meta_data.csv", meta_separator="\t", feature_id="cell id", meta_id="Cell",
        label_column="RNA family", label_map="scala2021_m1",
        temperature="33–34 °C (metadata column 'Recording Temperature (˚C)')",
        citation="Scala et al. 2021, Nature 598:144",
        meta_columns={"RNA type": "lab_type", "Inferred layer": "layer", "Cre": "cre", "Soma depth (µm)": "soma_depth"},
        exclusion_column="Exclusion reasons"),
}


def feature_map_path(name: str, data_dir: Path | None = None) -> Path:
    """The bundled feature map of a data set (the phys-temp M1 cells share the M1 map)."""
    source = _source(name)
    return Path(data_dir or paths.DATA) / "external" / "feature_maps" / f"{source.label_map}.csv"


def _source(name: str) -> ExternalSource:
    try:
        return EXTERNAL_SOURCES[name]
    except KeyError:
        raise DataError(f"unknown external data set {name!r}; choose one of {sorted(EXTERNAL_SOURCES)}") from None


@dataclass(frozen=True)
class ExternalData:
    """Every labelled cell of one external data set, one tidy row each.

    Attributes
    ----------
    source
        Where the data come from.
    table
        ``specimen_id``, ``species``, ``dataset``, ``lab_label`` (the data set's own label),
        ``subclass`` (the book's class), the kept metadata, then the data set's features under
        their own names and units.
    features
        The feature columns (the data set's names).
    funnel
        What each step removed (:class:`~neurotype.data.tables.Exclusion`).
    """

    source: ExternalSource
    table: pd.DataFrame
    features: tuple[str, ...]
    funnel: tuple[Exclusion, ...]

    def funnel_frame(self) -> pd.DataFrame:
        return pd.DataFrame([e.__dict__ for e in self.funnel])

    def label_counts(self) -> pd.DataFrame:
        """Cells per lab label and the class it maps to."""
        counts = self.table.groupby(["subclass", "lab_label"]).size().rename("cells").reset_index()
        order = {c: i for i, c in enumerate(SUBCLASSES)}
        return counts.sort_values(["subclass", "cells"], key=lambda s: s.map(order) if s.name == "subclass" else -s,
                                  ignore_index=True)


def _read_csv(path: Path, separator: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: file not found (the external data live in data/external)")
    try:
        table = pd.read_csv(path, sep=separator)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a readable table ({error})") from None
    if table.empty:
        raise DataError(f"{path}: the table has no rows")
    return table


def load_external(name: str, *, data_dir: Path | None = None) -> ExternalData:
    """One external data set as a tidy table, with labels mapped onto the book's classes.

    Steps, each counted in the funnel: cells with features; cells with a metadata row (the Lee
    metadata repeat one cell's row verbatim, kept once); cells whose label maps to a class
    (M1's "low quality" family is excluded); cells the authors excluded themselves (M1's
    ``Exclusion reasons``: a firing pattern that contradicts the RNA family, or outside M1).

    Raises
    ------
    DataError
        A missing file or column, an unknown label, or a cell with two different metadata rows.
    """
    source = _source(name)
    folder = Path(data_dir or paths.DATA) / "external" / source.folder
    features_path, meta_path = folder / source.features_file, folder / source.meta_file
    features = _read_csv(features_path, ",")
    meta = _read_csv(meta_path, source.meta_separator)
    for path, table, column in ((features_path, features, source.feature_id), (meta_path, meta, source.meta_id),
                                (meta_path, meta, source.label_column)):
        if column not in table.columns:
            raise DataError(f"{path}: missing required column {column!r}")
    feature_names = tuple(c for c in features.columns if c != source.feature_id)
    features = to_numeric(features, feature_names, features_path, source.feature_id)
    if features[source.feature_id].duplicated().any():
        dup = features.loc[features[source.feature_id].duplicated(), source.feature_id].iloc[0]
        raise DataError(f"{features_path}: {source.feature_id} {dup!r} appears more than once")
    meta = meta.drop_duplicates()  # verbatim repeats only; conflicting rows are an error below
    if meta[source.meta_id].duplicated().any():
        dup = meta.loc[meta[source.meta_id].duplicated(), source.meta_id].iloc[0]
        raise DataError(f"{meta_path}: {source.meta_id} {dup!r} has two different rows")
    label_map = LABEL_MAPS[source.label_map]
    unknown = sorted(set(meta[source.label_column].dropna().astype(str)) - set(label_map))
    if unknown:
        raise DataError(f"{meta_path}: column {source.label_column!r} has unknown label {unknown[0]!r}; "
                        f"known: {sorted(label_map)}")

    species = source.species
    funnel = [Exclusion(species, "start", "cells in the feature table", 0, len(features))]
    joined = features.merge(meta, left_on=source.feature_id, right_on=source.meta_id, how="left",
                            suffixes=("", "_meta"), validate="one_to_one", indicator=True)

    def step(rule: str, description: str, drop: pd.Series) -> None:
        nonlocal joined
        joined = joined[~drop.to_numpy()]
        funnel.append(Exclusion(species, rule, description, int(drop.sum()), len(joined)))

    step("no_metadata", "no metadata row (no label)", joined["_merge"] != "both")
    labels = joined[source.label_column].astype("string")
    step("unlabelled", "label missing or excluded by the mapping (e.g. 'low quality')",
         labels.map(lambda v: pd.isna(v) or label_map.get(str(v)) is None).astype(bool))
    if source.exclusion_column is not None and source.exclusion_column in joined.columns:
        reasons = joined[source.exclusion_column].astype("string").str.strip()
        step("excluded_by_authors", f"the authors' own exclusion ({source.exclusion_column!r})",
             (reasons.notna() & (reasons != "")).astype(bool))
    table = pd.DataFrame({
        "specimen_id": joined[source.feature_id].astype(str).to_numpy(),
        "species": species, "dataset": name,
        "lab_label": joined[source.label_column].astype(str).to_numpy(),
    })
    table["subclass"] = table["lab_label"].map(label_map)
    for column, new in source.meta_columns.items():
        table[new] = joined[column].to_numpy() if column in joined.columns else None
    if "original_label" in table:
        table["original_subclass"] = table["original_label"].map(label_map)
    table = pd.concat([table, joined[list(feature_names)].reset_index(drop=True)], axis=1)
    return ExternalData(source=source, table=table.reset_index(drop=True), features=feature_names,
                        funnel=tuple(funnel))


@dataclass(frozen=True)
class ExternalTask:
    """An external data set on ACTD's feature names: what a model trained on ACTD can be applied to.

    Attributes
    ----------
    data
        The tidy table and its funnel (:func:`load_external`), before the feature rule.
    feature_map
        The map that renamed and converted the features.
    task
        The cells as a :class:`~neurotype.data.tables.TaskData`: ``X`` holds the mapped features
        under their ACTD names and units (``feature_set`` = ``"external:<name>"``), ``y`` the
        book's classes, ``classes`` all five subclasses (so that predictions of a class the data
        set lacks, e.g. Glutamatergic on the human interneurons, are still representable).
    funnel
        ``data``'s funnel plus the cells with too few mapped features.
    """

    data: ExternalData
    feature_map: FeatureMap
    task: TaskData
    funnel: tuple[Exclusion, ...]

    @property
    def name(self) -> str:
        return self.data.source.name

    def funnel_frame(self) -> pd.DataFrame:
        return pd.DataFrame([e.__dict__ for e in self.funnel])

    def class_counts(self) -> pd.Series:
        """Cells per book class, in :data:`~neurotype.data.tables.SUBCLASSES` order (absent classes 0)."""
        return pd.Series(self.task.y).value_counts().reindex(list(SUBCLASSES), fill_value=0).rename("cells")


def external_task(name: str, feature_map: FeatureMap | Path | str | None = None, *,
                  min_feature_share: float = 0.5, data_dir: Path | None = None) -> ExternalTask:
    """An external data set with its features mapped onto ACTD's names and units.

    Parameters
    ----------
    name
        A key of :data:`EXTERNAL_SOURCES`.
    feature_map
        A map or its path (default: the bundled one, :func:`feature_map_path`).
    min_feature_share
        Cells with fewer than this share of the mapped features present are left out (counted
        in the funnel): imputing most of a cell from ACTD medians would score the imputation,
        not the cell.
    """
    if not 0.0 <= min_feature_share <= 1.0:
        raise ValueError(f"min_feature_share must be in [0, 1], got {min_feature_share}")
    data = load_external(name, data_dir=data_dir)
    if not isinstance(feature_map, FeatureMap):
        feature_map = read_feature_map(feature_map or feature_map_path(name, data_dir))
    # The same function `neurotype predict --feature-map` applies to a lab's own file.
    mapped = apply_feature_map(data.table, feature_map, source=f"{name} features")
    names = list(feature_map.actd_features)
    present = mapped[names].notna().mean(axis=1)
    keep = (present >= min_feature_share).to_numpy()
    funnel = (*data.funnel, Exclusion(data.source.species, "too_few_features",
                                      f"fewer than {min_feature_share:.0%} of the {len(names)} mapped features",
                                      int((~keep).sum()), int(keep.sum())))
    mapped = mapped[keep].reset_index(drop=True)
    X = mapped[names].set_axis(pd.Index(mapped["specimen_id"], name="specimen_id"))
    meta_columns = [c for c in mapped.columns if c not in set(names) and c not in set(data.features)]
    task = TaskData(task="subclass", feature_set=f"external:{name}", X=X,
                    y=mapped["subclass"].to_numpy(dtype=str), classes=SUBCLASSES,
                    species=np.full(len(mapped), data.source.species), groups=duplicate_groups(X),
                    meta=mapped[meta_columns].set_axis(X.index))
    return ExternalTask(data=data, feature_map=feature_map, task=task, funnel=funnel)
