"""Optuna studies that any number of worker processes, on one machine or many, fill together.

A study lives in an Optuna relational storage: a SQLite file for one machine, a PostgreSQL (or
MySQL) server for several. Every worker opens the same study name on the same storage URL
(:class:`SharedStudy`) and calls :meth:`SharedStudy.run` with the same budget:

Budget
    ``n_trials`` is the study-wide number of *finished* trials — COMPLETE or PRUNED, as Optuna's
    own ``optimize(n_trials=...)`` counts them — not a number per worker. A pruned trial is a
    trial the search ran and judged (the median pruner stopped it because its validation loss
    trailed the others'), so it spends budget; a FAILED trial (an exception, a dead worker) does
    not, and its slot is run again. A worker reserves a trial under a lock that holds across
    processes and machines (a PostgreSQL advisory lock, MySQL ``GET_LOCK``, a file lock next to a
    SQLite file): it counts the finished trials and the RUNNING trials other workers reserved, and
    asks for a new trial only while their sum is below ``n_trials``. Once the whole budget is
    reserved it waits, because a reserved trial either finishes or its worker dies and its slot
    comes free again. The study therefore ends with exactly ``n_trials`` finished trials however
    many workers share it; the best parameters come from its COMPLETE ones. (Optuna's
    ``MaxTrialsCallback`` only stops a worker *after* a trial, so two workers that both see
    ``n - 1`` finished trials overshoot.)
Crashes
    Every trial sends a heartbeat through the storage (``RDBStorage(heartbeat_interval=...)``).
    A RUNNING trial whose last heartbeat is older than the grace period belongs to a worker that
    died (SIGKILL, a lost machine); the next worker that reserves a trial marks it FAIL
    (``optuna.storages.fail_stale_trials``) and the slot is run again with a new trial. A COMPLETE
    trial is written once, by the worker that ran it, and never touched again.
Seeds
    The TPE sampler of trial number ``k`` is seeded with :func:`trial_seed` ``(seed, k)``. Trial
    numbers are unique in a study, so two workers never replay each other's random start-up
    suggestions; and one worker gets the same trials whether it ran its budget in one go or
    resumed an interrupted study (the history TPE sees at trial ``k`` is the same), so the same
    command and seed give the same result. With several workers the order in which trials finish
    decides what TPE sees, so only a one-worker study is reproducible trial by trial.
Creation
    Creating the storage's tables and the study runs under the same kind of lock, with retries, so
    workers started together on a new database do not race (today's ``IntegrityError: UNIQUE
    constraint failed: alembic_version``).

Private studies
    A caller that knows no other process works on a study (``tune_study(private=True)``; ``evaluate``
    without ``storage``, whose every fold's study is a SQLite file of its own, tuned by one process)
    may run a *new* study in memory, under the study's lock, and write it to its storage: its finished
    trials at most every minute, and the whole study once it is done. The storage then holds exactly the
    trials a shared run would have written (same numbers, parameters, values, reports and attributes), so
    resuming and extending it work as before. Optuna's SQLAlchemy transactions (a trial's suggestions,
    reports and state changes) were 10-18 % of the CPU time of a tuned FCNN, DANN or XGBoost. A process
    that opens the study meanwhile waits for the lock; a process killed mid-study leaves the trials
    written before, from which a rerun resumes. A study that already exists is always run shared.

A study also records the settings it was tuned for (``settings_sha1``, and the training cells'
hash ``train_ids_sha1``); a worker with other settings is refused (:class:`StudyMismatchError`)
rather than mixing two objectives in one study.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import optuna
import sqlalchemy
import sqlalchemy.event
import sqlalchemy.exc
from filelock import FileLock
from optuna.trial import TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

__all__ = [
    "DEFAULT_HEARTBEAT_S", "GRACE_HEARTBEATS", "WORKER_ATTR", "StudyMismatchError", "StorageError", "StorageLock",
    "PerTrialSeededSampler", "SharedStudy", "tune_study", "trial_seed", "sqlite_url", "display_url", "PRUNERS",
    "PRUNER_SENTENCES", "make_pruner", "OncePerTrialPruner", "FINISHED",
    "open_storage", "set_aside_studies",
]

#: Seconds between two heartbeats of a running trial.
DEFAULT_HEARTBEAT_S = 30
#: A trial is declared dead after this many missed heartbeats (a generous margin: a fit that holds
#: Python's GIL for a while delays the heartbeat thread, and a live trial must not be failed).
GRACE_HEARTBEATS = 4
#: User attribute naming the worker (``host:pid``) that reserved a trial.
WORKER_ATTR = "worker"
#: The trial states the budget counts: trials that ran to a verdict.
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """The pruner of a study: ``"median"`` or ``"asha"`` (see :data:`PRUNERS`), reading the
    study's trials once per trial (:class:`OncePerTrialPruner`)."""
    if name not in PRUNERS:
        raise ValueError(f"unknown pruner {name!r}; choose one of {sorted(PRUNERS)}")
    return OncePerTrialPruner(PRUNERS[name]())


class _StudySnapshot:
    """The study as a pruner sees it, with the trials read once (``get_trials`` filters that list)."""

    def __init__(self, study: optuna.Study):
        self._study = study
        self._trials = study.get_trials(deepcopy=False)

    def get_trials(self, deepcopy: bool = True, states=None) -> list[optuna.trial.FrozenTrial]:
        if deepcopy:
            raise ValueError("a pruner's snapshot of the study hands out its trials without copies")
        return list(self._trials) if states is None else [t for t in self._trials if t.state in states]

    def __getattr__(self, name: str) -> Any:  # direction, _storage, ...: the study's own
        return getattr(self._study, name)


class OncePerTrialPruner(optuna.pruners.BasePruner):
    """``pruner``, with the study's other trials read from the storage once per trial (and then at most
    every :attr:`refresh_s` seconds) instead of at every report.

    Optuna's pruners read every trial of the study from the storage at each report (about 7 ms
    against a SQLite file: a tenth of a short network trial, which reports every 10 epochs). This
    pruner reads them at a trial's first report and hands the same list to ``pruner`` at its later
    reports, reading again once the list is ``refresh_s`` old; the trial's own values come, as
    before, from the trial itself. With one worker every other trial has finished before this one
    starts, so the decisions are exactly ``pruner``'s. With several workers, what other workers'
    trials reported is seen at most ``refresh_s`` late.
    """

    #: Seconds after which a trial's list of the other trials is read again.
    refresh_s = 5.0

    def __init__(self, pruner: optuna.pruners.BasePruner):
        self.pruner = pruner
        self._snapshot: tuple[int, float, _StudySnapshot] | None = None

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        now = time.monotonic()
        if self._snapshot is None or self._snapshot[0] != trial._trial_id or now - self._snapshot[1] > self.refresh_s:
            self._snapshot = (trial._trial_id, now, _StudySnapshot(study))
        return self.pruner.prune(self._snapshot[2], trial)  # type: ignore[arg-type]


#: Pruners a study may use. The networks report their negated validation loss with a step that
#: counts epochs: FCNN and DANN the 0-based index of every tenth epoch (9, 19, 29, ...), LSPIN the
#: epochs done, every 100 (100, 200, ...). ``median``: stop a trial whose best value so far trails
#: the median of the complete trials' values at the same step, once three trials have completed
#: (Optuna's default waits for five: in the book's studies those five start-up trials took 55-65 % of
#: the networks' tuning time, because random ones with slow optimisers ran 1,000-2,000 epochs
#: unchallenged; the first trial is now the model's defaults, see ``SharedStudy(start=...)``, and
#: three keeps a median of more than one curve). ``asha``:
#: asynchronous successive halving (Li et al. 2020): rungs at steps 10, 30, 90, 270, ...; a trial
#: passes a rung only when its value is in the best third of the trials that reached that rung (the
#: FCNN and DANN meet the first rung at step 19, LSPIN meets the first three at step 100). Models
#: that report nothing are never pruned.
PRUNERS: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
    "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=3),
    "asha": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=10, reduction_factor=3),
}
#: What each pruner does, in a sentence for the chapters.
PRUNER_SENTENCES: dict[str, str] = {
    "median": "a median pruner stops a network or a tree ensemble whose validation loss trails the median of the "
              "complete trials at the same epoch (number of trees, boosting round), once three trials have completed",
    "asha": "successive halving stops a network or a tree ensemble unless its validation loss is among the best "
            "third of the trials that reached the same rung of 10, 30, 90, … epochs (trees and boosting rounds, "
            "which report from 100 and 50, pass the first rungs together)",
}


class StudyMismatchError(ValueError):
    """A study of that name exists but was tuned for other settings or other training cells."""


class StorageError(ValueError):
    """The storage URL cannot be opened (no server, wrong credentials, missing driver)."""


def sqlite_url(directory: str | Path, name: str) -> str:
    """The default storage of one study: ``sqlite:///<directory>/<name>.db``."""
    return f"sqlite:///{(Path(directory) / name).with_suffix('.db')}"


def display_url(url: str) -> str:
    """The storage URL without its password (for messages and reports)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL sqlalchemy understands: show only the scheme
        return url.split(":", 1)[0] + "://…"


def worker_id() -> str:
    """``host:pid`` of this process, recorded on every trial it reserves."""
    return f"{socket.gethostname()}:{os.getpid()}"


def trial_seed(seed: int, number: int) -> int:
    """Sampler seed of trial ``number`` of a study tuned with ``seed`` (a 32-bit integer)."""
    digest = hashlib.sha256(f"neurotype-trial:{int(seed)}:{int(number)}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _int64_key(text: str) -> int:
    """A signed 64-bit key (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little", signed=True)


def _mysql_lock_name(text: str) -> str:
    """A MySQL ``GET_LOCK`` name (at most 64 characters)."""
    return "neurotype-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _backend(url: str) -> str:
    try:
        parsed = make_url(url)
    except Exception as error:
        raise StorageError(f"--storage {url!r}: not a database URL ({error})") from None
    try:
        parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:
        raise StorageError(f"--storage {display_url(url)}: unknown database kind {parsed.drivername!r} "
                           "(postgresql://..., sqlite:///..., mysql://...)") from None
    return parsed.get_backend_name()


class StorageLock:
    """Mutual exclusion around one key of one storage, across processes and machines.

    PostgreSQL: a session-level advisory lock on a connection of its own; MySQL: ``GET_LOCK``;
    SQLite: a file lock next to the database file (``.<file>.lock``). The database server (or the
    operating system, for the file) releases the lock when its holder dies, so a killed worker
    never leaves the study locked. Other backends get no lock (and a warning). :meth:`release`
    may be called when the lock is not held (it then does nothing).

    Parameters
    ----------
    url
        The storage URL.
    key
        What is locked (e.g. a study name); two different keys never exclude each other on
        PostgreSQL and MySQL. SQLite locks the whole file whatever the key.
    """

    def __init__(self, url: str, key: str):
        self.url, self.key, self.held = url, key, False
        self.kind = _backend(url)
        self._file_lock = None
        self._connection = None
        if self.kind == "sqlite":
            database = make_url(url).database
            if database and database != ":memory:":
                path = Path(database)
                if not path.parent.is_dir():
                    raise StorageError(f"storage {url}: folder {path.parent} does not exist")
                self._file_lock = FileLock(str(path.with_name(f".{path.name}.lock")))
        elif self.kind not in ("postgresql", "mysql"):
            warnings.warn(f"storage {display_url(url)}: no cross-process lock for {self.kind!r}; with several "
                          "workers the study may end with a few trials more than requested", stacklevel=2)

    def _connect(self):
        if self._connection is None:
            engine = sqlalchemy.create_engine(self.url, poolclass=NullPool)
            # Autocommit: the lock belongs to the session, not to a transaction left open.
            self._connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def acquire(self) -> None:
        """Block until the lock is held."""
        if self.held:
            raise RuntimeError(f"lock {self.key!r} is already held by this process")
        if self._file_lock is not None:
            self._file_lock.acquire()
        elif self.kind == "postgresql":
            self._connect().execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": _int64_key(self.key)})
        elif self.kind == "mysql":
            name = _mysql_lock_name(self.key)
            self._connect().execute(sqlalchemy.text("SELECT GET_LOCK(:name, -1)"), {"name": name})
        self.held = True

    def release(self) -> None:
        """Release the lock if this process holds it."""
        if not self.held:
            return
        self.held = False
        if self._file_lock is not None:
            self._file_lock.release()
        elif self.kind == "postgresql":
            self._connect().execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"),
                                    {"key": _int64_key(self.key)})
        elif self.kind == "mysql":
            name = _mysql_lock_name(self.key)
            self._connect().execute(sqlalchemy.text("SELECT RELEASE_LOCK(:name)"), {"name": name})

    def close(self) -> None:
        """Release the lock and close its connection."""
        self.release()
        if self._connection is not None:
            engine = self._connection.engine
            self._connection.close()
            engine.dispose()
            self._connection = None

    def __enter__(self) -> "StorageLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _use_write_ahead_log(engine: sqlalchemy.engine.Engine) -> None:
    """SQLite in write-ahead-log mode, committing without an fsync each time.

    A trial commits some twenty small transactions; with SQLite's default rollback journal each
    one waits for the disk (here about 9 ms: 60 % of an SVC trial) and blocks every reader, so
    local workers queue behind each other's commits. In WAL mode readers and the writer do not
    block each other, and ``synchronous=NORMAL`` keeps the database consistent when a process is
    killed; only a power cut may lose the last commits (trials that are then simply run again).
    """
    if make_url(str(engine.url)).database in (None, "", ":memory:"):
        return

    def pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sqlalchemy.event.listen(engine, "connect", pragmas)
    engine.dispose()  # the connections opened while creating the tables predate the pragmas


def open_storage(url: str, heartbeat_s: int | None = None, attempts: int = 6) -> optuna.storages.RDBStorage:
    """An Optuna ``RDBStorage`` with heartbeats, created safely by workers that start together.

    The tables are created under a :class:`StorageLock` and the creation is retried (with
    back-off) on the integrity and locking errors of a concurrent creation by a process that
    does not take the lock. SQLite files wait up to two minutes for a write lock rather than
    fail with "database is locked", and use a write-ahead log (:func:`_use_write_ahead_log`).

    Parameters
    ----------
    url
        SQLAlchemy URL (``sqlite:///path.db``, ``postgresql://user:password@host:port/db``, ...).
    heartbeat_s
        Seconds between heartbeats of a running trial (default :data:`DEFAULT_HEARTBEAT_S`); a
        trial is declared dead after
        :data:`GRACE_HEARTBEATS` of them without a heartbeat.
    attempts
        Tries before giving up with :class:`StorageError`.
    """
    heartbeat_s = DEFAULT_HEARTBEAT_S if heartbeat_s is None else heartbeat_s
    if int(heartbeat_s) < 1:
        raise ValueError(f"heartbeat must be at least 1 second, got {heartbeat_s}")
    backend = _backend(url)
    if backend == "sqlite":
        # Writers wait for each other instead of failing with "database is locked".
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 120}}
    else:
        # A worker holds its connections for hours; a server or firewall may drop idle ones.
        engine_kwargs = {"pool_pre_ping": True}
    lock = None
    try:
        lock = StorageLock(url, "neurotype:create-storage")
        for attempt in range(attempts):
            try:
                with lock, warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    storage = optuna.storages.RDBStorage(
                        url, engine_kwargs=engine_kwargs, heartbeat_interval=int(heartbeat_s),
                        grace_period=GRACE_HEARTBEATS * int(heartbeat_s))
                    if backend == "sqlite":
                        _use_write_ahead_log(storage.engine)
                    return storage
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as error:
                if attempt == attempts - 1:
                    raise StorageError(f"storage {display_url(url)}: cannot open it after {attempts} attempts "
                                       f"({_first_line(error)})") from None
                time.sleep(0.25 * 2 ** attempt)
    except ImportError as error:
        raise StorageError(f"storage {display_url(url)}: its database driver is not installed ({error})") from None
    except sqlalchemy.exc.OperationalError as error:  # raised by the lock's own connection
        raise StorageError(f"storage {display_url(url)}: cannot connect ({_first_line(error)})") from None
    finally:
        if lock is not None:
            lock.close()
    raise AssertionError("unreachable")  # pragma: no cover


class PerTrialSeededSampler(optuna.samplers.BaseSampler):
    """A TPE sampler re-seeded for every trial with :func:`trial_seed` ``(seed, trial number)``.

    Optuna's samplers hold one random generator per process, so two workers built with the same
    seed suggest the same start-up trials (10 trials, 5 distinct). Seeding per trial number, which
    is unique in a study, makes every trial's random draws distinct and reproducible.

    Parameters
    ----------
    seed
        Base seed.
    **tpe_kwargs
        Passed to ``optuna.samplers.TPESampler`` (whose default ``constant_liar=True`` keeps
        workers from proposing the same point while another worker's trial runs).
    """

    def __init__(self, seed: int, **tpe_kwargs: Any):
        self.seed, self.tpe_kwargs = int(seed), dict(tpe_kwargs)
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}

    def _for(self, trial) -> optuna.samplers.BaseSampler:
        sampler = self._by_trial.get(trial.number)
        if sampler is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = optuna.samplers.TPESampler(seed=trial_seed(self.seed, trial.number), **self.tpe_kwargs)
            self._by_trial[trial.number] = sampler
        return sampler

    def infer_relative_search_space(self, study, trial):
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        sampler = self._by_trial.pop(trial.number, None)
        if sampler is not None:
            sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:  # every trial is seeded from its number: nothing to reseed
        pass


def _settings_sha1(settings: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


class SharedStudy:
    """One Optuna study that every worker opening the same name on the same storage shares.

    Parameters
    ----------
    name
        Study name.
    url
        Storage URL (see :func:`open_storage`).
    sampler_seed
        Base seed of the per-trial TPE seeds (:class:`PerTrialSeededSampler`).
    settings
        What the study tunes (JSON-able); a study of that name made with other settings is
        refused with :class:`StudyMismatchError`.
    train_ids_hash
        Hash of the training cells; checked like ``settings`` (its own message).
    heartbeat_s
        Seconds between heartbeats of a running trial (default :data:`DEFAULT_HEARTBEAT_S`; see
        :func:`open_storage`). The worker that creates the study records it; later workers use the
        study's value, because each judges the others' trials by its own grace period.
    poll_s
        Seconds between two looks at the study while its whole budget is reserved by others
        (default: the heartbeat interval, at most 5 s).
    pruner
        A key of :data:`PRUNERS` (every worker of a study must use the same).
    start
        Parameters of the study's first trial (trial 0), e.g. the model's defaults: a warm start that
        also gives the pruner a first curve to compare with. The worker that creates the study
        enqueues it; a worker that opens a study whose start trial failed (a killed worker's trial,
        marked FAIL) enqueues it again, as the next trial. ``None``: every trial is sampled.
    """

    def __init__(self, name: str, url: str, *, sampler_seed: int, settings: Mapping[str, Any] | None = None,
                 train_ids_hash: str | None = None, heartbeat_s: int | None = None,
                 poll_s: float | None = None, pruner: str = "median", start: Mapping[str, Any] | None = None,
                 in_memory: bool = False):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.name, self.url = name, url
        self.heartbeat_s = int(DEFAULT_HEARTBEAT_S if heartbeat_s is None else heartbeat_s)
        self.poll_s = float(poll_s) if poll_s is not None else float(min(5, self.heartbeat_s))
        # in_memory: the study of a private run (see _tune_private), whose caller holds the study's lock; the
        # lock of an in-memory SQLite database excludes nothing
        self.storage = _MemoryStorage(self.heartbeat_s) if in_memory else open_storage(url, self.heartbeat_s)
        self.lock = StorageLock("sqlite:///:memory:" if in_memory else url, f"neurotype-study:{name}")
        with self.lock:
            self.study = optuna.create_study(study_name=name, storage=self.storage,
                                             sampler=PerTrialSeededSampler(sampler_seed),
                                             pruner=make_pruner(pruner), direction="maximize",
                                             load_if_exists=True)
            self._check(settings, train_ids_hash)
            self._adopt_heartbeat(poll_s)
            if start is not None and not any(t.state != TrialState.FAIL and t.system_attrs.get("fixed_params") == start
                                             for t in self.study.get_trials(deepcopy=False)):
                self.study.enqueue_trial(dict(start))
        self.study_id = self.storage.get_study_id_from_name(name)

    def _adopt_heartbeat(self, poll_s: float | None) -> None:
        # Every worker judges the others' trials with its own grace period, so all of them must
        # use one heartbeat: the study's, set by the worker that created it.
        recorded = self.study.user_attrs.get("heartbeat_s")
        if recorded is None:
            self.study.set_user_attr("heartbeat_s", self.heartbeat_s)
        elif int(recorded) != self.heartbeat_s:
            self.heartbeat_s = int(recorded)
            self.storage.heartbeat_interval = self.heartbeat_s
            self.storage.grace_period = GRACE_HEARTBEATS * self.heartbeat_s
            if poll_s is None:
                self.poll_s = float(min(5, self.heartbeat_s))

    def _check(self, settings: Mapping[str, Any] | None, train_ids_hash: str | None) -> None:
        where = f"study {self.name!r} in {display_url(self.url)}"
        attrs = self.study.user_attrs
        if train_ids_hash is not None:
            recorded = attrs.get("train_ids_sha1")
            if recorded is None:
                self.study.set_user_attr("train_ids_sha1", train_ids_hash)
            elif recorded != train_ids_hash:
                raise StudyMismatchError(f"{where} was tuned on other training cells; "
                                         "delete it or use another study name or storage")
        if settings is not None:
            digest = _settings_sha1(settings)
            recorded = attrs.get("settings_sha1")
            if recorded is None:
                self.study.set_user_attr("settings_sha1", digest)
                self.study.set_user_attr("settings", json.loads(json.dumps(settings, default=str)))
            elif recorded != digest:
                before = attrs.get("settings") or {}
                differing = sorted(k for k in set(before) | set(settings)
                                   if json.dumps(before.get(k), default=str) != json.dumps(settings.get(k), default=str))
                raise StudyMismatchError(f"{where} was made with other settings (differing: "
                                         f"{', '.join(differing) or 'unknown'}); use another study name")

    # -- counting --------------------------------------------------------------------------

    def _fail_stale_trials(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(self.study)

    def counts(self) -> tuple[int, int]:
        """(finished trials: COMPLETE or PRUNED, RUNNING trials reserved by a worker) of the study now."""
        trials = self.study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
        finished = sum(t.state in FINISHED for t in trials)
        # RUNNING trials without a worker mark are not reservations: a process killed between
        # creating a trial and marking it, or a worker of an older version without heartbeats.
        reserved = sum(t.state == TrialState.RUNNING and WORKER_ATTR in t.user_attrs for t in trials)
        return finished, reserved

    def complete_trials(self) -> list[optuna.trial.FrozenTrial]:
        """COMPLETE trials in trial-number order."""
        return sorted(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)

    def finished_trials(self) -> list[optuna.trial.FrozenTrial]:
        """Finished (COMPLETE or PRUNED) trials in trial-number order: what the budget counts."""
        return sorted(self.study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)

    # -- running ---------------------------------------------------------------------------

    def _run_one(self, objective: Callable[[optuna.Trial], float], worker: str) -> int | None:
        """Run one trial; called with the lock held, which the trial releases once it is reserved.

        Returns the trial's number (``None`` if no trial was created).
        """
        number: list[int] = []

        def reserved(trial: optuna.Trial) -> float:
            number.append(trial.number)
            # Heartbeat first, then the reservation mark: a marked trial always has a heartbeat,
            # so if this process dies now the trial goes stale and its slot comes free again.
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
            self.storage.record_heartbeat(trial_id)
            trial.set_user_attr(WORKER_ATTR, worker)
            self.lock.release()
            return objective(trial)

        try:
            self.study.optimize(reserved, n_trials=1, gc_after_trial=False)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another worker declared this trial dead (no heartbeat for the grace period, e.g. a
            # machine that stalled) and its slot was run again: the late result is discarded.
            warnings.warn(f"study {self.name!r}: trial {number[0] if number else '?'} was marked failed by another "
                          "worker (missed heartbeats); its result was discarded", RuntimeWarning, stacklevel=2)
        return number[0] if number else None

    def run(self, objective: Callable[[optuna.Trial], float], n_trials: int,
            after_trial: Callable[[], None] | None = None) -> int:
        """Work on the study until it holds ``n_trials`` finished (COMPLETE or PRUNED) trials, study-wide.

        Returns the number of trials this worker ran. The objective's exceptions (other than
        ``optuna.TrialPruned``) stop this worker, after marking its trial FAIL, as in
        ``optuna.Study.optimize``. ``after_trial()`` is called after each of this worker's trials.

        Raises
        ------
        RuntimeError
            When this worker's trials keep ending without a verdict (more than ``3 · n_trials + 10``).
        """
        if int(n_trials) < 1:
            raise ValueError(f"n_trials must be at least 1, got {n_trials}")
        worker = worker_id()
        ran = uncounted = 0
        while True:
            number = None
            self.lock.acquire()
            try:
                self._fail_stale_trials()
                finished, reserved = self.counts()
                if finished >= n_trials:
                    return ran
                if finished + reserved < n_trials:
                    number = self._run_one(objective, worker)
            finally:
                self.lock.release()
            if number is None:  # the whole budget is reserved by running trials: wait for them
                time.sleep(self.poll_s)
                continue
            ran += 1
            if after_trial is not None:
                after_trial()
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
            if self.storage.get_trial(trial_id).state not in FINISHED:
                uncounted += 1
                if uncounted > 3 * n_trials + 10:
                    raise RuntimeError(f"study {self.name!r}: {uncounted} of this worker's trials did not finish "
                                       f"(failed); {finished} of {n_trials} are finished")

    def best(self, n_trials: int) -> optuna.trial.FrozenTrial:
        """The best COMPLETE trial among the first ``n_trials`` finished trials (by number; first of equals).

        Counting only the first ``n_trials`` gives the same answer when a later, larger budget
        extended the study.
        """
        considered = [t for t in self.finished_trials()[:n_trials] if t.state == TrialState.COMPLETE]
        if not considered:
            raise RuntimeError(f"study {self.name!r} has no complete trial")
        return max(considered, key=lambda t: t.value)

    def close(self) -> None:
        """Close the lock's connection and the storage's connections."""
        self.lock.close()
        if isinstance(self.storage, optuna.storages.RDBStorage):
            self.storage.engine.dispose()


class _MemoryStorage(optuna.storages.InMemoryStorage):
    """A private study's storage: Optuna's in-memory one, with the heartbeat settings a
    :class:`SharedStudy` reads (nobody else can declare its trials dead, so no heartbeat is sent)."""

    def __init__(self, heartbeat_s: int):
        super().__init__()
        self.heartbeat_interval, self.grace_period = heartbeat_s, GRACE_HEARTBEATS * heartbeat_s

    def record_heartbeat(self, trial_id: int) -> None:
        pass


def _helper_worker(objective: Callable[[optuna.Trial], float], name: str, url: str, n_trials: int,
                   study_kwargs: dict[str, Any]) -> tuple[int, set]:
    """A local helper process of :func:`tune_study`: one torch thread, the same study."""
    import torch

    torch.set_num_threads(1)  # several workers share the cores
    shared = SharedStudy(name, url, **study_kwargs)
    try:
        ran = shared.run(objective, n_trials)
    finally:
        shared.close()
    return ran, set(getattr(objective, "seen_ids", ()))


def tune_study(objective: Callable[[optuna.Trial], float], name: str, url: str, n_trials: int, *,
               sampler_seed: int, train_ids_hash: str | None = None, settings: Mapping[str, Any] | None = None,
               heartbeat_s: int | None = None, workers: int = 1, pruner: str = "median",
               start: Mapping[str, Any] | None = None, private: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Join (or start) study ``name`` on ``url`` and work on it until it has ``n_trials`` finished trials.

    Any number of processes, here or on other machines, may call this at once with the same
    arguments; see the module docstring for what they share and guarantee.

    Parameters
    ----------
    objective
        Optuna objective (picklable when ``workers > 1``). If it has a ``seen_ids`` set (as
        :class:`neurotype.protocol.evaluation.TuningObjective` does), the ids the local helper
        processes' copies saw are added to it, so the caller's leak guard sees every one.
    name, url
        Study name and storage URL.
    n_trials
        Study-wide number of finished (COMPLETE or PRUNED) trials.
    sampler_seed, train_ids_hash, settings, heartbeat_s, pruner, start
        See :class:`SharedStudy`.
    workers
        Worker processes on this machine: this one plus ``workers - 1`` helpers, one torch
        thread each (this process's thread count is restored afterwards), on the same study.
    private
        The caller knows that no other process works on this study: with one worker, a study that
        does not exist yet is run in memory and written to ``url`` when it is done (see the module
        docstring; the same trials, faster). An existing study is run shared.

    Returns
    -------
    best_params, info
        The ``params`` user attribute (the objective records the full parameter set there) of the
        best COMPLETE trial among the first ``n_trials`` finished ones, and a summary: ``study_name``,
        ``storage`` (password hidden), ``n_trials`` (requested), ``n_complete_trials``, ``n_pruned_trials``,
        ``trials_run_here`` (by this call's processes), ``best_trial``, ``best_value``,
        ``search_space``.
    """
    if int(workers) < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    study_kwargs = dict(sampler_seed=sampler_seed, settings=settings, train_ids_hash=train_ids_hash,
                        heartbeat_s=heartbeat_s, pruner=pruner)
    if private and int(workers) == 1:
        outcome = _tune_private(objective, name, url, n_trials, study_kwargs, start)
        if outcome is not None:
            return outcome
    shared = SharedStudy(name, url, **study_kwargs, start=start)  # creates the study before any helper starts
    executor, futures, threads_before = None, [], None
    try:
        if workers > 1:
            import torch
            # loky (joblib's process pool) pickles closures with cloudpickle. A pool of its own,
            # not loky's reusable singleton: joblib's Parallel(backend="loky") manages that one.
            from joblib.externals.loky import ProcessPoolExecutor

            threads_before = torch.get_num_threads()
            torch.set_num_threads(1)  # this process is one of the workers sharing the cores
            executor = ProcessPoolExecutor(max_workers=int(workers) - 1)
            futures = [executor.submit(_helper_worker, objective, name, url, n_trials, study_kwargs)
                       for _ in range(int(workers) - 1)]
        ran = shared.run(objective, n_trials)
        for future in futures:
            helper_ran, seen = future.result()
            ran += helper_ran
            if hasattr(objective, "seen_ids"):
                objective.seen_ids.update(seen)
        futures = []
        return _outcome(shared, url, n_trials, ran)
    finally:
        if executor is not None:
            # After a failure here, do not leave helpers running.
            executor.shutdown(wait=not futures, kill_workers=bool(futures))
        if threads_before is not None:
            import torch

            torch.set_num_threads(threads_before)
        shared.close()


def _outcome(study: SharedStudy, url: str, n_trials: int, ran: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """What :func:`tune_study` returns for a finished study."""
    best = study.best(n_trials)
    finished = study.finished_trials()
    n_complete = sum(t.state == TrialState.COMPLETE for t in finished)
    info = {"study_name": study.name, "storage": display_url(url), "n_trials": int(n_trials),
            "n_complete_trials": n_complete, "n_pruned_trials": len(finished) - n_complete, "trials_run_here": ran,
            "best_trial": best.number, "best_value": best.value,
            "search_space": {k: repr(d) for k, d in best.distributions.items()}}
    params = best.user_attrs.get("params", best.params)
    return dict(params), info


def _tune_private(objective: Callable[[optuna.Trial], float], name: str, url: str, n_trials: int,
                  study_kwargs: dict[str, Any], start: Mapping[str, Any] | None
                  ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Run study ``name``, new on ``url``, in memory under its lock, and write it to ``url`` (:class:`_StudyWriter`).

    Returns :func:`tune_study`'s outcome, or ``None`` when the study exists on ``url`` (the caller then
    runs it shared). The study is written even when the objective raises (its failed trial included),
    so that a rerun resumes it as it would a shared study's.
    """
    storage = open_storage(url, study_kwargs.get("heartbeat_s"))
    lock = StorageLock(url, f"neurotype-study:{name}")
    try:
        lock.acquire()
        try:
            storage.get_study_id_from_name(name)
            return None
        except KeyError:
            pass
        study = SharedStudy(name, url, **study_kwargs, start=start, in_memory=True)
        writer = _StudyWriter(study, storage)
        try:
            ran = study.run(objective, n_trials, after_trial=writer.write_if_due)
            return _outcome(study, url, n_trials, ran)
        finally:
            writer.write(final=True)
    finally:
        lock.close()
        storage.engine.dispose()


class _StudyWriter:
    """Writes a private study into its storage: the study and its attributes, then its trials in number
    order, so that they keep their numbers (and with them their samplers' seeds).

    While the study runs, the trials finished so far are written at most every :attr:`every_s` seconds
    (the study's lock keeps every other process out meanwhile), so that a killed run of a long study
    (the paper profile's thousand trials) leaves them to resume from, as a shared study would; the
    writing stops at the first trial not finished yet. The final write also takes the trials still
    RUNNING, whose run was interrupted, as FAIL (a failed trial's slot is run again) and WAITING ones as
    they are.
    """

    #: Seconds between two writes of a running private study.
    every_s = 60.0

    def __init__(self, study: SharedStudy, storage: optuna.storages.RDBStorage):
        self.study, self.storage = study, storage
        self.study_id: int | None = None
        self.written = 0
        self.last = time.monotonic()

    def write_if_due(self) -> None:
        if time.monotonic() - self.last >= self.every_s:
            self.write(final=False)

    def write(self, final: bool) -> None:
        memory, storage = self.study.storage, self.storage
        if self.study_id is None:
            self.study_id = storage.create_new_study(memory.get_study_directions(self.study.study_id), self.study.name)
            for key, value in memory.get_study_user_attrs(self.study.study_id).items():
                storage.set_study_user_attr(self.study_id, key, value)
            for key, value in memory.get_study_system_attrs(self.study.study_id).items():
                storage.set_study_system_attr(self.study_id, key, value)
        trials = sorted(memory.get_all_trials(self.study.study_id, deepcopy=True), key=lambda t: t.number)
        for trial in trials[self.written:]:
            if trial.state in (TrialState.RUNNING, TrialState.WAITING) and not final:
                break
            if trial.state == TrialState.RUNNING:
                trial.state = TrialState.FAIL
                trial.datetime_complete = datetime.datetime.now()
            storage.create_new_trial(self.study_id, template_trial=trial)
            self.written += 1
        self.last = time.monotonic()


def set_aside_studies(directory: str | Path) -> Path | None:
    """Rename a folder of study files so that a forced rerun starts fresh studies; nothing is deleted.

    ``<directory>`` becomes ``<directory>.replaced-<UTC time>``. Returns the new path, or ``None``
    when there was nothing to set aside.
    """
    directory = Path(directory)
    if not directory.exists() or not any(directory.iterdir()):
        return None
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = directory.with_name(f"{directory.name}.replaced-{stamp}")
    suffix = 1
    while target.exists():
        target = directory.with_name(f"{directory.name}.replaced-{stamp}-{suffix}")
        suffix += 1
    directory.rename(target)
    return target
