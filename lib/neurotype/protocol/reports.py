"""JSON reports that chapters hand on to later chapters (never kernel state).

Every chapter writes one :class:`ChapterReport` (``results_dir/<chapter>/report.json``) with the same
top-level keys as an ``evaluate`` run's :class:`~neurotype.protocol.evaluation.Report`: ``schema``,
``parameters`` (profile, seed, feature set, budgets: what produced it), ``versions``, ``wall_seconds``
and metric summaries read through one accessor, ``estimate(...)`` → :class:`Estimate`. What is special
to a chapter lives under ``results``.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from neurotype.protocol.metrics import format_estimate

__all__ = ["REPORT_SCHEMA", "Estimate", "ChapterReport", "write_chapter_report", "read_chapter_report",
           "check_consistent", "package_versions", "to_jsonable", "write_report", "read_report"]

#: Version of the report layout; readers refuse other versions.
REPORT_SCHEMA = 2



def to_jsonable(value: Any) -> Any:
    """Plain JSON types; NaN and infinities become ``None`` so the file stays strict JSON."""
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, (str, type(None))):
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def package_versions() -> dict[str, str | None]:
    """Python and the versions of the packages a result depends on."""


    import neurotype

    distributions = {"numpy": ("numpy",), "pandas": ("pandas",), "scipy": ("scipy",),
                     "scikit-learn": ("scikit-learn",), "torch": ("torch",),
                     "xgboost": ("xgboost", "xgboost-cpu"), "optuna": ("optuna",)}
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for key, names in distributions.items():
        versions[key] = None
        for name in names:
            try:
                versions[key] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
    versions["neurotype"] = neurotype.__version__
    return versions


def write_report(path: Path | str, payload: dict) -> Path:
    """Write ``payload`` plus package versions as strict JSON; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = to_jsonable({**payload, "versions": package_versions()})
    path.write_text(json.dumps(body, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path


def read_report(path: Path | str) -> dict:
    """Read a report written by :func:`write_report`, with a clear error if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no report here; run the chapter that writes it first")
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Estimate:
    """One metric's mean over outer folds and its 95 % interval (``None`` where there is none)."""

    mean: float | None
    low: float | None = None
    high: float | None = None

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any] | None) -> "Estimate":
        """From a metric summary ``{mean, ci95: [low, high], ...}`` as the protocol writes it."""
        if not summary:
            return cls(None)
        bounds = summary.get("ci95") or [None, None]
        return cls(summary.get("mean"), bounds[0], bounds[1])

    def format(self, digits: int = 3) -> str:
        """``"0.936 [0.890, 0.982]"``; ``"–"`` without a mean."""
        if self.mean is None:
            return "–"
        if self.low is None or self.high is None:
            return f"{self.mean:.{digits}f}"
        return format_estimate(self.mean, self.low, self.high, digits)


def _estimate(estimates: Mapping[str, Any], where: str, *keys: str) -> Estimate:
    node: Any = estimates
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"{where}: no estimate for {' / '.join(keys)} (missing {key!r})")
        node = node[key]
    return Estimate.from_summary(node)


@dataclass
class ChapterReport:
    """What one chapter run measured and how it was run; saved as ``report.json``.

    Attributes
    ----------
    chapter
        The chapter's name, e.g. ``"03_dann"``.
    parameters
        Every resolved parameter (:class:`neurotype.book.profiles.ChapterParameters`), ``profile`` and
        ``seed`` among them.
    estimates
        ``estimates[label][species][metric] = {mean, ci95: [low, high], ...}`` for each model or
        condition the chapter measured.
    results
        Everything else the chapter hands on (tables as records, verdicts, file names).
    wall_seconds
        The chapter's wall time.
    versions
        Python and package versions.
    """

    chapter: str
    parameters: dict
    estimates: dict
    results: dict
    wall_seconds: float
    versions: dict
    schema: int = REPORT_SCHEMA

    def estimate(self, label: str, species: str, metric: str) -> Estimate:
        """The mean and interval of ``metric`` for ``label`` on ``species`` (``"all"``, ``"mouse"``, ``"human"``)."""
        return _estimate(self.estimates, f"{self.chapter} report", label, species, metric)

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = to_jsonable(asdict(self))
        path.write_text(json.dumps(body, indent=1, allow_nan=False) + "\n", encoding="utf-8")
        return path


def write_chapter_report(directory: Path | str, parameters: Any, *, estimates: Mapping[str, Any],
                         results: Mapping[str, Any], started: float) -> Path:
    """Write ``<directory>/report.json`` for a chapter run that began at ``time.perf_counter() == started``.

    ``parameters`` is the chapter's :class:`~neurotype.book.profiles.ChapterParameters`.
    """
    values = dict(parameters.values)
    if values.get("storage"):  # a database URL may hold a password: reports keep it hidden
        from neurotype.protocol.tuning import display_url

        values["storage"] = display_url(values["storage"])
    report = ChapterReport(chapter=parameters.chapter, parameters=values,
                           estimates=to_jsonable(dict(estimates)), results=to_jsonable(dict(results)),
                           wall_seconds=time.perf_counter() - started, versions=package_versions())
    return report.save(Path(directory) / "report.json")


def read_chapter_report(path: Path | str) -> ChapterReport:
    """Read a chapter's ``report.json``; a missing file or another schema is a one-line error."""
    body = read_report(path)
    if body.get("schema") != REPORT_SCHEMA or "chapter" not in body:
        raise ValueError(f"{path}: not a chapter report of schema {REPORT_SCHEMA} (rerun the chapter)")
    names = {f.name for f in fields(ChapterReport)}
    return ChapterReport(**{k: v for k, v in body.items() if k in names})


def check_consistent(reports: Sequence[ChapterReport], keys: Sequence[str] = ("profile", "seed")) -> None:
    """Refuse to combine reports run with different profiles or seeds (``ValueError`` naming them)."""
    for key in keys:
        seen = {r.chapter: r.parameters.get(key) for r in reports if key in r.parameters}
        if len(set(map(repr, seen.values()))) > 1:
            listing = ", ".join(f"{chapter}: {value!r}" for chapter, value in seen.items())
            raise ValueError(f"these reports were run with different {key}s ({listing}); rerun them together")
