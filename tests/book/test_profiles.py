"""The profile table: complete and well typed for every chapter; unknown names and wrong types fail; a value the
user gives wins over the profile."""

from __future__ import annotations

import pytest

from neurotype.book import profiles
from neurotype.book.profiles import ParameterError, resolve_parameters
from neurotype.book.runner import chapter_parameters, chapters_from_toc, main


def _cell(chapter: str, **given) -> dict:
    """A notebook namespace as the parameters cell leaves it (every budget None), plus papermill's values."""
    namespace = {"profile": "full", "results_dir": None, **{n: None for n in profiles.CHAPTER_PARAMETERS[chapter]}}
    namespace.update({"In": [], "Out": {}, "get_ipython": print, "_": None, "__name__": "__main__"}, **given)
    return namespace


@pytest.mark.parametrize("profile", sorted(profiles.PROFILES))
def test_every_profile_gives_every_chapter_a_complete_typed_set(profile):
    for chapter in profiles.CHAPTER_PARAMETERS:
        resolved = resolve_parameters(chapter, _cell(chapter, profile=profile))
        assert set(resolved.values) == {"profile", "results_dir", *profiles.CHAPTER_PARAMETERS[chapter]}
        assert resolved.profile == profile


def test_every_chapter_of_the_book_has_an_entry():
    assert {c.name for c in chapters_from_toc()} == set(profiles.CHAPTER_PARAMETERS)


def test_the_smoke_profile_fills_budgets_and_a_given_value_wins():
    smoke = resolve_parameters("03_dann", _cell("03_dann", profile="smoke"))
    assert (smoke["n_folds"], smoke["n_repeats"], smoke["max_epochs"]) == (2, 1, 20)
    given = resolve_parameters("03_dann", _cell("03_dann", profile="smoke", n_folds=4))
    assert given["n_folds"] == 4 and given["n_repeats"] == 1
    full = resolve_parameters("03_dann", _cell("03_dann"))
    assert (full["n_folds"], full["max_epochs"]) == (5, None)


@pytest.mark.parametrize("given, message", [
    ({"feature_sett": "actd"}, "unknown parameter"),
    ({"smoke": "false"}, "unknown parameter"),
    ({"n_folds": "3"}, "expected int"),
    ({"n_folds": True}, "expected int"),
    ({"n_folds": 3.5}, "expected int"),
    ({"feature_set": "paper42"}, "choose one of"),
    ({"profile": "fast"}, "unknown profile"),
    ({"lambdas": [0.0, None]}, "item None"),
])
def test_unknown_names_and_wrong_types_fail_loudly(given, message):
    with pytest.raises(ParameterError, match=message):
        resolve_parameters("04_ablation", _cell("04_ablation", **given))


def test_imports_and_functions_in_the_namespace_are_not_parameters():
    import math

    resolve_parameters("01_data", _cell("01_data", math=math, resolve_parameters=resolve_parameters))


def test_the_runner_injects_only_what_a_chapter_takes_and_checks_it(tmp_path):
    chapter = next(c for c in chapters_from_toc() if c.name == "01_data")
    injected = chapter_parameters(chapter, "smoke", tmp_path, {"feature_set": "actd", "n_folds": 3})
    assert injected == {"profile": "smoke", "results_dir": str(tmp_path), "feature_set": "actd"}
    with pytest.raises(ParameterError):
        chapter_parameters(chapter, "smoke", tmp_path, {"feature_set": 3})


@pytest.mark.parametrize("argv", [["-p", "feature_sett", "actd"], ["-p", "n_folds", "three"],
                                  ["--only", "01_dta"]])
def test_the_runner_refuses_bad_parameters_before_executing_anything(argv, capsys):
    assert main(["--profile", "smoke", "--only", "01_data", "03_dann", *argv]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_workers_and_storage_reach_only_the_chapters_that_take_them(tmp_path):
    chapters = {c.name: c for c in chapters_from_toc()}
    overrides = {"n_jobs": 3, "storage": "postgresql://user:secret@localhost:5432/optuna"}
    assert chapter_parameters(chapters["05_lspin"], "paper", tmp_path, overrides) == {
        "profile": "paper", "results_dir": str(tmp_path), **overrides}
    assert chapter_parameters(chapters["01_data"], "paper", tmp_path, overrides) == {
        "profile": "paper", "results_dir": str(tmp_path)}


def test_the_paper_profile_tunes_every_tuned_chapter_with_the_papers_budget():
    for chapter in ("03_dann", "05_lspin", "06_interpretation"):
        assert resolve_parameters(chapter, _cell(chapter, profile="paper"))["n_trials"] >= 1000
    assert resolve_parameters("03_dann", _cell("03_dann"))["n_trials"] == profiles.PROFILES["full"]["03_dann"]["n_trials"]


def test_an_unset_profile_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("NEUROTYPE_PROFILE", "smoke")
    assert resolve_parameters("03_dann", _cell("03_dann", profile=None))["n_folds"] == 2
    assert resolve_parameters("03_dann", _cell("03_dann", profile="full"))["n_folds"] == 5  # a given value wins
    monkeypatch.delenv("NEUROTYPE_PROFILE")
    assert resolve_parameters("03_dann", _cell("03_dann", profile=None))["profile"] == "full"


def test_results_go_to_a_folder_of_their_profile_unless_given():
    assert resolve_parameters("01_data", _cell("01_data"))["results_dir"] == "results"
    assert resolve_parameters("01_data", _cell("01_data", profile="smoke"))["results_dir"] == "results/smoke"
    assert resolve_parameters("01_data", _cell("01_data", results_dir="elsewhere"))["results_dir"] == "elsewhere"


def test_the_full_profile_tunes_every_table_model_with_the_same_budget_of_at_least_20():
    """Issue 14: Tables 1 and 2 tuned alike, at least 20 trials per outer fold, in the full profile."""
    for chapter in ("03_dann", "05_lspin"):
        values = resolve_parameters(chapter, _cell(chapter))
        assert values["n_trials"] >= 20 and values["n_repeats_tuned"] >= 1
    assert resolve_parameters("03_dann", _cell("03_dann"))["n_trials"] == \
        resolve_parameters("05_lspin", _cell("05_lspin"))["n_trials"]
    # the paper profile keeps the paper's own epochs for the reference networks
    assert resolve_parameters("03_dann", _cell("03_dann", profile="paper"))["reference_patience"] is None


def test_a_whole_build_records_its_wall_time(tmp_path):
    import json

    from neurotype.book.runner import write_timing

    path = write_timing(tmp_path, "full", 512.5, {"03_dann": 300.0, "intro": 2.5}, {"n_jobs": 2})
    body = json.loads(path.read_text())
    assert path == tmp_path / "book_timing.json"
    assert body["seconds"] == 512.5 and body["chapters_s"] == {"03_dann": 300.0, "intro": 2.5}
    assert body["profile"] == "full" and body["date"].endswith("UTC")
