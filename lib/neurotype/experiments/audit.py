"""The original study's code, re-enacted step by step on the bundled tables, with each flaw's measured effect.

The paper's scripts (github ofek181/Neuronal-Cell-Type-Classification, commit 6eb1bdca, the commit
the bundled ``data/paper41`` tables come from) are re-enacted here on those tables, read raw and in
file order as the scripts read them. Each flaw gets one function that re-enacts what the script
did and measures it next to the honest alternative on the same cells, with everything else held
fixed, and returns a small typed result:

1. :func:`split_effect` — the broad-type scripts (``dann_dendrite_type.py`` lines 390–391,
   ``domain_adaptation_comparison.py`` lines 321–322) test on the last 20 % of each CSV,
   unshuffled (:func:`unshuffled_split`). The LSPIN script does *not*: it shuffles
   (:func:`reenact_lspin_split`).
2. :func:`reenact_dropna` / :func:`dropna_effect` — the DANN script and the Table 1 FCNN script
   (``domain_adaptation_comparison.py`` lines 179–183) concatenate the mouse and human training
   tables and call ``dropna()`` before dropping the mouse-only metadata columns: every human row
   goes, so both networks trained on mouse cells only.
3. :func:`dann_scaling_effect` — the DANN script fits one scaler on the pooled training table and
   scales each species' test table with a scaler fitted on that test table itself (lines 204,
   227, 233).
4. :func:`score_matrix` / :func:`selection_optimism` — the configuration with the best *test*
   score is reported instead of the one with the best inner-validation score.
5. :func:`baseline_effect` — the Table 2 baselines (``rf_transgenic_targeting.py`` line 87 and its
   SVC and XGBoost twins) use a fresh ``train_test_split(train_size=0.2, random_state=1)``:
   trained on 20 % of the cells and tested on the other 80 %, not on LSPIN's test set.
6. :func:`metric_averages` — the broad-type scripts report *binary* precision, recall and F1 with
   spiny as the positive class (``helper_functions.calculate_metrics``, lines 11–16); the LSPIN
   tuning printout reports support-weighted ones (``lspin_transgenic_targeting.py`` lines
   150–152).
7. :func:`reconstruct_fig11` — the caption of the paper's Fig 11 gives column-normalised
   percentages (precisions; line 225 divides by column sums). On the replayed LSPIN test set
   exactly one confusion-matrix diagonal fits them, and its recall and F1 differ from Table 2's.

:func:`reenact_lspin_split` replays the LSPIN script's preprocessing and split
(``lspin_transgenic_targeting.py`` ``_preprocess_data``, lines 45–66) with scikit-learn's
``train_test_split``. The paper's numbers come from :mod:`neurotype.paper.claims` only; every
other number is computed. Every function is seeded and reads nothing but its arguments and the
bundled tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from neurotype import paths
from neurotype.data.splits import inner_split, outer_folds
from neurotype.data.tables import (BROAD_CLASSES, PAPER41_FEATURES, PAPER41_SUBCLASS_LABELS, SUBCLASSES, DataError,
                                   TaskData, duplicate_groups)
from neurotype.models.registry import get_model
from neurotype.paper import claims
from neurotype.protocol.metrics import OVERALL, central_95, confusion_matrices, fold_metrics

__all__ = [
    "ORIGINAL_TEST_FRACTION", "LSPIN_TRAIN_SIZE", "BASELINE_TRAIN_SIZE", "ORIGINAL_RANDOM_STATE",
    "MOUSE_ONLY_COLUMNS", "LSPIN_DROPPED_COLUMNS", "SummaryRow", "summary_frame", "summary_rows",
    "read_original_tables", "table_overview", "original_task", "unshuffled_split", "total_variation", "composition_shift",
    "composition_shift_pvalue", "fit_predict", "score_predictions",
    "LspinSplit", "reenact_lspin_split", "SplitEffect", "split_effect",
    "DropnaReenactment", "reenact_dropna", "DropnaEffect", "dropna_effect",
    "DROPNA_VARIANTS", "DANN_SCALINGS", "BASELINE_SETTINGS", "DannScalingEffect", "dann_scaling_effect",
    "svc_configurations", "score_matrix", "selection_optimism", "SelectionEffect", "selection_effect",
    "BaselineEffect", "reenact_baseline_split", "baseline_effect",
    "metric_averages", "broad_metric_averages", "averages_summary_row", "percentage_fits", "Fig11Reconstruction", "reconstruct_fig11", "paper_fig11",
    "LspinReplay", "lspin_on_original_split",
]

#: Share of each CSV the broad-type scripts held out as the test set (its last rows).
ORIGINAL_TEST_FRACTION = 0.2
#: ``train_size`` of the LSPIN script's two shuffled splits (test, then validation).
LSPIN_TRAIN_SIZE = 0.8
#: ``train_size`` of the Table 2 baselines' own split: they trained on 20 % of the cells.
BASELINE_TRAIN_SIZE = 0.2
#: ``random_state`` of every shuffled split of the original scripts.
ORIGINAL_RANDOM_STATE = 1
#: Metadata columns only the mouse table has; in a concatenated table they are NaN on human rows.
MOUSE_ONLY_COLUMNS: tuple[str, ...] = ("transgenic_line", "neurotransmitter", "reporter_status")
#: Columns the LSPIN script drops after its ``dropna`` (besides the label column it encodes).
LSPIN_DROPPED_COLUMNS: tuple[str, ...] = ("dendrite_type", "neurotransmitter", "reporter_status", "layer",
                                          "file_name")
#: How the summary names the metrics it reports.
_NAMES = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "f1_macro": "macro F1",
          "precision_macro": "macro precision", "recall_macro": "macro recall", "f1": "F1", "precision": "precision",
          "recall": "recall"}


# --- the audit's summary ----------------------------------------------------------------------

@dataclass(frozen=True)
class SummaryRow:
    """One line of the audit's summary: a flaw, what the flawed step gives and what the honest one gives."""

    flaw: str
    measure: str
    original: float
    honest: float
    honest_means: str

    @property
    def effect(self) -> float:
        """Original − honest."""
        return self.original - self.honest


def summary_frame(rows: Sequence[SummaryRow], digits: int = 3, raw: bool = False) -> pd.DataFrame:
    """The summary as a table for people (one row per flaw, numbers formatted), or with ``raw`` numbers for a chart.

    The raw frame has columns ``flaw``, ``metric`` (what is measured), ``original``, ``honest``,
    ``effect`` and ``honest_means``.
    """
    if raw:
        return pd.DataFrame([{"flaw": r.flaw, "metric": r.measure, "original": r.original, "honest": r.honest,
                              "effect": r.effect, "honest_means": r.honest_means} for r in rows])
    return pd.DataFrame([{"flaw": r.flaw, "measure": r.measure, "as the original ran it": f"{r.original:.{digits}f}",
                          "honest": f"{r.honest:.{digits}f}", "effect (original − honest)": f"{r.effect:+.{digits}f}",
                          "honest means": r.honest_means} for r in rows]).set_index("flaw")


def summary_rows(model: str, split: "SplitEffect", dropna: "DropnaEffect", scaling: "DannScalingEffect",
                 selection: "SelectionEffect", baselines: "BaselineEffect", averages: pd.DataFrame,
                 fig11: "Fig11Reconstruction") -> list[SummaryRow]:
    """The audit's summary, one row per flaw in the order of the chapter, ``model`` where a model is named.

    Rows 1, 2, 3 and 6 are measured on the human test cells (the scarce species every broad-type
    claim is about); rows 4 and 5 on the mouse subclasses; row 7 is the paper's Table 2 against its
    own Fig 11.
    """
    return [split.summary_row(model, "human"), *dropna.summary_rows(), scaling.summary_row(model),
            selection.summary_row(), baselines.summary_row(model), averages_summary_row(averages),
            *fig11.summary_rows()]


# --- the original tables ----------------------------------------------------------------------

def read_original_tables(directory: Path | str = paths.PAPER41) -> dict[str, pd.DataFrame]:
    """The paper's two CSV tables as the original code read them: raw, in file order.

    Returns
    -------
    dict
        ``{"mouse": DataFrame, "human": DataFrame}`` exactly as ``pandas.read_csv`` returns them
        (no row dropped, no column cast); a ``species`` column is *not* added.
    """
    directory = Path(directory)
    tables = {}
    for species in ("mouse", "human"):
        path = directory / f"{species}_ephys_data.csv"
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        table = pd.read_csv(path)
        missing = [c for c in ("dendrite_type", "file_name", *PAPER41_FEATURES) if c not in table.columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
        tables[species] = table
    return tables


def table_overview(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows, columns and rows with a missing value of each raw table."""
    frame = pd.DataFrame({species: {"rows": len(t), "columns": t.shape[1],
                                    "rows with a missing value": int(t.isna().any(axis=1).sum())}
                          for species, t in tables.items()}).T
    frame.index.name = "table"
    return frame


def original_task(tables: Mapping[str, pd.DataFrame], task: str = "subclass") -> TaskData:
    """A :class:`~neurotype.data.tables.TaskData` over raw CSV rows, keeping their file order.

    Parameters
    ----------
    tables
        ``{species: raw table}`` (e.g. from :func:`read_original_tables`, possibly after
        ``dropna``); the rows are stacked in the mapping's order.
    task
        ``"subclass"`` (labels from ``transgenic_line``, mouse tables only) or ``"broad"``
        (labels from ``dendrite_type``).
    """
    if task not in ("subclass", "broad"):
        raise ValueError(f"task must be 'subclass' or 'broad', got {task!r}")
    parts = []
    for species, table in tables.items():
        if task == "subclass":
            if "transgenic_line" not in table.columns:
                raise DataError(f"the {species} table has no 'transgenic_line' column: no subclass labels")
            labels = table["transgenic_line"].map(PAPER41_SUBCLASS_LABELS)
        else:
            labels = table["dendrite_type"]
        if labels.isna().any():
            raise DataError(f"the {species} table has {int(labels.isna().sum())} row(s) without a {task} label")
        ids = table["file_name"].astype(str).str.split("_").str[0].astype("int64")
        parts.append(pd.DataFrame({"specimen_id": ids.to_numpy(), "species": species, "label": labels.to_numpy(),
                                   **{f: pd.to_numeric(table[f], errors="raise").to_numpy(dtype=float)
                                      for f in PAPER41_FEATURES}}))
    frame = pd.concat(parts, ignore_index=True)
    if frame["specimen_id"].duplicated().any():
        raise DataError(f"specimen id {frame.loc[frame['specimen_id'].duplicated(), 'specimen_id'].iloc[0]} "
                        "appears twice")
    X = frame[list(PAPER41_FEATURES)].set_axis(pd.Index(frame["specimen_id"], name="specimen_id"))
    classes = SUBCLASSES if task == "subclass" else BROAD_CLASSES
    meta = frame[["specimen_id", "species", "label"]].set_axis(X.index)
    return TaskData(task=task, feature_set="paper41", X=X, y=frame["label"].to_numpy(dtype=str),
                    classes=tuple(classes), species=frame["species"].to_numpy(dtype=str),
                    groups=duplicate_groups(X), meta=meta)


# --- fitting and scoring ----------------------------------------------------------------------

def fit_predict(model: str, X_train: pd.DataFrame | np.ndarray, y_train: np.ndarray,
                X_test: pd.DataFrame | np.ndarray, *, params: Mapping[str, Any] | None = None, seed: int = 0,
                species_train: np.ndarray | None = None, species_test: np.ndarray | None = None,
                ) -> np.ndarray:
    """Fit a registered model (its own train-only imputation and scaling inside) and predict.

    ``species_*`` default to ``"mouse"`` for every row.
    """
    species_train = np.full(len(y_train), "mouse") if species_train is None else np.asarray(species_train)
    species_test = np.full(len(X_test), "mouse") if species_test is None else np.asarray(species_test)
    estimator = get_model(model).make(params, seed=seed)
    estimator.fit(pd.DataFrame(np.asarray(X_train, dtype=float)), np.asarray(y_train), species=species_train)
    return np.asarray(estimator.predict(pd.DataFrame(np.asarray(X_test, dtype=float)), species=species_test))


def score_predictions(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray,
                      classes: Sequence[str], species: Sequence[str] | np.ndarray | None = None,
                      ) -> dict[str, dict[str, float]]:
    """neurotype's scalar metrics of predictions, ``{"all" | species: {metric: value}}`` (no per-class F1)."""
    scores = fold_metrics(np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str), classes, species)
    return {key: {k: v for k, v in values.items() if not k.startswith("f1[")} for key, values in scores.items()}


def _one_thread() -> None:
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _parallel(jobs: list[tuple[Callable, tuple]], n_jobs: int) -> list:
    if n_jobs == 1 or len(jobs) == 1:
        return [function(*args) for function, args in jobs]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, backend="loky")(delayed(function)(*args) for function, args in jobs)


# --- the LSPIN script's preprocessing and split -------------------------------------------------

@dataclass(frozen=True)
class LspinSplit:
    """The LSPIN script's cells, scaling and split, replayed (``_preprocess_data``).

    Attributes
    ----------
    task
        The complete mouse rows in file order (all-NaN columns dropped, then ``dropna(axis=0)``).
    X_scaled
        Their features standardised by one scaler fitted on *every* row, test rows included.
    codes
        The label codes: pandas categorical codes, the classes in alphabetical order.
    train, test
        Positions of ``train_test_split(x, y, train_size=0.8, random_state=1)`` (shuffled).
    fit, validation
        The second split of the training positions (same call on ``x_train``).
    n_dropped
        Rows ``dropna`` removed.
    """

    task: TaskData
    X_scaled: np.ndarray
    codes: Mapping[str, int]
    train: np.ndarray
    test: np.ndarray
    fit: np.ndarray
    validation: np.ndarray
    n_dropped: int

    def sizes(self) -> dict[str, int]:
        """Cells at each step: complete rows, dropped rows, training, test, fit and validation rows."""
        return {"n_complete": len(self.task), "n_dropped": self.n_dropped, "n_train": len(self.train),
                "n_test": len(self.test), "n_fit": len(self.fit), "n_validation": len(self.validation)}

    def class_table(self) -> pd.DataFrame:
        """Cells per class (in the original's code order) in the training and the test rows."""
        y = pd.Series(self.task.y)
        return pd.DataFrame({"code": list(self.codes.values()),
                             "training cells": [int((y.iloc[self.train] == c).sum()) for c in self.codes],
                             "test cells": list(self.test_counts().values())},
                            index=pd.Index(list(self.codes), name="class"))

    def test_counts(self) -> dict[str, int]:
        """True test cells per class, in the order of the original's codes (alphabetical)."""
        counts = pd.Series(self.task.y[self.test]).value_counts()
        return {label: int(counts.get(label, 0)) for label in self.codes}


def reenact_lspin_split(tables: Mapping[str, pd.DataFrame]) -> LspinSplit:
    """Replay ``lspin_transgenic_targeting.py`` ``_preprocess_data`` (lines 45–66) on the mouse table.

    All-NaN columns are dropped, then every row with a NaN; the metadata columns go; the
    ``transgenic_line`` label becomes pandas categorical codes; one ``StandardScaler`` is fitted
    on every remaining row; then ``train_test_split(train_size=0.8, random_state=1)`` splits off
    the test set and the same call on the training part splits off a validation set. Both are
    scikit-learn's shuffled splits; positions are computed on the rows in file order, so they
    are the ones the script's call gave.
    """
    mouse = tables["mouse"]
    complete = mouse.dropna(axis=1, how="all").dropna(axis=0)
    labels = complete["transgenic_line"].astype("category")
    x = complete.drop(columns=[*LSPIN_DROPPED_COLUMNS, "transgenic_line"])
    if sorted(x.columns) != sorted(PAPER41_FEATURES):
        raise DataError(f"the mouse table's feature columns are not the paper's 41: {sorted(x.columns)}")
    X_scaled = StandardScaler().fit_transform(x[list(PAPER41_FEATURES)].to_numpy(dtype=float))
    positions = np.arange(len(complete))
    train, test = train_test_split(positions, labels.cat.codes.to_numpy(), train_size=LSPIN_TRAIN_SIZE,
                                   random_state=ORIGINAL_RANDOM_STATE)[:2]
    fit, validation = train_test_split(train, train_size=LSPIN_TRAIN_SIZE, random_state=ORIGINAL_RANDOM_STATE)
    codes = {PAPER41_SUBCLASS_LABELS[c]: i for i, c in enumerate(labels.cat.categories)}
    return LspinSplit(task=original_task({"mouse": complete}, "subclass"), X_scaled=X_scaled, codes=codes,
                      train=np.asarray(train), test=np.asarray(test), fit=np.asarray(fit),
                      validation=np.asarray(validation), n_dropped=len(mouse) - len(complete))


# --- flaw 1: the broad-type scripts' unshuffled split ---------------------------------------------

def unshuffled_split(n_rows: int, test_fraction: float = ORIGINAL_TEST_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``train_test_split(range(n_rows), test_size=test_fraction, shuffle=False)``.

    The test set is the last ``ceil(test_fraction · n_rows)`` rows (scikit-learn's rounding);
    the training set is everything before them.
    """
    if n_rows < 2:
        raise ValueError(f"need at least 2 rows to split, got {n_rows}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n_test = math.ceil(test_fraction * n_rows)
    if not 0 < n_test < n_rows:
        raise ValueError(f"test_fraction {test_fraction} leaves no training or no test rows of {n_rows}")
    positions = np.arange(n_rows)
    return positions[:n_rows - n_test], positions[n_rows - n_test:]


def total_variation(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Total variation distance ``½ Σ |p − q|`` between two class-share vectors."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"share vectors differ in shape: {p.shape} and {q.shape}")
    return float(0.5 * np.abs(p - q).sum())


def composition_shift(y: Sequence[str] | np.ndarray, train: np.ndarray, test: np.ndarray,
                      classes: Sequence[str]) -> pd.DataFrame:
    """Class counts and shares of a training and a test set.

    Returns
    -------
    pandas.DataFrame
        Index = class; columns ``n_train``, ``n_test``, ``share_train``, ``share_test`` and
        ``shift`` (test share − training share). ``frame.attrs["tvd"]`` holds the total variation
        distance between the two share vectors.
    """
    y = np.asarray(y, dtype=str)
    n_train = pd.Series(y[np.asarray(train)]).value_counts().reindex(list(classes), fill_value=0)
    n_test = pd.Series(y[np.asarray(test)]).value_counts().reindex(list(classes), fill_value=0)
    frame = pd.DataFrame({"n_train": n_train, "n_test": n_test})
    frame["share_train"] = frame["n_train"] / frame["n_train"].sum()
    frame["share_test"] = frame["n_test"] / frame["n_test"].sum()
    frame["shift"] = frame["share_test"] - frame["share_train"]
    frame.index.name = "class"
    frame.attrs["tvd"] = total_variation(frame["share_train"], frame["share_test"])
    return frame


def composition_shift_pvalue(y: Sequence[str] | np.ndarray, n_test: int, observed_tvd: float,
                             n_permutations: int = 2000, seed: int = 0) -> float:
    """Share of random (unstratified, shuffled) splits whose train/test TVD reaches ``observed_tvd``.

    A permutation p-value, ``(1 + #{TVD ≥ observed}) / (1 + n_permutations)``: how unusual the
    unshuffled split's class mix is for a split of the same size drawn at random.
    """
    y = np.asarray(y, dtype=str)
    if not 0 < n_test < len(y):
        raise ValueError(f"n_test must be in (0, {len(y)}), got {n_test}")
    classes, codes = np.unique(y, return_inverse=True)
    rng = np.random.default_rng(seed)
    total = np.bincount(codes, minlength=len(classes))
    hits = 0
    for _ in range(n_permutations):
        test_counts = np.bincount(codes[rng.permutation(len(y))[:n_test]], minlength=len(classes))
        train_counts = total - test_counts
        tvd = total_variation(train_counts / train_counts.sum(), test_counts / n_test)
        hits += tvd >= observed_tvd - 1e-12
    return (1 + hits) / (1 + n_permutations)


def _split_job(task: TaskData, model: str, seed: int, train: np.ndarray, test: np.ndarray) -> dict:
    _one_thread()
    predicted = fit_predict(model, task.X.iloc[train], task.y[train], task.X.iloc[test], seed=seed,
                            species_train=task.species[train], species_test=task.species[test])
    return score_predictions(task.y[test], predicted, task.classes, task.species[test])


@dataclass(frozen=True)
class SplitEffect:
    """The broad-type scripts' unshuffled split against shuffled stratified splits of the same cells.

    Attributes
    ----------
    compositions
        ``{species: composition_shift frame}`` of the unshuffled split (``attrs["tvd"]``).
    pvalues
        ``{species: composition_shift_pvalue}``.
    scores
        One row per (model, split, test species): ``split`` is ``"unshuffled"`` or
        ``"shuffled"``, with ``repeat``, ``fold`` and the metrics.
    """

    compositions: Mapping[str, pd.DataFrame]
    pvalues: Mapping[str, float]
    scores: pd.DataFrame

    def numbers(self, model: str, species: str, metric: str = "accuracy") -> dict[str, float]:
        """Unshuffled score, shuffled mean and the shuffled splits' 2.5–97.5 % range."""
        rows = self.scores[(self.scores["model"] == model) & (self.scores["test_species"] == species)]
        shuffled = rows.loc[rows["split"] == "shuffled", metric].to_numpy(dtype=float)
        low, high = central_95(shuffled)
        return {"unshuffled": float(rows.loc[rows["split"] == "unshuffled", metric].iloc[0]),
                "shuffled_mean": float(shuffled.mean()), "shuffled_low": low, "shuffled_high": high,
                "n_shuffled": int(len(shuffled))}

    def table(self, metric: str = "accuracy") -> pd.DataFrame:
        """Per model and test species: the unshuffled split's score beside the shuffled splits' mean and range."""
        rows = []
        for (model, species), _ in self.scores.groupby(["model", "test_species"], sort=False):
            n = self.numbers(model, species, metric)
            rows.append({"model": model, "test cells": species, "unshuffled (last 20 %)": f"{n['unshuffled']:.3f}",
                         "shuffled stratified splits: mean [2.5 %, 97.5 %]":
                             f"{n['shuffled_mean']:.3f} [{n['shuffled_low']:.3f}, {n['shuffled_high']:.3f}]"})
        return pd.DataFrame(rows).set_index(["model", "test cells"])

    def summary_row(self, model: str, species: str, metric: str = "accuracy") -> SummaryRow:
        n = self.numbers(model, species, metric)
        return SummaryRow("1 test set = last 20 % of each file (broad type)", f"{model} {_NAMES[metric]}, {species} test cells",
                          n["unshuffled"], n["shuffled_mean"],
                          f"mean of {n['n_shuffled']} shuffled stratified 80/20 splits")


def split_effect(tables: Mapping[str, pd.DataFrame], models: Sequence[str], *, n_repeats: int = 2, n_folds: int = 5,
                 seed: int = 0, n_permutations: int = 2000, n_jobs: int = 1) -> SplitEffect:
    """The broad-type scripts' split (last 20 % of each CSV, unshuffled) against shuffled stratified splits.

    Both species' raw tables form one broad-type task; the unshuffled split takes the last 20 %
    of each table as its test rows. The shuffled splits are neurotype's outer folds
    (stratified on label × species, duplicate-aware); with ``n_folds=5`` each tests on 20 % of the
    cells as well. Preprocessing (median imputation, scaling) is fitted on training rows in both.
    """
    task = original_task({"mouse": tables["mouse"], "human": tables["human"]}, "broad")
    train, test, compositions, pvalues = [], [], {}, {}
    for species in ("mouse", "human"):
        rows = np.flatnonzero(task.species == species)
        tr, te = unshuffled_split(len(rows))
        train.append(rows[tr])
        test.append(rows[te])
        compositions[species] = composition_shift(task.y, rows[tr], rows[te], task.classes)
        pvalues[species] = composition_shift_pvalue(task.y[rows], len(te), compositions[species].attrs["tvd"],
                                                    n_permutations=n_permutations, seed=seed)
    plan = [("unshuffled", -1, -1, np.concatenate(train), np.concatenate(test))]
    plan += [("shuffled", f.repeat, f.fold, f.train, f.test)
             for f in outer_folds(task, n_folds=n_folds, n_repeats=n_repeats, seed=seed)]
    jobs = [(_split_job, (task, model, seed, tr, te)) for model in models for _, _, _, tr, te in plan]
    results = iter(_parallel(jobs, n_jobs))
    rows = [{"model": model, "split": kind, "repeat": r, "fold": k, "test_species": key, **values}
            for model in models for kind, r, k, _, _ in plan for key, values in next(results).items()]
    return SplitEffect(compositions, pvalues, pd.DataFrame(rows))


# --- flaw 2: dropna on the concatenated tables ------------------------------------------------

@dataclass(frozen=True)
class DropnaReenactment:
    """What the DANN and Table 1 FCNN scripts' data preparation left of the training rows.

    Attributes
    ----------
    counts
        Rows per species and stage: ``{"stage": ..., "mouse": n, "human": n, "total": n}``
        records for the raw tables, their training parts (all but the last 20 %), the
        concatenated training table and what ``dropna()`` left of it.
    train
        The training table after ``dropna()`` (a ``species`` column added for bookkeeping).
    train_honest
        The same training rows without the flaw: mouse rows as after ``dropna()`` (so the mouse
        side is identical) plus every human training row.
    test
        ``{species: test table}``: the last 20 % of each CSV.
    """

    counts: pd.DataFrame
    train: pd.DataFrame
    train_honest: pd.DataFrame
    test: dict[str, pd.DataFrame]

    def count(self, stage: str, species: str = "total") -> int:
        """Rows of ``species`` (or ``"total"``) at ``stage`` (a value of ``counts["stage"]``)."""
        return int(self.counts.set_index("stage").loc[stage, species])


def reenact_dropna(tables: Mapping[str, pd.DataFrame],
                   test_fraction: float = ORIGINAL_TEST_FRACTION) -> DropnaReenactment:
    """Split each CSV unshuffled, concatenate the training parts, then ``dropna()`` as the scripts did.

    The human table lacks the mouse-only metadata columns (:data:`MOUSE_ONLY_COLUMNS`); after
    ``pandas.concat`` every human row holds NaN in them, so ``dropna()`` (run before those
    columns were dropped) removes every human row, together with the mouse rows that have a
    missing feature. The DANN script and the Table 1 FCNN script prepare their data this way.
    """
    if set(tables) != {"mouse", "human"}:
        raise ValueError(f"need the 'mouse' and 'human' tables, got {sorted(tables)}")
    train_parts, test_parts, records = {}, {}, []
    for species in ("mouse", "human"):
        table = tables[species]
        train, test = unshuffled_split(len(table), test_fraction)
        train_parts[species] = table.iloc[train].assign(species=species)
        test_parts[species] = table.iloc[test].assign(species=species)
    # The original concatenated the raw tables (no species column); the bookkeeping column added
    # here has no NaN, so it changes nothing about which rows dropna() removes.
    concatenated = pd.concat([train_parts["mouse"], train_parts["human"]], ignore_index=True)
    after = concatenated.dropna()

    def row(stage: str, mouse: int, human: int) -> dict[str, Any]:
        return {"stage": stage, "mouse": int(mouse), "human": int(human), "total": int(mouse + human)}

    records.append(row("CSV rows", len(tables["mouse"]), len(tables["human"])))
    records.append(row("training rows (first 80 % of each CSV)", len(train_parts["mouse"]), len(train_parts["human"])))
    records.append(row("concatenated training table", (concatenated["species"] == "mouse").sum(),
                       (concatenated["species"] == "human").sum()))
    records.append(row("after dropna()", (after["species"] == "mouse").sum(), (after["species"] == "human").sum()))
    records.append(row("test rows (last 20 % of each CSV)", len(test_parts["mouse"]), len(test_parts["human"])))
    honest = pd.concat([after[after["species"] == "mouse"], train_parts["human"]], ignore_index=True)
    return DropnaReenactment(counts=pd.DataFrame(records), train=after.reset_index(drop=True),
                             train_honest=honest, test=test_parts)


def _dropna_job(variant: str, rows: pd.DataFrame, test: Mapping[str, pd.DataFrame], model: str,
                params: Mapping[str, Any], seed: int) -> list[dict[str, Any]]:
    _one_thread()
    estimator = get_model(model).make(params, seed=seed)
    estimator.fit(rows[list(PAPER41_FEATURES)], rows["dendrite_type"].to_numpy(dtype=str),
                  species=rows["species"].to_numpy(dtype=str))
    out = []
    for species, table in test.items():
        predicted = np.asarray(estimator.predict(table[list(PAPER41_FEATURES)],
                                                 species=table["species"].to_numpy(dtype=str)))
        out.append({"variant": variant, "model": model, "seed": seed, "test_species": species,
                    "n_train_mouse": int((rows["species"] == "mouse").sum()),
                    "n_train_human": int((rows["species"] == "human").sum()), "n_test": len(table),
                    "y_true": table["dendrite_type"].to_numpy(dtype=str).tolist(), "y_pred": predicted.tolist(),
                    **score_predictions(table["dendrite_type"], predicted, BROAD_CLASSES)[OVERALL]})
    return out


#: The network hyperparameters every variant of :func:`dropna_effect` shares (the DANN defaults).
_SHARED_NETWORK = ("architecture", "activation", "dropout", "lr", "weight_decay", "batch_size", "optimizer",
                   "max_epochs", "patience", "class_weight")
#: The variants of :func:`dropna_effect`: what both scripts trained, and the two honest networks.
DROPNA_VARIANTS: tuple[str, ...] = ("mouse rows only (what dropna() left)", "FCNN with the human rows",
                                    "DANN with the human rows")


@dataclass(frozen=True)
class DropnaEffect:
    """Scores of the network ``dropna()`` leaves and of the networks that do see human cells.

    ``scores``: one row per (variant, seed, test species) with training counts, metrics and the
    predictions (``y_true``/``y_pred`` lists).
    """

    scores: pd.DataFrame

    def mean(self, variant: str, species: str, metric: str = "accuracy") -> float:
        rows = self.scores[(self.scores["variant"] == variant) & (self.scores["test_species"] == species)]
        return float(rows[metric].mean())

    def table(self) -> pd.DataFrame:
        """Per test species and variant: training cells and mean scores over seeds."""
        out = self.scores.groupby(["test_species", "variant"], sort=False).agg(
            mouse_training_cells=("n_train_mouse", "first"), human_training_cells=("n_train_human", "first"),
            test_cells=("n_test", "first"), accuracy=("accuracy", "mean"),
            balanced_accuracy=("balanced_accuracy", "mean"), f1_macro=("f1_macro", "mean"))
        out.index.names = ["tested on", "trained on"]
        return out.rename(columns={"mouse_training_cells": "mouse training cells",
                                   "human_training_cells": "human training cells", "test_cells": "test cells",
                                   "balanced_accuracy": "balanced accuracy", "f1_macro": "macro F1"}).round(3)

    def predictions(self, variant: str, species: str) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(y_true, y_pred)`` of each seed."""
        rows = self.scores[(self.scores["variant"] == variant) & (self.scores["test_species"] == species)]
        return [(np.asarray(t), np.asarray(p)) for t, p in zip(rows["y_true"], rows["y_pred"])]

    def summary_rows(self, metric: str = "accuracy") -> list[SummaryRow]:
        original = self.mean(DROPNA_VARIANTS[0], "human", metric)
        return [SummaryRow("2a dropna() drops every human row (DANN script)", f"DANN {_NAMES[metric]}, human test cells",
                           original, self.mean(DROPNA_VARIANTS[2], "human", metric),
                           "the DANN trained with the human training rows"),
                SummaryRow("2b the same dropna() in the Table 1 FCNN script", f"FCNN {_NAMES[metric]}, human test cells",
                           original, self.mean(DROPNA_VARIANTS[1], "human", metric),
                           "the FCNN trained with the human training rows")]


def dropna_effect(reenactment: DropnaReenactment, *, max_epochs: int = 100, seeds: Sequence[int] = (0,),
                  n_jobs: int = 1) -> DropnaEffect:
    """Train what ``dropna()`` leaves and two networks that do see human cells; score all on each species' test rows.

    ``"mouse rows only (what dropna() left)"``
        With no human row the DANN's domain classifier has a single class to predict, so the
        adversarial term carries no information about humans (neurotype's DANN refuses to train
        on one domain). What is left is its label branch: the same layers (the DANN defaults)
        trained on the mouse rows alone (``fcnn`` with the DANN's network settings). The Table 1
        FCNN script trained this network too.
    ``"FCNN with the human rows"``
        The same network on the same mouse rows plus every human training row.
    ``"DANN with the human rows"``
        The paper's semi-supervised DANN on those rows.

    All train for ``max_epochs`` epochs (no early stopping: none gets a validation split) with
    train-only imputation and scaling.
    """
    dann_defaults = get_model("dann").defaults
    shared = {k: dann_defaults[k] for k in _SHARED_NETWORK}
    shared["max_epochs"] = int(max_epochs)
    only_mouse, with_fcnn, with_dann = DROPNA_VARIANTS
    jobs = []
    for seed in seeds:
        jobs.append((_dropna_job, (only_mouse, reenactment.train, reenactment.test, "fcnn", shared, seed)))
        jobs.append((_dropna_job, (with_fcnn, reenactment.train_honest, reenactment.test, "fcnn", shared, seed)))
        jobs.append((_dropna_job, (with_dann, reenactment.train_honest, reenactment.test, "dann",
                                   {**shared, "mode": "semi"}, seed)))
    return DropnaEffect(pd.DataFrame([r for result in _parallel(jobs, n_jobs) for r in result]))


# --- flaw 3: the DANN script's scaling -------------------------------------------------------------

#: The two scalings :func:`dann_scaling_effect` compares.
DANN_SCALINGS: tuple[str, ...] = ("each test table scaled on itself (DANN script)",
                                  "training scaler applied to the test tables (honest)")


def _scaling_job(model: str, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                 seed: int) -> dict[str, float]:
    _one_thread()
    predicted = fit_predict(model, X_train, y_train, X_test, seed=seed)
    return score_predictions(y_test, predicted, BROAD_CLASSES)[OVERALL]


@dataclass(frozen=True)
class DannScalingEffect:
    """Scores under the DANN script's test-table scaling and under the honest one; one row per (model, scaling, species)."""

    scores: pd.DataFrame

    def score(self, model: str, scaling: str, species: str, metric: str = "accuracy") -> float:
        rows = self.scores[(self.scores["model"] == model) & (self.scores["scaling"] == scaling)
                           & (self.scores["test_species"] == species)]
        return float(rows[metric].iloc[0])

    def table(self, metric: str = "accuracy") -> pd.DataFrame:
        wide = self.scores.pivot_table(index=["test_species", "model"], columns="scaling", values=metric,
                                       sort=False)[list(DANN_SCALINGS)]
        wide.index.names = ["test cells", "model"]
        wide.columns.name = None
        return wide.round(3)

    def summary_row(self, model: str, species: str = "human", metric: str = "accuracy") -> SummaryRow:
        return SummaryRow("3 each test table scaled on itself (DANN script)",
                          f"{model} {_NAMES[metric]}, {species} test cells",
                          self.score(model, DANN_SCALINGS[0], species, metric),
                          self.score(model, DANN_SCALINGS[1], species, metric),
                          "the scaler fitted on the training table applied to the test rows")


def dann_scaling_effect(reenactment: DropnaReenactment, models: Sequence[str], *, seed: int = 0,
                        n_jobs: int = 1) -> DannScalingEffect:
    """The DANN script's scaling against the honest one, on the training table ``dropna()`` left.

    The script fits one ``StandardScaler`` on the pooled training table and scales each
    species' test table with a scaler fitted on that test table itself (lines 204, 227, 233).
    The honest alternative applies the training table's scaler to the test rows. Each model's own
    train-fitted imputation and scaling run afterwards in both (on standardised training rows
    they change nothing; a test table standardised on itself stays so). NaN in a test table are
    left out of its scaler's statistics (scikit-learn's behaviour) and imputed by the model.
    """
    features = list(PAPER41_FEATURES)
    X_train = reenactment.train[features].to_numpy(dtype=float)
    y_train = reenactment.train["dendrite_type"].to_numpy(dtype=str)
    scaler = StandardScaler().fit(X_train)
    jobs, plan = [], []
    for species, table in reenactment.test.items():
        X_test = table[features].to_numpy(dtype=float)
        variants = {DANN_SCALINGS[0]: StandardScaler().fit_transform(X_test),
                    DANN_SCALINGS[1]: scaler.transform(X_test)}
        for model in models:
            for name, Z in variants.items():
                plan.append((model, name, species, len(table)))
                jobs.append((_scaling_job, (model, scaler.transform(X_train), y_train, Z,
                                            table["dendrite_type"].to_numpy(dtype=str), seed)))
    rows = [{"model": m, "scaling": s, "test_species": sp, "n_test": n, **scores}
            for (m, s, sp, n), scores in zip(plan, _parallel(jobs, n_jobs))]
    return DannScalingEffect(pd.DataFrame(rows))


# --- flaw 4: choosing the model by its test score ---------------------------------------------

def svc_configurations(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` seeded random RBF-SVC configurations (log-uniform ``C`` in [0.1, 100], ``gamma`` in [1e-3, 0.3])."""
    if n < 1:
        raise ValueError(f"need at least one configuration, got {n}")
    rng = np.random.default_rng(seed)
    return [{"C": float(10 ** rng.uniform(-1, 2)), "gamma": float(10 ** rng.uniform(-3, math.log10(0.3)))}
            for _ in range(n)]


def _matrix_job(task: TaskData, model: str, configurations: Sequence[Mapping[str, Any]], train: np.ndarray,
                test: np.ndarray, seed: int, metric: str) -> tuple[list[float], list[float]]:
    _one_thread()
    fit_rows, validation_rows = inner_split(task, train, 0.2, seed=seed)
    test_scores, validation_scores = [], []
    for params in configurations:
        for rows, target, out in ((train, test, test_scores), (fit_rows, validation_rows, validation_scores)):
            predicted = fit_predict(model, task.X.iloc[rows], task.y[rows], task.X.iloc[target], params=params,
                                    seed=seed)
            out.append(score_predictions(task.y[target], predicted, task.classes)[OVERALL][metric])
    return test_scores, validation_scores


def score_matrix(task: TaskData, model: str, configurations: Sequence[Mapping[str, Any]], *, n_folds: int = 5,
                 n_repeats: int = 1, seed: int = 0, metric: str = "f1_macro",
                 n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Test and inner-validation scores of every configuration on every outer fold.

    For outer fold ``j`` each configuration is fitted on the fold's training rows and scored on
    its test rows (``test[c, j]``), and fitted on an inner fit split of the training rows and
    scored on the inner validation split (``validation[c, j]``).

    Returns
    -------
    test, validation
        Arrays of shape ``(n_configurations, n_folds · n_repeats)``.
    """
    folds = outer_folds(task, n_folds=n_folds, n_repeats=n_repeats, seed=seed)
    jobs = [(_matrix_job, (task, model, configurations, f.train, f.test, seed + i, metric))
            for i, f in enumerate(folds)]
    results = _parallel(jobs, n_jobs)
    return (np.array([r[0] for r in results], dtype=float).T, np.array([r[1] for r in results], dtype=float).T)


def selection_optimism(test: np.ndarray, validation: np.ndarray) -> pd.DataFrame:
    """Pick a configuration per fold by test score and by validation score; score both choices on fresh folds.

    For each fold ``j``: the test-selected configuration ``argmax_c test[c, j]`` reports
    ``test[c, j]`` (what picking by test score publishes); its *fresh* score is its mean test
    score on the other folds, whose test cells played no part in choosing it. The same is done
    for the configuration chosen by inner-validation score. Ties go to the lowest index.

    Returns
    -------
    pandas.DataFrame
        One row per fold: ``by_test_config``, ``by_test_reported``, ``by_test_fresh``,
        ``by_validation_config``, ``by_validation_reported``, ``by_validation_fresh``, and the
        optimism of each (reported − fresh).
    """
    test, validation = np.asarray(test, dtype=float), np.asarray(validation, dtype=float)
    if test.shape != validation.shape or test.ndim != 2:
        raise ValueError(f"test and validation must be 2-d and the same shape, got {test.shape} and {validation.shape}")
    n_configs, n_folds = test.shape
    if n_folds < 2:
        raise ValueError("need at least two folds: one to choose on and one to check on")
    rows = []
    for j in range(n_folds):
        others = [k for k in range(n_folds) if k != j]
        row: dict[str, Any] = {"fold": j}
        for name, basis in (("by_test", test), ("by_validation", validation)):
            chosen = int(np.argmax(basis[:, j]))
            row[f"{name}_config"] = chosen
            row[f"{name}_reported"] = float(test[chosen, j])
            row[f"{name}_fresh"] = float(test[chosen, others].mean())
            row[f"{name}_optimism"] = row[f"{name}_reported"] - row[f"{name}_fresh"]
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class SelectionEffect:
    """Selection by test score against selection by inner-validation score (``per_fold``: :func:`selection_optimism`)."""

    configurations: list[dict[str, Any]]
    test: np.ndarray
    validation: np.ndarray
    per_fold: pd.DataFrame

    def numbers(self) -> dict[str, float]:
        means = self.per_fold.mean(numeric_only=True)
        return {"n_configurations": len(self.configurations), "n_folds": int(self.test.shape[1]),
                **{k: float(means[k]) for k in ("by_test_reported", "by_test_fresh", "by_test_optimism",
                                                 "by_validation_reported", "by_validation_fresh",
                                                 "by_validation_optimism")},
                "positive_share": float((self.per_fold["by_test_optimism"] > 0).mean())}

    def table(self) -> pd.DataFrame:
        n = self.numbers()
        return pd.DataFrame({"reported (the fold it was chosen on)": [n["by_test_reported"], n["by_validation_reported"]],
                             "fresh folds": [n["by_test_fresh"], n["by_validation_fresh"]],
                             "optimism": [n["by_test_optimism"], n["by_validation_optimism"]]},
                            index=pd.Index(["chosen by test score (original)", "chosen by inner-validation score"],
                                           name="configuration")).round(3)

    def summary_row(self) -> SummaryRow:
        n = self.numbers()
        return SummaryRow("4 best of N by test score", f"svc macro F1, best of {n['n_configurations']} configurations",
                          n["by_test_reported"], n["by_test_fresh"], "the same configuration on fresh folds")


def selection_effect(task: TaskData, n_configurations: int, *, n_repeats: int = 1, seed: int = 0,
                     n_jobs: int = 1) -> SelectionEffect:
    """Random SVC configurations scored on every outer fold; picks by test and by validation score compared."""
    configurations = svc_configurations(n_configurations, seed=seed)
    test, validation = score_matrix(task, "svc", configurations, n_repeats=n_repeats, seed=seed, n_jobs=n_jobs)
    return SelectionEffect(configurations, test, validation, selection_optimism(test, validation))


# --- flaw 5: the baselines' own split ------------------------------------------------------------

def reenact_baseline_split(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the baselines' ``train_test_split(x, y, train_size=0.2, random_state=1)``: 20 % train, 80 % test."""
    return tuple(np.asarray(p) for p in train_test_split(np.arange(n_rows), train_size=BASELINE_TRAIN_SIZE,
                                                         random_state=ORIGINAL_RANDOM_STATE))


#: The settings of :func:`baseline_effect`.
BASELINE_SETTINGS: tuple[str, ...] = ("as run: trained on 20 %, tested on the other 80 %",
                                      "as run, scored on LSPIN's test cells only",
                                      "LSPIN's split: trained on its training rows, tested on its test set")


def _baseline_job(model: str, X: np.ndarray, y: np.ndarray, train: np.ndarray, tests: Sequence[np.ndarray], seed: int,
                  classes: Sequence[str]) -> list[dict[str, float]]:
    _one_thread()
    fitted = fit_predict(model, X[train], y[train], X, seed=seed)
    return [score_predictions(y[test], fitted[test], classes)[OVERALL] for test in tests]


@dataclass(frozen=True)
class BaselineEffect:
    """The Table 2 baselines as run and on LSPIN's split; ``scores`` has one row per (model, setting).

    ``lspin_test_in_baseline_test`` and ``baseline_train_in_lspin_train`` count how the two
    splits nest (both come from one seeded permutation of the same rows).
    """

    scores: pd.DataFrame
    lspin_test_in_baseline_test: int
    baseline_train_in_lspin_train: int
    n_baseline_train: int
    n_baseline_test: int

    def mean(self, model: str, setting: str, metric: str = "f1_macro") -> float:
        rows = self.scores[(self.scores["model"] == model) & (self.scores["setting"] == setting)]
        return float(rows[metric].mean())

    def table(self, metric: str = "f1_macro") -> pd.DataFrame:
        wide = self.scores.pivot_table(index="model", columns="setting", values=metric, sort=False)
        wide.columns.name = None
        return wide[list(BASELINE_SETTINGS)].round(3)

    def summary_row(self, model: str, metric: str = "f1_macro") -> SummaryRow:
        return SummaryRow("5 baselines: 20 % train, another test set", f"{model} {_NAMES[metric]}",
                          self.mean(model, BASELINE_SETTINGS[0], metric), self.mean(model, BASELINE_SETTINGS[2], metric),
                          "trained on LSPIN's training rows, tested on LSPIN's test set")


def baseline_effect(split: LspinSplit, models: Sequence[str], *, seed: int = 0, n_jobs: int = 1) -> BaselineEffect:
    """Each baseline as the scripts ran it and on LSPIN's split, on the LSPIN script's cells and scaling.

    The baselines' split (:func:`reenact_baseline_split`) and LSPIN's come from the same seeded
    permutation of the same rows, so LSPIN's test set lies inside the baselines' test set and
    the baselines' training rows inside LSPIN's: scoring the as-run baselines on LSPIN's test
    cells alone isolates the test set; training them on LSPIN's training rows then isolates the
    training size.
    """
    X, y = split.X_scaled, split.task.y
    train, test = reenact_baseline_split(len(y))
    plan = [(m, train, (test, split.test)) for m in models] + [(m, split.train, (split.test,)) for m in models]
    results = _parallel([(_baseline_job, (m, X, y, tr, tests, seed, split.task.classes)) for m, tr, tests in plan],
                        n_jobs)
    rows = []
    for (model, tr, tests), scores in zip(plan, results):
        settings = BASELINE_SETTINGS[:2] if len(tests) == 2 else BASELINE_SETTINGS[2:]
        rows += [{"model": model, "setting": s, "n_train": len(tr), "n_test": len(te), **sc}
                 for s, te, sc in zip(settings, tests, scores)]
    return BaselineEffect(pd.DataFrame(rows), len(np.intersect1d(split.test, test)),
                          len(np.intersect1d(train, split.train)), len(train), len(test))


# --- flaw 6: which average ------------------------------------------------------------------------

def metric_averages(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray,
                    positive: str | None = None) -> pd.DataFrame:
    """Precision, recall and F1 of one set of predictions under each averaging the original scripts used.

    Parameters
    ----------
    y_true, y_pred
        Labels.
    positive
        With a positive class, a ``binary`` column: that class's own precision, recall and F1
        (scikit-learn's default ``average="binary"``, as the broad-type scripts call it).

    Returns
    -------
    pandas.DataFrame
        Index ``precision``, ``recall``, ``f1``; columns ``macro``, ``weighted`` (support-weighted;
        weighted recall equals accuracy) and, with ``positive``, ``binary``.
    """
    y_true, y_pred = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equally long, non-empty label arrays, got {y_true.shape} and {y_pred.shape}")
    averages: list[tuple[str, dict]] = [("macro", {"average": "macro"}), ("weighted", {"average": "weighted"})]
    if positive is not None:
        averages.append(("binary", {"average": "binary", "pos_label": positive}))
    rows = {}
    for name, function in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        rows[name] = {column: float(function(y_true, y_pred, zero_division=0, **kwargs)) for column, kwargs in averages}
    return pd.DataFrame(rows).T


def broad_metric_averages(effect: DropnaEffect, variant: str = DROPNA_VARIANTS[0]) -> pd.DataFrame:
    """:func:`metric_averages` (spiny positive) of one variant's test predictions per species, mean over seeds."""
    frames = {species: sum(metric_averages(t, p, claims.FCNN_TRANSFER_POSITIVE_CLASS)
                           for t, p in effect.predictions(variant, species)) / len(effect.predictions(variant, species))
              for species in ("human", "mouse")}
    return pd.concat(frames, names=["test cells", "score"])[["binary", "macro", "weighted"]]


def averages_summary_row(frame: pd.DataFrame, species: str = "human", score: str = "f1") -> SummaryRow:
    """The binary score the scripts report against the macro average of the same predictions."""
    return SummaryRow("6 binary (spiny) scores reported as the model's", f"{_NAMES[score]}, mouse-only network, {species} test cells",
                      float(frame.loc[(species, score), "binary"]), float(frame.loc[(species, score), "macro"]),
                      "macro average of the same predictions")


# --- flaw 7: the Fig 11 caption, turned back into counts -------------------------------------------

def percentage_fits(percent: Sequence[float], n_total: int, caps: Sequence[int] | None = None,
                    decimals: int = 1, limit: int = 100_000) -> list[tuple[tuple[int, int], ...]]:
    """Every way to give each percentage an integer ``numerator/denominator`` with denominators summing to ``n_total``.

    Class ``c`` gets a pair ``(d_c, k_c)`` with ``0 ≤ k_c ≤ d_c`` and ``100 · k_c / d_c`` printing as
    ``percent[c]`` at ``decimals`` places, and ``Σ d_c = n_total``. Read as precisions (column
    percentages), ``d_c`` is the number of cells predicted as the class and ``k_c ≤ caps[c]``
    (its true test count) the correct ones.

    Returns
    -------
    list
        Each solution as a tuple of ``(d_c, k_c)`` pairs in the order of ``percent``. Raises
        ``RuntimeError`` beyond ``limit`` solutions.
    """
    percent = [round(float(p), decimals) for p in percent]
    if caps is not None and len(caps) != len(percent):
        raise ValueError(f"caps has {len(caps)} entries, percent {len(percent)}")
    options = []
    for i, p in enumerate(percent):
        cap = n_total if caps is None else int(caps[i])
        options.append([(d, k) for d in range(1, n_total + 1) for k in range(min(d, cap) + 1)
                        if round(100 * k / d, decimals) == p])
    smallest_rest = [sum(min((d for d, _ in o), default=n_total + 1) for o in options[i:])
                     for i in range(len(options) + 1)]
    solutions: list[tuple[tuple[int, int], ...]] = []

    def extend(i: int, used: int, chosen: list[tuple[int, int]]) -> None:
        if i == len(options):
            if used == n_total:
                if len(solutions) >= limit:
                    raise RuntimeError(f"more than {limit} solutions")
                solutions.append(tuple(chosen))
            return
        for d, k in options[i]:
            if used + d + smallest_rest[i + 1] <= n_total:
                extend(i + 1, used + d, chosen + [(d, k)])

    extend(0, 0, [])
    return solutions


def _off_diagonal_fits(rows: Sequence[int], columns: Sequence[int], diagonal: Sequence[int]) -> bool:
    """Whether a non-negative matrix with these row and column sums and this diagonal exists.

    The off-diagonal cells must carry ``rows − diagonal`` out of each row and ``columns −
    diagonal`` into each column with nothing on the diagonal; that is possible exactly when
    neither remainder is negative, they have equal totals, and no class needs more than the
    other classes can give (``r_c + s_c ≤ total``).
    """
    r = np.asarray(rows) - np.asarray(diagonal)
    s = np.asarray(columns) - np.asarray(diagonal)
    return bool((r >= 0).all() and (s >= 0).all() and r.sum() == s.sum() and (r + s <= r.sum()).all())


@dataclass(frozen=True)
class Fig11Reconstruction:
    """The confusion-matrix diagonal(s) that fit the Fig 11 caption on the replayed LSPIN test set.

    Attributes
    ----------
    classes
        In the caption's order.
    row_totals
        True test cells per class (the replayed split).
    percent
        The caption's per-class percentages (column-normalised: precisions).
    fits
        Every ``((column total, diagonal), …)`` that prints as the caption and fits the row totals.
    n_recall_fits
        How many diagonals would fit if the percentages were recalls of these row totals.
    """

    classes: tuple[str, ...]
    row_totals: tuple[int, ...]
    percent: tuple[float, ...]
    fits: tuple[tuple[tuple[int, int], ...], ...]
    n_recall_fits: int

    def _unique(self) -> tuple[tuple[int, int], ...]:
        if len(self.fits) != 1:
            raise ValueError(f"{len(self.fits)} matrices fit the caption; the reconstruction needs exactly one")
        return self.fits[0]

    @property
    def column_totals(self) -> tuple[int, ...]:
        return tuple(d for d, _ in self._unique())

    @property
    def diagonal(self) -> tuple[int, ...]:
        return tuple(k for _, k in self._unique())

    def scores(self) -> dict[str, float]:
        """Accuracy and macro precision, recall and F1 of the one fitting matrix."""
        k, n, d = (np.asarray(v, dtype=float) for v in (self.diagonal, self.row_totals, self.column_totals))
        precision, recall, f1 = k / d, k / n, 2 * k / (n + d)
        return {"accuracy": float(k.sum() / n.sum()), "precision_macro": float(precision.mean()),
                "recall_macro": float(recall.mean()), "f1_macro": float(f1.mean()), "n_correct": int(k.sum()),
                "n_test": int(n.sum())}

    def table(self) -> pd.DataFrame:
        """Per class: true test cells, cells predicted as the class, correct ones, precision, recall, F1."""
        k, n, d = (np.asarray(v) for v in (self.diagonal, self.row_totals, self.column_totals))
        return pd.DataFrame({"test cells": n, "predicted as the class": d, "correct": k,
                             "caption (%)": [f"{p:.1f}" for p in self.percent], "precision": (k / d).round(3),
                             "recall": (k / n).round(3), "F1": (2 * k / (n + d)).round(3)},
                            index=pd.Index(self.classes, name="class"))

    def summary_rows(self) -> list[SummaryRow]:
        s = self.scores()
        return [SummaryRow("7 Table 2's macro recall vs its own Fig 11", "LSPIN macro recall",
                           claims.LSPIN["recall_macro"], s["recall_macro"], "the recall of the one matrix Fig 11 fits"),
                SummaryRow("7 Table 2's macro F1 vs its own Fig 11", "LSPIN macro F1",
                           claims.LSPIN["f1_macro"], s["f1_macro"], "the F1 of the one matrix Fig 11 fits")]


def reconstruct_fig11(row_totals: Mapping[str, int], precision_percent: Mapping[str, float],
                      decimals: int = 1) -> Fig11Reconstruction:
    """Search every diagonal × column-total combination that prints as the caption's column percentages.

    Parameters
    ----------
    row_totals
        True test cells per class.
    precision_percent
        The caption's percentage per class (column-normalised: correct / predicted as the class).
    decimals
        The caption's rounding.
    """
    classes = tuple(precision_percent)
    missing = sorted(set(classes) - set(row_totals))
    if missing:
        raise ValueError(f"no test count for class(es) {missing}")
    rows = tuple(int(row_totals[c]) for c in classes)
    percent = tuple(round(float(precision_percent[c]), decimals) for c in classes)
    fits = tuple(fit for fit in percentage_fits(percent, sum(rows), caps=rows, decimals=decimals)
                 if _off_diagonal_fits(rows, [d for d, _ in fit], [k for _, k in fit]))
    recall_options = [sum(round(100 * k / n, decimals) == p for k in range(n + 1)) for n, p in zip(rows, percent)]
    return Fig11Reconstruction(classes, rows, percent, fits, int(np.prod(recall_options)))


def paper_fig11(tables: Mapping[str, pd.DataFrame] | None = None) -> Fig11Reconstruction:
    """The Fig 11 reconstruction on the replayed LSPIN test set (the audit's and the headline's one source)."""
    split = reenact_lspin_split(read_original_tables() if tables is None else tables)
    percent = {c: 100 * v for c, v in claims.LSPIN_CLASS_PRECISION.items()}
    return reconstruct_fig11(split.test_counts(), percent)


# --- LSPIN on the replayed split ----------------------------------------------------------------

@dataclass(frozen=True)
class LspinReplay:
    """LSPIN (the paper's settings) trained and tested on the replayed split, once."""

    scores: dict[str, float]
    confusion: pd.DataFrame
    n_fit: int
    n_test: int
    averages: pd.DataFrame = field(repr=False)

    def column_normalised(self) -> pd.DataFrame:
        """The confusion matrix divided by its column sums, as Fig 11 shows it (precisions on the diagonal)."""
        return self.confusion.div(self.confusion.sum(axis=0).replace(0, np.nan), axis=1)


def lspin_on_original_split(split: LspinSplit, *, epochs: int = 1000, seed: int = 0) -> LspinReplay:
    """Fit LSPIN on the split's fit rows (the script's second split) and score it on its test rows.

    The features are the script's (one scaler fitted on every row); LSPIN's own train-fitted
    scaler runs after it and, being affine and fitted on the same rows, changes nothing.
    """
    task = split.task
    predicted = fit_predict("lspin", split.X_scaled[split.fit], task.y[split.fit], split.X_scaled[split.test],
                            params={"epochs": epochs}, seed=seed)
    order = list(split.codes)
    matrix = confusion_matrices(task.y[split.test], predicted, order)[OVERALL]
    confusion = pd.DataFrame(matrix, index=pd.Index(order, name="true"), columns=pd.Index(order, name="predicted"))
    scores = score_predictions(task.y[split.test], predicted, task.classes)[OVERALL]
    return LspinReplay(scores, confusion, len(split.fit), len(split.test),
                       metric_averages(task.y[split.test], predicted))
