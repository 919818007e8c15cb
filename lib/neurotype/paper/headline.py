"""The book's headline table: each claim of the paper beside our measurement and a verdict.

The paper's numbers come from :mod:`neurotype.paper.claims`; ours from the chapters' reports
(``results_dir/<chapter>/report.json``, read with
:func:`~neurotype.protocol.reports.read_chapter_report`), which must come from one profile and one
seed (:func:`~neurotype.protocol.reports.check_consistent`).

A claim of the paper is one number from one 80/20 split. The interval of a cross-validated mean
says where the *mean* over splits lies, not where one split's score may fall, so it is the wrong
yardstick for such a number. :func:`claim_verdict` therefore compares a claim with the range
(2.5–97.5 %) of single stratified 80/20 split scores under the honest protocol, where a chapter
measured it, and states the cross-validated interval beside it. The chapters use the same
functions, so the intro and the chapters cannot disagree; the notes on what the original code did
come from :mod:`neurotype.experiments.audit`, so the intro and the audit cannot either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from neurotype.experiments import audit
from neurotype.experiments.external import external_headline_rows
from neurotype.paper import claims
from neurotype.protocol.metrics import metric_name
from neurotype.protocol.reports import Estimate, check_consistent, read_chapter_report

__all__ = ["external_rows", "Verdict", "claim_verdict", "beats_verdict", "HeadlineRow", "headline_rows", "headline_frame",
           "PRIMARY_TABLE1", "PRIMARY_TABLE2", "PRIMARY_TUNED_TABLE2", "single_split_label", "difference_label"]

#: The primary model of Table 1 (chapter 03), declared before any result was seen: the paper's DANN.
PRIMARY_TABLE1 = "DANN semi"
#: The primary model of Table 2 (chapter 05), declared before any result was seen: LSPIN, paper's settings.
PRIMARY_TABLE2 = "lspin_paper"
#: The primary model of the tuned Table 2, declared before any result of it was seen: LSPIN as the
#: reference implementation builds it, tuned over the paper's search (λ1, learning rate).
PRIMARY_TUNED_TABLE2 = "lspin_reference_tuned"


def single_split_label(label: str) -> str:
    """The report label of a model's single-split spread: ``"<label>, single 80/20 splits"``."""
    return f"{label}, single 80/20 splits"


def difference_label(label: str, rival: str) -> str:
    """The report label of a paired difference: ``"<label> − <rival>"``."""
    return f"{label} − {rival}"


@dataclass(frozen=True)
class Verdict:
    """A sentence on one claim, whether the claim holds up, and the yardstick it was judged by."""

    text: str
    consistent: bool
    basis: str
    #: the verdict in a few words, for a table whose other columns hold the numbers
    short: str = ""


def _range(estimate: Estimate) -> str:
    return f"[{estimate.low:.3f}, {estimate.high:.3f}]"


def claim_verdict(paper: float, cv: Estimate, single: Estimate | None = None, *,
                  failure_claim: bool = False) -> Verdict:
    """Compare one claimed number with our measurement.

    Parameters
    ----------
    paper
        The paper's number (one split).
    cv
        Our cross-validated mean and its corrected 95 % interval.
    single
        Our single 80/20 split scores: mean and 2.5–97.5 % range. When given, this range is the
        yardstick; otherwise the cross-validated interval is.
    failure_claim
        The paper's number documents a failure (e.g. low cross-species accuracy), so a higher
        measurement means the failure does not reproduce.
    """
    use_single = single is not None and single.low is not None and single.high is not None
    yardstick = single if use_single else cv
    if yardstick.low is None or yardstick.high is None:
        raise ValueError("a verdict needs an interval or a range")
    basis = "range of single 80/20 splits" if use_single else "cross-validated 95 % interval"
    stated = f"the {basis} {_range(yardstick)}"
    if use_single:
        stated += f"; cross-validated mean {cv.format()}"
    short = "the single-split range" if use_single else "the cross-validated interval"
    if yardstick.low <= paper <= yardstick.high:
        return Verdict(f"Consistent: the paper's {paper:.3f} lies inside {stated}.", True, basis,
                       f"Consistent: inside {short}.")
    if paper > yardstick.high:
        return Verdict(f"Not reproduced: the paper's {paper:.3f} lies above {stated}.", False, basis,
                       f"Not reproduced: above {short}.")
    if failure_claim:
        return Verdict(f"The failure does not reproduce: the paper's {paper:.3f} lies below {stated}.", False, basis,
                       f"The failure does not reproduce: below {short}.")
    return Verdict(f"Ours is higher: the paper's {paper:.3f} lies below {stated}.", False, basis,
                   f"Ours is higher: the paper's number is below {short}.")


def beats_verdict(differences: Mapping[str, Estimate], metric: str = "macro F1") -> Verdict:
    """Does one model beat every rival? Judged on paired differences (model − rival) over the same folds.

    Holds when every difference's 95 % interval lies above 0; does not hold when some rival's
    interval lies wholly on the other side; not shown otherwise.
    """
    if not differences:
        raise ValueError("no rival to compare with")
    listing = "; ".join(f"{rival} {d.format()}" for rival, d in differences.items())
    basis = "paired differences over the same outer folds"
    if all(d.low is not None and d.low > 0 for d in differences.values()):
        return Verdict(f"Holds: every paired difference in {metric} lies above 0 ({listing}).", True, basis,
                       f"Holds: {listing}.")
    worse = [rival for rival, d in differences.items() if d.high is not None and d.high < 0]
    if worse:
        return Verdict(f"Does not hold: {', '.join(worse)} score(s) higher ({metric} difference {listing}).",
                       False, basis, f"Does not hold: {', '.join(worse)} score(s) higher ({listing}).")
    return Verdict(f"Not shown: some paired difference in {metric} includes 0 ({listing}).", False, basis,
                   f"Not shown: a paired difference includes 0 ({listing}).")


@dataclass(frozen=True)
class HeadlineRow:
    """One claim of the paper, our measurement and the verdict."""

    claim: str
    paper: float | None
    cv: Estimate
    single: Estimate | None
    chapter: str
    verdict: Verdict
    #: what the original code did to this number (from the audit), or ""
    note: str = ""
    #: the row measures a claim of an earlier row again (another protocol), so it is no claim of its own
    repeats_claim: bool = False

    @property
    def consistent(self) -> bool:
        return self.verdict.consistent


def _dann_note() -> str:
    reenactment = audit.reenact_dropna(audit.read_original_tables())
    n_human = reenactment.count("after dropna()", "human")
    return f"The paper's network trained on {n_human} human cells: dropna() removed them all (chapter 07)."


def _fig11_note(metric: str, fig11: Mapping[str, float]) -> str:
    return f"The paper's own Fig 11 matrix gives {fig11[metric]:.3f} (chapter 07)."


def headline_rows(results_dir: Path | str) -> list[HeadlineRow]:
    """Every headline claim with our measurement, from the reports of chapters 03, 04 and 05."""
    results = Path(results_dir)
    dann = read_chapter_report(results / "03_dann" / "report.json")
    ablation = read_chapter_report(results / "04_ablation" / "report.json")
    lspin = read_chapter_report(results / "05_lspin" / "report.json")
    check_consistent([dann, ablation, lspin])
    rows = []
    note = _dann_note()
    for species in ("human", "mouse"):
        cv = dann.estimate(PRIMARY_TABLE1, species, "accuracy")
        single = dann.estimate(single_split_label(PRIMARY_TABLE1), species, "accuracy")
        paper = claims.DANN_ACCURACY[species]
        rows.append(HeadlineRow(f"DANN accuracy on {species} cells", paper, cv, single, "03_dann",
                                claim_verdict(paper, cv, single), note))
    for direction, target in (("mouse→human", "human"), ("human→mouse", "mouse")):
        cv = ablation.estimate(f"FCNN {direction}", target, "accuracy")
        paper = claims.FCNN_TRANSFER[direction]["accuracy"]
        rows.append(HeadlineRow(f"FCNN trained {direction.replace('→', ' → ')}: accuracy", paper, cv, None,
                                "04_ablation", claim_verdict(paper, cv, None, failure_claim=True)))
    fig11 = audit.paper_fig11().scores()
    for metric, paper in claims.LSPIN.items():
        cv = lspin.estimate(PRIMARY_TABLE2, "all", metric)
        single = lspin.estimate(single_split_label(PRIMARY_TABLE2), "all", metric)
        rows.append(HeadlineRow(f"LSPIN {metric_name(metric)} (five subclasses)", paper, cv, single, "05_lspin",
                                claim_verdict(paper, cv, single), _fig11_note(metric, fig11)))
    differences = {rival: lspin.estimate(difference_label(PRIMARY_TABLE2, rival), "all", "f1_macro")
                   for rival in claims.LSPIN_BEATS}
    rows.append(HeadlineRow("LSPIN beats RF, SVC and XGBoost (macro F1)", None,
                            lspin.estimate(PRIMARY_TABLE2, "all", "f1_macro"), None, "05_lspin",
                            beats_verdict(differences),
                            f"The paper's baselines trained on {audit.BASELINE_TRAIN_SIZE:.0%} of the cells and were "
                            "tested on other cells than LSPIN (chapter 07)."))
    tuned = {f"{rival}_tuned": lspin.estimate(difference_label(PRIMARY_TUNED_TABLE2, f"{rival}_tuned"), "all", "f1_macro")
             for rival in claims.LSPIN_BEATS}
    rows.append(HeadlineRow("LSPIN beats RF, SVC and XGBoost, every model tuned alike (macro F1)", None,
                            lspin.estimate(PRIMARY_TUNED_TABLE2, "all", "f1_macro"), None, "05_lspin",
                            beats_verdict(tuned),
                            f"The reference LSPIN against the same baselines, each tuned with the same Optuna budget "
                            f"({lspin.parameters.get('n_trials')} trials per outer fold).", repeats_claim=True))
    return rows


def external_rows(results_dir: Path | str) -> list[HeadlineRow]:
    """Beyond the paper: one row per external data set (chapter 08), refused if its report was run with
    another profile or seed than chapters 03–05."""
    results = Path(results_dir)
    check_consistent([read_chapter_report(results / chapter / "report.json")
                      for chapter in ("03_dann", "04_ablation", "05_lspin", "08_external")])
    return [HeadlineRow(row.claim, None, row.measured, None, row.chapter,
                        Verdict(row.verdict, row.consistent, "ACTD cross-validation on the same features",
                                short=row.short))
            for row in external_headline_rows(results)]


def headline_frame(rows: list[HeadlineRow]) -> pd.DataFrame:
    """The rows as a table for people: claim, paper, single splits (mean [2.5 %, 97.5 %]), cross-validated
    (mean [95 % CI]), short verdict and the audit's note."""
    return pd.DataFrame({
        "the paper's claim": [r.claim for r in rows],
        "paper": ["–" if r.paper is None else f"{r.paper:.3f}" for r in rows],
        "ours, single 80/20 splits": ["–" if r.single is None else r.single.format() for r in rows],
        "ours, cross-validated": [r.cv.format() for r in rows],
        "verdict": [f"{r.verdict.short} {r.note}".strip() for r in rows],
    })
