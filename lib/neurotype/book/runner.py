"""Execute the book's chapters with papermill, then render them with Jupyter Book.

``python -m neurotype.book --profile full`` is what ``make book`` runs;
``--profile smoke --strict`` is what ``make test`` runs. Chapters are the
percent-format ``book/*.py`` files named in the root's ``_toc.yml``; each is converted
to a notebook, executed once by papermill (with the profile's name and the user's ``-p`` values;
the chapter takes its budgets from :mod:`neurotype.book.profiles`), and the executed notebooks are staged with the book's configuration
under ``_build/src`` so that Jupyter Book renders them without executing again.

Chapters run two at a time by default (``--chapters-at-once``), each in a kernel of its own:
the other pages leave a core idle for much of their run, which a page beside a tuning chapter fills.
Two tuning chapters, which keep both cores busy by themselves, never run at once. A chapter
waits for the chapters whose results it reads (:data:`CHAPTER_NEEDS`); the root page summarises
every chapter's report, so it runs last. Each chapter is seeded on its own, so the order
changes no number. The chapters on the longest path through these needs start first, by the
durations the last whole build of the profile recorded (:func:`write_timing`; before the first, a
chapter that tunes models counts :data:`TUNING_WEIGHT` times another).
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neurotype import paths
from neurotype.book import profiles

__all__ = ["Chapter", "CHAPTER_NEEDS", "TUNING_WEIGHT", "chapters_from_toc", "execute_chapter", "execute_chapters",
           "start_order", "stage_book", "timing_path", "read_timing", "write_timing", "main"]

KERNEL = "python3"

#: Chapters that read another chapter's results folder, and the chapters they read (the root page,
#: which reads them all, is handled apart). A test finds these reads in the chapters' code.
CHAPTER_NEEDS: dict[str, tuple[str, ...]] = {"06_interpretation": ("05_lspin",)}


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


def _needs(chapter: str, names: list[str], root: str) -> set[str]:
    """The chapters among ``names`` that ``chapter`` must wait for."""
    if chapter == root:
        return set(names) - {root}
    return set(CHAPTER_NEEDS.get(chapter, ())) & set(names)


def start_order(names: list[str], root: str, recorded: dict[str, float] | None = None) -> list[str]:
    """The order in which ready chapters start: longest path through :data:`CHAPTER_NEEDS` first.

    A chapter's path is its recorded duration plus the longest path of the chapters that wait for
    it; without recorded durations every path is 0 and the table of contents' order holds (ties,
    too, keep it). The root page always comes last.
    """
    recorded = recorded or {}
    waiting = {name: [other for other in names if name in _needs(other, names, root)] for name in names}
    path: dict[str, float] = {}
    visiting: set[str] = set()

    def longest(name: str) -> float:
        if name in visiting:
            raise ValueError(f"CHAPTER_NEEDS has a cycle through {name!r}")
        if name not in path:
            visiting.add(name)
            path[name] = recorded.get(name, 0.0) + max((longest(w) for w in waiting[name]), default=0.0)
            visiting.discard(name)
        return path[name]

    return sorted(names, key=lambda name: (name == root, -longest(name), names.index(name)))


def _recorded_seconds(results_dir: Path, profile: str) -> dict[str, float]:
    """Each chapter's duration in the last whole build of ``profile`` (empty if none was recorded)."""
    body = read_timing(results_dir)
    try:
        return {str(k): float(v) for k, v in body["chapters_s"].items()} if body.get("profile") == profile else {}
    except (KeyError, TypeError, ValueError, AttributeError):
        return {}


def _tuning_chapters(profile: str, overrides: dict[str, Any]) -> set[str]:
    """The chapters that tune models in this profile (``n_trials`` > 0): each keeps every core busy."""
    return {name for name, values in profiles.PROFILES[profile].items()
            if "n_trials" in profiles.CHAPTER_PARAMETERS.get(name, ())
            and int(overrides.get("n_trials", values["n_trials"]) or 0) > 0}


#: Before a first recorded build, a chapter that tunes counts this many times another (the full
#: profile's recorded builds: chapters 03 and 05 took 300-440 s, the other pages 5-55 s).
TUNING_WEIGHT = 10.0


def _estimated_seconds(names: list[str], tuning: set[str]) -> dict[str, float]:
    """Relative durations for :func:`start_order` when no build was recorded."""
    return {name: TUNING_WEIGHT if name in tuning else 1.0 for name in names}


#: Threads of each chapter kernel's OpenMP and BLAS (torch, NumPy, scikit-learn), unless the environment
#: sets its own: one, as in the worker processes (joblib limits theirs to one per core). Two chapters run
#: at once on two cores, and the pages beside a tuning chapter compute in their kernel (``n_jobs`` 1 in
#: the full profile); with their libraries' default two threads those pages slowed the tuning chapter
#: beside them (2026-11-30: chapter 05 took 438 s, against 415 s with one thread, 04 took 60 against 38 s;
#: the book 710 against 685 s), and a network fitted in a kernel rounds as one fitted in a worker only on
#: the same number of threads.
KERNEL_THREADS = "1"


def _execute_reporting(chapter: Chapter, out_dir: Path, parameters: dict) -> str | None:
    """:func:`execute_chapter` in a worker process: ``None``, or the error's last line (an exception
    object may not survive the trip back between processes). The kernel it starts inherits
    :data:`KERNEL_THREADS`."""
    os.environ.setdefault("OMP_NUM_THREADS", KERNEL_THREADS)
    try:
        execute_chapter(chapter, out_dir, parameters)
    except Exception as error:
        text = str(error).strip()
        return f"{type(error).__name__}: {text.splitlines()[-1] if text else ''}"
    return None


def execute_chapters(selected: list[Chapter], root: str, executed_dir: Path, injected: dict[str, dict],
                     at_once: int = 2, recorded: dict[str, float] | None = None, label: str = "",
                     one_at_a_time: set[str] | frozenset[str] = frozenset()) -> tuple[dict[str, float], list[str]]:
    """Execute ``selected`` chapters, ``at_once`` at a time, in worker processes of one chapter at a time.

    A chapter starts once every chapter it needs has finished (failed or not: a failure is reported
    at the end, as papermill's error names the cell), and of the chapters in ``one_at_a_time`` (those
    that keep every core busy by themselves) only one runs at a time; a later ready chapter may
    start meanwhile. Returns each chapter's wall seconds and one line per failed chapter.
    """
    names = [c.name for c in selected]
    by_name = {c.name: c for c in selected}
    pending = start_order(names, root, recorded)
    finished: set[str] = set()
    running: dict[Future, tuple[str, float, ProcessPoolExecutor]] = {}
    # Processes that executed a chapter and are still alive run the next one: each would import
    # papermill, nbformat and jupytext again (1.6 CPU-seconds with the runner module, 2026-11-30).
    idle: list[ProcessPoolExecutor] = []
    seconds: dict[str, float] = {}
    failures: list[str] = []
    try:
        while pending or running:
            for name in list(pending):
                if len(running) >= at_once:
                    break
                busy = name in one_at_a_time and any(other in one_at_a_time for other, _, _ in running.values())
                if _needs(name, names, root) <= finished and not busy:
                    pending.remove(name)
                    chapter = by_name[name]
                    print(f"[neurotype.book] executing {chapter.page}{chapter.source.suffix} ({label})",
                          flush=True)
                    # one chapter at a time per process (spawned: no forked torch or loky state), so that a
                    # process that dies (e.g. out of memory) fails its chapter only
                    pool = idle.pop() if idle else ProcessPoolExecutor(
                        max_workers=1, mp_context=multiprocessing.get_context("spawn"))
                    future = pool.submit(_execute_reporting, chapter, executed_dir, injected[name])
                    running[future] = (name, time.perf_counter(), pool)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name, start, pool = running.pop(future)
                finished.add(name)
                seconds[name] = time.perf_counter() - start
                try:
                    error = future.result()
                    idle.append(pool)
                except Exception as broken:  # the chapter's process itself died
                    pool.shutdown()
                    error = f"{type(broken).__name__}: {broken}"
                if error is not None:  # papermill reports the failing cell; keep going, fail at the end
                    failures.append(f"{name}: {error}")
                    print(f"[neurotype.book] FAILED {name}", flush=True)
                print(f"[neurotype.book] {name} took {seconds[name]:.1f} s", flush=True)
    finally:
        for pool in (*idle, *(entry[2] for entry in running.values())):
            pool.shutdown()
    return seconds, failures


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
    parser.add_argument("--chapters-at-once", type=int, default=2, metavar="N",
                        help="chapters executed at the same time, each in its own kernel (default 2; 1: one after "
                             "another)")
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
    if args.chapters_at_once < 1:
        print(f"python -m neurotype.book: --chapters-at-once must be at least 1, got {args.chapters_at_once}",
              file=sys.stderr)
        return 2
    executed_dir = paths.BUILD / "executed" / args.profile
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    tuning = _tuning_chapters(args.profile, overrides)
    recorded = _recorded_seconds(results_dir, args.profile) or _estimated_seconds([c.name for c in selected], tuning)
    book_start = time.perf_counter()
    # Two tuning chapters side by side would run four workers on two cores (2026-11-30, full profile: the
    # book took 1,762 CPU-seconds so, 1,686-1,696 without); the pages beside one fill the cores it leaves idle.
    seconds, failures = execute_chapters(selected, chapters[0].name, executed_dir, injected, args.chapters_at_once,
                                         recorded, label=args.profile,
                                         one_at_a_time=tuning)

    staging = paths.BUILD / "src"
    stage_book(chapters, executed_dir, staging)
    status = build_html(staging, strict=args.strict)
    if not failures and status == 0 and args.only is None:
        write_timing(results_dir, args.profile, time.perf_counter() - book_start, seconds, overrides,
                     chapters_at_once=args.chapters_at_once)
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


def read_timing(results_dir: Path) -> dict:
    """The last whole build's record (:func:`write_timing`); empty if there is none or it cannot be read."""
    try:
        body = json.loads(timing_path(results_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def write_timing(results_dir: Path, profile: str, total_s: float, chapter_s: dict[str, float],
                 overrides: dict, chapters_at_once: int = 1) -> Path:
    """Record a whole build's wall time at :func:`timing_path`.

    Written only for a build of every chapter that succeeded, so the figure is always a whole book's.
    With several chapters at once their durations overlap: they add up to more than ``total_s``.
    """
    path = timing_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"profile": profile, "seconds": total_s, "chapters_s": chapter_s, "overrides": overrides,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(), "chapters_at_once": chapters_at_once}
    path.write_text(json.dumps(body, indent=1, default=str) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    sys.exit(main())
