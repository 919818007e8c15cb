"""Scale-out benchmark (not a test): trials per minute of one study with 1, 2, 3 local `neurotype tune` workers.

Each worker is its own `neurotype tune` process, as it would be on another machine, with one
thread; all share one new study on a new SQLite file, and (when PostgreSQL's initdb is installed)
on a throwaway PostgreSQL server on localhost. Two rates per run:

* steady: COMPLETE trials / (last trial's completion - first trial's start), read from the study;
  what a long study gets, worker start-up excluded;
* wall: COMPLETE trials / wall time of the whole command, start-up (imports, data) included.

It also gives the mean time inside a trial and the share of the workers' time spent inside
trials ("busy"): if the rate does not grow with workers while "busy" stays near 1, the workers
are not waiting on each other or the database; the trials themselves got slower (the cores).

    .venv/bin/python bench/scaleout.py                       # svc, subclass task, 60 trials
    .venv/bin/python bench/scaleout.py --trials 120 --workers 1 2 3 4 --storage sqlite

Writes bench/scaleout.json (ignored by git, like bench/results.json).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from neurotype import paths
from neurotype.protocol.reports import package_versions

# The throwaway server of the scale-out test.
sys.path.insert(0, str(paths.ROOT / "tests" / "protocol"))
from postgres_server import find_postgres_bin, throwaway_postgres  # noqa: E402

SCRIPT = Path(sys.executable).with_name("neurotype")
ENV = {**os.environ, "PYTHONPATH": str(paths.ROOT / "lib"), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1"}


def measure(url: str, workers: int, trials: int, task: str, model: str, folder: Path) -> dict:
    """Run ``workers`` tune processes on a new study of ``url``; the rates and who ran what."""
    study = f"bench-{model}-{task}-{workers}w-{time.time_ns()}"
    command = [str(SCRIPT), "tune", "--task", task, "--model", model, "--trials", str(trials), "--storage", url,
               "--study", study, "--force", "--quiet"]
    started = time.perf_counter()
    processes = [subprocess.Popen(command + ["--out", str(folder / f"{study}-{i}.json")], env=ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(workers)]
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed: {err[-2000:]}")
    wall = time.perf_counter() - started
    stored = optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)
    complete = [t for t in stored if t.state == TrialState.COMPLETE]
    steady = (max(t.datetime_complete for t in complete) - min(t.datetime_start for t in complete)).total_seconds()
    in_trials = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in complete)
    return {"workers": workers, "trials": len(complete), "all_trials": len(stored),
            "distinct_params": len({json.dumps(t.params, sort_keys=True) for t in complete}),
            "steady_s": steady, "wall_s": wall,
            # Mean seconds inside a trial, and the share of the workers' steady time spent inside
            # trials: near 1, the workers do not wait on each other or on the database, and a rate
            # that does not grow with workers means that the cores, not the protocol, are the limit.
            "mean_trial_s": in_trials / len(complete), "busy_share": in_trials / (steady * workers),
            "trials_per_min_steady": len(complete) / steady * 60, "trials_per_min_wall": len(complete) / wall * 60,
            "trials_per_worker": sorted(collections.Counter(t.user_attrs.get("worker") for t in complete).values(),
                                        reverse=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--task", default="subclass")
    parser.add_argument("--model", default="svc")
    parser.add_argument("--storage", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=2,
                        help="rounds of every configuration, interleaved (the machine's load drifts)")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="neurotype-scaleout-") as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        storages = []
        if args.storage in ("sqlite", "both"):
            storages.append(("sqlite", lambda k: f"sqlite:///{folder / f'bench-{k}.db'}"))
        if args.storage in ("postgresql", "both"):
            if find_postgres_bin() is None:
                print("no initdb: PostgreSQL skipped (make postgres-env installs it)", file=sys.stderr)
            else:
                server = stack.enter_context(throwaway_postgres())
                storages.append(("postgresql", lambda k: server))
        for round_ in range(args.repeats):
            for name, url_for in storages:
                for workers in args.workers:
                    row = {"storage": name, "round": round_,
                           **measure(url_for(f"{workers}-{round_}"), workers, args.trials, args.task, args.model,
                                     folder)}
                    rows.append(row)
                    print(f"round {round_} {name:<11} {workers} worker(s): {row['trials_per_min_steady']:7.1f} "
                          f"trials/min steady, {row['trials_per_min_wall']:7.1f} with start-up ({row['trials']} "
                          f"trials, {row['wall_s']:.1f} s; {row['mean_trial_s']:.2f} s per trial, busy "
                          f"{row['busy_share']:.2f}; per worker {row['trials_per_worker']}; load "
                          f"{os.getloadavg()[0]:.1f})", flush=True)
    summary = []
    for name in dict.fromkeys(row["storage"] for row in rows):
        for workers in args.workers:
            same = [r for r in rows if r["storage"] == name and r["workers"] == workers]
            steady = sorted(r["trials_per_min_steady"] for r in same)
            wall = sorted(r["trials_per_min_wall"] for r in same)
            summary.append({"storage": name, "workers": workers, "steady_median": statistics.median(steady),
                            "mean_trial_s_median": statistics.median(r["mean_trial_s"] for r in same),
                            "busy_share_median": statistics.median(r["busy_share"] for r in same),
                            "steady_range": [steady[0], steady[-1]], "wall_median": statistics.median(wall),
                            "wall_range": [wall[0], wall[-1]]})
            print(f"{name:<11} {workers} worker(s): median {summary[-1]['steady_median']:.0f} trials/min steady "
                  f"({steady[0]:.0f}-{steady[-1]:.0f}), {summary[-1]['wall_median']:.0f} with start-up "
                  f"({wall[0]:.0f}-{wall[-1]:.0f}); {summary[-1]['mean_trial_s_median']:.2f} s per trial, busy "
                  f"{summary[-1]['busy_share_median']:.2f}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"1-minute load average at the end: {load}; {os.cpu_count()} CPUs")
    out = Path(__file__).with_name("scaleout.json")
    out.write_text(json.dumps({"date": datetime.date.today().isoformat(), "machine": platform.processor() or
                               platform.machine(), "cpus": os.cpu_count(), "load_average_1min": load,
                               "task": args.task, "model": args.model, "trials": args.trials,
                               "summary": summary, "rows": rows,
                               "versions": package_versions()}, indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
