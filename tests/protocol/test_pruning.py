"""The study's pruners: reading the other trials once per trial changes no decision."""

from __future__ import annotations

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
    for _ in range(2):  # two trials of four reports each: two reads
        trial = study.ask()
        for step in range(4):
            trial.report(0.5, step)
            pruner.prune(counting, study._storage.get_trial(trial._trial_id))
        study.tell(trial, 0.5)
    assert counting.reads == 2
