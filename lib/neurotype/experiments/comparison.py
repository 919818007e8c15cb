"""Many models through one protocol: run, save, tabulate (the LSPIN chapter's Table 2).

:func:`run_models` evaluates a set of named model configurations with identical folds and
tuning budget and saves each :class:`~neurotype.protocol.evaluation.Report` as ``<directory>/<label>.json``;
the table helpers turn the reports into the chapter's tables and figure data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from neurotype.paper import claims
from neurotype.data.tables import TaskData
from neurotype.protocol.evaluation import Report, compare, evaluate
from neurotype.protocol.metrics import SCALAR_METRICS, intervals_overlap, per_class_f1_name

__all__ = ["Config", "run_models", "load_reports", "SUBCLASS_BASELINES", "table2", "interval_frame", "claims_frame",
           "feature_set_effect", "PAPER_LSPIN_CLAIMS", "PAPER_CONFUSION_DERIVED"]

#: The baselines that Table 2 puts beside LSPIN (the chapter-05 report labels of their default runs).
SUBCLASS_BASELINES = ("logreg", "svc", "rf", "xgb", "fcnn")
#: The paper's LSPIN numbers on the five mouse subclasses (its Table 2; written once in neurotype.paper.claims).
PAPER_LSPIN_CLAIMS: dict[str, float] = dict(claims.LSPIN)
#: What the paper's Fig 11 caption implies: its per-class recalls average to this macro recall.
#: Precision and F1 would need the figure's off-diagonal cells, which the text does not give
#: (see the reproduction audit).
PAPER_CONFUSION_DERIVED: dict[str, float] = {
    "recall_macro": sum(claims.LSPIN_CLASS_RECALL.values()) / len(claims.LSPIN_CLASS_RECALL)}


@dataclass(frozen=True)
class Config:
    """One row of the comparison: a registered model, fixed parameters, and whether it is tuned."""

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tuned: bool = False


def run_models(task: TaskData, configs: Mapping[str, Config], directory: str | Path, *, n_folds: int,
               n_repeats: int, seed: int, n_trials: int, n_jobs: int = 1, study_dir: str | Path | None = None,
               log: Callable[[str], None] | None = print) -> dict[str, Report]:
    """Evaluate every configuration with the same folds; tuned ones get ``n_trials`` each.

    Each report is saved as ``<directory>/<label>.json``. Returns ``{label: report}``.
    """
    directory = Path(directory)
    reports = {}
    for label, config in configs.items():
        started = time.perf_counter()
        report = evaluate(task, config.model, n_folds=n_folds, n_repeats=n_repeats, seed=seed,
                          n_trials=n_trials if config.tuned else 0, params=dict(config.params), n_jobs=n_jobs,
                          study_dir=study_dir)
        report.save(directory / f"{label}.json")
        reports[label] = report
        if log is not None:
            overall = report.metrics["all"]
            log(f"{task.feature_set} {label}: macro F1 {overall['f1_macro']['mean']:.3f}, accuracy "
                f"{overall['accuracy']['mean']:.3f} ({time.perf_counter() - started:.0f} s)")
    return reports


def load_reports(directory: str | Path, labels: Sequence[str]) -> dict[str, Report]:
    """The reports ``<directory>/<label>.json`` saved by :func:`run_models`."""
    return {label: Report.load(Path(directory) / f"{label}.json") for label in labels}


def table2(reports: Mapping[str, Report], classes: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """Every scalar metric and each class's F1 as ``mean [95 % interval]``, one row per model."""
    metrics = [*SCALAR_METRICS, *(per_class_f1_name(c) for c in classes)]
    table = compare(reports, metrics=metrics, species=["all"], digits=digits)
    return table.droplevel("species")


def interval_frame(reports_by_set: Mapping[str, Mapping[str, Report]], metric: str = "f1_macro") -> pd.DataFrame:
    """Long table ``model, feature_set, mean, low, high`` of one metric (for the interval plot)."""
    rows = []
    for feature_set, reports in reports_by_set.items():
        for label, report in reports.items():
            summary = report.metrics["all"][metric]
            low, high = summary.get("ci95") or (summary["mean"], summary["mean"])
            rows.append({"model": label, "feature_set": feature_set, "mean": summary["mean"], "low": low,
                         "high": high})
    return pd.DataFrame(rows)


def claims_frame(report: Report, claims: Mapping[str, float] = PAPER_LSPIN_CLAIMS,
                 derived: Mapping[str, float] = PAPER_CONFUSION_DERIVED) -> pd.DataFrame:
    """The paper's claimed numbers beside the measured mean and interval of ``report``."""
    rows = []
    for metric, claimed in claims.items():
        summary = report.metrics["all"][metric]
        low, high = summary.get("ci95") or (None, None)
        rows.append({"metric": metric, "paper (claimed)": claimed,
                     "paper (implied by its Fig 11 caption)": derived.get(metric),
                     "measured": summary["mean"], "95% low": low, "95% high": high,
                     "claim inside interval": bool(low is not None and low <= claimed <= high)})
    return pd.DataFrame(rows).set_index("metric")


def feature_set_effect(reports_a: Mapping[str, Report], reports_b: Mapping[str, Report],
                       metric: str = "f1_macro") -> pd.DataFrame:
    """Per model: mean ``metric`` on feature set A and B and the difference B − A.

    The two feature sets have different cells and different features, so the difference is not
    paired; ``intervals_overlap`` says whether the two 95 % intervals overlap.
    """
    rows = []
    for label in reports_a:
        if label not in reports_b:
            continue
        a, b = reports_a[label].metrics["all"][metric], reports_b[label].metrics["all"][metric]
        overlap = intervals_overlap(a.get("ci95"), b.get("ci95"))
        rows.append({"model": label, "a": a["mean"], "b": b["mean"], "difference": b["mean"] - a["mean"],
                     "intervals_overlap": overlap})
    return pd.DataFrame(rows).set_index("model")
