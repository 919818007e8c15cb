"""Headline verdicts are computed from the numbers, in the right direction, against the right yardstick."""

from __future__ import annotations

import pytest

from neurotype.paper import claims
from neurotype.paper.headline import (PRIMARY_TABLE1, PRIMARY_TABLE2, PRIMARY_TUNED_TABLE2, beats_verdict, claim_verdict,
                                      difference_label, headline_frame, headline_rows, single_split_label)
from neurotype.protocol.reports import ChapterReport, Estimate


def test_verdict_directions_against_the_cross_validated_interval():
    cv = Estimate(0.94, 0.92, 0.96)
    assert claim_verdict(0.95, cv).text.startswith("Consistent")
    assert claim_verdict(0.97, cv).text.startswith("Not reproduced")
    assert claim_verdict(0.60, cv, failure_claim=True).text.startswith("The failure does not reproduce")
    assert claim_verdict(0.60, cv).text.startswith("Ours is higher")
    assert claim_verdict(0.95, cv).basis == "cross-validated 95 % interval"


def test_a_single_split_claim_is_judged_by_the_range_of_single_splits():
    # The paper's 0.974 is outside the narrow interval of the cross-validated mean but well inside the
    # range one 80/20 split can give: the claim is consistent, and the text states both.
    cv, single = Estimate(0.955, 0.945, 0.965), Estimate(0.955, 0.910, 0.990)
    verdict = claim_verdict(0.974, cv, single)
    assert verdict.consistent and verdict.basis == "range of single 80/20 splits"
    assert "[0.910, 0.990]" in verdict.text and "0.955 [0.945, 0.965]" in verdict.text
    assert not claim_verdict(0.995, cv, single).consistent


def test_beats_verdict_needs_every_paired_difference_above_zero():
    assert beats_verdict({"rf": Estimate(0.05, 0.01, 0.09), "svc": Estimate(0.02, 0.001, 0.04)}).consistent
    assert beats_verdict({"rf": Estimate(0.05, 0.01, 0.09), "svc": Estimate(0.0, -0.02, 0.02)}).text.startswith(
        "Not shown")
    assert beats_verdict({"rf": Estimate(-0.05, -0.09, -0.01)}).text.startswith("Does not hold: rf")
    with pytest.raises(ValueError):
        beats_verdict({})


def _summary(mean, low, high):
    return {"mean": mean, "sd": 0.01, "ci95": [low, high]}


def _save(tmp_path, chapter, estimates, seed=0):
    ChapterReport(chapter=chapter, parameters={"profile": "smoke", "seed": seed}, estimates=estimates, results={},
                  wall_seconds=1.0, versions={}).save(tmp_path / chapter / "report.json")


@pytest.fixture()
def fake_results(tmp_path):
    dann = {PRIMARY_TABLE1: {s: {"accuracy": _summary(0.955, 0.945, 0.965)} for s in ("human", "mouse")},
            single_split_label(PRIMARY_TABLE1): {"human": {"accuracy": _summary(0.94, 0.90, 0.98)},
                                                 "mouse": {"accuracy": _summary(0.96, 0.95, 0.97)}}}
    ablation = {f"FCNN {d}": {d.split("→")[1]: {"accuracy": _summary(0.9, 0.88, 0.92)}} for d in claims.FCNN_TRANSFER}
    lspin = {PRIMARY_TABLE2: {"all": {m: _summary(0.82, 0.79, 0.85) for m in claims.LSPIN}},
             single_split_label(PRIMARY_TABLE2): {"all": {m: _summary(0.82, 0.76, 0.88) for m in claims.LSPIN}},
             **{difference_label(PRIMARY_TABLE2, r): {"all": {"f1_macro": _summary(0.02, -0.01, 0.05)}}
                for r in claims.LSPIN_BEATS},
             PRIMARY_TUNED_TABLE2: {"all": {"f1_macro": _summary(0.83, 0.80, 0.86)}},
             **{difference_label(PRIMARY_TUNED_TABLE2, f"{r}_tuned"): {"all": {"f1_macro": _summary(0.03, 0.01, 0.05)}}
                for r in claims.LSPIN_BEATS}}
    _save(tmp_path, "03_dann", dann)
    _save(tmp_path, "04_ablation", ablation)
    _save(tmp_path, "05_lspin", lspin)
    return tmp_path


def test_headline_rows_from_reports(fake_results):
    rows = headline_rows(fake_results)
    assert len(rows) == 2 + 2 + len(claims.LSPIN) + 2
    by_claim = {r.claim: r for r in rows}
    # Human: 0.950 inside the single-split range [0.90, 0.98]; mouse: 0.974 above [0.95, 0.97].
    assert by_claim["DANN accuracy on human cells"].consistent
    assert by_claim["DANN accuracy on mouse cells"].verdict.text.startswith("Not reproduced")
    assert "0 human cells" in by_claim["DANN accuracy on human cells"].note  # the audit's dropna() count
    assert all(r.verdict.text.startswith("The failure does not reproduce") for r in rows if r.claim.startswith("FCNN"))
    # Single-split range [0.76, 0.88]: the paper's accuracy 0.916 lies above it, its macro recall 0.873 inside.
    assert by_claim["LSPIN accuracy (five subclasses)"].verdict.text.startswith("Not reproduced")
    assert by_claim["LSPIN macro recall (five subclasses)"].consistent
    assert "0.865" in by_claim["LSPIN macro recall (five subclasses)"].note  # the paper's own Fig 11 matrix
    assert by_claim["LSPIN beats RF, SVC and XGBoost (macro F1)"].verdict.text.startswith("Not shown")
    # Tuned alike: every paired difference's interval [0.01, 0.05] lies above 0.
    tuned_alike = by_claim["LSPIN beats RF, SVC and XGBoost, every model tuned alike (macro F1)"]
    assert tuned_alike.verdict.text.startswith("Holds") and tuned_alike.repeats_claim
    assert sum(r.repeats_claim for r in rows) == 1  # every other row is a claim of its own
    frame = headline_frame(rows)
    assert list(frame.columns)[:2] == ["the paper's claim", "paper"]
    assert frame.iloc[0, 2] == "0.940 [0.900, 0.980]"
    assert frame.iloc[0, 4].startswith("Consistent: inside the single-split range. The paper's network trained on 0")


def test_headline_refuses_reports_of_different_seeds(fake_results):
    _save(fake_results, "04_ablation", {f"FCNN {d}": {d.split("→")[1]: {"accuracy": _summary(0.9, 0.88, 0.92)}}
                                        for d in claims.FCNN_TRANSFER}, seed=1)
    with pytest.raises(ValueError, match="different seeds"):
        headline_rows(fake_results)


def test_missing_report_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="03_dann/report.json"):
        headline_rows(tmp_path)
