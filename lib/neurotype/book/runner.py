"""Execute the book's chapters with papermill, then render them with Jupyter Book.

``python -m neurotype.book --profile full`` is what ``make book`` runs;
``--profile smoke --strict`` is what ``make test`` runs. Chapters are the
percent-format ``book/*.py`` files named in the root's ``_toc.yml``; each is converted
to a notebook, executed once by papermill (with the profile's name and the user's ``-p`` values;
the chapter takes its budgets from :mod:`neurotype.book.profiles`), and the executed notebooks are staged with the book's configuration
under ``_build/src`` so that Jupyter Book renders them without executing again. The root page is
executed last, since it summarises the other chapters' reports.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neurotype import paths
from neurotype.book import profiles

__all__ = ["Chapter", "chapters_from_toc", "execute_chapter", "stage_book", "timing_path", "write_timing", "main"]

KERNEL = "python3"


@dataclass(frozen=True)
class Chapter:
    """A page named in the table of contents."""

    name: str
    source: Path

    @property
    def page(self) -> str:
        """The page's path in the book without suffix, as the table of contents names it (``book/01_data``)."""
        folder = self.source.parent.name
        return f"{folder}/{self.name}" if folder else self.name

    @property
    def executable(self) -> bool:
        return self.source.suffix == ".py"


def _toc_files(entries: list[dict]) -> list[str]:
    names: list[str] = []
    for entry in entries:
        if "file" in entry:
            names.append(entry["file"])
        for key in ("chapters", "sections", "parts"):
            names.extend(_toc_files(entry.get(key, [])))
    return names


def chapters_from_toc(root: Path = paths.ROOT) -> list[Chapter]:
    """Pages of the book, in table-of-contents order, with their source files."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names = [toc["root"], *_toc_files(toc.get("chapters", []) + toc.get("parts", []))]
    chapters = []
    for name in names:
        candidates = [root / f"{name}{ext}" for ext in (".py", ".md", ".ipynb")]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise FileNotFoundError(f"{root / '_toc.yml'}: page {name!r} has no .py or .md source")
        chapters.append(Chapter(name=Path(name).name, source=found[0]))
    return chapters


def execute_chapter(chapter: Chapter, out_dir: Path, parameters: dict) -> Path:
    """Convert a percent-format chapter to a notebook and execute it with papermill."""
    import jupytext
    import nbformat
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    unexecuted = out_dir / f"{chapter.name}.unexecuted.ipynb"
    executed = out_dir / f"{chapter.name}.ipynb"
    nbformat.write(jupytext.read(chapter.source), unexecuted)
    try:
        papermill.execute_notebook(
            str(unexecuted),
            str(executed),
            parameters=parameters,
            kernel_name=KERNEL,
            cwd=str(paths.ROOT),
            progress_bar=False,
            execution_timeout=None,
        )
    finally:
        unexecuted.unlink(missing_ok=True)
    _inherit_parameter_tags(executed)
    return executed


def _inherit_parameter_tags(path: Path) -> None:
    """Give papermill's injected-parameters cell the display tags of the parameters cell.

    A chapter that hides its parameters cell (``remove-cell``) would otherwise show the cell
    papermill adds after it.
    """
    import nbformat

    if not path.is_file():
        return
    notebook = nbformat.read(path, as_version=4)
    display = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
    tags = next((set(c.metadata.get("tags", [])) & display for c in notebook.cells
                 if "parameters" in c.metadata.get("tags", [])), set())
    if not tags:
        return
    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = sorted(set(cell.metadata["tags"]) | tags)
    nbformat.write(notebook, path)


def stage_book(chapters: list[Chapter], executed_dir: Path, staging: Path) -> None:
    """Copy the configuration, static pages and executed notebooks into one source tree.

    The staged tree mirrors the repository (``_config.yml`` and ``_toc.yml`` at its top, pages under
    ``book/``), with each chapter's ``.py`` replaced by its executed notebook.
    """
    if staging.exists():
        shutil.rmtree(staging)
    (staging / paths.BOOK.name).mkdir(parents=True)
    config = yaml.safe_load((paths.ROOT / "_config.yml").read_text())
    # The chapters were executed once by papermill; Jupyter Book only renders them.
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (staging / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy2(paths.ROOT / "_toc.yml", staging / "_toc.yml")
    for extra in paths.BOOK.iterdir():
        if extra.suffix in {".py", ".ipynb"} or extra.name.startswith(".") or extra.name == "__pycache__":
            continue
        if extra.is_dir():
            shutil.copytree(extra, staging / paths.BOOK.name / extra.name)
        else:
            shutil.copy2(extra, staging / paths.BOOK.name / extra.name)
    for chapter in chapters:
        if chapter.executable:
            executed = executed_dir / f"{chapter.name}.ipynb"
            if executed.is_file():  # absent when papermill could not even start it
                shutil.copy2(executed, staging / paths.BOOK.name / executed.name)


def build_html(staging: Path, strict: bool) -> int:
    """Render the staged book into ``_build/html``; returns jupyter-book's exit status."""
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(staging),
               "--path-output", str(paths.ROOT), "--builder", "html"]
    if strict:
        command += ["-W", "--keep-going"]
    return subprocess.call(command, cwd=paths.ROOT)


def _parse_value(text: str) -> Any:
    """A ``-p`` value as YAML (``3`` → 3, ``[0.0, 1.0]`` → list, ``null`` → None); anything else stays text."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def chapter_parameters(chapter: Chapter, profile: str, results_dir: Path, overrides: dict[str, Any]) -> dict:
    """What papermill injects into ``chapter``: profile, results folder and the user's values it takes."""
    takes = set(profiles.CHAPTER_PARAMETERS.get(chapter.name, ()))
    given = {name: value for name, value in overrides.items() if name in takes}
    for name, value in given.items():
        profiles.check_value(name, value, chapter.name)
    return {"profile": profile, "results_dir": str(results_dir), **given}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurotype.book", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(profiles.PROFILES), default="full",
                        help="budgets of every chapter (neurotype.book.profiles): full = the book's numbers, "
                             "smoke = tiny budgets for tests")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="set a chapter parameter in every chapter that takes it (VALUE is read as YAML); "
                             "it wins over the profile")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes per chapter (sets n_jobs: outer folds, and with them their tuning "
                             "studies, run N at a time)")
    parser.add_argument("--storage", metavar="URL",
                        help="Optuna RDB URL for every tuning study (e.g. postgresql://user:password@host/db); "
                             "machines running the same command on it fill the same studies")
    parser.add_argument("--strict", action="store_true",
                        help="treat every Sphinx warning (broken reference, cell error) as an error")
    parser.add_argument("--only", nargs="*", default=None, metavar="CHAPTER",
                        help="execute only these chapters (the others must have been executed before)")
    args = parser.parse_args(argv)

    chapters = chapters_from_toc()
    selected = [c for c in chapters if c.executable and (args.only is None or c.name in args.only)]
    overrides = {name: _parse_value(value) for name, value in args.parameter}
    if args.workers is not None:
        overrides.setdefault("n_jobs", args.workers)
    if args.storage is not None:
        overrides.setdefault("storage", args.storage)
    try:
        unknown = sorted(set(args.only or ()) - {c.name for c in chapters})
        if unknown:
            raise profiles.ParameterError(f"--only: no chapter named {unknown}")
        taken = {name for c in selected for name in profiles.CHAPTER_PARAMETERS.get(c.name, ())}
        if set(overrides) - taken - {"results_dir", "n_jobs", "storage"}:
            raise profiles.ParameterError(f"-p {sorted(set(overrides) - taken)}: no chapter that runs takes it")
        results_dir = Path(overrides.pop("results_dir", None) or paths.ROOT / profiles.default_results_dir(args.profile))
        injected = {c.name: chapter_parameters(c, args.profile, results_dir, overrides) for c in selected}
    except profiles.ParameterError as error:
        print(f"python -m neurotype.book: {error}", file=sys.stderr)
        return 2
    executed_dir = paths.BUILD / "executed" / args.profile
    failures: list[str] = []
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # The root page (the headline table) reads every chapter's report, so it runs last.
    book_start, seconds = time.perf_counter(), {}
    for chapter in sorted(selected, key=lambda c: c.name == chapters[0].name):
        start = time.perf_counter()
        print(f"[neurotype.book] executing {chapter.source.relative_to(paths.ROOT)} ({args.profile})", flush=True)
        try:
            execute_chapter(chapter, executed_dir, injected[chapter.name])
        except Exception as error:  # papermill reports the failing cell; keep going, fail at the end
            failures.append(f"{chapter.name}: {type(error).__name__}: {str(error).strip().splitlines()[-1] if str(error).strip() else ''}")
            print(f"[neurotype.book] FAILED {chapter.name}", flush=True)
        seconds[chapter.name] = time.perf_counter() - start
        print(f"[neurotype.book] {chapter.name} took {seconds[chapter.name]:.1f} s", flush=True)

    staging = paths.BUILD / "src"
    stage_book(chapters, executed_dir, staging)
    status = build_html(staging, strict=args.strict)
    if not failures and status == 0 and args.only is None:
        write_timing(results_dir, args.profile, time.perf_counter() - book_start, seconds, overrides)
    if failures:
        print("[neurotype.book] chapters that failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    if status != 0:
        print(f"[neurotype.book] jupyter-book exited with status {status}", file=sys.stderr)
        return status
    print(f"[neurotype.book] book written to {paths.BUILD / 'html' / 'index.html'}")
    return 0


def timing_path(results_dir: Path) -> Path:
    """Where a whole build's wall time is recorded (:func:`write_timing`; ``bench/run.py`` reads it)."""
    return Path(results_dir) / "book_timing.json"


def write_timing(results_dir: Path, profile: str, total_s: float, chapter_s: dict[str, float],
                 overrides: dict) -> Path:
    """Record a whole build's wall time at :func:`timing_path`.

    Written only for a build of every chapter that succeeded, so the figure is always a whole book's.
    """
    path = timing_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"profile": profile, "seconds": total_s, "chapters_s": chapter_s, "overrides": overrides,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count()}
    path.write_text(json.dumps(body, indent=1, default=str) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
