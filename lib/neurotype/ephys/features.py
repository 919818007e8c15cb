"""Action-potential features of one current-clamp sweep, extracted with ipfx.

The paper's 41 features include 14 that describe the spikes of one noise sweep, averaged over
the sweep's spikes (Ophir et al. 2024, supplementary section 1). This module computes those 14
with ipfx's :class:`~ipfx.feature_extractor.SpikeFeatureExtractor`, the Allen Institute's
maintained successor of the extractor that produced the ACTD features, and names them as the
paper's table does. Units follow that table:

=========================  ========  =====================================================
feature                    unit      meaning (mean over the sweep's spikes)
=========================  ========  =====================================================
threshold_v                mV        membrane potential at spike threshold
threshold_i                pA        injected current at threshold
peak_v, peak_i             mV, pA    potential and current at the spike peak
trough_v, trough_i         mV, pA    minimum between this spike and the next (or sweep end)
upstroke                   mV/ms     maximal dV/dt on the rising phase (= V/s)
upstroke_v                 mV        membrane potential where that maximum occurs
downstroke                 mV/ms     minimal (most negative) dV/dt on the falling phase
downstroke_v               mV        membrane potential where that minimum occurs
fast_trough_v/_i           mV, pA    at the fast trough, where the spike's repolarisation ends
width                      s         full width half way up from the fast trough to the peak
upstroke_downstroke_ratio  --        upstroke / -downstroke
=========================  ========  =====================================================

(ipfx measures the width from threshold instead of the fast trough when the trough-based level
would fall below threshold, as in bursts.)

Input is checked before ipfx sees it: arrays of unequal length, NaNs, a time axis in
milliseconds, a potential in volts or a current in nA or A raise a :class:`SweepError` (a
``ValueError``) that names the problem and the offending value. A sweep without spikes raises
:class:`NoSpikesError` or, with ``if_no_spikes="nan"``, returns the documented empty result: all
14 features NaN.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "SPIKE_FEATURES",
    "SPIKE_FEATURE_UNITS",
    "FEATURE_UNITS",
    "SweepError",
    "SweepShapeError",
    "SweepValueError",
    "SweepUnitError",
    "NoSpikesError",
    "validate_sweep",
    "detect_spikes",
    "sweep_spike_features",
    "DEFAULT_FILTER_KHZ",
]

#: The 14 noise-sweep spike features, in the column order of the paper's table.
SPIKE_FEATURES: tuple[str, ...] = (
    "threshold_v", "threshold_i", "peak_v", "peak_i", "trough_v", "trough_i", "upstroke", "upstroke_v",
    "downstroke", "downstroke_v", "fast_trough_v", "fast_trough_i", "width", "upstroke_downstroke_ratio",
)

SPIKE_FEATURE_UNITS: dict[str, str] = {
    "threshold_v": "mV", "threshold_i": "pA", "peak_v": "mV", "peak_i": "pA", "trough_v": "mV",
    "trough_i": "pA", "upstroke": "mV/ms", "upstroke_v": "mV", "downstroke": "mV/ms", "downstroke_v": "mV",
    "fast_trough_v": "mV", "fast_trough_i": "pA", "width": "s", "upstroke_downstroke_ratio": "1",
}

#: Units of all 41 features of the paper's tables (the 14 above plus the 27 ACTD features) and of
#: the five further ACTD features of the ``actd`` feature set.
FEATURE_UNITS: dict[str, str] = {
    **SPIKE_FEATURE_UNITS,
    "f_i_curve_slope": "spikes/s/pA", "input_resistance_mohm": "MΩ", "ri": "MΩ", "latency": "s", "sag": "1",
    "seal_gohm": "GΩ", "tau": "ms", "vm_for_sag": "mV", "vrest": "mV",
    **{f"{quantity}_{protocol}": unit
       for protocol in ("long_square", "ramp", "short_square")
       for quantity, unit in (("fast_trough_v", "mV"), ("peak_v", "mV"), ("threshold_i", "pA"), ("threshold_v", "mV"),
                              ("trough_v", "mV"), ("upstroke_downstroke_ratio", "1"))},
    "adaptation": "1", "avg_isi": "ms", "has_burst": "0/1", "has_delay": "0/1", "has_pause": "0/1",
}

#: Cut-off of the 4-pole Bessel filter applied before differentiating (kHz); the ACTD pipeline's value.
DEFAULT_FILTER_KHZ = 10.0

# Plausibility bounds used to catch unit mistakes. A membrane potential in mV spans tens of mV;
# one in volts stays below 1 in magnitude. ACTD currents are tens to thousands of pA.
_MAX_ABS_MV = 500.0
_MIN_PEAK_ABS_MV = 1.0
_MIN_NONZERO_PA = 1.0
_MAX_ABS_PA = 1.0e5
_MIN_SAMPLING_RATE = 10_000.0


class SweepError(ValueError):
    """A sweep that cannot be analysed; the message names the problem and the value."""


class SweepShapeError(SweepError):
    """Arrays of different lengths, not 1-D, or too short."""


class SweepValueError(SweepError):
    """NaN or infinite samples, a time axis that does not increase, or a bad analysis window."""


class SweepUnitError(SweepError):
    """Values whose magnitude shows the wrong unit (V instead of mV, nA or A instead of pA, ms instead of s)."""


class NoSpikesError(SweepError):
    """The sweep holds no action potential (inside the analysis window)."""


def _as_1d(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise SweepShapeError(f"{name} must be a 1-D array; got shape {array.shape}")
    return array


def _check_finite(name: str, unit: str, array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise SweepValueError(f"{name} ({unit}) has {int(bad.sum())} NaN or infinite samples; the first at index "
                              f"{first} is {array[first]!r}")


def validate_sweep(t, v, i, *, check_units: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a sweep's arrays and return them as float arrays.

    Parameters
    ----------
    t : array-like
        Sample times in seconds, increasing at a fixed interval of at most 100 µs.
    v : array-like
        Membrane potential in mV.
    i : array-like
        Injected current in pA.
    check_units : bool, default True
        Reject magnitudes that betray the wrong unit (see Raises).

    Returns
    -------
    t, v, i : numpy.ndarray

    Raises
    ------
    SweepShapeError
        The arrays are not 1-D, differ in length, or have fewer than 3 samples.
    SweepValueError
        NaN or infinite samples, or a time axis that does not strictly increase.
    SweepUnitError
        Sampling interval over 100 µs (time in ms?), ``|v|`` never reaching 1 (volts?) or exceeding
        500 (µV?), a non-zero current never reaching 1 (nA or A?) or exceeding 10⁵ (fA?).
    """
    t, v, i = _as_1d("t", t), _as_1d("v", v), _as_1d("i", i)
    if not (t.size == v.size == i.size):
        raise SweepShapeError(f"t, v and i must have the same length; got {t.size}, {v.size} and {i.size} samples")
    if t.size < 3:
        raise SweepShapeError(f"a sweep needs at least 3 samples; got {t.size}")
    for name, unit, array in (("t", "s", t), ("v", "mV", v), ("i", "pA", i)):
        _check_finite(name, unit, array)
    steps = np.diff(t)
    if np.any(steps <= 0):
        first = int(np.flatnonzero(steps <= 0)[0])
        raise SweepValueError(f"t must strictly increase; t[{first + 1}] = {t[first + 1]!r} follows t[{first}] = {t[first]!r}")
    dt = float(np.median(steps))
    if not np.allclose(steps, dt, rtol=1e-3, atol=0.0):
        raise SweepValueError(f"t must be sampled at a fixed interval; steps range from {steps.min()!r} to {steps.max()!r} s")
    if not check_units:
        return t, v, i
    if 1.0 / dt < _MIN_SAMPLING_RATE:
        raise SweepUnitError(f"sampling interval {dt!r} (t in s) means {1.0 / dt:.4g} Hz, too slow to resolve a spike "
                             f"(need >= {_MIN_SAMPLING_RATE:.0f} Hz); if t is in milliseconds, divide it by 1000")
    v_peak = float(np.max(np.abs(v)))
    if v_peak < _MIN_PEAK_ABS_MV:
        raise SweepUnitError(f"v (mV) never exceeds {v_peak:.3g} in magnitude, which looks like volts; multiply by 1000")
    if v_peak > _MAX_ABS_MV:
        raise SweepUnitError(f"v (mV) reaches {v_peak:.4g} in magnitude, beyond any membrane potential; "
                             "is it in µV (divide by 1000)?")
    i_peak = float(np.max(np.abs(i)))
    if 0.0 < i_peak < _MIN_NONZERO_PA:
        raise SweepUnitError(f"i (pA) never exceeds {i_peak:.3g} in magnitude, which looks like nA (multiply by 1e3) "
                             "or A (multiply by 1e12); ACTD stimuli are tens to thousands of pA")
    if i_peak > _MAX_ABS_PA:
        raise SweepUnitError(f"i (pA) reaches {i_peak:.4g} in magnitude, beyond any patch-clamp stimulus; "
                             "is it in fA (divide by 1000)?")
    return t, v, i


def _check_window(t: np.ndarray, start: float | None, end: float | None) -> None:
    if start is not None and not (t[0] <= start < t[-1]):
        raise SweepValueError(f"start = {start!r} s lies outside the sweep ({t[0]!r} to {t[-1]!r} s)")
    if end is not None and not (t[0] < end <= t[-1] + (t[1] - t[0])):
        raise SweepValueError(f"end = {end!r} s lies outside the sweep ({t[0]!r} to {t[-1]!r} s)")
    if start is not None and end is not None and end <= start:
        raise SweepValueError(f"end = {end!r} s must come after start = {start!r} s")


def detect_spikes(t, v, i, *, start: float | None = None, end: float | None = None,
                  filter_khz: float = DEFAULT_FILTER_KHZ, check_units: bool = True) -> pd.DataFrame:
    """Detect action potentials and measure each one with ipfx.

    Parameters
    ----------
    t, v, i : array-like
        Time (s), membrane potential (mV) and injected current (pA) of one sweep.
    start, end : float, optional
        Analysis window in seconds (default: the whole sweep).
    filter_khz : float, default 10
        Bessel low-pass cut-off applied before computing dV/dt; must be below half the sampling rate.
    check_units : bool, default True
        Passed to :func:`validate_sweep`.

    Returns
    -------
    pandas.DataFrame
        One row per spike with ipfx's columns (``threshold_t``, ``peak_t``, ``threshold_v`` ...);
        empty (no rows) when there is no spike.

    Raises
    ------
    SweepError
        Bad input (see :func:`validate_sweep`), a window outside the sweep, a filter above Nyquist,
        or a failure inside ipfx (re-raised with the sweep's description).
    """
    from ipfx.feature_extractor import SpikeFeatureExtractor

    t, v, i = validate_sweep(t, v, i, check_units=check_units)
    _check_window(t, start, end)
    nyquist_khz = 0.5 / float(t[1] - t[0]) / 1e3
    if not 0 < filter_khz < nyquist_khz:
        raise SweepValueError(f"filter_khz = {filter_khz!r} must lie between 0 and the Nyquist frequency "
                              f"{nyquist_khz:.4g} kHz of this sweep")
    extractor = SpikeFeatureExtractor(start=start, end=end, filter=filter_khz)
    try:
        with warnings.catch_warnings():
            # ipfx warns about means of empty slices for edge spikes; those values come back as NaN.
            warnings.simplefilter("ignore", RuntimeWarning)
            spikes = extractor.process(t, v, i)
    except Exception as error:  # ipfx raises bare IndexError/FeatureError on odd traces; say which sweep
        raise SweepError(f"ipfx could not analyse the sweep ({t.size} samples, {t[0]:.4g} to {t[-1]:.4g} s, "
                         f"v from {v.min():.4g} to {v.max():.4g} mV): {type(error).__name__}: {error}") from error
    return spikes.reset_index(drop=True)


def sweep_spike_features(t, v, i, *, start: float | None = None, end: float | None = None,
                         filter_khz: float = DEFAULT_FILTER_KHZ, check_units: bool = True,
                         if_no_spikes: Literal["raise", "nan"] = "raise") -> pd.Series:
    """The paper's 14 spike features of one sweep, averaged over its spikes.

    Parameters
    ----------
    t, v, i : array-like
        Time (s), membrane potential (mV) and injected current (pA) of one sweep.
    start, end : float, optional
        Analysis window in seconds (default: the whole sweep).
    filter_khz : float, default 10
        Bessel low-pass cut-off before differentiation.
    check_units : bool, default True
        Passed to :func:`validate_sweep`.
    if_no_spikes : {"raise", "nan"}, default "raise"
        What a sweep without spikes gives: :class:`NoSpikesError`, or a Series of 14 NaNs.

    Returns
    -------
    pandas.Series
        Indexed by :data:`SPIKE_FEATURES`; NaN-aware means over spikes (a feature that ipfx
        could not measure on any spike, e.g. the width of clipped spikes, is NaN). The spike count
        is in ``series.attrs["n_spikes"]``.
    """
    if if_no_spikes not in ("raise", "nan"):
        raise ValueError(f"if_no_spikes must be 'raise' or 'nan'; got {if_no_spikes!r}")
    spikes = detect_spikes(t, v, i, start=start, end=end, filter_khz=filter_khz, check_units=check_units)
    if spikes.empty:
        if if_no_spikes == "raise":
            window = f" between {start!r} and {end!r} s" if start is not None or end is not None else ""
            raise NoSpikesError(f"no action potential found{window}: v peaks at {np.max(v):.4g} mV "
                                "(ipfx needs dV/dt > 20 V/s and a peak above -30 mV)")
        features = pd.Series(np.nan, index=list(SPIKE_FEATURES), dtype=float)
    else:
        features = spikes[list(SPIKE_FEATURES)].astype(float).mean(axis=0, skipna=True)
    features.attrs["n_spikes"] = int(len(spikes))
    return features
