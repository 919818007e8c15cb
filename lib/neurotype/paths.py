"""Every path the project uses, anchored at the repository root.

Set ``NEUROTYPE_ROOT`` to point an installed copy of the package at a checkout
(the bundled data and the results folder live there, not inside the package).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ROOT", "DATA", "ACTD_CACHE", "PAPER41", "SOURCE", "RESULTS", "BOOK", "BUILD"]


def _find_root() -> Path:
    env = os.environ.get("NEUROTYPE_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "data").is_dir():
            return parent
    # Installed without a checkout: fall back to the working directory.
    return Path.cwd()


ROOT: Path = _find_root()
DATA: Path = ROOT / "data"
ACTD_CACHE: Path = DATA / "actd"
PAPER41: Path = DATA / "paper41"
SOURCE: Path = DATA / "source"
RESULTS: Path = ROOT / "results"
BOOK: Path = ROOT / "book"
BUILD: Path = ROOT / "_build"
