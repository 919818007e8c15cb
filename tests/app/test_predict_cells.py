"""predict on a lab's own table: passthrough text kept exactly, units, species, collisions, duplicates."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from neurotype.app.predict import predict_file, unit_problems, write_predictions
from neurotype.app.saved import load_model
from neurotype.data.tables import DataError

from _saved_fixtures import rows_of

#: Id-like text that pandas' type inference used to change (issue 13), one per cell.
TRICKY_IDS = ["0000001", "NA", "None", "null", "", "9007199254740995", "9007199254740997", " spaced ",
              "with,comma", 'with "quotes"', "1.0", "1e5", "nan", "TRUE", "-0", "ünïcode"]


@pytest.fixture(scope="module")
def logreg(saved_models):
    return load_model(saved_models["logreg"][0])


def write_cells(path: Path, task, rows, extra: dict[str, list[str]] | None = None,
                edit=None) -> Path:
    """A CSV of the task's cells at ``rows``: ``extra`` text columns first, then the features as repr."""
    X = task.X.iloc[rows].copy()
    if edit is not None:
        edit(X)
    columns = {**(extra or {}), **{name: ["" if np.isnan(v) else repr(float(v)) for v in X[name]]
                                   for name in X.columns}}
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(zip(*columns.values()))
    return path


def read_text(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_passthrough_columns_round_trip_byte_for_byte(logreg, subclass_paper41, tmp_path):
    rows = rows_of(subclass_paper41, len(TRICKY_IDS))
    extra = {"cell_id": TRICKY_IDS, "batch": ["1", "", "3"] + ["4"] * (len(TRICKY_IDS) - 3)}
    source = write_cells(tmp_path / "cells.csv", subclass_paper41, rows, extra)
    prediction = predict_file(logreg, source)
    write_predictions(prediction.table, tmp_path / "out.csv")
    written = read_text(tmp_path / "out.csv")
    assert [row["cell_id"] for row in written] == TRICKY_IDS
    assert [row["batch"] for row in written] == extra["batch"]  # an integer column with a blank stays integer
    raw = (tmp_path / "out.csv").read_bytes()
    assert b"9007199254740995," in raw and b"9007199254740997," in raw and b"\n0000001," in raw


def test_the_predictions_are_the_models(logreg, saved_models, subclass_paper41, tmp_path):
    rows = rows_of(subclass_paper41)
    source = write_cells(tmp_path / "cells.csv", subclass_paper41, rows, {"cell_id": [f"c{r}" for r in rows]})
    table = predict_file(logreg, source).table
    original = saved_models["logreg"][1]
    expected = np.asarray(subclass_paper41.classes)[original.predict(subclass_paper41.X.iloc[rows])]
    assert list(table["predicted"]) == list(expected)
    assert not table["flagged"].any() and not table["unseen_species"].any()


def test_missing_value_text_is_imputed_and_other_text_is_an_error(logreg, subclass_paper41, tmp_path):
    rows = rows_of(subclass_paper41, 4)
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows)
    text = path.read_text().splitlines()
    header = text[0].split(",")
    tau = header.index("tau")
    for line, value in ((1, "NA"), (2, ""), (3, " nan ")):
        fields = text[line].split(",")
        fields[tau] = value
        text[line] = ",".join(fields)
    path.write_text("\n".join(text) + "\n")
    table = predict_file(logreg, path).table
    assert list(table["imputed_features"]) == ["tau", "tau", "tau", ""]
    fields = text[4].split(",")
    fields[tau] = "12 ms"
    text[4] = ",".join(fields)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"cells.csv: column 'tau' has a non-numeric value '12 ms' \(row 5\)"):
        predict_file(logreg, path)


@pytest.mark.parametrize("value", ["inf", "-Infinity", "1e999"])
def test_infinite_values_name_file_column_and_row(logreg, subclass_paper41, tmp_path, value):
    rows = rows_of(subclass_paper41, 3)

    def poison(X):
        X["sag"] = X["sag"].astype(object)
        X.iloc[1, X.columns.get_loc("sag")] = np.inf

    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows, edit=poison)
    path.write_text(path.read_text().replace("inf", value))
    with pytest.raises(DataError, match=rf"cells.csv: column 'sag' has a non-finite value '{value}' \(row 3\)"):
        predict_file(logreg, path)


def test_duplicate_headers_are_an_error_naming_them(logreg, subclass_paper41, tmp_path):
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 3),
                       {"note": ["a", "b", "c"]})
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("note", "tau", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="column name\\(s\\) 'tau' appear more than once in the header"):
        predict_file(logreg, path)


def test_duplicate_ids_are_a_warning_naming_them(logreg, subclass_paper41, tmp_path):
    ids = ["a", "b", "a", "c", "b"]
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 5), {"specimen_id": ids})
    prediction = predict_file(logreg, path)
    assert len(prediction.table) == 5
    warning = next(w for w in prediction.warnings if "repeats" in w)
    assert "column 'specimen_id' repeats 2 id(s): 'a' (rows 2, 4), 'b' (rows 3, 6)" in warning
    with pytest.raises(DataError, match="no id column 'cell' \\(--id-column\\)"):
        predict_file(logreg, path, id_column="cell")


def test_an_output_column_never_overwrites_a_user_column(logreg, subclass_paper41, tmp_path):
    mine = ["mine1", "mine2", "mine3"]
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 3), {"predicted": mine})
    with pytest.raises(DataError, match="column\\(s\\) 'predicted' would be overwritten .* --output-prefix"):
        predict_file(logreg, path)
    table = predict_file(logreg, path, prefix="neurotype_").table
    assert list(table["predicted"]) == mine and "neurotype_predicted" in table.columns


# --- units -------------------------------------------------------------------------------------

def _to(unit_change):
    def edit(X):
        for column, factor in unit_change.items():
            X[column] = X[column] * factor
    return edit


@pytest.mark.parametrize(("change", "expected"), [
    ({"tau": 1e-3}, ["tau looks like s, expected ms"]),
    ({"width": 1e3}, ["width looks like ms, expected s"]),
    ({"ri": 1e-3, "input_resistance_mohm": 1e-3}, ["ri looks like GΩ, expected MΩ",
                                                   "input_resistance_mohm looks like GΩ, expected MΩ"]),
    ({"threshold_i_long_square": 1e-3, "vrest": 1e-3}, ["threshold_i_long_square looks like nA, expected pA",
                                                        "vrest looks like V, expected mV"]),
    ({"f_i_curve_slope": 1e3}, ["f_i_curve_slope looks like spikes/s/nA, expected spikes/s/pA"]),
])
def test_a_column_in_the_wrong_unit_is_named_with_its_likely_unit(logreg, subclass_paper41, tmp_path, change,
                                                                  expected):
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 20), edit=_to(change))
    with pytest.raises(DataError) as caught:
        predict_file(logreg, path)
    message = str(caught.value)
    assert message.startswith(f"{path}: wrong unit? ") and "\n" not in message
    assert all(phrase in message for phrase in expected), message
    assert message.count("looks like") == len(expected)  # per column, and only the changed ones
    prediction = predict_file(logreg, path, allow_unit_mismatch=True)
    assert any(all(p in w for p in expected) for w in prediction.warnings)


def test_no_unit_alarm_on_any_class_of_the_training_cells(logreg, subclass_paper41):
    for code, label in enumerate(subclass_paper41.classes):
        X = subclass_paper41.X[subclass_paper41.y_codes == code]
        assert unit_problems(logreg, X) == [], label


def test_too_few_values_are_not_judged(logreg, subclass_paper41, tmp_path):
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 2), edit=_to({"tau": 1e-3}))
    assert predict_file(logreg, path).table.shape[0] == 2


# --- species ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["Mus musculus", "HUMAN ", "Mouse", ""])
def test_a_species_value_other_than_mouse_or_human_is_an_error(logreg, subclass_paper41, tmp_path, value):
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 3),
                       {"species": ["mouse", value, "mouse"]})
    with pytest.raises(DataError, match=rf"column 'species' has unknown value '{value}' \(row 3\); expected exactly"):
        predict_file(logreg, path)


def test_a_species_the_model_never_saw_is_an_error_unless_allowed(logreg, subclass_paper41, tmp_path):
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 3))
    with pytest.raises(DataError, match="--species: 3 cell\\(s\\) are human, a species the model .* never saw"):
        predict_file(logreg, path, species="human")
    prediction = predict_file(logreg, path, species="human", allow_unseen_species=True)
    assert prediction.table["unseen_species"].all() and prediction.table["flagged"].all()
    assert any("never saw in training (it saw mouse)" in w for w in prediction.warnings)


def test_species_from_both_option_and_column_is_an_error(logreg, subclass_paper41, tmp_path):
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 3),
                       {"species": ["mouse"] * 3})
    with pytest.raises(DataError, match="has a 'species' column and --species mouse was given"):
        predict_file(logreg, path, species="mouse")


def test_a_model_that_uses_species_needs_them(saved_models, broad_paper41, tmp_path):
    fcnn = load_model(saved_models["fcnn"][0])  # species_flag=True
    path = write_cells(tmp_path / "cells.csv", broad_paper41, rows_of(broad_paper41, 3))
    with pytest.raises(DataError, match="the model uses each cell's species; pass --species or add a 'species'"):
        predict_file(fcnn, path)
    rows = rows_of(broad_paper41, 6)
    path = write_cells(tmp_path / "cells.csv", broad_paper41, rows, {"species": list(broad_paper41.species[rows])})
    original = saved_models["fcnn"][1]
    expected = original.predict(broad_paper41.X.iloc[rows], species=broad_paper41.species[rows])
    assert list(predict_file(fcnn, path).table["predicted"]) == list(np.asarray(broad_paper41.classes)[expected])


def test_reading_refuses_ragged_rows(logreg, subclass_paper41, tmp_path):
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 3))
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="row 3 has 40 fields, the header 41"):
        predict_file(logreg, path)
    lines[2] = lines[1] + ",extra"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="row 3 has 42 fields, the header 41"):
        predict_file(logreg, path)


def test_stdout_table_text_equals_the_file(logreg, subclass_paper41, tmp_path):
    """The CLI writes the same CSV text to standard output as to a file."""
    path = write_cells(tmp_path / "cells.csv", subclass_paper41, rows_of(subclass_paper41, 3),
                       {"cell_id": TRICKY_IDS[:3]})
    table = predict_file(logreg, path).table
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n")
    write_predictions(table, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == buffer.getvalue()
