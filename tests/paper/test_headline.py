"""Headline verdicts are computed from the numbers, in the right direction."""

from __future__ import annotations

import json

import pytest

from neurotype.paper import claims
from neurotype.paper.headline import headline_frame, headline_rows, verdict


def test_verdict_directions():
    assert verdict(0.95, 0.94, 0.92, 0.96).startswith("Consistent")
    assert verdict(0.95, 0.90, 0.88, 0.92).startswith("Not reproduced")
    assert verdict(0.60, 0.90, 0.88, 0.92, failure_claim=True).startswith("The failure does not reproduce")
    assert verdict(0.60, 0.90, 0.88, 0.92).startswith("Ours is higher")


def _metric(mean, low, high):
    return {"mean": mean, "sd": 0.01, "ci95": [low, high]}


@pytest.fixture()
def fake_results(tmp_path):
    dann = {"metrics": {"DANN semi": {s: {"accuracy": _metric(0.95, 0.93, 0.97)} for s in ("human", "mouse")}}}
    ablation = {"transfer": [
        {"direction": d, "model": "fcnn", "accuracy": 0.9, "accuracy_low": 0.88, "accuracy_high": 0.92}
        for d in claims.FCNN_TRANSFER] + [
        {"direction": "mouse→human", "model": "logreg", "accuracy": 0.5, "accuracy_low": 0.4, "accuracy_high": 0.6}]}
    table = {name: {m: _metric(0.80, 0.77, 0.83) for m in claims.LSPIN} for name in ("rf", "svc", "xgb")}
    table["lspin_paper"] = {m: _metric(0.82, 0.79, 0.85) for m in claims.LSPIN}
    for chapter, body in (("03_dann", dann), ("04_ablation", ablation), ("05_lspin", {"table2": table})):
        (tmp_path / chapter).mkdir()
        (tmp_path / chapter / "report.json").write_text(json.dumps(body))
    return tmp_path


def test_headline_rows_from_reports(fake_results):
    rows = headline_rows(fake_results)
    assert len(rows) == 2 + 2 + len(claims.LSPIN) + 1
    by_claim = {r.claim: r for r in rows}
    assert by_claim["DANN accuracy on mouse cells"].verdict.startswith("Not reproduced")  # 0.974 > 0.97
    assert by_claim["DANN accuracy on human cells"].verdict.startswith("Consistent")
    assert all(r.verdict.startswith("The failure does not reproduce") for r in rows if r.claim.startswith("FCNN"))
    assert by_claim["LSPIN beats RF, SVC and XGBoost (macro F1)"].verdict.startswith("Not shown")
    assert [r.claim for r in rows if r.consistent] == ["DANN accuracy on human cells"]
    frame = headline_frame(rows)
    assert list(frame.columns)[:3] == ["paper's claim", "paper", "neurotype (95 % interval)"]


def test_missing_report_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="03_dann/report.json"):
        headline_rows(tmp_path)
