"""Every chapter's parameters, their types, and the budgets of each profile — in one table.

A chapter's ``parameters`` cell declares every parameter as ``None``: ``profile`` then comes from
``$NEUROTYPE_PROFILE`` (default ``full``), ``results_dir`` from :func:`default_results_dir`, the rest
from the profile. Its next cell calls :func:`resolve_parameters`, which

1. rejects a parameter the chapter does not take (``-p feature_sett actd`` fails instead of being
   ignored),
2. fills every ``None`` with the profile's value (:data:`PROFILES`), so a value the user passes
   with ``papermill -p NAME VALUE`` or ``python -m neurotype.book -p NAME VALUE`` always wins,
3. checks each value's type and choices (``-p smoke false`` or ``-p n_folds 3.5`` fail loudly).

The book runner (:mod:`neurotype.book.runner`) uses the same table to check a user's ``-p`` values
before it executes anything. Add a profile by adding a key to :data:`PROFILES`; a test checks that
every profile gives every chapter a complete, well-typed set of values.
"""

from __future__ import annotations

import os
import types
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["Parameter", "PARAMETERS", "CHAPTER_PARAMETERS", "PROFILES", "TUNING_TRIALS", "ChapterParameters",
           "ParameterError", "profile_values", "check_value", "resolve_parameters", "default_results_dir"]


class ParameterError(ValueError):
    """A chapter parameter that does not exist, or a value of the wrong type."""


@dataclass(frozen=True)
class Parameter:
    """One chapter parameter: the types its value may have, optional choices, and what it means."""

    types: tuple[type, ...]
    help: str
    choices: tuple[Any, ...] | None = None
    item_types: tuple[type, ...] | None = None  # for lists: the types of their items


_INT, _FLOAT, _STR, _BOOL = (int,), (int, float), (str,), (bool,)
_FEATURE_SETS = ("paper41", "actd")

#: Every parameter a chapter may take.
PARAMETERS: dict[str, Parameter] = {
    "profile": Parameter(_STR, "budget profile: full (the book's numbers), smoke (tiny budgets, for tests) or "
                               "paper (the paper's tuning budget)"),
    "results_dir": Parameter(_STR, "folder the chapter writes its report.json and figures data into"),
    "seed": Parameter(_INT, "seed of every split, model and sampler"),
    "feature_set": Parameter(_STR, "paper41 (the paper's 41 features) or actd (ACTD's own features)",
                             _FEATURE_SETS),
    "compare_feature_set": Parameter(_STR, "the second feature set of Table 2", _FEATURE_SETS),
    "n_folds": Parameter(_INT, "outer cross-validation folds"),
    "n_repeats": Parameter(_INT, "repeats of the outer cross-validation"),
    "n_repeats_compare": Parameter(_INT, "repeats of the second feature set's cross-validation"),
    "n_repeats_tuned": Parameter(_INT, "repeats of the tuned models' cross-validation"),
    "pruner": Parameter(_STR, "how tuning stops unpromising network trials: median (Optuna's median pruner) or "
                        "asha (successive halving, for large budgets)", ("median", "asha")),
    "reference_patience": Parameter((int, type(None)), "early-stopping patience (epochs) of the reference-faithful "
                                    "FCNN and DANN (None: every epoch runs, as the paper's code)"),
    "n_trials": Parameter(_INT, "Optuna trials per outer fold (0: fixed hyperparameters)"),
    "n_jobs": Parameter(_INT, "worker processes for the outer folds (one torch thread each)"),
    "class_weight": Parameter(_STR, "label-loss weighting of the networks",
                              ("balanced_per_species", "balanced", "none")),
    "max_epochs": Parameter((int, type(None)), "epoch cap of the networks (None: each model's default)"),
    "timing_repeats": Parameter(_INT, "repeats of the DANN timing"),
    "lambdas": Parameter((list,), "gradient-reversal weights of the λ sweep", item_types=(int, float, str)),
    "shares": Parameter((list,), "shares of human training labels of the learning curve", item_types=(int, float)),
    "curve_models": Parameter((list,), "models of the learning curve", item_types=(str,)),
    "ensemble_members": Parameter(_INT, "seeds averaged by the LSPIN ensemble"),
    "model_overrides": Parameter((dict,), "hyperparameters held fixed per model name, e.g. {'lspin': {'epochs': 100}}"),
    "lspin_label": Parameter(_STR, "which Table 2 LSPIN report the gates are read from"),
    "n_members": Parameter(_INT, "seeds averaged per fold when reading the gates"),
    "perm_repeats": Parameter(_INT, "repeats of the permutation importance"),
    "sampling_rate": Parameter(_FLOAT, "sampling rate of the simulated sweeps (Hz)"),
    "noise_epoch_s": Parameter(_FLOAT, "length of one simulated noise epoch (s)"),
    "noise_gap_s": Parameter(_FLOAT, "gap between simulated noise epochs (s)"),
    "n_boot": Parameter(_INT, "bootstrap resamples of the effect sizes"),
    "ramp_slope_pa_per_s": Parameter(_FLOAT, "slope of the simulated sessions' ramp (pA/s; ACTD: 25)"),
    "n_configurations": Parameter(_INT, "random SVC configurations the audit selects among"),
    "n_seeds": Parameter(_INT, "network seeds and 20 % slices of the audit"),
    "dann_epochs": Parameter(_INT, "epochs of the audit's networks"),
    "lspin_epochs": Parameter(_INT, "epochs of the audit's LSPIN"),
    "n_permutations": Parameter(_INT, "random splits of the composition-shift test"),
    "n_split_repeats": Parameter(_INT, "repeated stratified 80/20 splits giving the spread of single-split scores"),
    "split_models": Parameter((list,), "models of the audit's split comparison", item_types=(str,)),
    "summary_model": Parameter(_STR, "the model whose numbers enter the audit's summary (fixed in advance)"),
    "storage": Parameter((str, type(None)), "Optuna RDB URL shared by tuning workers (None: SQLite files under "
                                            "results_dir)"),
    "external_models": Parameter((list,), "models trained on ACTD and tested on the external cells (need "
                                 "probabilities; the DANN is always added)", item_types=(str,)),
    "focus_model": Parameter(_STR, "the model whose numbers enter chapter 08's prose and the headline "
                             "(fixed in advance)", ("logreg", "rf", "xgb", "fcnn")),
    "network_seeds": Parameter(_INT, "seeds of each network trained on ACTD for the external tests"),
    "n_boot_cells": Parameter(_INT, "bootstrap resamples over the external cells"),
}

_COMMON = ("profile", "results_dir")
#: The parameters each chapter takes (besides ``profile`` and ``results_dir``).
CHAPTER_PARAMETERS: dict[str, tuple[str, ...]] = {
    "intro": (),
    "01_data": ("feature_set",),
    "02_features": ("seed", "sampling_rate", "noise_epoch_s", "noise_gap_s", "n_boot", "ramp_slope_pa_per_s"),
    "03_dann": ("seed", "feature_set", "n_folds", "n_repeats", "n_trials", "n_repeats_tuned", "pruner", "n_jobs",
                "class_weight", "max_epochs", "reference_patience", "timing_repeats", "n_split_repeats", "storage"),
    "04_ablation": ("seed", "feature_set", "n_folds", "n_repeats", "n_jobs", "class_weight", "max_epochs",
                    "lambdas", "shares", "curve_models"),
    "05_lspin": ("seed", "feature_set", "compare_feature_set", "n_folds", "n_repeats", "n_repeats_compare",
                 "n_trials", "n_repeats_tuned", "pruner", "ensemble_members", "n_jobs", "model_overrides",
                 "n_split_repeats", "storage"),
    "06_interpretation": ("seed", "feature_set", "lspin_label", "n_members", "perm_repeats", "n_folds", "n_repeats",
                          "n_trials", "n_jobs", "model_overrides", "storage"),
    "07_audit": ("seed", "n_jobs", "n_repeats", "n_configurations", "n_seeds", "dann_epochs", "lspin_epochs",
                 "n_permutations", "split_models", "summary_model"),
    "08_external": ("seed", "n_jobs", "n_folds", "n_repeats", "external_models", "focus_model", "network_seeds",
                    "max_epochs", "n_boot_cells"),
}

_FULL: dict[str, Any] = {
    "seed": 0, "feature_set": "paper41", "compare_feature_set": "actd", "n_jobs": 2, "n_trials": 0,
    "class_weight": "balanced_per_species", "max_epochs": None, "model_overrides": {}, "storage": None,
    "pruner": "median",
}
_SMOKE: dict[str, Any] = {**_FULL, "n_folds": 2, "n_repeats": 1}
#: The pages that run beside a tuning chapter (03 or 05) in a full build work in their own process: the
#: tuning chapter's two workers already keep both cores busy, so a side page's own two workers only
#: added their start-up (about 5 CPU-seconds each, importing torch, scikit-learn and Optuna) and
#: contention for the cores. With one process each (and one thread per kernel, see
#: :data:`neurotype.book.runner.KERNEL_THREADS`), the full book took 685 s and 1,313 CPU-seconds against
#: 710 s and 1,363, and the side pages themselves ran faster (04: 38 against 45 s, 06: 55 against 65 s,
#: 07: 72 against 78 s, 08: 29 against 37 s; 2026-11-30), with the same numbers. Run alone, such a page
#: takes ``--workers 2`` (or ``-p n_jobs=2``) to use both cores.
_BESIDE_TUNING: dict[str, Any] = {**_FULL, "n_jobs": 1}
#: Optuna trials per outer fold of every model of Tables 1 and 2 in the full profile (issue 14: the same
#: budget for every network and baseline, at least 20; pruned trials count, as in Optuna's own budget).
TUNING_TRIALS = 20

#: profile → chapter → every parameter's value. ``full`` gives the book's numbers; ``smoke`` runs each
#: chapter in well under a minute (the CI's profile; its numbers mean nothing).
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        "intro": {},
        "01_data": {"feature_set": "paper41"},
        "02_features": {"seed": 0, "sampling_rate": 50_000.0, "noise_epoch_s": 3.0, "noise_gap_s": 1.0,
                        "n_boot": 1000, "ramp_slope_pa_per_s": 25.0},
        "03_dann": {**_FULL, "n_folds": 5, "n_repeats": 2, "n_trials": TUNING_TRIALS, "n_repeats_tuned": 1,
                    "reference_patience": 30, "timing_repeats": 3, "n_split_repeats": 50},
        "04_ablation": {**_BESIDE_TUNING, "n_folds": 5, "n_repeats": 1,
                        "lambdas": [0.0, 0.1, 1.0, "schedule"], "shares": [0.0, 0.1, 0.25, 0.5, 1.0],
                        "curve_models": ["human only (LogReg)", "mouse + human (LogReg)", "DANN"]},
        "05_lspin": {**_FULL, "n_folds": 5, "n_repeats": 2, "n_repeats_compare": 1, "n_trials": TUNING_TRIALS,
                     "n_repeats_tuned": 1, "ensemble_members": 3, "n_split_repeats": 60},
        "06_interpretation": {**_BESIDE_TUNING, "lspin_label": "lspin_paper", "n_members": 3, "perm_repeats": 5,
                              "n_folds": 5, "n_repeats": 1},
        "07_audit": {**_BESIDE_TUNING, "n_repeats": 3, "n_configurations": 30, "n_seeds": 3,
                     "dann_epochs": 100, "lspin_epochs": 1000, "n_permutations": 2000,
                     "split_models": ["logreg", "svc", "xgb"], "summary_model": "svc"},
        "08_external": {**_BESIDE_TUNING, "n_folds": 5, "n_repeats": 1,
                        "external_models": ["logreg", "rf", "fcnn"], "focus_model": "fcnn", "network_seeds": 2,
                        "n_boot_cells": 1000},
    },
    "smoke": {
        "intro": {},
        "01_data": {"feature_set": "paper41"},
        "02_features": {"seed": 0, "sampling_rate": 25_000.0, "noise_epoch_s": 0.5, "noise_gap_s": 0.25,
                        "n_boot": 50, "ramp_slope_pa_per_s": 100.0},
        "03_dann": {**_SMOKE, "max_epochs": 20, "n_trials": 1, "n_repeats_tuned": 1, "reference_patience": 5,
                    "timing_repeats": 1, "n_split_repeats": 3},
        "04_ablation": {**_SMOKE, "max_epochs": 20, "lambdas": [0.0, "schedule"], "shares": [0.0, 0.25, 1.0],
                        "curve_models": ["human only (LogReg)", "mouse + human (LogReg)", "DANN"]},
        "05_lspin": {**_SMOKE, "n_folds": 3, "n_repeats_compare": 1, "n_trials": 1, "n_repeats_tuned": 1,
                     "ensemble_members": 2, "n_split_repeats": 3,
                     "model_overrides": {"lspin": {"epochs": 100}, "lspin_reference": {"epochs": 100},
                                         "fcnn": {"max_epochs": 15},
                                         "rf": {"n_estimators": 30}, "xgb": {"n_estimators": 30}}},
        "06_interpretation": {**_SMOKE, "lspin_label": "lspin_paper", "n_members": 2, "perm_repeats": 2,
                              "n_folds": 3,
                              "model_overrides": {"lspin": {"epochs": 100}, "dann": {"max_epochs": 8},
                                                  "gated_dann": {"max_epochs": 8}}},
        "07_audit": {**_SMOKE, "n_configurations": 6, "n_seeds": 1, "dann_epochs": 20, "lspin_epochs": 100,
                     "n_permutations": 500, "split_models": ["logreg", "svc"], "summary_model": "svc"},
        "08_external": {**_SMOKE, "n_jobs": 1, "external_models": ["logreg", "fcnn"], "focus_model": "fcnn",
                        "network_seeds": 1,
                        "max_epochs": 15, "n_boot_cells": 100},
    },
}


# The paper's own tuning budget (issue: thousands of Optuna trials per model): every tuned model of
# chapters 03, 05 and 06 gets 1,000 trials per outer fold. It does not fit one machine's afternoon; its
# studies persist (SQLite under results/paper/optuna, or --storage URL shared by several machines) and
# a rerun resumes them.
PROFILES["paper"] = {chapter: dict(values) for chapter, values in PROFILES["full"].items()}
for _chapter in ("03_dann", "05_lspin", "06_interpretation"):
    PROFILES["paper"][_chapter]["n_trials"] = 1000
PROFILES["paper"]["03_dann"]["reference_patience"] = None  # the paper's code ran every epoch
for _chapter in ("03_dann", "05_lspin"):
    # With a thousand trials successive halving pays: most trials stop after a few dozen epochs.
    PROFILES["paper"][_chapter]["pruner"] = "asha"


def default_results_dir(profile: str) -> str:
    """Where a chapter writes when not told: ``results`` for the full profile, ``results/<profile>`` for the
    others, so a smoke run never overwrites the book's numbers (relative to the working directory)."""
    return "results" if profile == "full" else f"results/{profile}"


def _chapter_names(chapter: str) -> tuple[str, ...]:
    if chapter not in CHAPTER_PARAMETERS:
        raise ParameterError(f"unknown chapter {chapter!r}; chapters: {sorted(CHAPTER_PARAMETERS)}")
    return (*_COMMON, *CHAPTER_PARAMETERS[chapter])


def profile_values(profile: str, chapter: str) -> dict[str, Any]:
    """The value of each of ``chapter``'s parameters in ``profile`` (``results_dir`` excepted)."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; profiles: {sorted(PROFILES)}")
    names = _chapter_names(chapter)
    table = PROFILES[profile].get(chapter, {})
    values = {name: table[name] for name in names if name in table}
    return {"profile": profile, **values}


def _type_names(kinds: tuple[type, ...]) -> str:
    return " or ".join("None" if kind is type(None) else kind.__name__ for kind in kinds)


def check_value(name: str, value: Any, chapter: str | None = None) -> None:
    """Raise :class:`ParameterError` unless ``value`` suits parameter ``name`` (and ``chapter`` takes it)."""
    where = f"chapter {chapter}: " if chapter else ""
    if chapter is not None and name not in _chapter_names(chapter):
        raise ParameterError(f"{where}unknown parameter {name!r}; it takes {sorted(_chapter_names(chapter))}")
    if name not in PARAMETERS:
        raise ParameterError(f"{where}unknown parameter {name!r}")
    spec = PARAMETERS[name]
    # bool is an int to Python; a flag passed where a number belongs is an error here.
    wrong_bool = isinstance(value, bool) and bool not in spec.types
    if wrong_bool or not isinstance(value, spec.types):
        raise ParameterError(f"{where}parameter {name} = {value!r} ({type(value).__name__}): "
                             f"expected {_type_names(spec.types)} ({spec.help})")
    if spec.choices is not None and value not in spec.choices:
        raise ParameterError(f"{where}parameter {name} = {value!r}: choose one of {list(spec.choices)}")
    if spec.item_types is not None:
        for item in value:
            if isinstance(item, bool) or not isinstance(item, spec.item_types):
                raise ParameterError(f"{where}parameter {name}: item {item!r} is not "
                                     f"{_type_names(spec.item_types)}")


@dataclass(frozen=True)
class ChapterParameters:
    """The resolved parameters of one chapter run (what its report records)."""

    chapter: str
    values: dict[str, Any]

    @property
    def profile(self) -> str:
        return self.values["profile"]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


_NOTEBOOK_NAMES = {"In", "Out", "exit", "quit", "get_ipython", "open"}


def _declared(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The plain values of a notebook's global namespace: its parameters, and nothing IPython adds."""
    return {name: value for name, value in namespace.items()
            if not name.startswith("_") and name not in _NOTEBOOK_NAMES
            and not isinstance(value, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type))}


def resolve_parameters(chapter: str, namespace: Mapping[str, Any]) -> ChapterParameters:
    """Check and complete a chapter's parameters; call it in the cell right after the parameters cell.

    Parameters
    ----------
    chapter
        The chapter's name (a key of :data:`CHAPTER_PARAMETERS`).
    namespace
        The notebook's ``globals()``: the parameters cell's names and any papermill injected.

    Returns
    -------
    ChapterParameters
        Every parameter's value: the one given when not ``None``, else the profile's.
    """
    given = _declared(namespace)
    names = _chapter_names(chapter)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ParameterError(f"chapter {chapter}: unknown parameter(s) {unknown}; it takes {sorted(names)}")
    # None: the environment's NEUROTYPE_PROFILE (so `jupyter-book build .` can run any profile), else full.
    profile = given.get("profile") or os.environ.get("NEUROTYPE_PROFILE") or "full"
    check_value("profile", profile, chapter)
    defaults = profile_values(profile, chapter)
    values: dict[str, Any] = {}
    for name in names:
        value = given.get(name)
        if value is None and name == "results_dir":
            value = default_results_dir(profile)
        if value is None:
            if name not in defaults:
                raise ParameterError(f"chapter {chapter}: parameter {name} is None and profile {profile!r} "
                                     "has no value for it")
            value = defaults[name]
        if not (value is None and type(None) in PARAMETERS[name].types):
            check_value(name, value, chapter)
        values[name] = value
    return ChapterParameters(chapter, values)
