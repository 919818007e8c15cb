"""The external data sets: bundled with provenance, loaded with the issue's label mapping; every count is
recomputed here from the CSV files with the standard library, independently of the loader."""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections import Counter

import pandas as pd
import pytest

from neurotype import paths
from neurotype.data.external import EXTERNAL_SOURCES, LABEL_MAPS, external_task, load_external
from neurotype.data.tables import SUBCLASSES, DataError

EXTERNAL = paths.DATA / "external"

#: sha256 of the bundled files as copied from ../shared/data/external (data/PROVENANCE.md).
SHA256 = {
    "scala2021_m1/m1_patchseq_ephys_features.csv": "32825f3837d7ce1144aa1521b23122a5df0da961a92021e12766e9cbec4998e6",
    "scala2021_m1/m1_patchseq_meta_data.csv": "5c47ec8c5437bba95d4b75dd66896e33aa67dce294621982a466ad23abcf63d4",
    "scala2021_m1/m1_patchseq_phys_temp_ephys_features.csv":
        "94521bfa0f6bc32b00fffa2f847fcc448e407ba6d537a5925c23cc6196b3f61f",
    "scala2021_m1/m1_patchseq_phys_temp_meta_data.csv": "c351cafebe561db6e349b6805717632766849a1bfe0d038f85ccf9b11e4a8f92",
    "lee2023_human_gaba/LeeDalley_ephys_fx.csv": "1ec12b02ba41288d69cdac21d6ac1efa05ff819fd6e052dd48666500e23ced9b",
    "lee2023_human_gaba/LeeDalley_manuscript_metadata_v2.csv":
        "c6c72fd87a9fdd67b08ed105f46529383962d05c1617b3fe2220e46e8af14b17",
    "lee2023_human_gaba/LICENSE": "7a4fead601f1c659e8327ed8de88ac537a995f772bf1a0ea14114a9267f1ef83",
}


@pytest.mark.parametrize("name, digest", sorted(SHA256.items()))
def test_the_bundled_files_are_the_documented_ones(name, digest):
    assert hashlib.sha256((EXTERNAL / name).read_bytes()).hexdigest() == digest
    assert digest in (paths.DATA / "PROVENANCE.md").read_text(), f"{name}: sha256 not in data/PROVENANCE.md"


def _m1_expected(features_file: str, meta_file: str) -> Counter:
    """Book class counts of the M1 cells, straight from the CSV files (csv module only)."""
    with (EXTERNAL / "scala2021_m1" / features_file).open(newline="") as handle:
        ids = {row["cell id"] for row in csv.DictReader(handle)}
    family_to_class = {"IT": "Glutamatergic", "ET": "Glutamatergic", "CT": "Glutamatergic", "NP": "Glutamatergic",
                       "Pvalb": "Pvalb", "Sst": "Sst", "Vip": "Vip", "Lamp5": "Htr3a+|Vip-", "Sncg": "Htr3a+|Vip-"}
    counts: Counter = Counter()
    with (EXTERNAL / "scala2021_m1" / meta_file).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["Cell"] in ids and row["RNA family"] in family_to_class and not row["Exclusion reasons"].strip():
                counts[family_to_class[row["RNA family"]]] += 1
    return counts


def test_m1_counts_match_the_files():
    data = load_external("scala2021_m1")
    expected = _m1_expected("m1_patchseq_ephys_features.csv", "m1_patchseq_meta_data.csv")
    assert Counter(data.table["subclass"]) == expected
    # the first look: 1,328 cells with features; "low quality" (97) excluded
    funnel = data.funnel_frame().set_index("rule")
    assert funnel.loc["start", "remaining"] == 1328
    assert funnel.loc["unlabelled", "removed"] == 97
    assert sum(expected.values()) == len(data.table) == funnel["remaining"].iloc[-1]


def test_m1_phys_temp_counts_match_the_files():
    data = load_external("scala2021_m1_phys_temp")
    assert Counter(data.table["subclass"]) == _m1_expected("m1_patchseq_phys_temp_ephys_features.csv",
                                                           "m1_patchseq_phys_temp_meta_data.csv")


def test_lee_counts_match_the_files():
    with (EXTERNAL / "lee2023_human_gaba" / "LeeDalley_ephys_fx.csv").open(newline="") as handle:
        ids = [row["specimen_id"] for row in csv.DictReader(handle)]
    labels = {}
    with (EXTERNAL / "lee2023_human_gaba" / "LeeDalley_manuscript_metadata_v2.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            labels.setdefault(row["specimen_id_x"], set()).add(row["Revised_subclass_label"])
    assert all(len(v) == 1 for v in labels.values())
    to_class = {"PVALB": "Pvalb", "SST": "Sst", "VIP": "Vip", "LAMP5/PAX6/Other": "Htr3a+|Vip-"}
    expected = Counter(to_class[next(iter(labels[i]))] for i in ids)
    data = load_external("lee2023_human_gaba")
    assert len(ids) == 704 and Counter(data.table["subclass"]) == expected
    assert "Glutamatergic" not in expected


def test_every_label_maps_to_a_book_class_or_is_excluded():
    for name, mapping in LABEL_MAPS.items():
        assert set(v for v in mapping.values() if v is not None) <= set(SUBCLASSES), name


def test_external_task_speaks_actd_names_and_units():
    task = external_task("lee2023_human_gaba")
    raw = pd.read_csv(EXTERNAL / "lee2023_human_gaba" / "LeeDalley_ephys_fx.csv")
    assert list(task.task.X.columns) == list(task.feature_map.actd_features)
    assert task.task.classes == SUBCLASSES and set(task.task.species) == {"human"}
    # tau: IPFX seconds in the file, ACTD milliseconds in the task (the same cell, times 1000)
    cell = int(task.task.X.index[0])
    assert task.task.X["tau"].iloc[0] == pytest.approx(1000 * raw.set_index("specimen_id").loc[cell, "tau"])


def test_cells_with_too_few_mapped_features_are_counted_out():
    feature_map = pd.read_csv(paths.DATA / "external" / "feature_maps" / "lee2023_human_gaba.csv")
    mapped = feature_map.loc[feature_map["actd_feature"].notna(), "external_feature"].tolist()
    raw = pd.read_csv(EXTERNAL / "lee2023_human_gaba" / "LeeDalley_ephys_fx.csv")
    too_few = int((raw[mapped].notna().mean(axis=1) < 0.5).sum())
    task = external_task("lee2023_human_gaba")
    funnel = task.funnel_frame().set_index("rule")
    assert funnel.loc["too_few_features", "removed"] == too_few == 25
    assert len(task.task) == 704 - too_few
    assert task.task.X.notna().mean(axis=1).min() >= 0.5


def test_unknown_data_set_and_unknown_label_fail_with_one_line(tmp_path):
    with pytest.raises(DataError, match="unknown external data set"):
        load_external("allen2019")
    folder = tmp_path / "external" / "lee2023_human_gaba"
    shutil.copytree(EXTERNAL / "lee2023_human_gaba", folder)
    meta = pd.read_csv(folder / "LeeDalley_manuscript_metadata_v2.csv")
    meta.loc[3, "Revised_subclass_label"] = "CHANDELIER"
    meta.to_csv(folder / "LeeDalley_manuscript_metadata_v2.csv", index=False)
    with pytest.raises(DataError) as error:
        load_external("lee2023_human_gaba", data_dir=tmp_path)
    assert "'CHANDELIER'" in str(error.value) and "Revised_subclass_label" in str(error.value)


def test_a_cell_with_two_different_metadata_rows_is_refused(tmp_path):
    folder = tmp_path / "external" / "lee2023_human_gaba"
    shutil.copytree(EXTERNAL / "lee2023_human_gaba", folder)
    meta = pd.read_csv(folder / "LeeDalley_manuscript_metadata_v2.csv")
    twin = meta.iloc[[0]].copy()
    twin["Revised_subclass_label"] = "SST" if meta.loc[0, "Revised_subclass_label"] != "SST" else "VIP"
    pd.concat([meta, twin]).to_csv(folder / "LeeDalley_manuscript_metadata_v2.csv", index=False)
    with pytest.raises(DataError, match="has two different rows"):
        load_external("lee2023_human_gaba", data_dir=tmp_path)


def test_every_source_has_its_files_and_a_citation():
    for source in EXTERNAL_SOURCES.values():
        assert (EXTERNAL / source.folder / source.features_file).is_file()
        assert (EXTERNAL / source.folder / source.meta_file).is_file()
        assert source.citation in " ".join((paths.DATA / "PROVENANCE.md").read_text().split())
    assert (EXTERNAL / "lee2023_human_gaba" / "LICENSE").read_text().startswith("Allen Institute Software License")
