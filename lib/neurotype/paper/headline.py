"""The book's headline table: each claim of the paper beside our measurement and a verdict.

Everything is read from the chapters' ``report.json`` files (``results_dir/<chapter>/``); the
paper's numbers come from :mod:`neurotype.paper.claims`. A verdict compares the claimed number with
our 95 % interval: inside it, the claim is consistent with our measurement; outside it, we
say in which direction it misses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from neurotype.paper import claims
from neurotype.protocol.metrics import format_estimate, format_interval
from neurotype.protocol.reports import read_report

__all__ = ["HeadlineRow", "headline_rows", "headline_frame", "verdict"]


@dataclass(frozen=True)
class HeadlineRow:
    """One claim of the paper and what we measured for it."""

    claim: str
    paper: float | None
    measured: float | None
    low: float | None
    high: float | None
    chapter: str
    verdict: str
    #: whether the paper's claim holds up: its number inside our interval, or the claim shown
    consistent: bool


def verdict(paper: float, measured: float, low: float, high: float, *, failure_claim: bool = False) -> str:
    """One sentence comparing a claimed number with our estimate and its 95 % interval.

    ``failure_claim``: the paper's number documents a failure (e.g. low cross-species
    accuracy), so a higher measurement means the failure does not reproduce.
    """
    if low <= paper <= high:
        return f"Consistent: the paper's {paper:.3f} lies inside our interval {format_interval(low, high)}."
    if paper > high:
        return f"Not reproduced: we measure {format_estimate(measured, low, high)}, below the paper's {paper:.3f}."
    if failure_claim:
        return (f"The failure does not reproduce: we measure {format_estimate(measured, low, high)}, "
                f"far above the paper's {paper:.3f}.")
    return f"Ours is higher: {format_estimate(measured, low, high)} against the paper's {paper:.3f}."


def _summary(metric: dict) -> tuple[float, float, float]:
    low, high = metric["ci95"] if metric.get("ci95") else (metric["mean"], metric["mean"])
    return metric["mean"], low, high


def _claim_row(claim: str, paper: float, mean: float, low: float, high: float, chapter: str, *,
               failure_claim: bool = False) -> HeadlineRow:
    return HeadlineRow(claim, paper, mean, low, high, chapter, verdict(paper, mean, low, high, failure_claim=failure_claim),
                       consistent=bool(low <= paper <= high))


def _dann_rows(results: Path) -> list[HeadlineRow]:
    report = read_report(results / "03_dann" / "report.json")
    rows = []
    for species in ("human", "mouse"):
        mean, low, high = _summary(report["metrics"]["DANN semi"][species]["accuracy"])
        paper = claims.DANN_ACCURACY[species]
        rows.append(_claim_row(f"DANN accuracy on {species} cells", paper, mean, low, high, "03_dann"))
    return rows


def _transfer_rows(results: Path) -> list[HeadlineRow]:
    report = read_report(results / "04_ablation" / "report.json")
    rows = []
    for entry in report["transfer"]:
        if entry["model"] != "fcnn" or entry["direction"] not in claims.FCNN_TRANSFER:
            continue
        paper = claims.FCNN_TRANSFER[entry["direction"]]["accuracy"]
        mean, low, high = entry["accuracy"], entry["accuracy_low"], entry["accuracy_high"]
        rows.append(_claim_row(f"FCNN trained {entry['direction'].replace('→', ' → ')}: accuracy", paper, mean,
                               low, high, "04_ablation", failure_claim=True))
    return rows


_LSPIN_NAMES = {"accuracy": "accuracy", "f1_macro": "macro F1", "precision_macro": "macro precision",
                "recall_macro": "macro recall"}


def _lspin_rows(results: Path) -> list[HeadlineRow]:
    report = read_report(results / "05_lspin" / "report.json")
    table = report["table2"]
    lspin = "lspin_paper"  # the paper's own settings: the faithful reproduction
    rows = []
    for metric, paper in claims.LSPIN.items():
        mean, low, high = _summary(table[lspin][metric])
        rows.append(_claim_row(f"LSPIN {_LSPIN_NAMES[metric]} (five subclasses)", paper, mean, low, high,
                               "05_lspin"))
    f1, f1_low, f1_high = _summary(table[lspin]["f1_macro"])
    rivals = {name: _summary(table[name]["f1_macro"]) for name in claims.LSPIN_BEATS if name in table}
    best_name, (best, best_low, best_high) = max(rivals.items(), key=lambda item: item[1][0])
    if f1_low > best_high:
        text = f"Holds: LSPIN's macro F1 interval lies above the best of them ({best_name})."
    elif f1 > best:
        text = (f"Not shown: LSPIN's macro F1 {f1:.3f} is above {best_name}'s {best:.3f}, "
                "but the intervals overlap.")
    else:
        text = f"Does not hold: {best_name} scores {best:.3f} against LSPIN's {f1:.3f} (macro F1)."
    rows.append(HeadlineRow("LSPIN beats RF, SVC and XGBoost (macro F1)", None, f1, f1_low, f1_high, "05_lspin", text,
                            consistent=bool(f1_low > best_high)))
    return rows


def headline_rows(results_dir: Path | str) -> list[HeadlineRow]:
    """Every headline claim with our measurement, from the chapters' reports."""
    results = Path(results_dir)
    return [*_dann_rows(results), *_transfer_rows(results), *_lspin_rows(results)]


def headline_frame(rows: list[HeadlineRow]) -> pd.DataFrame:
    """The rows as a display table: claim, paper, ours [interval], chapter, verdict."""
    frame = pd.DataFrame([asdict(r) for r in rows])
    ours = [format_estimate(m, lo, hi) for m, lo, hi in zip(frame["measured"], frame["low"], frame["high"])]
    return pd.DataFrame({"paper's claim": frame["claim"],
                         "paper": [f"{p:.3f}" if p is not None and p == p else "—" for p in frame["paper"]],
                         "neurotype (95 % interval)": ours, "chapter": frame["chapter"],
                         "verdict": frame["verdict"]})
