"""Speed benchmarks (not tests): prints a table and writes bench/results.json.

Each figure is also given as a ratio to a scikit-learn SVC fit on the same data in the same run,
so that runs on noisy or different machines can be compared.

    .venv/bin/python bench/run.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from sklearn.svm import SVC

from neurotype.data import broad_task, subclass_task
from neurotype.models import DANNClassifier, LSPINClassifier
from neurotype.preprocessing import make_preprocessor
from neurotype.reports import package_versions
from neurotype.splits import outer_folds


def _timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    subclass = subclass_task("paper41")
    fold = outer_folds(subclass, 5, 1, seed=0)[0]
    X, y = subclass.X.to_numpy()[fold.train], subclass.y[fold.train]
    Z = make_preprocessor().fit_transform(X)
    broad = broad_task("paper41")
    bfold = outer_folds(broad, 5, 1, seed=0)[0]
    bX, by, bs = broad.X.to_numpy()[bfold.train], broad.y[bfold.train], broad.species[bfold.train]

    svc = _timed(lambda: SVC().fit(Z, y), args.repeats)
    figures = {
        "svc_fit_subclass_s": svc,
        "lspin_1000_epochs_s": _timed(lambda: LSPINClassifier(epochs=1000).fit(X, y), args.repeats),
        "dann_fit_200_epochs_s": _timed(lambda: DANNClassifier(max_epochs=200).fit(bX, by, species=bs), args.repeats),
    }
    rows = {name: {"seconds": value, "ratio_to_svc": value / svc} for name, value in figures.items()}
    print(f"{'benchmark':<28}{'seconds':>10}{'x SVC fit':>12}")
    for name, row in rows.items():
        print(f"{name:<28}{row['seconds']:>10.3f}{row['ratio_to_svc']:>12.1f}")
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "threads": args.threads,
                               "cells_train": int(len(y)), "figures": rows, "versions": package_versions()},
                              indent=2) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
