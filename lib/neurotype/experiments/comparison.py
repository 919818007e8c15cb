"""Many models through one protocol: run, save, tabulate, judge (the LSPIN chapter's Table 2).

:func:`run_models` evaluates a set of named model configurations with identical folds and
tuning budget and saves each :class:`~neurotype.protocol.evaluation.Report` as ``<directory>/<label>.json``;
the table helpers turn the reports into the chapter's tables and figure data.

Two measurements judge the paper's single-split claims fairly: :func:`single_split_spread` (one
model on many single stratified 80/20 splits: the range one split like the paper's can give) and
:func:`paired_difference` (two models' per-fold difference over the same outer folds, with the
Nadeau–Bengio corrected interval). Nothing here chooses a model by its test score: the primary
model of a table is named before any result is seen
(:data:`neurotype.paper.headline.PRIMARY_TABLE2`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from neurotype.data.splits import inner_split, outer_folds
from neurotype.data.tables import TaskData
from neurotype.models.registry import get_model
from neurotype.paper import claims
from neurotype.paper.headline import claim_verdict, difference_label
from neurotype.protocol.evaluation import Report, compare, evaluate_many, fit_model
from neurotype.protocol.metrics import (OVERALL, SCALAR_METRICS, central_95, fold_metrics, intervals_overlap,
                                        per_class_f1_name)
from neurotype.protocol.reports import Estimate

__all__ = ["Config", "run_models", "load_reports", "SUBCLASS_BASELINES", "table2", "interval_frame", "claims_frame",
           "feature_set_effect", "PAPER_LSPIN_CLAIMS", "SplitSpread", "single_split_spread", "paired_difference",
           "report_estimates", "difference_estimates", "TARGET_F1_MACRO", "table2_configs", "claims_display", "differences_frame",
           "confusion_numbers", "tuned_parameters", "primary_numbers"]

#: The baselines that Table 2 puts beside LSPIN (the chapter-05 report labels of their default runs).
SUBCLASS_BASELINES = ("logreg", "svc", "rf", "xgb", "fcnn")
#: The paper's LSPIN numbers on the five mouse subclasses (its Table 2; written once in neurotype.paper.claims).
PAPER_LSPIN_CLAIMS: dict[str, float] = dict(claims.LSPIN)


#: The project's target for LSPIN's macro F1 under the honest protocol (judged on the primary model only).
TARGET_F1_MACRO = 0.87


@dataclass(frozen=True)
class Config:
    """One row of the comparison: a registered model, fixed parameters, and whether it is tuned."""

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    tuned: bool = False


def table2_configs(overrides: Mapping[str, Mapping[str, Any]], *, tuned: bool, ensemble_members: int = 3,
                   baselines: Sequence[str] = SUBCLASS_BASELINES) -> dict[str, Config]:
    """Table 2's rows: each baseline, our LSPIN and the reference LSPIN, default or tuned.

    Labels: ``<model>`` (defaults; LSPIN's are the paper's settings, label ``lspin_paper``;
    ``lspin_reference`` the reference implementation with the same settings), ``<model>_tuned``
    and ``lspin_reference_tuned`` (the paper's search over λ1 and the learning rate); the default
    budget adds an LSPIN seed ensemble ``lspin_paper_x<members>``. ``overrides`` holds per-model
    parameters kept fixed (the smoke profile's shorter training).
    """
    suffix = "_tuned" if tuned else ""
    rows = {f"{name}{suffix}": Config(name, dict(overrides.get(name, {})), tuned) for name in baselines}
    rows[f"lspin_reference{suffix}"] = Config("lspin_reference", dict(overrides.get("lspin_reference", {})), tuned)
    rows["lspin_tuned" if tuned else "lspin_paper"] = Config("lspin", dict(overrides.get("lspin", {})), tuned)
    if not tuned:
        rows[f"lspin_paper_x{ensemble_members}"] = Config("lspin", {**overrides.get("lspin", {}),
                                                                    "n_members": ensemble_members})
    return rows


def run_models(task: TaskData, configs: Mapping[str, Config], directory: str | Path, *, n_folds: int,
               n_repeats: int, seed: int, n_trials: int, n_jobs: int = 1, study_dir: str | Path | None = None,
               storage: str | None = None, pruner: str = "median",
               log: Callable[[str], None] | None = print) -> dict[str, Report]:
    """Evaluate every configuration with the same folds; tuned ones get ``n_trials`` each.

    All configurations' folds share one pool of ``n_jobs`` workers
    (:func:`~neurotype.protocol.evaluation.evaluate_many`). Each report is saved as
    ``<directory>/<label>.json``; the tuning studies go to ``storage`` (an Optuna RDB URL that
    workers on other machines can share) or to SQLite files under ``study_dir``; ``pruner``
    stops unpromising network trials (:data:`neurotype.protocol.tuning.PRUNERS`). Returns
    ``{label: report}``.
    """
    directory = Path(directory)
    calls = {label: {"model": config.model, "n_folds": n_folds, "n_repeats": n_repeats, "seed": seed,
                     "n_trials": n_trials if config.tuned else 0, "params": dict(config.params),
                     "study_dir": study_dir, "storage": storage if config.tuned else None, "pruner": pruner}
             for label, config in configs.items()}
    reports = evaluate_many(task, calls, n_jobs=n_jobs)
    for label, report in reports.items():
        report.save(directory / f"{label}.json")
        if log is not None:
            overall = report.metrics["all"]
            log(f"{task.feature_set} {label}: macro F1 {overall['f1_macro']['mean']:.3f}, accuracy "
                f"{overall['accuracy']['mean']:.3f} ({report.wall_seconds:.0f} s over its folds)")
    return reports


def load_reports(directory: str | Path, labels: Sequence[str]) -> dict[str, Report]:
    """The reports ``<directory>/<label>.json`` saved by :func:`run_models`."""
    return {label: Report.load(Path(directory) / f"{label}.json") for label in labels}


def table2(reports: Mapping[str, Report], classes: Sequence[str], digits: int = 3, part: str = "all") -> pd.DataFrame:
    """Every scalar metric and each class's F1 as ``mean [95 % interval]``, one row per model.

    ``part``: ``"all"``, ``"scalar"`` (the scalar metrics only) or ``"per_class"`` (each class's F1 only),
    to show a table in two halves that each fit the page.
    """
    if part not in ("all", "scalar", "per_class"):
        raise ValueError(f"part must be 'all', 'scalar' or 'per_class', got {part!r}")
    metrics = [*(SCALAR_METRICS if part != "per_class" else ()),
               *(per_class_f1_name(c) for c in classes if part != "scalar")]
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
                 fig11: Mapping[str, float] | None = None, single: "SplitSpread | None" = None) -> pd.DataFrame:
    """The paper's claimed numbers beside ``report``'s measurement, with a verdict per metric.

    Parameters
    ----------
    report
        The primary model's cross-validated report.
    claims
        ``{metric: the paper's number}``.
    fig11
        What the paper's own Fig 11 matrix gives per metric
        (:meth:`neurotype.experiments.audit.Fig11Reconstruction.scores`).
    single
        The primary model's single-split spread; the verdict's yardstick when given.

    Returns
    -------
    pandas.DataFrame
        Index = metric key; ``paper (claimed)``, ``paper's own Fig 11``, ``single 80/20 splits``,
        ``measured`` (cross-validated mean), ``95% low``, ``95% high``, ``consistent`` and ``verdict``.
    """
    rows = []
    for metric, claimed in claims.items():
        cv = report.estimate(OVERALL, metric)
        spread = single.estimate(OVERALL, metric) if single is not None else None
        verdict = claim_verdict(claimed, cv, spread)
        rows.append({"metric": metric, "paper (claimed)": claimed,
                     "paper's own Fig 11": None if fig11 is None else fig11.get(metric),
                     "single 80/20 splits": None if spread is None else spread.format(),
                     "measured": cv.mean, "95% low": cv.low, "95% high": cv.high,
                     "consistent": verdict.consistent, "verdict": verdict.text})
    return pd.DataFrame(rows).set_index("metric")


def claims_display(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`claims_frame` for people: one row per metric key, formatted cells."""
    return pd.DataFrame({
        "paper": frame["paper (claimed)"].map(lambda v: f"{v:.3f}"),
        "paper's own Fig 11 matrix": frame["paper's own Fig 11"].map(lambda v: "–" if v is None or v != v
                                                                      else f"{v:.3f}"),
        "ours, single 80/20 splits: mean [2.5 %, 97.5 %]": frame["single 80/20 splits"].fillna("–"),
        "ours, cross-validated: mean [95 % CI]": [Estimate(m, lo, hi).format() for m, lo, hi in
                                                  zip(frame["measured"], frame["95% low"], frame["95% high"])],
        "verdict": frame["verdict"]}, index=frame.index)


def differences_frame(reports: Mapping[str, Report], primary: str, rivals: Sequence[str],
                      metric: str = "f1_macro") -> tuple[dict[str, Estimate], pd.DataFrame]:
    """Paired differences ``primary − rival`` over the same folds, and the same as a table for people."""
    differences = {rival: paired_difference(reports[primary], reports[rival], metric) for rival in rivals}
    table = pd.DataFrame({"rival": list(differences),
                          f"{primary} − rival: mean [95 % CI]": [d.format() for d in differences.values()],
                          "interval above 0": [bool(d.low is not None and d.low > 0) for d in differences.values()]})
    return differences, table.set_index("rival")


def primary_numbers(report: Report, target: float = TARGET_F1_MACRO) -> dict[str, Any]:
    """The primary model's macro F1, interval and accuracy, and whether it reaches the target."""
    f1, accuracy = report.estimate(OVERALL, "f1_macro"), report.estimate(OVERALL, "accuracy")
    return {"primary_f1": f1.mean, "primary_f1_ci": f"[{f1.low:.3f}, {f1.high:.3f}]", "primary_acc": accuracy.mean,
            "target": target, "target_verdict": "reaches" if f1.mean >= target else "does not reach"}


def confusion_numbers(counts: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """The class with the lowest recall in a summed confusion matrix and the class it is most often taken for."""
    counts = np.asarray(counts, dtype=float)
    share = counts / np.clip(counts.sum(1, keepdims=True), 1, None)
    worst = int(np.argmin(np.diag(share)))
    off = share[worst].copy()
    off[worst] = -1
    return {"worst_class": classes[worst], "worst_recall": f"{share[worst, worst]:.0%}",
            "worst_confused_with": classes[int(np.argmax(off))], "worst_confused_share": f"{off.max():.0%}"}


def tuned_parameters(report: Report, keys: Sequence[str] = ("lambda1", "sigma", "lr", "epochs", "class_weight",
                                                             "weight_decay")) -> pd.DataFrame:
    """The hyperparameters tuning chose on each outer fold's inner validation split, with that split's score."""
    def shown(value: Any) -> Any:  # three significant digits: learning rates and decays are small
        return f"{value:.3g}" if isinstance(value, float) else value

    return pd.DataFrame([{"repeat": f["repeat"], "fold": f["fold"], **{k: shown(f["best_params"].get(k)) for k in keys},
                          "inner validation macro F1": (f["tuning"] or {}).get("best_value")}
                         for f in report.per_fold]).set_index(["repeat", "fold"])


# --- fair yardsticks for single-split claims ------------------------------------------------------

@dataclass(frozen=True)
class SplitSpread:
    """One model's scores on many single stratified 80/20 splits (what one split like the paper's can give).

    ``scores``: one row per (split, species key) with the scalar metrics.
    """

    model: str
    n_splits: int
    scores: pd.DataFrame

    def estimate(self, species: str, metric: str) -> Estimate:
        """Mean over the splits and the 2.5–97.5 % percentiles of one metric."""
        values = self.scores.loc[self.scores["species"] == species, metric].dropna().to_numpy(dtype=float)
        if values.size == 0:
            raise KeyError(f"single-split spread of {self.model}: no {metric!r} for {species!r}")
        return Estimate(float(values.mean()), *central_95(values))

    def summaries(self, metrics: Sequence[str] = SCALAR_METRICS) -> dict[str, dict[str, dict]]:
        """``{species: {metric: {mean, ci95: [2.5 %, 97.5 %], n, interval}}}`` for a chapter report."""
        out: dict[str, dict[str, dict]] = {}
        for species in dict.fromkeys(self.scores["species"]):
            out[species] = {}
            for metric in metrics:
                estimate = self.estimate(species, metric)
                out[species][metric] = {"mean": estimate.mean, "ci95": [estimate.low, estimate.high],
                                        "n": self.n_splits,
                                        "interval": "2.5-97.5 % percentiles of single stratified 80/20 split scores"}
        return out


def _single_split_job(task: TaskData, model: str, params: Mapping[str, Any], train: np.ndarray, test: np.ndarray,
                      seed: int) -> dict[str, dict[str, float]]:
    import torch

    torch.set_num_threads(1)
    spec = get_model(model)
    estimator = spec.make(spec.params(dict(params)), seed=seed)
    fit_rows, validation_rows = (inner_split(task, train, 0.2, seed=seed) if spec.uses_validation else (train, None))
    fit_model(estimator, spec, task, fit_rows, validation_rows)
    codes = np.asarray(estimator.predict(task.X.iloc[test], species=task.species[test])).astype(int)
    return fold_metrics(task.y[test], np.asarray(task.classes)[codes], task.classes, task.species[test])


def single_split_spread(task: TaskData, model: str, *, n_splits: int, params: Mapping[str, Any] | None = None,
                        seed: int = 0, n_jobs: int = 1) -> SplitSpread:
    """Score ``model`` on ``n_splits`` independent stratified 80/20 splits, each fitted from scratch.

    Split ``r`` is the first fold of the protocol's 5-fold split shuffled with seed ``seed + r``
    (:func:`neurotype.data.splits.outer_folds`: stratified on label × species, duplicate-aware),
    so it holds out 20 % of the cells as the paper's split did. Everything is fitted on its
    training rows (models that stop early stop on an inner 20 % of them), as in
    :func:`neurotype.protocol.evaluation.evaluate`. ``n_splits`` is the budget: the percentiles of
    a few dozen splits are rough, of a few hundred stable.
    """
    if n_splits < 2:
        raise ValueError(f"need at least two splits for a spread, got {n_splits}")
    splits = [outer_folds(task, n_folds=5, n_repeats=1, seed=seed + r)[0] for r in range(n_splits)]
    jobs = [(task, model, dict(params or {}), split.train, split.test, seed + r) for r, split in enumerate(splits)]
    if n_jobs == 1:
        results = [_single_split_job(*job) for job in jobs]
    else:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, backend="loky")(delayed(_single_split_job)(*job) for job in jobs)
    rows = [{"split": r, "species": key, **{m: v for m, v in values.items() if m in SCALAR_METRICS}}
            for r, result in enumerate(results) for key, values in result.items()]
    return SplitSpread(model, n_splits, pd.DataFrame(rows))


def paired_difference(a: Report, b: Report, metric: str = "f1_macro", species: str = OVERALL,
                      level: float = 0.95) -> Estimate:
    """Mean per-fold difference ``a − b`` of ``metric`` and its Nadeau–Bengio corrected interval.

    Both reports must come from the same outer folds (same test cells in the same order); the
    test/train ratio is that of ``a``'s folds. Unlike each model's own interval, the paired
    interval removes what the two share (the folds' difficulty), so it can tell apart two models
    whose own intervals overlap.
    """
    if len(a.per_fold) != len(b.per_fold) or any(
            (fa["repeat"], fa["fold"], fa["test_ids"]) != (fb["repeat"], fb["fold"], fb["test_ids"])
            for fa, fb in zip(a.per_fold, b.per_fold)):
        raise ValueError(f"{a.model} and {b.model} were not scored on the same outer folds")
    differences = np.array([fa["metrics"][species][metric] - fb["metrics"][species][metric]
                            for fa, fb in zip(a.per_fold, b.per_fold)], dtype=float)
    differences = differences[np.isfinite(differences)]
    mean = float(differences.mean())
    if differences.size < 2:
        return Estimate(mean)
    ratio = float(np.mean([f["n_test"][species] for f in a.per_fold]) / np.mean([f["n_train"][species]
                                                                                 for f in a.per_fold]))
    half = stats.t.ppf(0.5 + level / 2, differences.size - 1) * math.sqrt(
        (1 / differences.size + ratio) * differences.var(ddof=1))
    return Estimate(mean, mean - half, mean + half)


def report_estimates(reports: Mapping[str, Report], species: Sequence[str] | None = None) -> dict[str, dict]:
    """``{label: {species: metric summaries}}`` of evaluate reports, for a chapter report's ``estimates``."""
    return {label: {key: report.metrics[key] for key in (species or report.metrics) if key in report.metrics}
            for label, report in reports.items()}


def difference_estimates(primary: str, differences: Mapping[str, Estimate],
                         metric: str = "f1_macro") -> dict[str, dict]:
    """``{difference_label(primary, rival): {"all": {metric: summary}}}`` of paired differences, for a
    chapter report's ``estimates`` (read back with :meth:`Estimate.from_summary`)."""
    return {difference_label(primary, rival): {"all": {metric: {"mean": d.mean, "ci95": [d.low, d.high]}}}
            for rival, d in differences.items()}


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
