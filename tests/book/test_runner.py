"""The book runner's chapter scheduling: who waits for whom, who starts first, what runs at once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from neurotype.book import runner
from neurotype.book.runner import CHAPTER_NEEDS, Chapter, chapters_from_toc, execute_chapters, start_order

TOC = ["intro", "01_data", "02_features", "03_dann", "04_ablation", "05_lspin", "06_interpretation", "07_audit",
       "08_external"]


def test_every_read_of_another_chapters_results_is_a_declared_need():
    # Independent of the runner: the chapters' own code names the results folders it reads.
    root = chapters_from_toc()[0].name
    names = {c.name for c in chapters_from_toc()}
    for chapter in chapters_from_toc():
        if chapter.name == root or not chapter.executable:
            continue
        code = chapter.source.read_text(encoding="utf-8")
        read = set(re.findall(r'Path\(results_dir\)\s*/\s*"([0-9A-Za-z_]+)"', code)) & names - {chapter.name}
        assert read <= set(CHAPTER_NEEDS.get(chapter.name, ())), chapter.name
    assert set(CHAPTER_NEEDS["06_interpretation"]) == {"05_lspin"}  # it reads chapter 05's LSPIN report


def test_without_recorded_durations_the_table_of_contents_order_holds_and_the_root_page_comes_last():
    assert start_order(TOC, "intro") == TOC[1:] + ["intro"]


def test_the_longest_path_through_the_needs_starts_first():
    # by hand: 05 → 06 is 400 + 50 = 450 s, 03 alone 300 s, 07 60 s, the others 0 s
    recorded = {"03_dann": 300.0, "05_lspin": 400.0, "06_interpretation": 50.0, "07_audit": 60.0, "intro": 5.0}
    assert start_order(TOC, "intro", recorded) == [
        "05_lspin", "03_dann", "07_audit", "06_interpretation", "01_data", "02_features", "04_ablation",
        "08_external", "intro"]


def test_a_recorded_timing_of_another_profile_is_not_used(tmp_path):
    runner.write_timing(tmp_path, "smoke", 10.0, {"03_dann": 5.0}, {})
    assert runner._recorded_seconds(tmp_path, "smoke") == {"03_dann": 5.0}
    assert runner._recorded_seconds(tmp_path, "full") == {}
    assert runner._recorded_seconds(tmp_path / "absent", "full") == {}


_TIMED = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
out = None

# %%
import json, os, pathlib, time
start = time.time()
time.sleep({sleep})
{body}
pathlib.Path(out, "{name}.json").write_text(json.dumps([start, time.time(), os.getppid()]))
'''


def _chapter(folder: Path, name: str, sleep: float = 0.0, body: str = "") -> Chapter:
    source = folder / f"{name}.py"
    source.write_text(_TIMED.format(name=name, sleep=sleep, body=body), encoding="utf-8")
    return Chapter(name, source)


@pytest.mark.slow
def test_chapters_run_side_by_side_a_chapter_waits_for_its_needs_and_a_failure_is_reported(tmp_path, monkeypatch):
    monkeypatch.setitem(CHAPTER_NEEDS, "gamma", ("alpha",))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    sources, out = tmp_path / "src", tmp_path / "out"
    sources.mkdir()
    out.mkdir()
    chapters = [_chapter(sources, "root"), _chapter(sources, "alpha", sleep=3.0), _chapter(sources, "beta", sleep=3.0),
                _chapter(sources, "delta", sleep=3.0),
                _chapter(sources, "gamma", body="import torch; pathlib.Path(out, 'threads').write_text("
                                                "str(torch.get_num_threads()))"),
                _chapter(sources, "broken", body="raise ValueError('column x, value 7')"),
                # kills the process that executes it (the kernel's parent), as an out-of-memory kill would
                _chapter(sources, "killed", body="import os, signal; os.kill(os.getppid(), signal.SIGKILL)")]
    injected = {c.name: {"out": str(out)} for c in chapters}
    seconds, failures = execute_chapters(chapters, "root", tmp_path / "executed", injected, at_once=2,
                                         one_at_a_time={"alpha", "beta"})

    times = {c.name: json.loads((out / f"{c.name}.json").read_text()) for c in chapters
             if c.name not in ("broken", "killed")}

    def overlap(a: str, b: str) -> bool:
        return times[a][0] < times[b][1] and times[b][0] < times[a][1]

    assert overlap("alpha", "delta") or overlap("beta", "delta")  # side by side
    assert not overlap("alpha", "beta")  # one at a time
    assert times["gamma"][0] >= times["alpha"][1]  # waited for its need
    assert times["root"][0] >= max(end for name, (_, end, _) in times.items() if name != "root")  # last
    assert sorted(line.split(":")[0] for line in failures) == ["broken", "killed"]  # and nothing else
    assert "column x, value 7" in next(line for line in failures if line.startswith("broken: "))
    assert set(seconds) == {c.name for c in chapters}
    assert (tmp_path / "executed" / "gamma.ipynb").is_file()
    assert (out / "threads").read_text() == "1"  # a kernel computes on one thread, as a worker does
    # a kernel's parent executes it: two processes at once, reused, and one more after the one killed
    assert len({parent for _, _, parent in times.values()}) <= 3


def test_the_runner_refuses_zero_chapters_at_once(capsys):
    assert runner.main(["--profile", "smoke", "--only", "01_data", "--chapters-at-once", "0"]) == 2
    assert "--chapters-at-once" in capsys.readouterr().err


def test_before_any_recorded_build_the_tuning_chapter_with_the_longest_chain_starts_first():
    tuning = runner._tuning_chapters("full", {})
    assert tuning == {"03_dann", "05_lspin"}  # n_trials 20 in the full profile
    # 05 and the chapter that reads it (06) make the longest chain: 10 + 1 against 03's 10
    assert start_order(TOC, "intro", runner._estimated_seconds(TOC, tuning))[:2] == ["05_lspin", "03_dann"]
    assert runner._tuning_chapters("full", {"n_trials": 0}) == set()
    # -p n_trials reaches only the chapters that take it (06 tunes then; 01 never does)
    assert runner._tuning_chapters("full", {"n_trials": 5}) == {"03_dann", "05_lspin", "06_interpretation"}


def test_a_cycle_of_needs_is_refused(monkeypatch):
    monkeypatch.setitem(CHAPTER_NEEDS, "04_ablation", ("07_audit",))
    monkeypatch.setitem(CHAPTER_NEEDS, "07_audit", ("04_ablation",))
    with pytest.raises(ValueError, match="cycle"):
        start_order(TOC, "intro")
