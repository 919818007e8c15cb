"""The original study's protocol, re-enacted flaw by flaw on the bundled data, with its measured effect.

Each flaw of the original code gets one function that re-enacts it on the paper's own tables
(``data/paper41``, read raw, in file order, as the original code read them) and measures what it
does to the numbers next to the honest alternative. Everything else is held fixed, so each
difference is the effect of one flaw alone:

1. :func:`unshuffled_split` / :func:`split_effect`: the test set is the last 20 % of each CSV,
   unshuffled (scikit-learn's ``train_test_split(..., shuffle=False)``), so its class mix differs
   from the training rows' (:func:`composition_shift`).
2. :func:`reenact_dropna` / :func:`dropna_effect`: the mouse and human tables are concatenated and
   ``dropna()`` runs before the mouse-only metadata columns are dropped; every human row has NaN
   there, so the "domain-adversarial" network never sees a human cell.
3. :func:`scale_per_species` / :func:`scaling_effect`: each species is standardised with statistics
   that include its test rows; for a cross-species test the test species' scaler is fitted on the
   test set itself.
4. :func:`score_matrix` / :func:`selection_optimism`: the configuration with the best *test* score
   is reported, instead of the one with the best inner-validation score.
5. :func:`training_fraction_effect`: the baselines were trained on a 20 % slice of the cells.
6. :func:`weighted_vs_macro`: support-weighted averages instead of macro averages.
7. :func:`reconstruct_lspin_diagonal` / :func:`percentage_fits`: the paper's LSPIN confusion-matrix
   caption turned back into counts on the reconstructed test set.

The paper's reported numbers appear only in :data:`PAPER_CLAIMS` (labelled as claims); every other
number is computed. Every function is seeded; none reads anything but its arguments and the
bundled tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score

from neurotype.paper import claims

from neurotype import paths
from neurotype.data.tables import (BROAD_CLASSES, PAPER41_FEATURES, PAPER41_SUBCLASS_LABELS, SUBCLASSES, DataError,
                            TaskData, duplicate_groups)
from neurotype.models.registry import get_model
from neurotype.protocol.metrics import OVERALL, fold_metrics
from neurotype.data.splits import inner_split, outer_folds

__all__ = [
    "PAPER_CLAIMS", "ORIGINAL_TEST_FRACTION", "MOUSE_ONLY_COLUMNS", "read_original_tables", "original_task",
    "unshuffled_split", "composition_shift", "total_variation", "composition_shift_pvalue", "fit_predict",
    "score_predictions", "split_effect", "DropnaReenactment", "reenact_dropna", "dropna_effect",
    "scale_per_species", "SCALINGS", "scaling_effect", "svc_configurations", "score_matrix", "selection_optimism",
    "training_fraction_effect", "weighted_vs_macro", "reconstruct_lspin_diagonal", "percentage_fits",
]

#: The paper's reported numbers (claims, not results): its LSPIN test set and scores (Section 3.2,
#: Table 2, the caption of Fig 11) and its DANN split (Section 3.1).
PAPER_CLAIMS: Mapping[str, Any] = {
    "lspin_n_train": claims.LSPIN_SPLIT["train"],
    "lspin_n_test": claims.LSPIN_SPLIT["test"],
    "lspin_n_nan_excluded": claims.LSPIN_SPLIT["dropped_nan"],
    **{f"lspin_{metric}": value for metric, value in claims.LSPIN.items()},
    #: Fig 11's caption: share of each true class predicted correctly, in percent.
    "lspin_caption_recall_percent": {k: round(100 * v, 1) for k, v in claims.LSPIN_CLASS_RECALL.items()},
    "dann_n_train_total": claims.DANN_SPLIT["train_total"],
    "dann_n_test_mouse": claims.DANN_SPLIT["test_mouse"],
    "dann_n_test_human": claims.DANN_SPLIT["test_human"],
}

#: Share of each CSV the original code held out as the test set (its last rows).
ORIGINAL_TEST_FRACTION = 0.2
#: Metadata columns only the mouse table has; in a concatenated table they are NaN on human rows.
MOUSE_ONLY_COLUMNS: tuple[str, ...] = ("transgenic_line", "neurotransmitter", "reporter_status")


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

    Returns
    -------
    TaskData
        Rows in the given order; ``groups`` are duplicate groups as in every neurotype split.
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


# --- flaw 1: the unshuffled split -------------------------------------------------------------

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
                      classes: Sequence[str]) -> dict[str, float]:
    """neurotype's scalar metrics (accuracy, balanced accuracy, macro F1/precision/recall) of predictions."""
    scores = fold_metrics(np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str), classes)[OVERALL]
    return {k: v for k, v in scores.items() if not k.startswith("f1[")}


def _split_job(task: TaskData, model: str, params: Mapping[str, Any] | None, seed: int,
               train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    _one_thread()
    predicted = fit_predict(model, task.X.iloc[train], task.y[train], task.X.iloc[test], params=params, seed=seed,
                            species_train=task.species[train], species_test=task.species[test])
    return score_predictions(task.y[test], predicted, task.classes)


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


def split_effect(task: TaskData, model: str, *, params: Mapping[str, Any] | None = None, n_repeats: int = 2,
                 n_folds: int = 5, seed: int = 0, n_jobs: int = 1) -> pd.DataFrame:
    """One model scored on the unshuffled split and on stratified shuffled splits of the same rows.

    The shuffled splits are neurotype's outer folds (:func:`neurotype.data.splits.outer_folds`:
    stratified on label × species, duplicate-aware); with ``n_folds=5`` each tests on 20 % of the
    cells, as the unshuffled split does. Preprocessing is fitted on training rows in both.

    Returns
    -------
    pandas.DataFrame
        One row per split: ``split`` (``"unshuffled"`` or ``"shuffled"``), ``repeat``, ``fold``,
        ``n_train``, ``n_test`` and the metrics of :func:`score_predictions`.
    """
    train, test = unshuffled_split(len(task))
    plan = [("unshuffled", -1, -1, train, test)]
    plan += [("shuffled", f.repeat, f.fold, f.train, f.test)
             for f in outer_folds(task, n_folds=n_folds, n_repeats=n_repeats, seed=seed)]
    scores = _parallel([(_split_job, (task, model, params, seed, tr, te)) for _, _, _, tr, te in plan], n_jobs)
    rows = [{"model": model, "split": kind, "repeat": r, "fold": k, "n_train": len(tr), "n_test": len(te), **s}
            for (kind, r, k, tr, te), s in zip(plan, scores)]
    return pd.DataFrame(rows)


# --- flaw 2: dropna on the concatenated tables ------------------------------------------------

@dataclass(frozen=True)
class DropnaReenactment:
    """What the original DANN data preparation left of the training rows.

    Attributes
    ----------
    counts
        Rows per species and stage: ``{"stage": ..., "mouse": n, "human": n}`` records for the
        raw tables, their training parts (all but the last 20 %), the concatenated training
        table and what ``dropna()`` left of it.
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


def reenact_dropna(tables: Mapping[str, pd.DataFrame],
                   test_fraction: float = ORIGINAL_TEST_FRACTION) -> DropnaReenactment:
    """Split each CSV unshuffled, concatenate the training parts, then ``dropna()`` as the original did.

    The human table lacks the mouse-only metadata columns (:data:`MOUSE_ONLY_COLUMNS`); after
    ``pandas.concat`` every human row holds NaN in them, so ``dropna()`` (run before those
    columns were dropped) removes every human row, together with the mouse rows that have a
    missing feature.
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
    honest = pd.concat([after[after["species"] == "mouse"], train_parts["human"]], ignore_index=True)
    return DropnaReenactment(counts=pd.DataFrame(records), train=after.reset_index(drop=True),
                             train_honest=honest, test=test_parts)


def _dropna_job(variant: str, rows: pd.DataFrame, test: Mapping[str, pd.DataFrame], model: str,
                params: Mapping[str, Any], seed: int) -> list[dict[str, Any]]:
    _one_thread()
    X = rows[list(PAPER41_FEATURES)]
    estimator = get_model(model).make(params, seed=seed)
    estimator.fit(X, rows["dendrite_type"].to_numpy(dtype=str), species=rows["species"].to_numpy(dtype=str))
    out = []
    for species, table in test.items():
        predicted = np.asarray(estimator.predict(table[list(PAPER41_FEATURES)],
                                                 species=table["species"].to_numpy(dtype=str)))
        out.append({"variant": variant, "model": model, "seed": seed, "test_species": species,
                    "n_train_mouse": int((rows["species"] == "mouse").sum()),
                    "n_train_human": int((rows["species"] == "human").sum()), "n_test": len(table),
                    "y_true": table["dendrite_type"].to_numpy(dtype=str).tolist(), "y_pred": predicted.tolist(),
                    **score_predictions(table["dendrite_type"], predicted, BROAD_CLASSES)})
    return out


#: The network hyperparameters the DANN and the label-branch-only network share (the DANN defaults).
_SHARED_NETWORK = ("architecture", "activation", "dropout", "lr", "weight_decay", "batch_size", "optimizer",
                   "max_epochs", "patience", "class_weight")


def dropna_effect(reenactment: DropnaReenactment, *, max_epochs: int = 100, seeds: Sequence[int] = (0,),
                  n_jobs: int = 1) -> pd.DataFrame:
    """Train what ``dropna()`` leaves and a DANN that does see human cells; score both on each species' test rows.

    ``"dropna (original)"``
        With no target-domain row the domain classifier has a single class to predict, so the
        adversarial term carries no information about humans and the DANN's
        :class:`~neurotype.models.DANNClassifier` refuses to train. What is left is its label
        branch: the same layers (:data:`neurotype.models.neural` DANN defaults) trained on the
        mouse rows alone (``fcnn`` with the DANN's network settings).
    ``"DANN with human rows"``
        The paper's semi-supervised DANN on the same mouse rows plus every human training row.

    Both train for ``max_epochs`` epochs (no early stopping: neither gets a validation split)
    and use train-only imputation and scaling.

    Returns
    -------
    pandas.DataFrame
        One row per (variant, seed, test species) with the metrics of :func:`score_predictions`,
        training counts and the predictions (``y_true``/``y_pred`` lists).
    """
    dann_defaults = get_model("dann").defaults
    shared = {k: dann_defaults[k] for k in _SHARED_NETWORK}
    shared["max_epochs"] = int(max_epochs)
    jobs = []
    for seed in seeds:
        jobs.append((_dropna_job, ("dropna (original)", reenactment.train, reenactment.test, "fcnn", shared, seed)))
        jobs.append((_dropna_job, ("DANN with human rows", reenactment.train_honest, reenactment.test, "dann",
                                   {**shared, "mode": "semi"}, seed)))
    return pd.DataFrame([r for result in _parallel(jobs, n_jobs) for r in result])


# --- flaw 3: per-species scaling fitted on test rows --------------------------------------------

def scale_per_species(X: pd.DataFrame | np.ndarray, species: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """Standardise each species with the mean and sd of its rows among ``fit_rows``.

    Parameters
    ----------
    X
        Features (no NaN: the original dropped incomplete rows first).
    species
        Species per row.
    fit_rows
        Boolean mask of the rows whose statistics are used. The original used every row of a
        species (test rows included); for a species with no row in ``fit_rows`` nothing can
        be computed and a ``ValueError`` is raised.
    """
    X = np.asarray(X, dtype=float)
    species, fit_rows = np.asarray(species), np.asarray(fit_rows, dtype=bool)
    if np.isnan(X).any():
        raise ValueError("scale_per_species needs complete rows (drop or impute NaN first)")
    out = np.empty_like(X)
    for s in np.unique(species):
        rows, basis = species == s, (species == s) & fit_rows
        if not basis.any():
            raise ValueError(f"species {s!r} has no row to fit its scaler on")
        mean, sd = X[basis].mean(axis=0), X[basis].std(axis=0)
        out[rows] = (X[rows] - mean) / np.where(sd > 0, sd, 1.0)
    return out


def _scaling_job(model: str, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                 species_test: np.ndarray, classes: Sequence[str], seed: int) -> dict[str, dict[str, float]]:
    _one_thread()
    predicted = fit_predict(model, X_train, y_train, X_test, seed=seed)
    return fold_metrics(np.asarray(y_test, dtype=str), predicted.astype(str), classes, species_test)


#: The three scalings :func:`scaling_effect` compares.
SCALINGS: tuple[str, ...] = ("per species, fitted on train + test (original)",
                             "per species, fitted on training rows",
                             "pooled, fitted on training rows (honest)")


def scaling_effect(task: TaskData, train: np.ndarray, test: np.ndarray, models: Sequence[str], *,
                   seed: int = 0, n_jobs: int = 1, label: str = "") -> pd.DataFrame:
    """Scores of each model under three scalings of the same training and test rows.

    ``"per species, fitted on train + test (original)"``
        :func:`scale_per_species` with every row of the species, test rows included (a species
        that appears only among the test rows gets a scaler fitted on the test rows themselves).
    ``"per species, fitted on training rows"``
        :func:`scale_per_species` with training rows only; skipped (no row) when a test species
        has no training row, as in a cross-species test.
    ``"pooled, fitted on training rows (honest)"``
        No outer scaling: the model's own pipeline fits imputation and scaling on the training
        rows and applies them to the test rows (neurotype's protocol).

    The model's own train-only scaler also runs after the outer scalings. It is an affine map
    shared by training and test rows, so within one species an outer scaler fitted on any rows
    changes nothing; what it cannot undo is a *different* map per species.

    Returns
    -------
    pandas.DataFrame
        One row per (model, scaling, test species: ``"all"`` and each species among the test
        rows) with the metrics of :func:`score_predictions`.
    """
    train, test = np.asarray(train), np.asarray(test)
    X = task.X.to_numpy(dtype=float)
    train_mask = np.zeros(len(task), dtype=bool)
    train_mask[train] = True
    variants = {SCALINGS[0]: scale_per_species(X, task.species, np.ones(len(task), dtype=bool))}
    if set(task.species[test]) <= set(task.species[train]):
        variants[SCALINGS[1]] = scale_per_species(X, task.species, train_mask)
    variants[SCALINGS[2]] = X
    plan = [(m, v) for m in models for v in variants]
    jobs = [(_scaling_job, (m, variants[v][train], task.y[train], variants[v][test], task.y[test],
                            task.species[test], task.classes, seed)) for m, v in plan]
    rows = [{"setting": label, "model": m, "scaling": v, "test_species": key,
             **{k: value for k, value in scores.items() if not k.startswith("f1[")}}
            for (m, v), result in zip(plan, _parallel(jobs, n_jobs)) for key, scores in result.items()]
    return pd.DataFrame(rows)


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
            out.append(score_predictions(task.y[target], predicted, task.classes)[metric])
    return test_scores, validation_scores


def score_matrix(task: TaskData, model: str, configurations: Sequence[Mapping[str, Any]], *, n_folds: int = 5,
                 n_repeats: int = 1, seed: int = 0, metric: str = "f1_macro",
                 n_jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Test and inner-validation scores of every configuration on every outer fold.

    For outer fold ``j`` each configuration is fitted on the fold's training rows and scored on
    its test rows (``test[c, j]``), and fitted on an inner fit split of the training rows and
    scored on the inner validation split (``validation[c, j]``, :func:`neurotype.data.splits.inner_split`).

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


# --- flaw 5: baselines trained on 20 % of the cells -------------------------------------------

def _fraction_job(task: TaskData, model: str, rows: np.ndarray, test: np.ndarray, seed: int) -> dict[str, float]:
    _one_thread()
    predicted = fit_predict(model, task.X.iloc[rows], task.y[rows], task.X.iloc[test], seed=seed)
    return score_predictions(task.y[test], predicted, task.classes)


def training_fraction_effect(task: TaskData, train: np.ndarray, test: np.ndarray, models: Sequence[str], *,
                             fraction: float = 0.2, n_subsets: int = 3, seed: int = 0,
                             n_jobs: int = 1) -> pd.DataFrame:
    """Each baseline trained on every training row vs. on a slice of ``fraction`` of all cells; same test rows.

    The slices are ``round(fraction · len(task))`` training rows drawn per class in proportion
    (stratified, without replacement), seeded ``seed, seed + 1, …``.

    Returns
    -------
    pandas.DataFrame
        One row per (model, training set) with ``n_train``, ``subset`` (−1 for all training
        rows) and the metrics of :func:`score_predictions`.
    """
    from sklearn.model_selection import train_test_split

    train, test = np.asarray(train), np.asarray(test)
    n_slice = int(round(fraction * len(task)))
    if not 0 < n_slice < len(train):
        raise ValueError(f"a {fraction:.0%} slice ({n_slice} cells) must be smaller than the {len(train)} training rows")
    slices = [(-1, train)]
    for i in range(n_subsets):
        chosen, _ = train_test_split(train, train_size=n_slice, stratify=task.y[train], random_state=seed + i)
        slices.append((i, np.sort(chosen)))
    plan = [(m, i, rows) for m in models for i, rows in slices]
    results = _parallel([(_fraction_job, (task, m, rows, test, seed)) for m, _, rows in plan], n_jobs)
    return pd.DataFrame([{"model": m, "subset": i, "n_train": len(rows), **s}
                         for (m, i, rows), s in zip(plan, results)])


# --- flaw 6: weighted vs. macro averages ------------------------------------------------------

def weighted_vs_macro(y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray) -> pd.DataFrame:
    """Precision, recall and F1 of one set of predictions, macro- and support-weighted.

    Returns
    -------
    pandas.DataFrame
        Index ``precision``, ``recall``, ``f1``; columns ``macro``, ``weighted`` and ``gap``
        (weighted − macro). Weighted recall equals accuracy.
    """
    y_true, y_pred = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equally long, non-empty label arrays, got {y_true.shape} and {y_pred.shape}")
    rows = {}
    for name, function in (("precision", precision_score), ("recall", recall_score), ("f1", f1_score)):
        rows[name] = {average: float(function(y_true, y_pred, average=average, zero_division=0))
                      for average in ("macro", "weighted")}
    frame = pd.DataFrame(rows).T
    frame["gap"] = frame["weighted"] - frame["macro"]
    return frame


# --- flaw 7: the paper's confusion-matrix caption, turned back into counts --------------------

def reconstruct_lspin_diagonal(test_counts: Mapping[str, int], recall_percent: Mapping[str, float],
                               claimed_accuracy: float, claimed_recall_macro: float,
                               decimals: int = 1) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Turn per-class recalls (percent) into correct-prediction counts on a known test set.

    Parameters
    ----------
    test_counts
        True cells per class in the test set.
    recall_percent
        Per-class recall in percent, as printed (rounded to ``decimals``).
    claimed_accuracy, claimed_recall_macro
        The reported scores to check against.

    Returns
    -------
    table, summary
        ``table`` (one row per class): ``n_test``, ``recall_claimed``, ``exact_correct``
        (recall · n, generally not an integer), ``nearest_correct`` (rounded), the recall that
        count gives, and ``representable`` (whether any integer count out of ``n_test`` prints
        as the claimed percentage). ``summary``: total correct implied, the accuracy it gives
        against the claim, the integer counts that can print as the claimed accuracy, and the
        macro recall the printed recalls imply against the claimed one.
    """
    classes = list(recall_percent)
    missing = sorted(set(classes) - set(test_counts))
    if missing:
        raise ValueError(f"no test count for class(es) {missing}")
    n_total = int(sum(int(test_counts[c]) for c in classes))
    rows = []
    for c in classes:
        n, r = int(test_counts[c]), float(recall_percent[c]) / 100.0
        if n < 1:
            raise ValueError(f"class {c!r} has no test cell")
        nearest = int(round(r * n))
        representable = [k for k in range(n + 1) if round(100 * k / n, decimals) == round(100 * r, decimals)]
        rows.append({"class": c, "n_test": n, "recall_claimed": r, "exact_correct": r * n,
                     "nearest_correct": nearest, "recall_of_nearest": nearest / n,
                     "representable": bool(representable),
                     "representable_counts": representable})
    table = pd.DataFrame(rows).set_index("class")
    places = len(f"{claimed_accuracy}".split(".")[-1])
    accuracy_counts = [k for k in range(n_total + 1) if round(k / n_total, places) == claimed_accuracy]
    summary = {
        "n_test": n_total,
        "exact_correct_total": float(table["exact_correct"].sum()),
        "nearest_correct_total": int(table["nearest_correct"].sum()),
        "accuracy_of_nearest": float(table["nearest_correct"].sum() / n_total),
        "accuracy_claimed": claimed_accuracy,
        "claimed_accuracy_times_n": claimed_accuracy * n_total,
        "counts_printing_as_claimed_accuracy": accuracy_counts,
        "recall_macro_implied": float(table["recall_claimed"].mean()),
        "recall_macro_implied_range": [float((table["recall_claimed"] - 0.5 * 10 ** -(decimals + 2)).mean()),
                                       float((table["recall_claimed"] + 0.5 * 10 ** -(decimals + 2)).mean())],
        "recall_macro_of_nearest": float(table["recall_of_nearest"].mean()),
        "recall_macro_claimed": claimed_recall_macro,
        "all_representable": bool(table["representable"].all()),
    }
    return table, summary


def percentage_fits(percent: Sequence[float], n_total: int, caps: Sequence[int] | None = None,
                    decimals: int = 1, limit: int = 100_000) -> list[tuple[tuple[int, int], ...]]:
    """Every way to give each percentage an integer ``numerator/denominator`` with denominators summing to ``n_total``.

    Class ``c`` gets a pair ``(d_c, k_c)`` with ``0 ≤ k_c ≤ d_c`` and ``100 · k_c / d_c`` printing as
    ``percent[c]`` at ``decimals`` places, and ``Σ d_c = n_total``. Read as recalls, ``d_c`` is the
    class's test count and ``k_c`` its correct predictions; read as precisions (column
    percentages), ``d_c`` is the number of cells predicted as the class and ``k_c ≤ caps[c]``
    (its true test count).

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
