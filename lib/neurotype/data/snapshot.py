"""Build the bundled allensdk ``CellTypesCache`` directory from the specimen-detail table.

The ACTD specimen-detail API returns one JSON record per cell with keys such as
``specimen__id`` and ``donor__species``. The snapshot we bundle was saved as a CSV
(``data/source/cell_types_specimen_details.csv``); this module turns it back into the
``cells.json`` list of records that ``CellTypesCache.get_cells`` reads, restoring the
API's value types column by column: a column whose every non-empty value is an
integer becomes integers, one whose values are all numbers becomes floats, anything
else stays text, and an empty cell becomes JSON ``null``. Text such as ``"NA"`` (the
API's own value of ``tag__apical``) or ``"2/3"`` (a layer) is kept verbatim.

Run ``python -m neurotype.data.snapshot`` to rebuild ``data/actd/cells.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from neurotype import paths

__all__ = ["specimen_records", "write_cells_json", "CELLS_JSON", "MANIFEST_JSON"]

CELLS_JSON = "cells.json"
MANIFEST_JSON = "manifest.json"


def _as_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _as_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _column_type(values: list[str]) -> type:
    present = [v for v in values if v != ""]
    if present and all(_as_int(v) is not None for v in present):
        return int
    if present and all(_as_float(v) is not None for v in present):
        return float
    return str


def specimen_records(csv_path: Path) -> list[dict]:
    """Read the specimen-detail CSV into API-typed records, one dict per cell, file order kept.

    Parameters
    ----------
    csv_path
        The ACTD specimen-detail table (one row per cell, raw API keys as columns).

    Returns
    -------
    list of dict
        Records with the API's keys; empty cells are ``None``.
    """
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{csv_path}: no specimen rows")
    columns = list(rows[0])
    types = {column: _column_type([row[column] for row in rows]) for column in columns}
    records = []
    for row in rows:
        record = {}
        for column in columns:
            text = row[column]
            if text == "":
                record[column] = None
            elif types[column] is int:
                record[column] = int(text)
            elif types[column] is float:
                record[column] = float(text)
            else:
                record[column] = text
        records.append(record)
    return records


def write_cells_json(csv_path: Path, cache_dir: Path) -> Path:
    """Write ``cells.json`` for ``CellTypesCache`` into ``cache_dir`` and return its path."""
    target = cache_dir / CELLS_JSON
    # One cell per line: small, diff-friendly, and still one JSON list.
    lines = [json.dumps(record, ensure_ascii=False) for record in specimen_records(csv_path)]
    target.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurotype.data.snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=paths.SOURCE / "cell_types_specimen_details.csv")
    parser.add_argument("--cache-dir", type=Path, default=paths.ACTD_CACHE)
    args = parser.parse_args(argv)
    print(write_cells_json(args.source, args.cache_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
