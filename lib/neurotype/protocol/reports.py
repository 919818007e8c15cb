"""JSON reports that chapters hand on to later chapters (never kernel state)."""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["package_versions", "to_jsonable", "write_report", "read_report"]



def to_jsonable(value: Any) -> Any:
    """Plain JSON types; NaN and infinities become ``None`` so the file stays strict JSON."""
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
