"""How a study starts and prunes: the defaults first, pruning once three trials have completed, and
the pruners' own decisions although the other trials are read once per trial."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from neurotype.protocol import tuning


def _curves(trial: optuna.Trial) -> float:
    """A learning curve per trial: the loss falls towards (x - 0.3)^2, so later steps separate trials."""
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(9, 100, 10):
        trial.report(-((x - 0.3) ** 2) - 1.0 / (step + 1), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return -((x - 0.3) ** 2)


def _outcome(pruner: optuna.pruners.BasePruner, url: str) -> list[tuple]:
    study = optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=5), pruner=pruner,
                                direction="maximize")
    study.optimize(_curves, n_trials=16)
    return [(t.number, t.state, t.last_step, t.params["x"]) for t in study.trials]


@pytest.mark.parametrize("name", sorted(tuning.PRUNERS))
def test_reading_the_trials_once_per_trial_gives_the_pruners_own_decisions(name, tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plain = _outcome(tuning.PRUNERS[name](), tuning.sqlite_url(tmp_path, "plain"))
    once = _outcome(tuning.make_pruner(name), tuning.sqlite_url(tmp_path, "once"))
    assert isinstance(tuning.make_pruner(name), tuning.OncePerTrialPruner)
    assert once == plain
    pruned = sum(state == optuna.trial.TrialState.PRUNED for _, state, _, _ in plain)
    assert 0 < pruned < 16  # the comparison covers both verdicts


class _CountingStudy:
    def __init__(self, study: optuna.Study):
        self.study, self.reads = study, 0

    def get_trials(self, deepcopy: bool = True, states=None):
        self.reads += 1
        return self.study.get_trials(deepcopy=deepcopy, states=states)

    def __getattr__(self, name):
        return getattr(self.study, name)


def test_the_study_is_read_once_per_trial(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=tuning.sqlite_url(tmp_path, "reads"), direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=6)  # enough finished trials to judge
    counting = _CountingStudy(study)
    pruner = tuning.make_pruner("median")
    pruner.refresh_s = float("inf")  # only a new trial reads again (a slow machine must not add reads)
    for _ in range(2):  # two trials of four reports each: two reads
        trial = study.ask()
        for step in range(4):
            trial.report(0.5, step)
            pruner.prune(counting, study._storage.get_trial(trial._trial_id))
        study.tell(trial, 0.5)
    assert counting.reads == 2


def _stored(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    return sorted(optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False), key=lambda t: t.number)


def _falling(trial: optuna.Trial) -> float:
    """Loss curves of one shape, offset by (x - 0.3)^2: a trial's rank is the same at every step."""
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.set_user_attr("params", {"x": x})
    for step in range(9, 60, 10):
        trial.report(-((x - 0.3) ** 2) - 1.0 / (step + 1), step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return -((x - 0.3) ** 2)


def test_a_study_starts_once_at_the_start_and_prunes_once_three_trials_completed(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = tuning.sqlite_url(tmp_path, "start")
    tuning.tune_study(_falling, "s", url, 4, sampler_seed=1, heartbeat_s=1, start={"x": 0.3})
    tuning.tune_study(_falling, "s", url, 10, sampler_seed=1, heartbeat_s=1, start={"x": 0.3})  # resumed
    trials = _stored(url, "s")
    assert [t.number for t in trials] == list(range(10))
    assert trials[0].params == {"x": 0.3} and [t.params["x"] for t in trials].count(0.3) == 1
    # The rule, applied by hand: the first three trials complete; from then on a trial is stopped at its
    # first report when its value there trails the median of the complete trials' values there (curves of
    # one shape: that is when its (x - 0.3)^2 exceeds their median), and completes otherwise.
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials[:3])
    for t in trials[3:]:
        complete = [c for c in trials[:t.number] if c.state == optuna.trial.TrialState.COMPLETE]
        median = float(np.median([c.intermediate_values[9] for c in complete]))
        if t.intermediate_values[9] < median:
            assert t.state == optuna.trial.TrialState.PRUNED and t.last_step == 9, t.number
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE, t.number
    assert any(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    # Trials 1.. are the ones a study without a start samples (the start takes trial 0's place only).
    plain = tuning.sqlite_url(tmp_path, "plain")
    tuning.tune_study(_falling, "s", plain, 8, sampler_seed=1, heartbeat_s=1)
    assert [t.params["x"] for t in _stored(plain, "s")][1:5] == [t.params["x"] for t in trials][1:5]


def test_a_start_trial_that_failed_is_run_again(tmp_path):
    """A worker killed during the start trial leaves it FAIL; the next worker to open the study puts it back."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = tuning.sqlite_url(tmp_path, "failed")
    shared = tuning.SharedStudy("s", url, sampler_seed=1, heartbeat_s=1, start={"x": 0.3})
    with pytest.warns(UserWarning, match="Heartbeat"):  # Optuna: heartbeats are meant for optimize()
        trial = shared.study.ask()  # the start, taken by a worker that then dies
    assert trial.params == {} and trial.number == 0
    shared.study.tell(trial, state=optuna.trial.TrialState.FAIL)
    shared.close()
    tuning.tune_study(_falling, "s", url, 3, sampler_seed=1, heartbeat_s=1, start={"x": 0.3})
    trials = _stored(url, "s")
    assert trials[0].state == optuna.trial.TrialState.FAIL
    assert trials[1].params == {"x": 0.3} and trials[1].state == optuna.trial.TrialState.COMPLETE
    assert sum(t.params.get("x") == 0.3 for t in trials) == 1
