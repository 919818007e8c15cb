"""Loaders on the real bundled files, the Cre-line mapping, the exclusion funnel, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurotype import data

from neurotype import paths


def test_actd_cells_counts():
    cells = data.read_actd_cells()
    assert len(cells) == 2333
    assert cells["species"].value_counts().to_dict() == {"mouse": 1920, "human": 413}
    mouse = cells[cells["species"] == "mouse"]["dendrite_type"].value_counts().to_dict()
    assert mouse == {"aspiny": 921, "spiny": 892, "sparsely spiny": 107}
    human = cells[cells["species"] == "human"]["dendrite_type"].value_counts().to_dict()
    assert human == {"spiny": 321, "aspiny": 79, "sparsely spiny": 13}
    assert cells["subclass"].where(cells["species"] == "human").isna().all()


def test_load_actd_has_every_cell_and_feature():
    table = data.load_actd()
    assert len(table) == 2333
    assert list(table.columns) == [*data.META_COLUMNS, *data.ACTD_FEATURES]
    assert table[list(data.ACTD_FEATURES)].dtypes.eq(float).all()


def test_paper41_counts_and_labels():
    table = data.load_paper41()
    assert table["species"].value_counts().to_dict() == {"mouse": 1424, "human": 299}
    mouse = table[table["species"] == "mouse"]
    assert mouse["subclass"].value_counts().to_dict() == {
        "Glutamatergic": 700, "Pvalb": 231, "Htr3a+|Vip-": 199, "Sst": 173, "Vip": 121}
    human = table[table["species"] == "human"]
    assert human["dendrite_type"].value_counts().to_dict() == {"spiny": 231, "aspiny": 68}
    # 42 mouse rows have NaNs: 41 lack every ramp feature, 3 lack width.
    ramp = [c for c in data.PAPER41_FEATURES if c.endswith("_ramp")]
    assert mouse[ramp].isna().all(axis=1).sum() == 41
    assert mouse["width"].isna().sum() == 3
    assert mouse[list(data.PAPER41_FEATURES)].isna().any(axis=1).sum() == 42
    assert human[list(data.PAPER41_FEATURES)].notna().all(axis=None)


def test_cre_line_mapping_reproduces_the_papers_labels():
    """Mapping each paper41 mouse cell's ACTD line gives the paper's own subclass, every time."""
    table = data.load_paper41()
    mouse = table[table["species"] == "mouse"]
    assert mouse["cre_line"].notna().all()
    mapped = mouse["cre_line"].map(data.CRE_LINE_SUBCLASS)
    assert (mapped == mouse["subclass"]).all()
    # and the paper's dendrite types agree with ACTD's
    actd = data.read_actd_cells().set_index("specimen_id")
    assert (mouse["dendrite_type"].to_numpy() == actd.loc[mouse["specimen_id"], "dendrite_type"].to_numpy()).all()


def test_mapping_covers_the_issue_lines():
    expected = {
        "Pvalb": {"Pvalb-IRES-Cre", "Slc32a1-T2A-FlpO|Vipr2-IRES2-Cre", "Nkx2-1-CreERT2"},
        "Htr3a+|Vip-": {"Ndnf-IRES2-dgCre", "Gad2-IRES-Cre", "Htr3a-Cre_NO152"},
        "Sst": {"Sst-IRES-Cre", "Nos1-CreERT2", "Nos1-CreERT2|Sst-IRES-FlpO", "Oxtr-T2A-Cre", "Chrna2-Cre_OE25"},
        "Vip": {"Vip-IRES-Cre", "Chat-IRES-Cre-neo"},
    }
    for subclass, lines in expected.items():
        assert {k for k, v in data.CRE_LINE_SUBCLASS.items() if v == subclass} == lines
    assert set(data.CRE_LINE_SUBCLASS.values()) == set(data.SUBCLASSES)


@pytest.mark.parametrize(("feature_set", "task", "expected"), [
    ("paper41", "broad", {"mouse": 1424, "human": 299}),
    ("paper41", "subclass", {"mouse": 1424}),
    ("actd", "broad", {"mouse": 1813, "human": 400}),
    ("actd", "subclass", {"mouse": 1612}),
])
def test_selection_counts(feature_set, task, expected):
    selection = data.select_cells(feature_set, task)
    assert selection.table["species"].value_counts().to_dict() == expected


def test_exclusion_funnel_counts():
    funnel = data.select_cells("paper41", "broad").funnel_frame().set_index(["species", "rule"])["removed"]
    assert funnel["mouse", "sparsely_spiny"] == 107
    assert funnel["mouse", "unknown_line"] == 63
    assert funnel["mouse", "dendrite_contradicts_line"] == 138
    assert funnel["mouse", "no_noise_sweep_features"] == 188
    assert funnel["human", "sparsely_spiny"] == 13
    assert funnel["human", "no_noise_sweep_features"] == 101
    frame = data.select_cells("paper41", "broad").funnel_frame()
    for _, steps in frame.groupby("species"):
        remaining = steps["remaining"].to_numpy()
        assert (remaining[:-1] - steps["removed"].to_numpy()[1:] == remaining[1:]).all()


def test_task_builders(broad_paper41, subclass_paper41):
    assert broad_paper41.X.shape == (1723, 41)
    assert tuple(broad_paper41.X.columns) == data.PAPER41_FEATURES
    assert set(broad_paper41.y) == {"aspiny", "spiny"}
    assert subclass_paper41.classes == data.SUBCLASSES
    assert (subclass_paper41.species == "mouse").all()
    assert np.array_equal(np.asarray(subclass_paper41.classes)[subclass_paper41.y_codes], subclass_paper41.y)
    # NaNs are kept (imputed later), unless asked otherwise
    assert broad_paper41.X.isna().any(axis=1).sum() == 42
    dropped = data.broad_task("paper41", nan_policy="drop")
    assert len(dropped) == 1723 - 42 and not dropped.X.isna().any(axis=None)
    actd = data.subclass_task("actd")
    assert actd.X.shape == (1612, len(data.ACTD_FEATURES))


def test_duplicate_pair_shares_a_group(broad_paper41):
    ids = broad_paper41.cell_ids
    a, b = np.flatnonzero(ids == 322762730)[0], np.flatnonzero(ids == 466632464)[0]
    assert broad_paper41.groups[a] == broad_paper41.groups[b]
    assert len(np.unique(broad_paper41.groups)) == len(ids) - 1


# --- bad input ------------------------------------------------------------------------------

@pytest.fixture()
def paper41_copy(tmp_path) -> Path:
    target = tmp_path / "paper41"
    shutil.copytree(paths.PAPER41, target)
    return target


def _edit(path: Path, edit) -> None:
    table = pd.read_csv(path)
    edit(table)
    table.to_csv(path, index=False)


def test_missing_feature_column_names_file_and_column(paper41_copy):
    _edit(paper41_copy / "human_ephys_data.csv", lambda t: t.drop(columns="tau", inplace=True))
    with pytest.raises(data.DataError, match=r"human_ephys_data\.csv.*'tau'"):
        data.load_paper41(paper41_copy)


def test_non_numeric_value_names_file_column_and_value(paper41_copy):
    def corrupt(table):
        table["vrest"] = table["vrest"].astype(object)
        table.loc[5, "vrest"] = "-70 mV"
    _edit(paper41_copy / "mouse_ephys_data.csv", corrupt)
    with pytest.raises(data.DataError, match=r"mouse_ephys_data\.csv.*'vrest'.*'-70 mV'"):
        data.load_paper41(paper41_copy)


def test_unknown_subclass_label_is_named(paper41_copy):
    _edit(paper41_copy / "mouse_ephys_data.csv", lambda t: t.__setitem__("transgenic_line", t["transgenic_line"].replace("Vip+", "Foo+")))
    with pytest.raises(data.DataError, match=r"transgenic_line.*'Foo\+'"):
        data.load_paper41(paper41_copy)


def test_empty_file_is_named(paper41_copy):
    (paper41_copy / "human_ephys_data.csv").write_text("")
    with pytest.raises(data.DataError, match=r"human_ephys_data\.csv: the file is empty"):
        data.load_paper41(paper41_copy)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(data.DataError, match=r"mouse_ephys_data\.csv: file not found"):
        data.load_paper41(tmp_path)


def test_unknown_species_is_named(tmp_path):
    cache = tmp_path / "actd"
    shutil.copytree(paths.ACTD_CACHE, cache)
    records = json.loads((cache / "cells.json").read_text())
    records[3]["donor__species"] = "Rattus norvegicus"
    (cache / "cells.json").write_text(json.dumps(records))
    with pytest.raises(data.DataError, match=r"cells\.json.*donor__species.*'Rattus norvegicus'"):
        data.read_actd_cells(cache)


def test_unknown_species_filter_and_feature_set():
    with pytest.raises(data.DataError, match="unknown species"):
        data.broad_task("paper41", species=["rat"])
    with pytest.raises(data.DataError, match="unknown feature set 'paper42'"):
        data.feature_names("paper42")


def test_unknown_cre_line_is_excluded_and_counted(tmp_path):
    cache = tmp_path / "actd"
    shutil.copytree(paths.ACTD_CACHE, cache)
    records = json.loads((cache / "cells.json").read_text())
    mouse_mapped = [r for r in records if r["donor__species"] == "Mus musculus"
                    and r["line_name"] in data.CRE_LINE_SUBCLASS and r["tag__dendrite_type"] == "aspiny"
                    and r["line_name"] not in data.EXCITATORY_LINES]
    mouse_mapped[0]["line_name"] = "Made-Up-Cre"
    (cache / "cells.json").write_text(json.dumps(records))
    cells = data.read_actd_cells(cache)
    assert cells.loc[cells["specimen_id"] == mouse_mapped[0]["specimen__id"], "subclass"].isna().all()
    shutil.copytree(paths.PAPER41, tmp_path / "paper41")
    funnel = data.select_cells("actd", "subclass", data_dir=tmp_path).funnel_frame().set_index("rule")["removed"]
    assert funnel["unknown_line"] == 64
