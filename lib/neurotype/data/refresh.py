"""Rebuild the ACTD snapshot from the live Allen Cell Types Database, optionally with sweeps.

Run through ``make refresh-data`` (``REFRESH_ARGS="--with-sweeps --limit 5"`` passes options),
which creates ``.venv-allensdk`` (allensdk 2.16.2 pins numpy < 1.24, so it cannot share the core
environment) and runs ``python -m neurotype.data.refresh`` there. This module therefore imports only
what that environment has: allensdk, numpy, pandas and h5py, plus three neurotype modules that
need nothing else (:mod:`neurotype.paths`, the unit checks and feature names of
:mod:`neurotype.ephys.features`, the Cre-line vocabulary of :mod:`neurotype.data.tables`). ipfx is not
installed there, so the spikes are measured with allensdk's own
:class:`~allensdk.ephys.ephys_extractor.EphysSweepFeatureExtractor`, the extractor ipfx grew
out of; ``tests/data/test_refresh.py`` checks that both give the same 14 features on a
simulated sweep.

What it does
------------
1. ``CellTypesCache`` downloads the specimen records (``cells.json``) and ACTD's feature table
   (``ephys_features.csv``) into ``<out>/actd`` (default ``data/refresh/actd``).
2. With ``--with-sweeps`` it also downloads, for every spiny or aspiny cell, the sweep list
   and the NWB file, picks one Noise sweep (the sweep the paper's table used when the cell is
   in it, otherwise the first "Noise 1"/"Noise 2" sweep with spikes), measures its 14 spike
   features and writes ``<out>/noise_features.csv`` and ``<out>/paper41/{mouse,human}_ephys_data.csv``
   in the column layout of ``data/paper41``. NWB files (tens to hundreds of MB each) are deleted
   after use unless ``--keep-nwb``.
3. The bundled snapshot (``data/actd``, ``data/paper41``) is replaced only with ``--force``.

``--reuse-cache`` keeps files already in the cache directory (resume an interrupted run, or
run offline on a prepared directory, which is how the tests drive the whole path).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from neurotype import paths
from neurotype.ephys.features import SPIKE_FEATURES, SweepError, validate_sweep
from neurotype.data.snapshot import CELLS_JSON, MANIFEST_JSON

__all__ = [
    "NOISE_STIMULI",
    "read_nwb_sweep",
    "noise_sweep_numbers",
    "allensdk_spike_features",
    "nwb_noise_features",
    "choose_noise_sweep",
    "paper41_tables",
    "refresh",
    "main",
]

#: ACTD stimulus names of the noise sweeps the paper's spike features come from.
NOISE_STIMULI: tuple[str, ...] = ("Noise 1", "Noise 2")
DEFAULT_OUT: Path = paths.DATA / "refresh"
CACHE_FILES: tuple[str, ...] = (CELLS_JSON, "ephys_features.csv")
PAPER41_META_MOUSE: tuple[str, ...] = ("transgenic_line", "neurotransmitter", "reporter_status", "dendrite_type", "layer")
PAPER41_META_HUMAN: tuple[str, ...] = ("dendrite_type", "layer")


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# ----- one sweep ---------------------------------------------------------------------------------

def read_nwb_sweep(nwb_path: Path | str, sweep_number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time (s), membrane potential (mV) and current (pA) of one current-clamp sweep of an ACTD NWB file.

    Parameters
    ----------
    nwb_path : path
        An NWB 1 file as ACTD serves it (``epochs/Sweep_N`` pointing into
        ``stimulus/presentation`` and ``acquisition/timeseries``).
    sweep_number : int

    Returns
    -------
    t, v, i : numpy.ndarray
        Samples up to the end of the valid response (``index_range[1]``), converted from
        ACTD's volts and amperes to mV and pA.

    Raises
    ------
    SweepError
        The sweep is missing or was recorded in voltage clamp.
    """
    from allensdk.core.nwb_data_set import NwbDataSet

    try:
        sweep = NwbDataSet(str(nwb_path)).get_sweep(int(sweep_number))
    except KeyError:
        raise SweepError(f"{nwb_path}: no sweep {sweep_number}") from None
    if sweep["stimulus_unit"] == "Volts":
        raise SweepError(f"{nwb_path}: sweep {sweep_number} is a voltage-clamp sweep (stimulus in volts)")
    stop = int(sweep["index_range"][1]) + 1
    # ACTD stores SI units: current in A, potential in V.
    current_pa = np.asarray(sweep["stimulus"][:stop], dtype=float) * 1e12
    potential_mv = np.asarray(sweep["response"][:stop], dtype=float) * 1e3
    t = np.arange(stop) / float(sweep["sampling_rate"])
    return t, potential_mv, current_pa


def noise_sweep_numbers(nwb_path: Path | str) -> list[int]:
    """Sweep numbers whose stored stimulus name is "Noise 1" or "Noise 2", in increasing order."""
    from allensdk.core.nwb_data_set import NwbDataSet

    data = NwbDataSet(str(nwb_path))
    numbers = []
    for number in sorted(data.get_sweep_numbers()):
        name = data.get_sweep_metadata(number).get("aibs_stimulus_name")
        if name is not None and _text(name) in NOISE_STIMULI:
            numbers.append(number)
    return numbers


def allensdk_spike_features(t, v, i, *, filter_khz: float = 10.0) -> dict:
    """The 14 spike features of one sweep with allensdk's ``EphysSweepFeatureExtractor``.

    The same quantities, names and units as :func:`neurotype.ephys.features.sweep_spike_features`
    (which uses ipfx); input goes through the same :func:`~neurotype.ephys.features.validate_sweep`.

    Parameters
    ----------
    t, v, i : array-like
        Time (s), membrane potential (mV), injected current (pA).
    filter_khz : float, default 10
        Bessel cut-off before differentiation.

    Returns
    -------
    dict
        ``n_spikes`` and the 14 features (NaN when there is no spike).
    """
    from allensdk.ephys.ephys_extractor import EphysSweepFeatureExtractor

    t, v, i = validate_sweep(t, v, i)
    extractor = EphysSweepFeatureExtractor(t=t, v=v, i=i, filter=filter_khz)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            extractor.process_spikes()
    except Exception as error:  # same policy as neurotype.ephys.features: name the sweep, not the internals
        raise SweepError(f"allensdk could not analyse the sweep ({t.size} samples): {type(error).__name__}: {error}") from error
    spikes = pd.DataFrame(extractor.spikes())
    row = {"n_spikes": int(len(spikes))}
    for name in SPIKE_FEATURES:
        row[name] = float(spikes[name].astype(float).mean()) if len(spikes) else math.nan
    return row


def nwb_noise_features(nwb_path: Path | str, sweep_number: int | None = None) -> dict:
    """Spike features of one Noise sweep of an NWB file.

    Parameters
    ----------
    nwb_path : path
    sweep_number : int, optional
        The sweep to use; by default the first Noise sweep (by the file's stimulus names)
        that has at least one spike.

    Returns
    -------
    dict
        ``sweep_number``, ``n_spikes`` and the 14 features. Without a usable Noise sweep,
        ``sweep_number`` is None and the features are NaN.
    """
    candidates = [int(sweep_number)] if sweep_number is not None else noise_sweep_numbers(nwb_path)
    row = {"sweep_number": None, "n_spikes": 0, **{name: math.nan for name in SPIKE_FEATURES}}
    for number in candidates:
        t, v, i = read_nwb_sweep(nwb_path, number)
        measured = allensdk_spike_features(t, v, i)
        if measured["n_spikes"] > 0 or sweep_number is not None:
            return {"sweep_number": number, **measured}
    return row


def choose_noise_sweep(sweep_records: list[dict], preferred: int | None = None) -> int | None:
    """Pick the Noise sweep of a cell from its ACTD sweep records (``CellTypesCache.get_ephys_sweeps``).

    Parameters
    ----------
    sweep_records : list of dict
        Records with ``sweep_number``, ``stimulus_name`` and ``num_spikes``.
    preferred : int, optional
        A sweep to use if it is one of the cell's Noise sweeps (the paper's choice).

    Returns
    -------
    int or None
        ``preferred`` when valid, else the lowest-numbered Noise sweep with spikes, else None.
    """
    noise = sorted((r for r in sweep_records if r.get("stimulus_name") in NOISE_STIMULI),
                   key=lambda r: r["sweep_number"])
    if preferred is not None and any(r["sweep_number"] == preferred for r in noise):
        return int(preferred)
    for record in noise:
        if (record.get("num_spikes") or 0) > 0:
            return int(record["sweep_number"])
    return None


# ----- tables ------------------------------------------------------------------------------------

def _paper_layer(layer) -> str | None:
    """ACTD ``structure__layer`` ("2/3", "6a") in the paper's spelling ("L2/L3", "L6a")."""
    if layer is None or (isinstance(layer, float) and math.isnan(layer)):
        return None
    return "/".join(f"L{part}" for part in str(layer).split("/"))


def paper41_tables(cells: list[dict], ephys_features: pd.DataFrame, noise: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Assemble tables in the layout of ``data/paper41/{mouse,human}_ephys_data.csv``.

    The curation follows the paper's tables (and :func:`neurotype.data.tables.select_cells`):
    sparsely spiny cells out; for mouse, Cre lines outside the five-subclass mapping and
    dendrite types that contradict the line out; cells without a Noise sweep with spikes out.

    Parameters
    ----------
    cells : list of dict
        Raw specimen records (``cells.json``).
    ephys_features : pandas.DataFrame
        ACTD's feature table (``ephys_features.csv``), keyed by ``specimen_id``.
    noise : pandas.DataFrame
        Output rows of :func:`nwb_noise_features` with a ``specimen_id`` column.

    Returns
    -------
    dict
        ``{"mouse": DataFrame, "human": DataFrame}`` with the paper's columns and order.
    """
    from neurotype.data.tables import ACTD_SPECIES, CRE_LINE_SUBCLASS, PAPER41_SUBCLASS_LABELS, PAPER_ACTD_FEATURES
    from neurotype.data.tables import contradicts_line

    label_of = {subclass: label for label, subclass in PAPER41_SUBCLASS_LABELS.items()}
    meta = pd.DataFrame({
        "specimen_id": [int(c["specimen__id"]) for c in cells],
        "species": [ACTD_SPECIES.get(c["donor__species"]) for c in cells],
        "dendrite_type": [c["tag__dendrite_type"] for c in cells],
        "cre_line": [c.get("line_name") for c in cells],
        "reporter_status": [c.get("cell_reporter_status") for c in cells],
        "layer": [_paper_layer(c.get("structure__layer")) for c in cells],
    })
    usable = noise[noise["n_spikes"] > 0]
    table = (meta.merge(usable, on="specimen_id", how="inner")
             .merge(ephys_features[["specimen_id", *PAPER_ACTD_FEATURES]], on="specimen_id", how="inner"))
    table = table[table["dendrite_type"].isin(["spiny", "aspiny"])]
    table["file_name"] = [f"{s}_{int(n)}" for s, n in zip(table["specimen_id"], table["sweep_number"])]
    features = list(SPIKE_FEATURES) + list(PAPER_ACTD_FEATURES)
    mouse = table[table["species"] == "mouse"].copy()
    subclass = mouse["cre_line"].map(CRE_LINE_SUBCLASS)
    keep = subclass.notna() & ~contradicts_line(mouse)
    mouse = mouse[keep].copy()
    mouse["transgenic_line"] = subclass[keep].map(label_of)
    mouse["neurotransmitter"] = np.where(mouse["transgenic_line"] == "Glutamatergic", "Glutamatergic", "GABAergic")
    human = table[table["species"] == "human"].copy()
    return {
        "mouse": mouse[[*PAPER41_META_MOUSE, *features, "file_name"]].reset_index(drop=True),
        "human": human[[*PAPER41_META_HUMAN, *features, "file_name"]].reset_index(drop=True),
    }


def _paper_sweeps(paper41_dir: Path) -> dict[int, int]:
    """Specimen id -> the Noise sweep the paper's bundled tables used."""
    chosen: dict[int, int] = {}
    for species in ("mouse", "human"):
        path = paper41_dir / f"{species}_ephys_data.csv"
        if path.is_file():
            for name in pd.read_csv(path, usecols=["file_name"])["file_name"].astype(str):
                specimen, sweep = name.split("_")
                chosen[int(specimen)] = int(sweep)
    return chosen


# ----- the whole refresh ---------------------------------------------------------------------------

def refresh(out_dir: Path = DEFAULT_OUT, *, with_sweeps: bool = False, force: bool = False,
            reuse_cache: bool = False, keep_nwb: bool = False, limit: int | None = None,
            specimen_ids: list[int] | None = None, log=print) -> dict:
    """Download the ACTD tables (and optionally sweeps) and write the refreshed snapshot.

    Parameters
    ----------
    out_dir : path, default ``data/refresh``
        Where the cache (``out_dir/actd``) and the recomputed tables go.
    with_sweeps : bool
        Also download NWB files and recompute the 14 Noise-sweep features.
    force : bool
        Copy the refreshed ``cells.json``/``ephys_features.csv`` (and, with sweeps, the
        paper41 tables) over the bundled snapshot in ``data/``.
    reuse_cache : bool
        Keep files already in ``out_dir/actd`` instead of downloading them again.
    keep_nwb : bool
        Keep the NWB files after measuring them.
    limit : int, optional
        Process at most this many cells' sweeps (a quick look at the live data).
    specimen_ids : list of int, optional
        Process only these cells' sweeps.
    log : callable
        Progress messages.

    Returns
    -------
    dict
        What was written and how many cells, also saved as ``out_dir/refresh_summary.json``.
    """
    from allensdk.core.cell_types_cache import CellTypesCache
    import allensdk

    out_dir = Path(out_dir)
    cache_dir = out_dir / "actd"
    cache_dir.mkdir(parents=True, exist_ok=True)
    if not reuse_cache:
        # CellTypesCache never re-downloads a file that exists: remove the stale ones first.
        for name in CACHE_FILES:
            (cache_dir / name).unlink(missing_ok=True)
    manifest = cache_dir / MANIFEST_JSON
    cache = CellTypesCache(manifest_file=str(manifest))
    started = time.time()
    cells = cache.get_cells(simple=False)
    features = pd.DataFrame(cache.get_ephys_features())
    log(f"[refresh] {len(cells)} cells and {len(features)} feature rows in {cache_dir}")
    summary: dict = {"allensdk": allensdk.__version__, "cache_dir": str(cache_dir), "cells": len(cells),
                     "ephys_feature_rows": int(len(features)), "written": [str(cache_dir / n) for n in CACHE_FILES]}

    if with_sweeps:
        preferred = _paper_sweeps(paths.PAPER41)
        wanted = [c for c in cells if c.get("tag__dendrite_type") in ("spiny", "aspiny")]
        if specimen_ids:
            keep = set(int(s) for s in specimen_ids)
            wanted = [c for c in wanted if int(c["specimen__id"]) in keep]
        if limit is not None:
            wanted = wanted[:limit]
        rows = []
        for number, cell in enumerate(wanted, start=1):
            specimen = int(cell["specimen__id"])
            row = {"specimen_id": specimen, "stimulus_name": None, "error": None,
                   "sweep_number": None, "n_spikes": 0, **{n: math.nan for n in SPIKE_FEATURES}}
            try:
                sweep = choose_noise_sweep(cache.get_ephys_sweeps(specimen), preferred.get(specimen))
                if sweep is not None:
                    data = cache.get_ephys_data(specimen)
                    row.update(nwb_noise_features(data.file_name, sweep))
                    row["stimulus_name"] = _text(data.get_sweep_metadata(sweep).get("aibs_stimulus_name", ""))
                    if not keep_nwb:
                        Path(data.file_name).unlink(missing_ok=True)
            except Exception as error:  # one cell's failed download or odd sweep must not end a run of thousands
                row["error"] = f"{type(error).__name__}: {error}"
            rows.append(row)
            log(f"[refresh] {number}/{len(wanted)} specimen {specimen}: sweep {row['sweep_number']}, "
                f"{row['n_spikes']} spikes{'; ' + row['error'] if row['error'] else ''}")
        noise = pd.DataFrame(rows)
        noise_path = out_dir / "noise_features.csv"
        noise.to_csv(noise_path, index=False)
        tables = paper41_tables(cells, features, noise)
        table_dir = out_dir / "paper41"
        table_dir.mkdir(parents=True, exist_ok=True)
        for species, table in tables.items():
            table.to_csv(table_dir / f"{species}_ephys_data.csv", index=False)
        summary.update({"noise_cells": int(len(noise)), "noise_cells_with_spikes": int((noise["n_spikes"] > 0).sum()),
                        "noise_cells_failed": int(noise["error"].notna().sum()),
                        "paper41_rows": {k: int(len(v)) for k, v in tables.items()}})
        summary["written"] += [str(noise_path)] + [str(table_dir / f"{s}_ephys_data.csv") for s in tables]

    if force:
        for name in CACHE_FILES:
            shutil.copy2(cache_dir / name, paths.ACTD_CACHE / name)
        if with_sweeps:
            for species in ("mouse", "human"):
                shutil.copy2(out_dir / "paper41" / f"{species}_ephys_data.csv", paths.PAPER41 / f"{species}_ephys_data.csv")
        summary["replaced_bundled_snapshot"] = True
        log(f"[refresh] --force: replaced the bundled snapshot in {paths.DATA}")
    summary["seconds"] = round(time.time() - started, 1)
    (out_dir / "refresh_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurotype.data.refresh", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: data/refresh)")
    parser.add_argument("--with-sweeps", action="store_true", help="download NWB files and recompute the noise-sweep features")
    parser.add_argument("--force", action="store_true", help="replace the bundled snapshot in data/actd and data/paper41")
    parser.add_argument("--reuse-cache", action="store_true", help="keep files already in OUT/actd (resume; offline runs)")
    parser.add_argument("--keep-nwb", action="store_true", help="keep the downloaded NWB files")
    parser.add_argument("--limit", type=int, default=None, help="process at most N cells' sweeps")
    parser.add_argument("--specimen-ids", type=int, nargs="*", default=None, help="process only these cells' sweeps")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be a positive number of cells; got {args.limit}")
    summary = refresh(args.out, with_sweeps=args.with_sweeps, force=args.force, reuse_cache=args.reuse_cache,
                      keep_nwb=args.keep_nwb, limit=args.limit, specimen_ids=args.specimen_ids)
    # One line of JSON last, so scripts (and the tests) can read the summary.
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
