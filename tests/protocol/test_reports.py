"""Chapter reports: one schema, one accessor, and mixed profiles or seeds refused."""

from __future__ import annotations

import json
import time

import pytest

from neurotype.book.profiles import ChapterParameters
from neurotype.protocol.reports import (REPORT_SCHEMA, check_consistent, read_chapter_report, write_chapter_report)


def _write(tmp_path, chapter, profile="smoke", seed=0):
    params = ChapterParameters(chapter, {"profile": profile, "results_dir": str(tmp_path), "seed": seed})
    estimates = {"DANN semi": {"human": {"accuracy": {"mean": 0.9, "ci95": [0.85, 0.95], "sd": 0.02}}}}
    return write_chapter_report(tmp_path / chapter, params, estimates=estimates, results={"x": [1, 2]},
                                started=time.perf_counter() - 1.5)


def test_a_chapter_report_round_trips_with_every_schema_key(tmp_path):
    path = _write(tmp_path, "03_dann")
    body = json.loads(path.read_text())
    assert set(body) == {"schema", "chapter", "parameters", "estimates", "results", "wall_seconds", "versions"}
    assert body["schema"] == REPORT_SCHEMA and body["wall_seconds"] >= 1.5 and "torch" in body["versions"]
    report = read_chapter_report(path)
    estimate = report.estimate("DANN semi", "human", "accuracy")
    assert (estimate.mean, estimate.low, estimate.high) == (0.9, 0.85, 0.95)
    assert estimate.format() == "0.900 [0.850, 0.950]"
    with pytest.raises(KeyError, match="mouse"):
        report.estimate("DANN semi", "mouse", "accuracy")


def test_reports_of_other_schemas_are_refused(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"chapter": "03_dann", "schema": 1}))
    with pytest.raises(ValueError, match="schema"):
        read_chapter_report(path)


def test_mixing_profiles_or_seeds_is_refused(tmp_path):
    a = read_chapter_report(_write(tmp_path, "03_dann"))
    b = read_chapter_report(_write(tmp_path, "04_ablation"))
    check_consistent([a, b])
    c = read_chapter_report(_write(tmp_path, "05_lspin", profile="full"))
    with pytest.raises(ValueError, match="different profiles"):
        check_consistent([a, c])
    d = read_chapter_report(_write(tmp_path, "07_audit", seed=1))
    with pytest.raises(ValueError, match="different seeds"):
        check_consistent([a, d])
