"""Per-cell features from NWB recordings, in ACTD names and units, with ipfx: a lab's own cells.

:func:`extract_features` reads NWB files (:mod:`neurotype.ephys.nwb`), sorts each cell's
current-clamp sweeps into ACTD protocols by stimulus name (:mod:`neurotype.ephys.stimulus_names`,
extendable with a file), and measures the features the saved models use, the way ACTD's
pipeline did, with the same ipfx classes (``LongSquareAnalysis``, ``ShortSquareAnalysis``,
``RampAnalysis``, ``SpikeFeatureExtractor``):

=========================  ===================================================================
protocol                   features (ACTD names; units as in ``neurotype.ephys.features.FEATURE_UNITS``)
=========================  ===================================================================
long squares               ``vrest`` (mean pre-stimulus potential), ``ri`` (slope of the peak
                           deflection of hyperpolarising steps between -100 and 0 pA, MΩ),
                           ``tau`` (ms), ``sag`` and ``vm_for_sag`` (the step closest to
                           -100 mV), ``f_i_curve_slope``; from the rheobase sweep (the smallest
                           step that fires) the first spike's ``*_long_square`` features, whose
                           ``threshold_i_long_square`` is the rheobase; from the "hero" sweep
                           (rheobase + 40 to 60 pA) ``adaptation``, ``latency`` (s), ``avg_isi``
                           (ms)
short squares              ``threshold_i_short_square`` (the most common amplitude that fires)
                           and the mean first-spike ``*_short_square`` features
ramp                       the mean first-spike ``*_ramp`` features
noise                      the paper's 14 spike features, averaged over the spikes of the first
                           Noise sweep that fires (:func:`neurotype.ephys.features.sweep_spike_features`)
=========================  ===================================================================

Two features are never measured here: ``seal_gohm`` and ``input_resistance_mohm`` come from
ACTD's voltage-clamp seal test and break-in sweep, not from current clamp; they are NaN (a saved
model imputes them and says so). ``has_burst``, ``has_delay`` and ``has_pause`` are 0: ACTD's
table holds False for all 2,333 cells (its pipeline never set them), so 0 is what a model trained
on ACTD has seen.

Nothing fails as a whole when a part fails. Each cell is one row: a bad sweep (wrong units,
truncated, unreadable, no stimulus stored) is left out; a missing protocol or an analysis ipfx
cannot do costs only its features. Those are NaN, listed in ``failed_features``, and the row's
``qc`` column says why. A file that is not NWB, or is truncated, gives one failed row and one
log line; the batch goes on.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from neurotype.data.tables import ACTD_FEATURES, PAPER41_FEATURES
from neurotype.ephys.features import DEFAULT_FILTER_KHZ, SPIKE_FEATURES, SweepError, sweep_spike_features, validate_sweep
from neurotype.ephys.nwb import NWBFileError, Recording, Sweep, read_nwb
from neurotype.ephys.stimulus_names import IGNORE, PROTOCOLS, StimulusMap, load_stimulus_map

__all__ = [
    "FEATURES",
    "PROTOCOL_FEATURES",
    "VOLTAGE_CLAMP_FEATURES",
    "ID_COLUMNS",
    "QC_COLUMNS",
    "StimulusWindow",
    "CellFeatures",
    "stimulus_window",
    "cell_features",
    "extract_features",
    "nwb_files",
    "nwb_cells",
]

logger = logging.getLogger(__name__)

#: Every feature of the ``paper41`` and ``actd`` feature sets, in that order.
FEATURES: tuple[str, ...] = tuple(dict.fromkeys(PAPER41_FEATURES + ACTD_FEATURES))
_FIRST_SPIKE = ("fast_trough_v", "peak_v", "threshold_i", "threshold_v", "trough_v", "upstroke_downstroke_ratio")
_LONG_SQUARE_SPIKE = tuple(f"{name}_long_square" for name in _FIRST_SPIKE)
_SUBTHRESHOLD = ("ri", "tau")
_SAG = ("sag", "vm_for_sag")
_HERO = ("adaptation", "latency", "avg_isi")
_SPIKE_TRAIN_FLAGS = ("has_burst", "has_delay", "has_pause")
#: The features each protocol yields.
PROTOCOL_FEATURES: dict[str, tuple[str, ...]] = {
    "long_square": ("vrest", *_SUBTHRESHOLD, *_SAG, "f_i_curve_slope", *_LONG_SQUARE_SPIKE, *_HERO, *_SPIKE_TRAIN_FLAGS),
    "short_square": tuple(f"{name}_short_square" for name in _FIRST_SPIKE),
    "ramp": tuple(f"{name}_ramp" for name in _FIRST_SPIKE),
    "noise": SPIKE_FEATURES,
}
#: ACTD measures these in voltage clamp (seal test, break-in); they are not extracted.
VOLTAGE_CLAMP_FEATURES: tuple[str, ...] = ("input_resistance_mohm", "seal_gohm")
ID_COLUMNS: tuple[str, ...] = ("cell_id", "file")
QC_COLUMNS: tuple[str, ...] = ("sweeps_used", "failed_features", "qc")

# ipfx's long-square conventions (ipfx.data_set_features): the hyperpolarising steps used for
# input resistance and tau lie above this amplitude (pA), chosen from the step size.
_SUBTHRESHOLD_MIN_AMP = {20.0: -100.0, 40.0: -200.0}
_DEFAULT_SUBTHRESHOLD_MIN_AMP = -100.0
# A first pulse this short, followed by another, is the test pulse most rigs put at a sweep's start.
_TEST_PULSE_MAX_S = 0.1
# ipfx's baseline window before a step (SpikeTrainFeatureExtractor.baseline_interval).
_BASELINE_S = 0.1
_SHORT_SQUARE_ESTIMATE_S = 0.001


# ----- one sweep -------------------------------------------------------------------------------

@dataclass(frozen=True)
class StimulusWindow:
    """When a sweep's stimulus is on, and how strong it is.

    Attributes
    ----------
    start, end : float
        Stimulus onset and offset in s (``end`` is the first sample after it).
    amplitude : float
        pA: the step level of a square, the final current of a ramp, the mean of noise.
    test_pulse : bool
        A test pulse before the stimulus was recognised and left out.
    """

    start: float
    end: float
    amplitude: float
    test_pulse: bool


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def stimulus_window(sweep: Sweep, protocol: str) -> StimulusWindow:
    """Find the stimulus of one sweep, after any test pulse, and check its shape for ``protocol``.

    Parameters
    ----------
    sweep : Sweep
    protocol : {"long_square", "short_square", "ramp", "noise"}

    Returns
    -------
    StimulusWindow

    Raises
    ------
    SweepError
        No current injected; a square that is not one flat step; a step still on when the
        recording stops (a truncated sweep); less than 0.1 s of baseline before a long square; a
        ramp that does not rise.
    """
    t, i = sweep.t, sweep.i
    deviation = np.abs(i - i[0])
    largest = float(deviation.max())
    if largest <= 0:
        raise SweepError(f"no current was injected (the stimulus stays at {i[0]:.4g} pA)")
    segments = _runs(deviation > largest * 1e-6)
    dt = float(t[1] - t[0])
    test_pulse = False
    if len(segments) >= 2 and (segments[0][1] - segments[0][0] + 1) * dt <= _TEST_PULSE_MAX_S:
        segments, test_pulse = segments[1:], True
    first, last = segments[0][0], segments[-1][1]
    window = i[first:last + 1]
    name = protocol.replace("_", " ")
    if protocol in ("long_square", "short_square"):
        if len(segments) != 1:
            raise SweepError(f"a {name} is one current step, but the stimulus has {len(segments)} separate pulses")
        amplitude = float(np.median(window))
        if np.ptp(window) > 1e-3 * abs(amplitude) + 1e-6:
            raise SweepError(f"a {name} is a flat step, but the current varies from {window.min():.4g} to "
                             f"{window.max():.4g} pA")
        if last == i.size - 1:
            raise SweepError(f"the recording stops at {t[-1] + dt:.4g} s while the {amplitude:.4g} pA step is still on "
                             "(a truncated sweep?)")
        if protocol == "long_square" and t[first] < _BASELINE_S:
            raise SweepError(f"the step starts at {t[first]:.4g} s; a long square needs {_BASELINE_S} s of baseline "
                             "before it")
    elif protocol == "ramp":
        amplitude = float(window[-1])
        if len(segments) != 1 or not amplitude > window[0]:
            raise SweepError(f"a ramp rises steadily from 0 pA, but this stimulus goes from {window[0]:.4g} to "
                             f"{amplitude:.4g} pA in {len(segments)} piece(s)")
    else:
        amplitude = float(np.mean(np.concatenate([i[a:b + 1] for a, b in segments])))
    return StimulusWindow(start=float(t[first]), end=float(t[last]) + dt, amplitude=amplitude, test_pulse=test_pulse)


def _filter_khz(sampling_rate: float) -> float:
    """ACTD's 10 kHz Bessel filter, lowered for recordings sampled too slowly for it."""
    return min(DEFAULT_FILTER_KHZ, 0.4 * sampling_rate / 1e3)


@contextlib.contextmanager
def _quiet():
    """Silence ipfx's root-logger warnings and numpy's RuntimeWarnings while it runs (results carry NaN instead)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _ipfx_sweep(sweep: Sweep):
    from ipfx.sweep import Sweep as IpfxSweep

    last = sweep.t.size - 1
    # Epochs given explicitly: ipfx's own test-pulse guess misreads sweeps without a test pulse.
    epochs = {"test": None, "sweep": (0, last), "recording": (0, last), "stim": None, "experiment": (0, last)}
    return IpfxSweep(sweep.t, sweep.v, sweep.i, "CurrentClamp", sweep.sampling_rate, sweep.number, epochs=epochs)


def _sweep_set(prepared: Sequence["_Prepared"]):
    from ipfx.sweep import SweepSet

    return SweepSet([_ipfx_sweep(p.sweep) for p in prepared])


# ----- one cell --------------------------------------------------------------------------------

@dataclass
class _Prepared:
    sweep: Sweep
    window: StimulusWindow

    @property
    def label(self) -> str:
        return f"sweep {self.sweep.number} ({self.sweep.stimulus_name or 'no name'})"


@dataclass
class CellFeatures:
    """The features of one cell, and what could not be measured.

    Attributes
    ----------
    cell_id, file : str
    values : dict
        Feature -> value for every name in :data:`FEATURES` (NaN when not measured).
    reasons : dict
        Feature -> why it is NaN.
    notes : list of str
        Sweeps left out and other remarks, in the order met.
    sweeps_used : int
        Sweeps that entered an analysis.
    """

    cell_id: str
    file: str
    values: dict[str, float] = field(default_factory=lambda: {name: np.nan for name in FEATURES})
    reasons: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sweeps_used: int = 0

    def fail(self, features: Iterable[str], reason: str) -> None:
        """Mark ``features`` NaN with ``reason`` (the first reason given for a feature is kept)."""
        for name in features:
            self.values[name] = np.nan
            self.reasons.setdefault(name, reason)

    def set(self, name: str, value, reason_if_missing: str) -> None:
        """Store ``value``, or NaN with a reason when ipfx gave None or NaN."""
        number = np.nan if value is None else float(value)
        if np.isfinite(number):
            self.values[name] = number
        else:
            self.fail([name], reason_if_missing)

    @property
    def failed_features(self) -> list[str]:
        return [name for name in FEATURES if not np.isfinite(self.values[name])]

    @property
    def qc(self) -> str:
        grouped: dict[str, list[str]] = {}
        for name in self.failed_features:
            grouped.setdefault(self.reasons.get(name, "not measured"), []).append(name)
        if len(grouped) == 1 and len(self.failed_features) == len(FEATURES):  # the whole cell failed for one reason
            return " | ".join([*self.notes, *grouped])
        parts = [f"{', '.join(names)}: {reason}" for reason, names in grouped.items()]
        return " | ".join([*self.notes, *parts])

    def row(self) -> dict:
        """One row of the features table."""
        return {"cell_id": self.cell_id, "file": self.file, **self.values, "sweeps_used": self.sweeps_used,
                "failed_features": ";".join(self.failed_features), "qc": self.qc}


def _prepare(recording: Recording, stimulus_map: StimulusMap, cell: CellFeatures) -> dict[str, list[_Prepared]]:
    """Sort the sweeps by protocol; leave out (with a note) those that are unreadable, unknown or malformed."""
    for skipped in recording.skipped:
        cell.notes.append(f"sweep {skipped.number} ({skipped.stimulus_name or 'no name'}) left out: {skipped.reason}")
    by_protocol: dict[str, list[_Prepared]] = {protocol: [] for protocol in PROTOCOLS}
    unknown: dict[str, list[int]] = {}
    for sweep in recording.sweeps:
        protocol = stimulus_map.protocol_of(sweep.stimulus_name)
        if protocol is None:
            unknown.setdefault(sweep.stimulus_name, []).append(sweep.number)
            continue
        if protocol == IGNORE:
            continue
        try:
            validate_sweep(sweep.t, sweep.v, sweep.i)
            window = stimulus_window(sweep, protocol)
        except SweepError as error:
            cell.notes.append(f"sweep {sweep.number} ({sweep.stimulus_name}) left out: {error}")
            continue
        by_protocol[protocol].append(_Prepared(sweep, window))
    for name, numbers in unknown.items():
        cell.notes.append(f"unrecognised stimulus name {name!r} (sweep{'s' if len(numbers) > 1 else ''} "
                          f"{', '.join(map(str, numbers))}); add it to a --stimulus-map file if it is one of "
                          f"{', '.join(PROTOCOLS)}")
    return by_protocol


def _same_window(prepared: list[_Prepared], cell: CellFeatures, protocol: str) -> list[_Prepared]:
    """Keep the sweeps whose stimulus starts and ends when most of them do (ipfx analyses one window per protocol)."""
    key = lambda p: (round(p.window.start, 3), round(p.window.end, 3))  # noqa: E731 - 1 ms tolerance
    common, _ = Counter(key(p) for p in prepared).most_common(1)[0]
    kept = [p for p in prepared if key(p) == common]
    for p in prepared:
        if key(p) != common:
            cell.notes.append(f"{p.label} left out: its {protocol.replace('_', ' ')} runs from {p.window.start:.4g} to "
                              f"{p.window.end:.4g} s, the others' from {common[0]:.4g} to {common[1]:.4g} s")
    return kept


def _process_each(spike_extractor, prepared: list[_Prepared], cell: CellFeatures) -> list[_Prepared]:
    """Keep the sweeps ipfx's spike detection can process; note the others."""
    kept = []
    for p in prepared:
        try:
            with _quiet():
                spike_extractor.process(p.sweep.t, p.sweep.v, p.sweep.i)
            kept.append(p)
        except Exception as error:  # ipfx raises FeatureError, IndexError, ValueError on odd traces
            cell.notes.append(f"{p.label} left out: ipfx cannot detect its spikes ({type(error).__name__}: {error})")
    return kept


def _long_squares(prepared: list[_Prepared], cell: CellFeatures) -> None:
    from ipfx import spike_train_features as spike_train
    from ipfx.data_set_features import extractors_for_sweeps
    from ipfx.stimulus_protocol_analysis import LongSquareAnalysis

    features = PROTOCOL_FEATURES["long_square"]
    if not prepared:
        cell.fail(features, "no usable long square sweep")
        return
    prepared = _same_window(prepared, cell, "long_square")
    window = prepared[0].window
    filter_khz = min(_filter_khz(p.sweep.sampling_rate) for p in prepared)
    amplitudes = sorted(p.window.amplitude for p in prepared)
    steps = np.unique(np.round(np.diff(amplitudes), 0))
    steps = steps[steps > 0]
    min_amp = _SUBTHRESHOLD_MIN_AMP.get(float(steps.min()), _DEFAULT_SUBTHRESHOLD_MIN_AMP) if steps.size else \
        _DEFAULT_SUBTHRESHOLD_MIN_AMP

    def analysis():
        spikes, train = extractors_for_sweeps(None, start=window.start, end=window.end, filter_frequency=filter_khz)
        return spikes, LongSquareAnalysis(spikes, train, subthresh_min_amp=min_amp, require_subthreshold=False,
                                          require_suprathreshold=False)

    spikes, lsa = analysis()
    try:
        with _quiet():
            lsa.analyze_basic_features(_sweep_set(prepared), extra_sweep_features=["peak_deflect", "stim_amp",
                                                                                   "v_baseline", "sag"])
    except Exception:  # one sweep ipfx cannot process: find it, leave it out, go on with the rest
        prepared = _process_each(spikes, prepared, cell)
        if not prepared:
            cell.fail(features, "ipfx could not process any long square")
            return
        spikes, lsa = analysis()
        with _quiet():
            lsa.analyze_basic_features(_sweep_set(prepared), extra_sweep_features=["peak_deflect", "stim_amp",
                                                                                   "v_baseline", "sag"])
    cell.sweeps_used += len(prepared)
    sweep_table = lsa.all_sweep_features()
    cell.set("vrest", np.nanmean(sweep_table["v_baseline"].to_numpy(dtype=float)), "no baseline before the steps")
    for name in _SPIKE_TRAIN_FLAGS:
        cell.values[name] = 0.0  # ACTD's value for every cell (module docstring)

    with _quiet():
        subthreshold = lsa.analyze_subthreshold(_sweep_set(prepared)) if not sweep_table.empty else {}
    if "sag" in subthreshold:
        cell.set("sag", subthreshold["sag"], "ipfx could not measure the sag")
        cell.set("vm_for_sag", subthreshold["vm_for_sag"], "ipfx could not measure the sag")
    else:
        cell.fail(_SAG, "no long square without spikes")
    if "input_resistance" in subthreshold:
        cell.set("ri", subthreshold["input_resistance"], "ipfx could not fit the input resistance")
        cell.set("tau", subthreshold["tau"] * 1e3, "ipfx could not fit the membrane time constant")
    else:
        cell.fail(_SUBTHRESHOLD, f"no hyperpolarising long square between {min_amp:g} and 0 pA without spikes")

    spiking = lsa.suprathreshold_sweep_features()
    spiking = spiking[spiking["stim_amp"] > 0]
    if spiking.empty:
        cell.fail((*_LONG_SQUARE_SPIKE, "f_i_curve_slope", *_HERO), "no depolarising long square made the cell fire")
        return
    rheobase = lsa.find_rheobase_sweep(spiking)
    rheobase_sweep = prepared[int(rheobase.name)].sweep
    with _quiet():
        first_spike = spikes.process(rheobase_sweep.t, rheobase_sweep.v, rheobase_sweep.i).iloc[0]
    for name in _FIRST_SPIKE:
        cell.set(f"{name}_long_square", first_spike.get(name), f"ipfx could not measure {name} on the rheobase sweep")
    try:
        with _quiet():
            slope = spike_train.fit_fi_slope(spiking["stim_amp"].to_numpy(float), spiking["avg_rate"].to_numpy(float))
        cell.set("f_i_curve_slope", slope, "the f-I fit failed")
    except Exception as error:  # ipfx FeatureError: fewer than two firing steps
        cell.fail(["f_i_curve_slope"], f"needs two long squares that fire ({error})")
    hero = lsa.find_hero_sweep(rheobase["stim_amp"], spiking)
    cell.set("adaptation", hero.get("adapt"), "too few spikes on the hero sweep for an adaptation index")
    cell.set("latency", hero.get("latency"), "ipfx could not measure the latency on the hero sweep")
    mean_isi = hero.get("mean_isi")
    cell.set("avg_isi", None if mean_isi is None else mean_isi * 1e3, "fewer than two spikes on the hero sweep")


def _first_spike_protocol(protocol: str, prepared: list[_Prepared], cell: CellFeatures) -> None:
    from ipfx.data_set_features import extractors_for_sweeps
    from ipfx.stimulus_protocol_analysis import RampAnalysis, ShortSquareAnalysis

    features = PROTOCOL_FEATURES[protocol]
    name = protocol.replace("_", " ")
    if not prepared:
        cell.fail(features, f"no usable {name} sweep")
        return
    filter_khz = min(_filter_khz(p.sweep.sampling_rate) for p in prepared)

    def analyse(sweeps: list[_Prepared]):
        start = sweeps[0].window.start
        if protocol == "short_square":  # ipfx's short-square settings (data_set_features)
            spikes, train = extractors_for_sweeps(_sweep_set(sweeps), est_window=[start, start + _SHORT_SQUARE_ESTIMATE_S],
                                                  thresh_frac_floor=0.1, filter_frequency=filter_khz)
            return spikes, ShortSquareAnalysis(spikes, train)
        spikes, train = extractors_for_sweeps(None, start=start, filter_frequency=filter_khz)
        return spikes, RampAnalysis(spikes, train)

    try:
        spikes, analysis = analyse(prepared)
        with _quiet():
            result = analysis.analyze(_sweep_set(prepared))
    except Exception as error:
        message = str(error)
        if "No spiking" in message:
            cell.fail(features, f"no {name} made the cell fire")
            return
        spikes, _ = analyse(prepared)
        kept = _process_each(spikes, prepared, cell)
        if len(kept) == len(prepared) or not kept:
            cell.fail(features, f"ipfx could not analyse the {name} sweeps ({type(error).__name__}: {error})")
            return
        prepared = kept
        try:
            spikes, analysis = analyse(prepared)
            with _quiet():
                result = analysis.analyze(_sweep_set(prepared))
        except Exception as error_again:
            cell.fail(features, f"ipfx could not analyse the {name} sweeps ({type(error_again).__name__}: {error_again})")
            return
    cell.sweeps_used += len(prepared)
    mean_first = result.get("mean_spike_0") or {}
    if not any(np.isfinite(v) for v in mean_first.values() if v is not None):
        cell.fail(features, f"no {name} made the cell fire")
        return
    for feature in _FIRST_SPIKE:
        cell.set(f"{feature}_{protocol}", mean_first.get(feature), f"ipfx could not measure {feature} on the {name}")
    if protocol == "short_square":
        cell.set("threshold_i_short_square", result.get("stimulus_amplitude"), "no short square made the cell fire")


def _noise(prepared: list[_Prepared], cell: CellFeatures) -> None:
    if not prepared:
        cell.fail(SPIKE_FEATURES, "no usable noise sweep")
        return
    silent = []
    for p in sorted(prepared, key=lambda p: p.sweep.number):
        try:
            with _quiet():
                values = sweep_spike_features(p.sweep.t, p.sweep.v, p.sweep.i, start=p.window.start,
                                              end=min(p.window.end, float(p.sweep.t[-1])),
                                              filter_khz=_filter_khz(p.sweep.sampling_rate), if_no_spikes="nan")
        except SweepError as error:
            cell.notes.append(f"{p.label} left out: {error}")
            continue
        if values.attrs["n_spikes"] == 0:
            silent.append(p.sweep.number)
            continue
        cell.sweeps_used += 1
        for name in SPIKE_FEATURES:
            cell.set(name, values[name], f"ipfx could not measure {name} on noise sweep {p.sweep.number}")
        return
    reason = (f"no noise sweep made the cell fire (sweeps {', '.join(map(str, silent))})" if silent
              else "no usable noise sweep")
    cell.fail(SPIKE_FEATURES, reason)


def cell_features(recording: Recording, stimulus_map: StimulusMap | None = None) -> CellFeatures:
    """Measure one cell's features from its recording.

    Parameters
    ----------
    recording : Recording
        As :func:`neurotype.ephys.nwb.read_nwb` returns it.
    stimulus_map : StimulusMap, optional
        Default: :func:`~neurotype.ephys.stimulus_names.load_stimulus_map` without extra names.

    Returns
    -------
    CellFeatures
    """
    stimulus_map = load_stimulus_map() if stimulus_map is None else stimulus_map
    cell = CellFeatures(cell_id=recording.cell_id, file=str(recording.path))
    by_protocol = _prepare(recording, stimulus_map, cell)
    _long_squares(by_protocol["long_square"], cell)
    _first_spike_protocol("short_square", by_protocol["short_square"], cell)
    _first_spike_protocol("ramp", by_protocol["ramp"], cell)
    _noise(by_protocol["noise"], cell)
    cell.fail(VOLTAGE_CLAMP_FEATURES, "ACTD measures it in voltage clamp (seal test, break-in); not extracted")
    return cell


# ----- many files ------------------------------------------------------------------------------

def nwb_files(paths: Iterable[Path | str]) -> list[Path]:
    """Expand folders into the ``*.nwb`` files under them (sorted); keep files as given.

    Raises
    ------
    FileNotFoundError
        A path that does not exist, or a folder without NWB files (the message names it).
    """
    files: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() == ".nwb" and p.is_file())
            if not found:
                raise FileNotFoundError(f"{item}: folder without .nwb files")
            files += found
        elif item.exists():
            files.append(item)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return files


def _failed_row(path: Path, reason: str) -> dict:
    cell = CellFeatures(cell_id=path.stem, file=str(path))
    cell.fail(FEATURES, reason)
    return cell.row()


def extract_features(paths: Iterable[Path | str], *, stimulus_map: StimulusMap | Path | str | None = None,
                     progress: bool = False) -> pd.DataFrame:
    """One row of features per NWB file; never stops on a bad file.

    Parameters
    ----------
    paths : iterable of path-like
        NWB files (NWB 2 or ACTD's NWB 1), one cell each, or folders holding them.
    stimulus_map : StimulusMap or path-like, optional
        Extra stimulus names (a YAML file, see ``stimulus_names.yml``) or a loaded map.
    progress : bool, default False
        Show a progress bar on standard error.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell_id``, ``file``, every name in :data:`FEATURES` (ACTD units), ``sweeps_used``,
        ``failed_features`` (``;``-separated names of the NaN features) and ``qc`` (why they are NaN,
        and which sweeps were left out). A file that cannot be read gives a row of NaNs and one
        warning on the ``neurotype.ephys.extract`` logger.
    """
    if not isinstance(stimulus_map, StimulusMap):
        stimulus_map = load_stimulus_map(stimulus_map)
    files = nwb_files(paths)
    rows = []
    from tqdm import tqdm

    for path in tqdm(files, desc="features", unit="file", disable=not progress, file=sys.stderr):
        try:
            recording = read_nwb(path)
        except NWBFileError as error:
            logger.warning(str(error))
            rows.append(_failed_row(path, str(error).removeprefix(f"{path}: ")))
            continue
        try:
            cell = cell_features(recording, stimulus_map)
        except Exception as error:  # a bug or an ipfx failure we did not foresee: one failed row, not a dead batch
            logger.warning(f"{path}: feature extraction failed ({type(error).__name__}: {error})")
            rows.append(_failed_row(path, f"feature extraction failed ({type(error).__name__}: {error})"))
            continue
        missing = [n for n in cell.failed_features if n not in VOLTAGE_CLAMP_FEATURES]
        if len(missing) == len(FEATURES) - len(VOLTAGE_CLAMP_FEATURES):
            logger.warning(f"{path}: no feature could be measured ({cell.qc.split(' | ')[0]}; see the qc column)")
        elif missing:
            logger.info(f"{path}: {len(missing)} of {len(FEATURES) - len(VOLTAGE_CLAMP_FEATURES)} features missing "
                        "(see the qc column)")
        rows.append(cell.row())
    columns = [*ID_COLUMNS, *FEATURES, *QC_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def nwb_cells(paths: Iterable[Path | str], features: Sequence[str], *,
              stimulus_map: StimulusMap | Path | str | None = None, progress: bool = False) -> pd.DataFrame:
    """The cells table ``neurotype predict`` reads from a CSV, made from NWB files.

    The table of :func:`extract_features` (so ``predict --nwb`` writes what ``features`` followed by
    ``predict --input`` writes), less the cells for which none of ``features`` could be measured:
    those are left out with a warning (a prediction from imputed values alone would be noise).

    Raises
    ------
    ValueError
        No file gave any of ``features``.
    """
    table = extract_features(paths, stimulus_map=stimulus_map, progress=progress)
    empty = table[list(features)].isna().all(axis=1)
    already_logged = table[[f for f in FEATURES if f not in VOLTAGE_CLAMP_FEATURES]].isna().all(axis=1)
    for _, row in table[empty & ~already_logged].iterrows():
        logger.warning(f"{row['file']}: left out, none of the model's features could be measured (see the qc "
                       "column of `neurotype features`)")
    if empty.all():
        raise ValueError(f"none of the {len(table)} NWB file(s) gave any of the model's features "
                         "(run `neurotype features` and read its qc column)")
    return table[~empty].reset_index(drop=True)
