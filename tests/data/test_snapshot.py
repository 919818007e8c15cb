"""The bundled CellTypesCache directory is rebuilt exactly from the specimen-detail CSV."""

from __future__ import annotations

import hashlib
import json

from neurotype import paths
from neurotype.data.snapshot import specimen_records, write_cells_json

SHA256 = {
    "data/source/cell_types_specimen_details.csv": "38f560ebb92180b20bd6f390e25a1aaca2a16465338224561628ce3df53dfb2d",
    "data/actd/ephys_features.csv": "48e595aca23c156f41cb4581893ff837600d4646512dc074741787d407bded75",
    "data/paper41/mouse_ephys_data.csv": "b91e818fe1938f95f455bb94b411ad3bcbb7218495a018bc8f98368ec84239e1",
    "data/paper41/human_ephys_data.csv": "7492581a54a5cf6a14b087f6fb2dce172c35c1c2951145175e43338f23114fa6",
}


def test_bundled_files_match_their_recorded_checksums():
    for relative, expected in SHA256.items():
        assert hashlib.sha256((paths.ROOT / relative).read_bytes()).hexdigest() == expected, relative
    provenance = (paths.DATA / "PROVENANCE.md").read_text()
    for expected in SHA256.values():
        assert expected in provenance


def test_cells_json_is_the_rebuild_of_the_csv(tmp_path):
    rebuilt = write_cells_json(paths.SOURCE / "cell_types_specimen_details.csv", tmp_path)
    assert rebuilt.read_bytes() == (paths.ACTD_CACHE / "cells.json").read_bytes()


def test_records_keep_api_types():
    records = specimen_records(paths.SOURCE / "cell_types_specimen_details.csv")
    assert len(records) == 2333
    first = records[0]
    assert isinstance(first["specimen__id"], int)
    assert isinstance(first["ef__vrest"], float)
    assert first["line_name"] is None
    assert first["tag__apical"] == "intact"
    assert {r["structure__layer"] for r in records} >= {"2/3", "6a", "3"}
    manifest = json.loads((paths.ACTD_CACHE / "manifest.json").read_text())
    assert {"type": "manifest_version", "value": "1.1"} in manifest["manifest"]
