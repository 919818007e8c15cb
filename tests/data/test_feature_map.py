"""Feature maps: the bundled maps are complete and physically plausible; bad maps fail with one line naming
file, row and value; applying a map renames and converts exactly as a hand computation says."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurotype import paths
from neurotype.data.feature_map import (FeatureMapError, apply_feature_map, read_feature_map, read_mapped_cells,
                                        unit_factor)

MAPS = paths.DATA / "external" / "feature_maps"
TABLES = {
    "scala2021_m1": paths.DATA / "external" / "scala2021_m1" / "m1_patchseq_ephys_features.csv",
    "lee2023_human_gaba": paths.DATA / "external" / "lee2023_human_gaba" / "LeeDalley_ephys_fx.csv",
}
ID_COLUMNS = {"scala2021_m1": "cell id", "lee2023_human_gaba": "specimen_id"}

#: Physiologically plausible medians of a cortical cell population, in ACTD's units, written down
#: from textbook ranges (not from ACTD's table): a forgotten factor of 1000 or a sag ratio left as a
#: ratio falls outside.
PLAUSIBLE = {
    "threshold_v_long_square": (-60, -20), "threshold_v_ramp": (-60, -20), "threshold_v_short_square": (-65, -20),
    "vrest": (-85, -50), "vm_for_sag": (-120, -60), "ri": (20, 1000), "tau": (2, 80), "latency": (0.002, 0.5),
    "threshold_i_long_square": (5, 1000), "threshold_i_ramp": (5, 1000), "sag": (0.0, 0.6),
    "f_i_curve_slope": (0.01, 3), "adaptation": (-0.2, 0.5), "avg_isi": (3, 500),
    "upstroke_downstroke_ratio_long_square": (0.8, 6), "upstroke_downstroke_ratio_ramp": (0.8, 6),
    "upstroke_downstroke_ratio_short_square": (0.8, 6),
}


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([["external_feature", "actd_feature", "unit", "transform", "note"], *rows])
    return path


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_column_of_the_external_table_is_listed_once(name):
    with TABLES[name].open() as handle:
        header = next(csv.reader(handle))
    features = [c for c in header if c != ID_COLUMNS[name]]
    with (MAPS / f"{name}.csv").open() as handle:
        listed = [row["external_feature"] for row in csv.DictReader(handle)]
    assert sorted(listed) == sorted(features)
    feature_map = read_feature_map(MAPS / f"{name}.csv")
    assert len(feature_map.mapped) + len(feature_map.unmapped) == len(features)
    assert all(u.note for u in feature_map.unmapped), "every unmapped feature says why"


@pytest.mark.parametrize("name", sorted(TABLES))
def test_every_mapped_pair_is_plausible_in_actd_units(name):
    feature_map = read_feature_map(MAPS / f"{name}.csv")
    raw = pd.read_csv(TABLES[name])
    actd = pd.read_csv(paths.ACTD_CACHE / "ephys_features.csv")
    for mapping in feature_map.mapped:
        values = pd.to_numeric(raw[mapping.external], errors="coerce").to_numpy(dtype=float)
        if mapping.transform == "ratio_to_fraction":
            values = 1 - 1 / values
        median = float(np.nanmedian(values * mapping.factor))
        low, high = PLAUSIBLE[mapping.actd]
        assert low <= median <= high, f"{name}: {mapping.external} -> {mapping.actd}: median {median}"
        # ... and within the central 98 % of ACTD's own cells
        lo, hi = actd[mapping.actd].quantile([0.01, 0.99])
        assert lo <= median <= hi, f"{name}: {mapping.external} -> {mapping.actd}: median {median} not in [{lo}, {hi}]"


def test_the_bundled_maps_convert_the_units_a_hand_conversion_gives():
    lee = {m.external: m for m in read_feature_map(MAPS / "lee2023_human_gaba.csv").mapped}
    assert lee["tau"].factor == pytest.approx(1000.0)  # IPFX seconds -> ACTD milliseconds
    assert lee["mean_isi_hero"].factor == pytest.approx(1000.0)
    assert lee["latency_hero"].factor == pytest.approx(1.0)
    m1 = {m.external: m for m in read_feature_map(MAPS / "scala2021_m1.csv").mapped}
    assert m1["Latency @ +20pA current (ms)"].factor == pytest.approx(0.001)
    assert m1["Sag ratio"].transform == "ratio_to_fraction"
    # a sag ratio of 1.25 (peak deflection 25 % larger than steady state) is a sag fraction of 0.2
    assert m1["Sag ratio"].convert(np.array([1.25]))[0] == pytest.approx(0.2)


@pytest.mark.parametrize("unit, target, factor", [("ms", "s", 1e-3), ("s", "ms", 1e3), ("MOhm", "MΩ", 1.0),
                                                   ("nA", "pA", 1e3), ("V", "mV", 1e3), ("%", "1", 0.01),
                                                   ("Hz/nA", "spikes/s/pA", 1e-3)])
def test_unit_factors(unit, target, factor):
    assert unit_factor(unit, target) == pytest.approx(factor)


def test_unit_factor_refuses_other_dimensions():
    with pytest.raises(ValueError, match="measures"):
        unit_factor("ms", "mV")


@pytest.mark.parametrize("rows, message", [
    ([["a", "tau", "ms", "", ""], ["b", "vrests", "mV", "", ""]], "row 3: actd_feature 'vrests' is not an ACTD feature"),
    ([["a", "tau", "msec", "", ""]], "row 2: unit 'msec' is unknown"),
    ([["a", "tau", "ms", "", ""], ["b", "tau", "s", "", ""]], "row 3: actd_feature 'tau' is already the target of row 2"),
    ([["a", "tau", "ms", "", ""], ["a", "vrest", "mV", "", ""]], "row 3: external_feature 'a' is already mapped"),
    ([["a", "tau", "mV", "", ""]], "row 2: unit 'mV' of 'a' cannot be converted into 'tau'"),
    ([["a", "sag", "1", "squared", ""]], "row 2: transform 'squared' is unknown"),
    ([["a", "tau", "", "", ""]], "row 2: unit is empty"),
    ([["a", "", "", "", "no counterpart"]], "no row maps"),
])
def test_bad_maps_fail_with_one_line_naming_file_row_and_value(tmp_path, rows, message):
    path = _write(tmp_path / "map.csv", rows)
    with pytest.raises(FeatureMapError) as error:
        read_feature_map(path)
    text = str(error.value)
    assert message in text and str(path) in text and "\n" not in text


def test_unknown_feature_suggests_the_closest_name(tmp_path):
    path = _write(tmp_path / "map.csv", [["a", "input_resistance", "MOhm", "", ""]])
    with pytest.raises(FeatureMapError, match="did you mean 'input_resistance_mohm'"):
        read_feature_map(path)


def test_applying_a_map_renames_converts_and_passes_the_rest_through(tmp_path):
    path = _write(tmp_path / "map.csv", [["Tau (s)", "tau", "s", "", ""], ["Sag ratio", "sag", "1", "ratio_to_fraction", ""],
                                         ["Width", "", "ms", "", "no counterpart"]])
    frame = pd.DataFrame({"cell": ["x", "y"], "Tau (s)": [0.02, "0.005"], "Sag ratio": [1.0, 2.0], "Width": [1.0, 2.0]})
    out = apply_feature_map(frame, path, source="cells.csv")
    assert list(out.columns) == ["cell", "tau", "sag", "Width"]
    assert out["tau"].tolist() == pytest.approx([20.0, 5.0])
    assert out["sag"].tolist() == pytest.approx([0.0, 0.5])
    assert out["cell"].tolist() == ["x", "y"] and out["Width"].tolist() == [1.0, 2.0]
    assert frame["Tau (s)"].tolist() == [0.02, "0.005"], "the input frame is not modified"


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"other": [1.0]}), "column 'Tau (s)' (feature map"),
    (pd.DataFrame({"Tau (s)": [0.02], "tau": [20.0]}), "column 'tau' already exists"),
    (pd.DataFrame({"Tau (s)": ["fast"]}), "column 'Tau (s)' has a non-numeric value 'fast'"),
])
def test_applying_a_map_to_an_unsuitable_table_fails_with_one_line(tmp_path, frame, message):
    path = _write(tmp_path / "map.csv", [["Tau (s)", "tau", "s", "", ""]])
    with pytest.raises(FeatureMapError) as error:
        apply_feature_map(frame, path, source="cells.csv")
    assert message in str(error.value) and "cells.csv" in str(error.value) and "\n" not in str(error.value)


def test_read_mapped_cells_names_the_model_features_the_map_does_not_give(tmp_path):
    path = _write(tmp_path / "map.csv", [["Tau (s)", "tau", "s", "", ""]])
    cells = tmp_path / "cells.csv"
    pd.DataFrame({"Tau (s)": [0.02]}).to_csv(cells, index=False)
    assert read_mapped_cells(cells, path, ["tau"])["tau"].tolist() == pytest.approx([20.0])
    with pytest.raises(FeatureMapError, match="'vrest'"):
        read_mapped_cells(cells, path, ["tau", "vrest"])
