"""The project's own plumbing: pins agree, every chapter is in the book and takes its parameters."""

from __future__ import annotations

import re

import jupytext
import yaml

from neurotype import paths
from neurotype.book.runner import chapters_from_toc


def _requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (paths.ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: {name} is not pinned exactly"
            pins[name.lower()] = version
    return pins


def test_torch_is_pinned_to_the_cpu_wheel_everywhere():
    assert _requirement_pins()["torch"] == "2.13.0"
    assert "torch==2.13.0\n" in (paths.ROOT / "requirements.lock").read_text()


def test_environment_yml_has_the_same_pins():
    env = yaml.safe_load((paths.ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = {p.split("==")[0].lower(): p.split("==")[1] for p in pip_section if "==" in p}
    assert conda_pins == _requirement_pins()
    assert "python=3.11" in env["dependencies"]


def test_lock_agrees_with_requirements():
    lock = dict(line.split("==", 1) for line in (paths.ROOT / "requirements.lock").read_text().splitlines()
                if "==" in line)
    lock = {k.lower(): v for k, v in lock.items()}
    for name, version in _requirement_pins().items():
        assert lock.get(name) == version, name


def test_every_chapter_is_in_the_toc_and_exists():
    chapters = chapters_from_toc()
    in_toc = {c.source.name for c in chapters if c.executable}
    on_disk = {p.name for p in paths.BOOK.glob("*.py")}
    assert in_toc == on_disk
    assert not list(paths.BOOK.glob("*.ipynb")), "only percent-format .py chapters belong in book/"


def test_every_chapter_declares_the_parameters_its_profile_table_lists():
    from neurotype.book.profiles import CHAPTER_PARAMETERS

    for chapter in chapters_from_toc():
        if not chapter.executable:
            continue
        notebook = jupytext.read(chapter.source)
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{chapter.source.name}: needs exactly one cell tagged 'parameters'"
        names = re.findall(r"^(\w+)\s*=", tagged[0].source, flags=re.MULTILINE)
        assert names == ["profile", "results_dir", *CHAPTER_PARAMETERS[chapter.name]], chapter.source.name
        # every budget comes from the profile table: the cell declares None, never a number
        for line in tagged[0].source.splitlines():
            assert re.match(r"^\w+ = None\b", line), f"{chapter.source.name}: {line!r} should be None"
        assert "if smoke" not in chapter.source.read_text()


def test_gitignore_keeps_lib():
    ignored = (paths.ROOT / ".gitignore").read_text().splitlines()
    assert not any(line.strip().rstrip("/") in {"lib", "/lib"} for line in ignored)
