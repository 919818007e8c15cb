"""Tuning on several workers: one study, a study-wide budget, crash safety, seeds, fresh studies on --force.

The worker tests run the real ``neurotype tune`` command in subprocesses, on a new SQLite file and
on a throwaway PostgreSQL server (``postgres_server.py``), and kill one worker with SIGKILL while
its trial runs. Every expected number is the requested budget or a value read back from the
database, never a value the code under test reported about itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from neurotype import paths
from neurotype.protocol import tuning
from postgres_server import find_postgres_bin, throwaway_postgres

pytestmark = pytest.mark.slow  # starts PostgreSQL and tune worker processes: not part of make test-fast

SCRIPT = Path(sys.executable).with_name("neurotype")
#: Every worker: a real task and a fast model, one thread each (the machine has two cores).
WORKER = ("tune", "--task", "broad", "--model", "logreg")
ENV = {**os.environ, "PYTHONPATH": str(paths.ROOT / "lib"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1"}


def start_worker(url: str, study: str, trials: int, out: str, cwd: Path, heartbeat: int = 2) -> subprocess.Popen:
    return subprocess.Popen([str(SCRIPT), *WORKER, "--trials", str(trials), "--storage", url, "--study", study,
                             "--heartbeat", str(heartbeat), "--out", out, "--force"],
                            cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(worker: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err
    return out, err


def stored_trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)


def complete_of(trials) -> dict[int, tuple]:
    """{number: (params, value)} of the COMPLETE trials."""
    return {t.number: (json.dumps(t.params, sort_keys=True), t.value) for t in trials if t.state == TrialState.COMPLETE}


def check_finished_study(url: str, study: str, trials: int, outputs: list[Path]) -> list:
    stored = stored_trials(url, study)
    complete = complete_of(stored)
    # The requested study-wide total, exactly: no overshoot, nothing missing.
    assert len(complete) == trials
    assert not [t.number for t in stored if t.state == TrialState.RUNNING]
    # No trial ran twice: every COMPLETE trial has its own parameters (a continuous C per trial).
    assert len({params for params, _ in complete.values()}) == trials
    best_stored = max(value for _, value in complete.values())
    best_params = json.loads(next(params for params, value in complete.values() if value == best_stored))
    for output in outputs:
        written = json.loads(output.read_text())
        assert written["study"]["best_value"] == best_stored
        assert written["study"]["n_complete_trials"] == trials
        assert written["best_params"]["C"] == best_params["C"]
    return stored


# --- seeds --------------------------------------------------------------------------------------

def test_trial_seeds_are_reproducible_and_distinct():
    seeds = [tuning.trial_seed(7, k) for k in range(200)]
    assert seeds == [tuning.trial_seed(7, k) for k in range(200)]
    assert len(set(seeds)) == 200
    assert tuning.trial_seed(8, 0) != tuning.trial_seed(7, 0)
    assert all(0 <= s < 2 ** 32 for s in seeds)


def _quadratic(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    trial.set_user_attr("params", {"x": x})
    return -(x - 2.0) ** 2


def test_a_resumed_study_runs_the_trials_of_one_uninterrupted_run(tmp_path):
    """Seeds per trial number: 5 trials then 14 give the same 14 trials as 14 in one go (TPE included)."""
    one_go = tuning.sqlite_url(tmp_path, "one")
    tuning.tune_study(_quadratic, "s", one_go, 14, sampler_seed=3, heartbeat_s=1)
    resumed = tuning.sqlite_url(tmp_path, "resumed")
    tuning.tune_study(_quadratic, "s", resumed, 5, sampler_seed=3, heartbeat_s=1)
    best, info = tuning.tune_study(_quadratic, "s", resumed, 14, sampler_seed=3, heartbeat_s=1)
    xs = [t.params["x"] for t in stored_trials(one_go, "s")]
    assert xs == [t.params["x"] for t in stored_trials(resumed, "s")]
    assert len(xs) == 14 == len(set(xs))
    assert info["trials_run_here"] == 9 and info["n_complete_trials"] == 14
    # The best of the stored trials, recomputed here from the x values.
    assert best["x"] == max(xs, key=lambda x: -(x - 2.0) ** 2)
    other_seed = tuning.sqlite_url(tmp_path, "other")
    tuning.tune_study(_quadratic, "s", other_seed, 3, sampler_seed=4, heartbeat_s=1)
    assert [t.params["x"] for t in stored_trials(other_seed, "s")] != xs[:3]


class _Curve:
    """Reports four steps of a curve (the median pruner may stop it) and notes whether its study was in
    the storage file while it ran."""

    def __init__(self, url: str):
        self.url, self.stored_meanwhile = url, []

    def __call__(self, trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5.0, 5.0)
        trial.set_user_attr("params", {"x": x})
        self.stored_meanwhile.append(optuna.study.get_all_study_names(self.url))
        for step in range(4):
            trial.report(-(x - 2.0) ** 2 - 1.0 / (step + 1), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return -(x - 2.0) ** 2


def _stored(url: str, study: str) -> list[tuple]:
    return [(t.number, t.state, t.params, t.distributions, t.value, t.intermediate_values, t.system_attrs,
             {k: v for k, v in t.user_attrs.items() if k != tuning.WORKER_ATTR})
            for t in stored_trials(url, study)]


def test_a_private_study_stores_the_trials_a_shared_one_does_and_resumes_as_one(tmp_path):
    """Run in memory and written when done, a new study leaves in its file what a shared run writes there."""
    urls = {mode: tuning.sqlite_url(tmp_path, mode) for mode in ("shared", "private")}
    runs = {mode: _Curve(url) for mode, url in urls.items()}
    kwargs = dict(sampler_seed=3, heartbeat_s=1, start={"x": 1.0})
    shared = tuning.tune_study(runs["shared"], "c", urls["shared"], 12, **kwargs)
    private = tuning.tune_study(runs["private"], "c", urls["private"], 12, **kwargs, private=True)
    assert all(names == ["c"] for names in runs["shared"].stored_meanwhile)  # each trial read and wrote the file
    assert all(names == [] for names in runs["private"].stored_meanwhile)  # written only once done
    assert shared[0] == private[0]
    assert {k: v for k, v in shared[1].items() if k != "storage"} == {k: v for k, v in private[1].items()
                                                                        if k != "storage"}
    stored = _stored(urls["shared"], "c")
    assert stored == _stored(urls["private"], "c")
    assert {state for _, state, *_ in stored} == {TrialState.COMPLETE, TrialState.PRUNED}  # the pruner acted
    assert [optuna.load_study(study_name="c", storage=url).user_attrs for url in urls.values()].count(
        optuna.load_study(study_name="c", storage=urls["shared"]).user_attrs) == 2
    # an existing study is run shared: extending the private one gives the trials of one longer shared run
    longer = tuning.sqlite_url(tmp_path, "longer")
    tuning.tune_study(_Curve(longer), "c", longer, 16, **kwargs)
    extended = _Curve(urls["private"])
    tuning.tune_study(extended, "c", urls["private"], 16, **kwargs, private=True)
    assert all(names == ["c"] for names in extended.stored_meanwhile)
    assert _stored(longer, "c") == _stored(urls["private"], "c")


def test_a_private_study_whose_objective_fails_is_stored_and_resumed(tmp_path):
    """A failing objective stops a private run as it stops a shared one, and leaves the same trials."""
    results = {}
    for private in (False, True):
        url = tuning.sqlite_url(tmp_path, f"private-{private}")
        objective = _PruneOddFailThird()
        with pytest.raises(ValueError, match="a crash"):
            tuning.tune_study(objective, "p", url, 6, sampler_seed=0, heartbeat_s=1, private=private)
        assert [t.state for t in stored_trials(url, "p")][-1] == TrialState.FAIL
        results[private] = (tuning.tune_study(objective, "p", url, 6, sampler_seed=0, heartbeat_s=1, private=private),
                            _stored(url, "p"))
    assert results[True][1] == results[False][1] and results[True][0][0] == results[False][0][0]


def test_a_private_study_writes_its_finished_trials_as_it_runs(tmp_path, monkeypatch):
    """With a write due after every trial, each trial of a private study finds the ones before it stored
    (what a killed run leaves to resume from); an interrupted run leaves its last trial as FAIL."""
    monkeypatch.setattr(tuning._StudyWriter, "every_s", 0.0)
    url = tuning.sqlite_url(tmp_path, "steady")
    stored_before = []

    def objective(trial: optuna.Trial) -> float:
        stored_before.append(len(stored_trials(url, "w")) if "w" in optuna.study.get_all_study_names(url) else 0)
        if trial.number == 4:
            raise KeyboardInterrupt  # as when the run is stopped
        return _quadratic(trial)

    with pytest.raises(KeyboardInterrupt):
        tuning.tune_study(objective, "w", url, 8, sampler_seed=1, heartbeat_s=1, private=True)
    assert stored_before == [0, 1, 2, 3, 4]
    assert [t.state for t in stored_trials(url, "w")] == [TrialState.COMPLETE] * 4 + [TrialState.FAIL]
    _, info = tuning.tune_study(_quadratic, "w", url, 8, sampler_seed=1, heartbeat_s=1, private=True)
    assert info["trials_run_here"] == 4 and info["n_complete_trials"] == 8  # resumed: four more


class _PruneOddFailThird:
    """Prunes odd trial numbers, fails trial 2 once, completes the rest (value = -x)."""

    def __init__(self):
        self.failed = False

    def __call__(self, trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("params", {"x": x})
        if trial.number == 2 and not self.failed:
            self.failed = True
            raise ValueError("a crash")
        if trial.number % 2 == 1:
            raise optuna.TrialPruned()
        return -x


def test_pruned_trials_spend_the_budget_and_failed_ones_do_not(tmp_path):
    """6 trials: numbers 0..6 minus the failed 2 (run again as trial 3 onwards) — hand-counted below."""
    url = tuning.sqlite_url(tmp_path, "pruned")
    objective = _PruneOddFailThird()
    with pytest.raises(ValueError, match="a crash"):  # a failing objective stops the worker, as in optimize
        tuning.tune_study(objective, "p", url, 6, sampler_seed=0, heartbeat_s=1)
    best, info = tuning.tune_study(objective, "p", url, 6, sampler_seed=0, heartbeat_s=1)
    states = {t.number: t.state for t in stored_trials(url, "p")}
    # 0 complete, 1 pruned, 2 failed (not counted), 3 pruned, 4 complete, 5 pruned, 6 complete: six finished.
    assert states == {0: TrialState.COMPLETE, 1: TrialState.PRUNED, 2: TrialState.FAIL, 3: TrialState.PRUNED,
                      4: TrialState.COMPLETE, 5: TrialState.PRUNED, 6: TrialState.COMPLETE}
    assert info["n_complete_trials"] == 3 and info["n_pruned_trials"] == 3
    complete = {t.number: t.params["x"] for t in stored_trials(url, "p") if t.state == TrialState.COMPLETE}
    assert best["x"] == min(complete.values())  # the objective is -x: the best is the smallest complete x


def test_a_study_refuses_a_worker_with_other_settings(tmp_path):
    url = tuning.sqlite_url(tmp_path, "mixed")
    tuning.tune_study(_quadratic, "s", url, 1, sampler_seed=0, settings={"seed": 0, "model": "q"}, heartbeat_s=1)
    with pytest.raises(tuning.StudyMismatchError, match="other settings .*seed"):
        tuning.tune_study(_quadratic, "s", url, 2, sampler_seed=1, settings={"seed": 1, "model": "q"}, heartbeat_s=1)
    tuning.tune_study(_quadratic, "s2", url, 1, sampler_seed=0, train_ids_hash="a", heartbeat_s=1)
    with pytest.raises(tuning.StudyMismatchError, match="other training cells"):
        tuning.tune_study(_quadratic, "s2", url, 1, sampler_seed=0, train_ids_hash="b", heartbeat_s=1)


def test_passwords_stay_out_of_reports_and_bad_urls_are_named():
    assert tuning.display_url("postgresql://ann:secret@db.lab:5432/optuna") == "postgresql://ann:***@db.lab:5432/optuna"
    with pytest.raises(tuning.StorageError, match="unknown database kind 'foo'"):
        tuning.open_storage("foo://bar")
    with pytest.raises(tuning.StorageError, match="not a database URL"):
        tuning.open_storage("results/optuna.db")


# --- the command line -------------------------------------------------------------------------

def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)


def test_bad_storage_is_one_line_and_status_2(tmp_path):
    result = run_cli(*WORKER, "--trials", "2", "--storage", f"sqlite:///{tmp_path}/no/such/folder.db", "--out", "x.json",
                     cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr
    mismatch = run_cli(*WORKER, "--trials", "1", "--study-dir", "s", "--study", "mine", "--out", "a.json", cwd=tmp_path)
    assert mismatch.returncode == 0, mismatch.stderr
    other = run_cli(*WORKER, "--trials", "1", "--study-dir", "s", "--study", "mine", "--seed", "1", "--out", "b.json",
                    cwd=tmp_path)
    assert other.returncode == 2 and "other settings" in other.stderr and "seed" in other.stderr
    assert other.stderr.strip().count("\n") == 0


def test_evaluate_force_starts_fresh_studies_and_repeats_the_metrics(tmp_path):
    args = ("evaluate", "--task", "broad", "--model", "logreg", "--folds", "2", "--repeats", "1", "--trials", "3",
            "--out", "run", "--quiet")
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = json.loads((tmp_path / "run" / "report.json").read_text())
    # A longer run in the same folder extends its studies to 6 trials ...
    longer = run_cli(*args[:-4], "6", "--out", "run", "--force", cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr
    # ... and the forced rerun of the first command starts fresh studies: same metrics as the first.
    again = run_cli(*args, "--force", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = json.loads((tmp_path / "run" / "report.json").read_text())
    assert after["metrics"] == before["metrics"]
    assert [f["best_params"] for f in after["per_fold"]] == [f["best_params"] for f in before["per_fold"]]
    set_aside = sorted(p.name for p in (tmp_path / "run").glob("optuna.replaced-*"))
    assert len(set_aside) == 2  # the first run's and the longer run's studies, both kept
    for fold in after["per_fold"]:
        study = optuna.load_study(study_name=fold["tuning"]["study_name"],
                                  storage=tuning.sqlite_url(tmp_path / "run" / "optuna", fold["tuning"]["study_name"]))
        assert len(study.trials) == 3


def test_tune_help_says_what_trials_counts():
    result = run_cli("tune", "--help", cwd=paths.ROOT)
    assert "study" in result.stdout and "not per worker" in " ".join(result.stdout.split())


# --- several workers ----------------------------------------------------------------------------

def test_two_sqlite_workers_on_a_new_file_share_one_study(tmp_path):
    url = tuning.sqlite_url(tmp_path, "new")
    workers = [start_worker(url, "shared", 10, f"w{i}.json", tmp_path) for i in range(2)]
    errors = [finish(worker)[1] for worker in workers]
    for err in errors:  # the initialisation race and SQLite's lock errors are gone
        assert "IntegrityError" not in err and "database is locked" not in err
    stored = check_finished_study(url, "shared", 10, [tmp_path / "w0.json", tmp_path / "w1.json"])
    assert len(stored) == 10
    # Both asked for 14: the study ends with 14, not 10 + 2 x 4.
    workers = [start_worker(url, "shared", 14, f"w{i}.json", tmp_path) for i in range(2)]
    for worker in workers:
        finish(worker)
    check_finished_study(url, "shared", 14, [tmp_path / "w0.json", tmp_path / "w1.json"])


def _kill_mid_trial(victim: subprocess.Popen, url: str, study: str, deadline: float) -> tuple[int, dict] | None:
    """SIGKILL ``victim`` while one of its trials is RUNNING; the trial's number and the COMPLETE trials then.

    ``None`` when the trial had finished by the time the signal arrived, or when the other workers
    finished the study before a trial of the victim was seen running (the caller tries again).
    """
    mark = f":{victim.pid}"
    study_handle = None
    while time.time() < deadline:
        if victim.poll() is not None:
            _, err = victim.communicate()
            assert victim.returncode == 0, f"the victim failed by itself: {err[-2000:]}"
            return None
        try:
            study_handle = study_handle or optuna.load_study(study_name=study, storage=url)
        except KeyError:  # not created yet
            time.sleep(0.1)
            continue
        running = [t for t in study_handle.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                   if str(t.user_attrs.get(tuning.WORKER_ATTR, "")).endswith(mark)]
        if running:
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            trials = stored_trials(url, study)
            state = next(t.state for t in trials if t.number == running[0].number)
            return (running[0].number, complete_of(trials)) if state == TrialState.RUNNING else None
        time.sleep(0.05)
    raise AssertionError("no trial of the victim was seen running")


def test_postgres_workers_share_one_study_and_survive_a_killed_worker(tmp_path):
    if find_postgres_bin() is None:
        message = "PostgreSQL's initdb is not installed (make test installs it: mk/postgres.mk)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    trials = 16
    with throwaway_postgres() as url:
        killed, workers = None, []
        try:
            # A kill lands mid-trial only by timing: each attempt is a new study with three new workers.
            for attempt in range(4):
                study = f"scaleout{attempt}"
                workers = [start_worker(url, study, trials, f"w{i}.json", tmp_path) for i in range(3)]
                victims = [workers[2].pid]
                killed = _kill_mid_trial(workers[2], url, study, deadline=time.time() + 120)
                workers[2] = start_worker(url, study, trials, "w2.json", tmp_path)  # the restarted worker
                if killed is not None:
                    break
                for worker in workers:
                    finish(worker)
            assert killed is not None, "every kill landed between two trials"
            number, complete_at_kill = killed
            outputs = [finish(worker)[0] for worker in workers]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
        stored = check_finished_study(url, study, trials, [tmp_path / f"w{i}.json" for i in range(3)])
        by_number = {t.number: t for t in stored}
        # The killed trial was marked failed by the others (heartbeat), and it is the only failure.
        assert by_number[number].state == TrialState.FAIL
        failed = [t for t in stored if t.state == TrialState.FAIL]
        assert all(str(t.user_attrs[tuning.WORKER_ATTR]).rsplit(":", 1)[1] in map(str, victims) for t in failed)
        # Every trial COMPLETE when the worker died is still there, unchanged.
        final = complete_of(stored)
        assert all(final.get(k) == v for k, v in complete_at_kill.items())
        assert len(stored) == trials + len(failed)
        for out in outputs:
            assert f"after {trials} trials" in out


def test_evaluate_with_two_local_workers_per_study_keeps_the_budget_and_the_leak_guard(tmp_path):
    from _protocol_fixtures import make_task
    from neurotype.protocol.evaluation import evaluate

    task = make_task()
    url = f"sqlite:///{tmp_path / 'folds.db'}"
    report = evaluate(task, "logreg", n_folds=2, n_repeats=1, seed=0, n_trials=6, storage=url, tuning_workers=2,
                      heartbeat_s=1)
    for fold in report.per_fold:
        stored = stored_trials(url, fold["tuning"]["study_name"])
        assert [t.state for t in stored].count(TrialState.COMPLETE) == 6 == len(stored)
        assert fold["tuning"]["trials_run_here"] == 6
        # The helper process's ids are in the record, and none of them is an outer-test cell.
        assert set(fold["tuning_ids"]) <= set(fold["train_ids"])
        assert not set(fold["tuning_ids"]) & set(fold["test_ids"])
    with pytest.raises(ValueError, match="not both"):
        evaluate(task, "logreg", n_folds=2, n_repeats=1, n_trials=2, storage=url, tuning_workers=2, n_jobs=2)


def test_later_workers_use_the_heartbeat_of_the_study(tmp_path):
    """A worker with a 1 s heartbeat must not fail the trials of workers that beat every 30 s."""
    url = tuning.sqlite_url(tmp_path, "beat")
    first = tuning.SharedStudy("s", url, sampler_seed=0, heartbeat_s=30)
    later = tuning.SharedStudy("s", url, sampler_seed=0, heartbeat_s=1)
    try:
        assert later.heartbeat_s == 30
        assert later.storage.grace_period == tuning.GRACE_HEARTBEATS * 30
    finally:
        first.close()
        later.close()
