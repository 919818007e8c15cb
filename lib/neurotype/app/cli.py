"""The ``neurotype`` command line: summarise the data, evaluate, tune, train, and predict.

Exit codes: 0 success; 1 an unexpected internal error; 2 bad input or usage (a missing or
malformed file, an unknown name, an existing output without ``--force``). Errors print one
line naming the file and the problem; nothing existing is overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_INTERNAL", "EXIT_BAD_INPUT"]

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


def _choices() -> tuple[list[str], list[str], list[str]]:
    """Model names from the registry, feature sets and tasks from the data layer: never a second list."""
    from typing import get_args

    from neurotype.data.tables import FEATURE_SETS, TaskName
    from neurotype.models.registry import MODELS

    return sorted(MODELS), sorted(FEATURE_SETS), list(get_args(TaskName))


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit code 2."""


# --- helpers ----------------------------------------------------------------------------------

def _show_progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


class _FoldBar:
    """A tqdm progress bar advanced once per finished outer fold."""

    def __init__(self, description: str):
        self.description, self.bar = description, None

    def __call__(self, done: int, total: int, line: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.description, unit="fold", file=sys.stderr)
        self.bar.set_postfix_str(line.split(": ", 1)[-1], refresh=False)
        self.bar.update(done - self.bar.n)
        if done == total:
            self.bar.close()


def _parse_params(pairs: Sequence[str] | None, params_file: Path | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if params_file is not None:
        try:
            loaded = json.loads(Path(params_file).read_text())
        except FileNotFoundError:
            raise UserError(f"{params_file}: file not found") from None
        except json.JSONDecodeError as error:
            raise UserError(f"{params_file}: not valid JSON ({error})") from None
        params.update(loaded.get("best_params", loaded) if isinstance(loaded, dict) else {})
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--param {pair!r}: expected NAME=VALUE")
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text  # a bare string such as relu
    return params


def _guard_output(path: Path, force: bool, what: str, *, folder: bool = False,
                  inputs: Sequence[Path] = ()) -> None:
    """Check an output location before any computation, so that no run ends in a write error.

    Parameters
    ----------
    path
        The file (or with ``folder=True`` the folder) to be written.
    force
        Allow replacing an existing file (or the model files of a non-empty folder).
    what
        What the output is, for messages ("an output file").
    inputs
        Files the command reads: the output may never be one of them, not even with ``force``.

    Raises
    ------
    UserError
        The output is an input; a folder where a file goes or a file where a folder goes; an
        existing output without ``force``; or a location that cannot be written.
    """
    path = Path(path)
    for source in inputs:
        if _same_file(path, Path(source)):
            raise UserError(f"{path}: is also the input {source}; write {what} elsewhere (even --force never "
                            "replaces an input)")
    if folder and path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a folder; {what} is a folder")
    if folder and path.is_dir() and any(path.iterdir()) and not force:
        raise UserError(f"{path}: exists and is not empty; pass --force to overwrite its model files")
    if not folder and path.is_dir():
        raise UserError(f"{path}: is a folder; {what} must be a file name")
    if not folder and path.exists() and not force:
        raise UserError(f"{path}: {what} exists; pass --force to overwrite it")
    _check_writable(path if folder else path.parent, path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # also a hard link or a symbolic link to the same file
    except OSError:  # one of them does not exist yet
        return a.resolve() == b.resolve()


def _check_writable(folder: Path, target: Path) -> None:
    """The nearest existing folder on the way to ``folder`` must be a folder we can create files in."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{target}: cannot be created, {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UserError(f"{target}: cannot write in {existing} ({error.strerror or error})") from None


def _load_task(task: str, feature_set: str):
    from neurotype.data.tables import load_task

    return load_task(task, feature_set)


def _task_arguments(parser: argparse.ArgumentParser) -> None:
    models, feature_sets, tasks = _choices()
    parser.add_argument("--task", choices=tasks, required=True,
                        help="broad: aspiny vs spiny (mouse + human); subclass: five mouse subclasses")
    parser.add_argument("--model", choices=models, required=True)
    parser.add_argument("--feature-set", choices=feature_sets, default="paper41")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="fix a hyperparameter (JSON value), e.g. --param mode='\"unsupervised\"' or --param C=2")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


# --- subcommands ------------------------------------------------------------------------------

def cmd_data_summary(args: argparse.Namespace) -> int:
    from neurotype.data.tables import select_cells

    for task in ("broad", "subclass"):
        selection = select_cells(args.feature_set, task)
        table = selection.table
        label = "dendrite_type" if task == "broad" else "subclass"
        print(f"== {task} task, feature set {args.feature_set}: {len(table):,} cells")
        counts = table.groupby(["species", label]).size().rename("cells").reset_index()
        print(counts.to_string(index=False))
        if task == "broad" or args.feature_set == "actd":
            print("-- exclusion steps")
            print(selection.funnel_frame()[["species", "rule", "removed", "remaining"]].to_string(index=False))
        print()
    return EXIT_OK


def _check_tuning_options(args: argparse.Namespace) -> None:
    if args.trials < 0 or (args.command == "tune" and args.trials < 1):
        raise UserError(f"--trials {args.trials}: expected a {'positive' if args.command == 'tune' else 'non-negative'}"
                        " number (the study-wide total of finished trials: complete or pruned)")
    if args.workers < 1:
        raise UserError(f"--workers {args.workers}: expected at least 1")
    if args.heartbeat is not None and args.heartbeat < 1:
        raise UserError(f"--heartbeat {args.heartbeat}: expected at least 1 second")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from neurotype.protocol.evaluation import compare, evaluate
    from neurotype.protocol.tuning import set_aside_studies

    out = Path(args.out)
    _guard_output(out / "report.json", args.force, "a report")
    _check_tuning_options(args)
    if args.workers > 1 and args.n_jobs != 1:
        raise UserError("--workers and --n-jobs: use one of them (workers per study, or folds in parallel)")
    params = _parse_params(args.param, None)
    folds, repeats, trials = args.folds, args.repeats, args.trials
    if args.smoke:
        folds, repeats, trials = 2, 1, min(trials, 2)
    task = _load_task(args.task, args.feature_set)
    if args.force and args.storage is None:
        # --force means a fresh run: the previous run's studies would otherwise be resumed as they
        # are and decide this run's parameters. They are renamed, not deleted.
        moved = set_aside_studies(out / "optuna")
        if moved is not None and not args.quiet:
            print(f"--force: the previous studies were moved to {moved}; this run starts fresh ones", file=sys.stderr)
    elif args.force and trials > 0 and not args.quiet:
        print("--force: the studies in --storage are shared and were kept (pass --study NAME for fresh ones)",
              file=sys.stderr)
    report = evaluate(task, args.model, n_folds=folds, n_repeats=repeats, seed=args.seed, n_trials=trials,
                      params=params, storage=args.storage, study_dir=out / "optuna", n_jobs=args.n_jobs,
                      study_prefix=args.study, tuning_workers=args.workers, heartbeat_s=args.heartbeat,
                      progress=_FoldBar(f"{args.model} {args.task}") if _show_progress(args) else False)
    out.mkdir(parents=True, exist_ok=True)
    report.save(out / "report.json")
    table = compare([report], metrics=("accuracy", "balanced_accuracy", "f1_macro"))
    print(f"{args.model} on {args.task} ({args.feature_set}), {folds} folds x {repeats} repeats, "
          f"{trials} finished (complete or pruned) trials per fold's study, seed {args.seed}; mean [95% interval]:")
    print(table.to_string())
    print(f"report: {out / 'report.json'}")
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    from neurotype.app.saved import write_atomically
    from neurotype.protocol.evaluation import tune

    out = Path(args.out)
    _guard_output(out, args.force, "a parameters file")
    _check_tuning_options(args)
    task = _load_task(args.task, args.feature_set)
    best, info = tune(task, args.model, n_trials=args.trials, seed=args.seed,
                      params=_parse_params(args.param, None), storage=args.storage,
                      study_dir=Path(args.study_dir) if args.study_dir else None, study=args.study,
                      workers=args.workers, heartbeat_s=args.heartbeat)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written whole and renamed into place: workers that finish together never leave half a file.
    write_atomically(out, (json.dumps({"task": args.task, "model": args.model, "feature_set": args.feature_set,
                                       "seed": args.seed, "best_params": best, "study": info}, indent=2,
                                      default=str) + "\n").encode())
    print(f"best inner-validation score {info['best_value']:.4f} after {info['n_complete_trials']} trials "
          f"({info['trials_run_here']} run by this command; study {info['study_name']} in {info['storage']})")
    print(f"parameters written to {out}; use them with: neurotype train ... --params {out}")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    import numpy as np

    from neurotype.protocol.evaluation import fit_model

    from neurotype.models.registry import get_model
    from neurotype.app.saved import model_kind, save_model
    from neurotype.data.splits import inner_split

    out = Path(args.out)
    _guard_output(out, args.force, "a model directory", folder=True)
    model_kind(args.model)  # refuse a model that cannot be saved before training it
    if args.params is not None and not Path(args.params).is_file():
        raise UserError(f"{args.params}: file not found (--params)")
    spec = get_model(args.model)
    params = spec.params(_parse_params(args.param, args.params))
    task = _load_task(args.task, args.feature_set)
    estimator = spec.make(params, seed=args.seed)
    rows, validation = np.arange(len(task)), None
    if spec.uses_validation:  # early stopping needs held-out rows, chosen from the training cells
        rows, validation = inner_split(task, rows, 0.2, seed=args.seed)
    if not args.quiet:
        print(f"training {args.model} on {len(rows):,} cells ({args.task}, {args.feature_set})", file=sys.stderr)
    fit_model(estimator, spec, task, rows, validation)
    try:
        save_model(estimator, out, task=args.task, model=args.model, feature_set=args.feature_set, params=params,
                   seed=args.seed, X=task.X.iloc[rows], y=task.y_codes[rows], classes=list(task.classes),
                   species=task.species[rows], force=args.force)
    except OSError as error:
        raise UserError(f"{out}: cannot write the model ({error.strerror or error})") from None
    print(f"model saved to {out}")
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from neurotype.app.predict import predict_file, write_predictions
    from neurotype.app.saved import MODEL_JSON, WEIGHT_FILES, load_model

    output = Path(args.output) if args.output else None
    if output is not None:
        model_files = [Path(args.model) / name for name in (MODEL_JSON, *WEIGHT_FILES.values())]
        inputs = [Path(args.input)] if args.input else [Path(f) for f in args.nwb]
        _guard_output(output, args.force, "an output file", inputs=[*inputs, *model_files])
    feature_map = None
    if args.feature_map:  # a lab's own column names and units → ACTD's; a bad map stops here, first
        from neurotype.data.feature_map import read_feature_map

        feature_map = read_feature_map(args.feature_map)
    saved = load_model(args.model, feature_set=args.feature_set)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(args.input) if not args.nwb else _nwb_cells_csv(args, saved.features, Path(scratch))
        if feature_map is not None:
            source = _mapped_csv(source, feature_map, Path(scratch))
        prediction = predict_file(saved, source, species=args.species,
                                  allow_unseen_species=args.allow_unseen_species,
                                  allow_unit_mismatch=args.allow_unit_mismatch, id_column=args.id_column,
                                  prefix=args.output_prefix)
    for warning in prediction.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if output is None:
        prediction.table.to_csv(sys.stdout, index=False, lineterminator="\n")
        return EXIT_OK
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_predictions(prediction.table, output)
    except OSError as error:
        raise UserError(f"{output}: cannot write the predictions ({error.strerror or error})") from None
    if not args.quiet:
        print(f"{len(prediction.table):,} predictions written to {output}", file=sys.stderr)
    return EXIT_OK


def _nwb_problems_to_stderr(show_progress: bool) -> None:
    """Print the extraction's log lines (one per failed file) on stderr, above any progress bar."""
    import logging

    class _Line(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            from tqdm import tqdm

            message = f"warning: {record.getMessage()}"
            tqdm.write(message, file=sys.stderr) if show_progress else print(message, file=sys.stderr)

    log = logging.getLogger("neurotype.ephys.extract")
    log.handlers[:] = [_Line(level=logging.WARNING)]
    log.setLevel(logging.WARNING)
    log.propagate = False


def _mapped_csv(source: Path, feature_map, folder: Path) -> Path:
    """predict --feature-map: the input with its mapped columns renamed and converted to ACTD's names and
    units, every other column kept as text, written under the input's own name for the checks of
    ``predict --input``."""
    import pandas as pd

    from neurotype.data.feature_map import apply_feature_map

    if not source.is_file():
        raise UserError(f"{source}: file not found")
    try:
        table = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise UserError(f"{source}: not a readable CSV ({str(error).splitlines()[0]})") from None
    mapped = apply_feature_map(table, feature_map, source=source)
    path = folder / "mapped" / source.name
    path.parent.mkdir(parents=True, exist_ok=True)
    mapped.to_csv(path, index=False)
    return path


def _nwb_cells_csv(args: argparse.Namespace, features: Sequence[str], folder: Path) -> Path:
    """predict --nwb: the NWB files' cells written as the CSV ``neurotype features`` writes, so that they go
    through exactly the checks and reading of ``predict --input``."""
    from neurotype.ephys.extract import nwb_cells, nwb_files

    try:
        files = nwb_files(args.nwb)
    except FileNotFoundError as error:
        raise UserError(str(error)) from None
    _nwb_problems_to_stderr(_show_progress(args))
    cells = nwb_cells(files, features, stimulus_map=args.stimulus_map, progress=_show_progress(args))
    path = folder / "nwb_cells.csv"
    cells.to_csv(path, index=False)
    return path


def cmd_features(args: argparse.Namespace) -> int:
    from neurotype.ephys.extract import FEATURES, VOLTAGE_CLAMP_FEATURES, extract_features, nwb_files
    from neurotype.ephys.stimulus_names import load_stimulus_map

    output = Path(args.out) if args.out else None
    if output is not None:
        _guard_output(output, args.force, "an output file")
    try:
        files = nwb_files(args.files)
    except FileNotFoundError as error:
        raise UserError(str(error)) from None
    stimulus_map = load_stimulus_map(args.stimulus_map)
    _nwb_problems_to_stderr(_show_progress(args))
    table = extract_features(files, stimulus_map=stimulus_map, progress=_show_progress(args))
    if output is None:
        table.to_csv(sys.stdout, index=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(output, index=False)
    measurable = [name for name in FEATURES if name not in VOLTAGE_CLAMP_FEATURES]
    counts = table[measurable].notna().sum(axis=1)
    complete, empty = int((counts == len(measurable)).sum()), int((counts == 0).sum())
    if not args.quiet:
        where = f" written to {output}" if output is not None else ""
        print(f"{len(table):,} cell(s){where}: {complete} with every current-clamp feature, "
              f"{len(table) - complete - empty} partial, {empty} without any (see columns failed_features and qc)",
              file=sys.stderr)
    if empty == len(table):
        raise UserError(f"none of the {len(table)} file(s) gave any feature")
    return EXIT_OK


def _features_parser(commands) -> None:
    features = commands.add_parser(
        "features", help="per-cell ACTD features from NWB recordings (NWB 2 or ACTD's NWB 1), with ipfx",
        description="One row per NWB file (one cell each): the long-square, short-square, ramp, subthreshold "
                    "and noise-sweep features in ACTD names and units. A bad sweep or a missing protocol costs "
                    "only its features (NaN; columns failed_features and qc say why); a file that is not NWB "
                    "gives one warning line and one failed row.")
    features.add_argument("files", nargs="+", metavar="NWB", help="NWB files, or folders searched for *.nwb")
    features.add_argument("--out", help="CSV to write (default: standard output)")
    features.add_argument("--stimulus-map", metavar="FILE",
                          help="YAML of your rig's stimulus names, tried before the defaults "
                               "(layout: lib/neurotype/ephys/stimulus_names.yml)")
    features.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    features.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    features.set_defaults(handler=cmd_features)


# --- the parser -------------------------------------------------------------------------------

def _worker_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--workers", type=int, default=1,
                        help=f"worker processes on this machine tuning {what} (one torch thread each); "
                             "more machines join through --storage")
    parser.add_argument("--heartbeat", type=int, metavar="SECONDS",
                        help="heartbeat of a running trial; a trial silent for 4 heartbeats (a killed worker) "
                             "is marked failed and run again (default 30; a study keeps the heartbeat of the "
                             "worker that created it)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurotype", description="Classify neurons from their electrophysiology "
                                     "(Allen Cell Types Database features), honestly evaluated.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="describe the bundled data")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    summary = data_commands.add_parser("summary", help="cells per species, class and exclusion step")
    summary.add_argument("--feature-set", choices=_choices()[1], default="paper41")
    summary.set_defaults(handler=cmd_data_summary)

    evaluate = commands.add_parser("evaluate", help="nested cross-validation; writes OUT/report.json")
    _task_arguments(evaluate)
    evaluate.add_argument("--folds", type=int, default=5)
    evaluate.add_argument("--repeats", type=int, default=5)
    evaluate.add_argument("--trials", "--n-trials", dest="trials", type=int, default=0,
                          help="complete Optuna trials per outer fold, a study-wide total: every `evaluate` "
                               "sharing --storage adds to the same count (0: default hyperparameters)")
    evaluate.add_argument("--smoke", action="store_true", help="2 folds x 1 repeat, at most 2 trials")
    evaluate.add_argument("--n-jobs", type=int, default=1, help="outer folds in parallel worker processes")
    evaluate.add_argument("--study", metavar="PREFIX",
                          help="prefix of the studies' names: fresh studies on a --storage that has this run's")
    evaluate.add_argument("--storage", help="Optuna RDB URL shared by workers on several machines, e.g. "
                          "postgresql://user:password@host:5432/db (default: SQLite files under OUT/optuna)")
    _worker_arguments(evaluate, "each outer fold's study (one study per model and fold)")
    evaluate.add_argument("--out", required=True, help="output folder")
    evaluate.add_argument("--force", action="store_true",
                          help="overwrite an existing OUT/report.json; studies in OUT/optuna are moved aside "
                               "and tuned afresh")
    evaluate.set_defaults(handler=cmd_evaluate)

    tune = commands.add_parser("tune", help="choose hyperparameters for `train` (Optuna on an inner split)")
    _task_arguments(tune)
    tune.add_argument("--trials", "--n-trials", dest="trials", type=int, required=True,
                      help="finished trials of the whole study, not per worker: every `tune` on the same "
                           "--storage and --study stops when the study has this many complete or pruned "
                           "trials (failed trials are run again, not counted); a larger number later "
                           "extends the study")
    tune.add_argument("--storage", help="Optuna RDB URL, e.g. postgresql://user:password@host:5432/db; start "
                      "`tune` with the same URL and --study on any number of machines (default: a SQLite file, "
                      "for workers on this machine only)")
    tune.add_argument("--study", help="study name (default: derived from task, model, seed and parameters)")
    _worker_arguments(tune, "the study")
    tune.add_argument("--study-dir", help="folder of the default SQLite file (default results/optuna)")
    tune.add_argument("--out", required=True, help="JSON file for the best parameters (one per worker, or --force)")
    tune.add_argument("--force", action="store_true", help="overwrite OUT (the study itself is always resumed)")
    tune.set_defaults(handler=cmd_tune)

    train = commands.add_parser("train", help="fit on every labelled cell and save a model directory")
    _task_arguments(train)
    train.add_argument("--params", type=Path, help="JSON of hyperparameters (e.g. written by `neurotype tune`)")
    train.add_argument("--out", required=True, help="model directory")
    train.add_argument("--force", action="store_true")
    train.set_defaults(handler=cmd_train)

    predict = commands.add_parser("predict", help="classify cells from a CSV of ACTD-named features")
    predict.add_argument("--model", required=True, help="model directory written by `neurotype train`")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="CSV, one row per cell, ACTD feature names as columns")
    source.add_argument("--nwb", nargs="+", metavar="FILE", help="NWB files or folders, one cell per file: "
                        "features are extracted as by `neurotype features`")
    predict.add_argument("--stimulus-map", help="with --nwb: YAML of extra stimulus names (see `neurotype features`)")
    predict.add_argument("--output", help="CSV to write (default: standard output)")
    predict.add_argument("--species", choices=("mouse", "human"),
                         help="species of every cell (or a 'species' column holding exactly mouse or human)")
    predict.add_argument("--allow-unseen-species", action="store_true",
                         help="predict cells of a species the model never saw in training (flagged), not refuse")
    predict.add_argument("--allow-unit-mismatch", action="store_true",
                         help="predict even when a column's values look ~1000x off (wrong unit), with a warning")
    predict.add_argument("--id-column", help="column of cell ids, checked for repeats (default: the first of "
                         "specimen_id, cell_id, id)")
    predict.add_argument("--output-prefix", default="",
                         help="prepended to every output column name, e.g. neurotype_ when the input has a "
                         "column named predicted")
    predict.add_argument("--feature-set", choices=_choices()[1], help="refuse a model of another feature set")
    predict.add_argument("--feature-map", metavar="MAP",
                         help="CSV mapping the input's column names and units onto ACTD's features "
                              "(format: neurotype.data.feature_map; examples in data/external/feature_maps/)")
    predict.add_argument("--force", action="store_true", help="replace an existing output file (never the input)")
    predict.add_argument("--quiet", action="store_true")
    predict.set_defaults(handler=cmd_predict)

    _features_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UserError, FileExistsError, ValueError) as error:  # ValueError: DataError, ModelLoadError, bad params
        print(f"neurotype {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # e.g. piped into `head`
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"neurotype {args.command}: interrupted (a tuning study resumes when run again)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
