"""A single-compartment Hodgkin-Huxley neuron: the test oracle and the chapter's example cells.

The model is the "minimal" cortical model of Pospischil et al. (2008, *Biol. Cybern.* 99:427):
Traub-Miles sodium and delayed-rectifier potassium currents, a leak, and a slow, non-inactivating
potassium current (the M-current) whose slow build-up makes a regular-spiking cell adapt:

.. math::

    C \\frac{dV}{dt} = -g_L (V - E_L) - \\bar g_{Na} m^3 h (V - E_{Na})
        - \\bar g_{K} n^4 (V - E_K) - \\bar g_M p (V - E_K) + I_{inj} / A

Two parameter sets stand in for the two broad classes of the paper: a **fast-spiking**
interneuron-like cell (fast potassium kinetics, narrow spikes, no M-current, so little
adaptation) and a **regular-spiking** pyramidal-like cell (slower potassium kinetics, wider spikes,
an M-current, so its firing adapts).

Integration is exponential Euler at the stimulus' sampling interval (20 µs at 50 kHz): every gate
relaxes exactly towards its steady state over one step, and so does the membrane potential
given the conductances, which is stable for any step size. The rate functions are tabulated once
on a 0.02 mV grid and linearly interpolated, so the time loop runs in plain Python at about
1.5 µs per step: one simulated second at 50 kHz takes about 0.07 s on one core.

The simulator reports its own spike times, read from the model state (the upward crossings
of ``spike_detection_mv`` and the voltage maxima that follow), independently of any feature
extractor, so tests can compare ipfx's detection against a known answer.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
from scipy.optimize import brentq

from neurotype.ephys.stimuli import (DEFAULT_SAMPLING_RATE, RAMP_SLOPE_PA_PER_S, Stimulus, long_square, noise, ramp,
                               short_square)

__all__ = [
    "CellModel",
    "SimulationResult",
    "FAST_SPIKING",
    "REGULAR_SPIKING",
    "CELL_MODELS",
    "simulate",
    "resting_potential",
    "find_rheobase",
    "find_threshold",
    "protocol_responses",
]


@dataclass(frozen=True)
class CellModel:
    """Parameters of the single-compartment model (per-area values in the usual HH units).

    Attributes
    ----------
    name : str
        Label used in figures.
    area_cm2 : float
        Membrane area in cm²; converts injected pA to current density.
    capacitance : float
        Specific capacitance, µF/cm².
    g_leak, g_na, g_k, g_m : float
        Maximal conductances, mS/cm² (``g_m`` is the M-current).
    e_leak, e_na, e_k : float
        Reversal potentials, mV.
    v_t : float
        Shift of the Traub-Miles rate functions (mV); lower means a lower spike threshold.
    tau_m_max : float
        Largest time constant of the M-current gate, ms.
    phi_na, phi_k : float
        Temperature-like factors multiplying the sodium and potassium rates; slower potassium
        (smaller ``phi_k``) repolarises later and widens the spike.
    """

    name: str
    area_cm2: float
    capacitance: float
    g_leak: float
    e_leak: float
    g_na: float
    e_na: float
    g_k: float
    e_k: float
    g_m: float
    tau_m_max: float
    v_t: float
    phi_na: float = 1.0
    phi_k: float = 1.0

    def as_dict(self) -> dict:
        """Parameters as a plain dictionary (for reports)."""
        return asdict(self)


#: Fast-spiking, parvalbumin-interneuron-like cell: fast K+, no M-current, leaky, narrow spikes.
FAST_SPIKING = CellModel(
    name="fast-spiking", area_cm2=1.0e-4, capacitance=1.0,
    g_leak=0.15, e_leak=-70.0, g_na=50.0, e_na=50.0, g_k=15.0, e_k=-90.0,
    g_m=0.0, tau_m_max=1000.0, v_t=-56.2, phi_na=2.0, phi_k=3.0,
)

#: Regular-spiking, pyramidal-like cell: slower K+, an M-current that makes it adapt, wider spikes.
REGULAR_SPIKING = CellModel(
    name="regular-spiking", area_cm2=1.5e-4, capacitance=1.0,
    g_leak=0.05, e_leak=-70.0, g_na=50.0, e_na=50.0, g_k=8.0, e_k=-90.0,
    g_m=0.1, tau_m_max=600.0, v_t=-56.2, phi_na=0.8, phi_k=0.6,
)

CELL_MODELS: dict[str, CellModel] = {m.name: m for m in (FAST_SPIKING, REGULAR_SPIKING)}


# ----- rate functions (V in mV, rates in 1/ms) -------------------------------------------------

def _vtrap(x: np.ndarray, y: float) -> np.ndarray:
    """``x / (exp(x / y) - 1)`` with its limit ``y`` at ``x = 0`` (avoids 0/0 in the HH rates)."""
    x = np.asarray(x, dtype=float)
    small = np.abs(x / y) < 1e-6
    safe = np.where(small, 1.0, x)
    return np.where(small, y * (1.0 - x / y / 2.0), safe / np.expm1(safe / y))


def _steady_states(model: CellModel, v: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Steady state and time constant (ms) of each gate at potentials ``v``."""
    u = v - model.v_t
    alpha_m = 0.32 * _vtrap(-(u - 13.0), 4.0)
    beta_m = 0.28 * _vtrap(u - 40.0, 5.0)
    alpha_h = 0.128 * np.exp(-(u - 17.0) / 18.0)
    beta_h = 4.0 / (1.0 + np.exp(-(u - 40.0) / 5.0))
    alpha_n = 0.032 * _vtrap(-(u - 15.0), 5.0)
    beta_n = 0.5 * np.exp(-(u - 10.0) / 40.0)
    gates = {}
    for gate, alpha, beta, phi in (("m", alpha_m, beta_m, model.phi_na), ("h", alpha_h, beta_h, model.phi_na),
                                   ("n", alpha_n, beta_n, model.phi_k)):
        gates[gate] = (alpha / (alpha + beta), 1.0 / (phi * (alpha + beta)))
    p_inf = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
    tau_p = model.tau_m_max / (3.3 * np.exp((v + 35.0) / 20.0) + np.exp(-(v + 35.0) / 20.0))
    gates["p"] = (p_inf, tau_p)
    return gates


def _ionic_current(model: CellModel, v: float) -> float:
    """Net ionic current density (µA/cm²) with every gate at its steady state."""
    g = _steady_states(model, np.array([v]))
    m, h, n, p = (float(g[k][0][0]) for k in "mhnp")
    return (model.g_leak * (v - model.e_leak) + model.g_na * m ** 3 * h * (v - model.e_na)
            + (model.g_k * n ** 4 + model.g_m * p) * (v - model.e_k))


def resting_potential(model: CellModel) -> float:
    """Membrane potential (mV) at which the model rests with no injected current.

    Parameters
    ----------
    model : CellModel

    Returns
    -------
    float
        The most hyperpolarised root of the steady-state current-voltage relation above -120 mV
        (sodium window current can add further roots near threshold; rest is the lowest one).
    """
    grid = np.arange(-120.0, -20.0, 0.5)
    currents = np.array([_ionic_current(model, v) for v in grid])
    crossings = np.flatnonzero((currents[:-1] < 0) & (currents[1:] >= 0))
    if not crossings.size:
        raise ValueError(f"{model.name}: no resting potential between -120 and -20 mV; check the reversal potentials")
    k = int(crossings[0])
    return float(brentq(lambda v: _ionic_current(model, v), grid[k], grid[k + 1], xtol=1e-9))


# ----- integration -----------------------------------------------------------------------------

_GRID_MIN, _GRID_MAX, _GRID_STEP = -150.0, 100.0, 0.02


@dataclass(frozen=True)
class SimulationResult:
    """A simulated sweep and the model's own account of its spikes.

    Attributes
    ----------
    t : numpy.ndarray
        Time, s.
    v : numpy.ndarray
        Membrane potential, mV.
    i : numpy.ndarray
        Injected current, pA.
    spike_times : numpy.ndarray
        Times (s) at which ``v`` rose through ``spike_detection_mv`` (linearly interpolated).
    peak_times : numpy.ndarray
        Time (s) of the voltage maximum of each spike.
    spike_detection_mv : float
        The crossing level used for ``spike_times``.
    model : CellModel
        The parameters simulated.
    stimulus : Stimulus
        The stimulus that was injected.
    """

    t: np.ndarray
    v: np.ndarray
    i: np.ndarray
    spike_times: np.ndarray
    peak_times: np.ndarray
    spike_detection_mv: float
    model: CellModel
    stimulus: Stimulus

    @property
    def n_spikes(self) -> int:
        """Number of spikes the model fired."""
        return int(self.spike_times.size)


def _ground_truth_spikes(t: np.ndarray, v: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    above = v >= level
    ups = np.flatnonzero(~above[:-1] & above[1:]) + 1
    downs = np.flatnonzero(above[:-1] & ~above[1:]) + 1
    spike_times, peak_times = [], []
    for up in ups:
        later = downs[downs > up]
        stop = int(later[0]) if later.size else v.size
        fraction = (level - v[up - 1]) / (v[up] - v[up - 1])
        spike_times.append(t[up - 1] + fraction * (t[up] - t[up - 1]))
        peak_times.append(t[up + int(np.argmax(v[up:stop]))])
    return np.asarray(spike_times, dtype=float), np.asarray(peak_times, dtype=float)


def simulate(model: CellModel, stimulus: Stimulus, *, spike_detection_mv: float = -20.0,
             v_init: float | None = None) -> SimulationResult:
    """Inject ``stimulus`` into ``model`` and record the membrane potential.

    Parameters
    ----------
    model : CellModel
        Cell parameters, e.g. :data:`FAST_SPIKING` or :data:`REGULAR_SPIKING`.
    stimulus : Stimulus
        Current in pA sampled at a fixed rate; the integration step is its sampling interval.
    spike_detection_mv : float, default -20
        Level whose upward crossings define the ground-truth spike times.
    v_init : float, optional
        Starting potential (mV); gates start at their steady state there. Defaults to rest.

    Returns
    -------
    SimulationResult
    """
    t = np.asarray(stimulus.t, dtype=float)
    current = np.asarray(stimulus.i, dtype=float)
    if t.ndim != 1 or t.size < 2 or current.shape != t.shape:
        raise ValueError(f"stimulus needs matching 1-D time and current arrays; got {t.shape} and {current.shape}")
    if not np.all(np.isfinite(current)):
        raise ValueError("stimulus current contains NaN or infinite values")
    dt_s = float(t[1] - t[0])
    if not np.allclose(np.diff(t), dt_s, rtol=1e-6, atol=1e-12):
        raise ValueError("stimulus must be sampled at a fixed interval")
    if dt_s > 1e-4:
        raise ValueError(f"sampling interval {dt_s * 1e6:.0f} µs is too coarse to resolve a spike; use >= 10 kHz")
    dt = dt_s * 1e3  # ms

    grid = np.arange(_GRID_MIN, _GRID_MAX + _GRID_STEP / 2, _GRID_STEP)
    tables = []
    for gate in "mhnp":
        x_inf, tau = _steady_states(model, grid)[gate]
        # Exponential Euler: x(t+dt) = x_inf + (x - x_inf) * exp(-dt / tau); tabulate both terms.
        tables += [x_inf.tolist(), np.exp(-dt / tau).tolist()]
    m_inf, m_dec, h_inf, h_dec, n_inf, n_dec, p_inf, p_dec = tables
    last_cell = grid.size - 2

    v = resting_potential(model) if v_init is None else float(v_init)
    start = _steady_states(model, np.array([v]))
    m, h, n, p = (float(start[k][0][0]) for k in "mhnp")
    # Injected pA -> µA/cm² for this membrane area.
    density = (current * 1e-6 / model.area_cm2).tolist()
    g_l, e_l, g_na, e_na, g_k, g_m, e_k = (model.g_leak, model.e_leak, model.g_na, model.e_na,
                                           model.g_k, model.g_m, model.e_k)
    dt_over_c = dt / model.capacitance
    inv_step = 1.0 / _GRID_STEP
    exp = math.exp
    trace = [0.0] * len(density)
    for k, i_inj in enumerate(density):
        trace[k] = v
        x = (v - _GRID_MIN) * inv_step
        j = int(x)
        if j < 0:
            j, w = 0, 0.0
        elif j > last_cell:
            j, w = last_cell, 1.0
        else:
            w = x - j
        j1 = j + 1
        inf = m_inf[j] + w * (m_inf[j1] - m_inf[j])
        m = inf + (m - inf) * (m_dec[j] + w * (m_dec[j1] - m_dec[j]))
        inf = h_inf[j] + w * (h_inf[j1] - h_inf[j])
        h = inf + (h - inf) * (h_dec[j] + w * (h_dec[j1] - h_dec[j]))
        inf = n_inf[j] + w * (n_inf[j1] - n_inf[j])
        n = inf + (n - inf) * (n_dec[j] + w * (n_dec[j1] - n_dec[j]))
        inf = p_inf[j] + w * (p_inf[j1] - p_inf[j])
        p = inf + (p - inf) * (p_dec[j] + w * (p_dec[j1] - p_dec[j]))
        n2 = n * n
        gna = g_na * m * m * m * h
        gk = g_k * n2 * n2 + g_m * p
        g_total = g_l + gna + gk
        v_inf = (g_l * e_l + gna * e_na + gk * e_k + i_inj) / g_total
        v = v_inf + (v - v_inf) * exp(-dt_over_c * g_total)
    v_trace = np.asarray(trace)
    spike_times, peak_times = _ground_truth_spikes(t, v_trace, spike_detection_mv)
    return SimulationResult(t=t, v=v_trace, i=current.copy(), spike_times=spike_times, peak_times=peak_times,
                            spike_detection_mv=spike_detection_mv, model=model, stimulus=stimulus)


def find_threshold(model: CellModel, build: Callable[[float], Stimulus], *, resolution_pa: float = 1.0,
                   upper_pa: float = 2000.0) -> float:
    """Smallest amplitude (pA) at which ``build(amplitude)`` makes ``model`` fire, by bisection.

    Parameters
    ----------
    model : CellModel
    build : callable
        Amplitude in pA -> the stimulus to inject (e.g. a long or short square).
    resolution_pa : float, default 1
        Bisection stops when the bracket is this narrow.
    upper_pa : float, default 2000
        An amplitude known to fire; an error is raised if it does not.

    Returns
    -------
    float
        The upper end of the final bracket: an amplitude that fires.
    """
    def fires(amplitude: float) -> bool:
        return simulate(model, build(amplitude)).n_spikes > 0

    if resolution_pa <= 0:
        raise ValueError(f"resolution_pa must be positive; got {resolution_pa!r}")
    if not fires(upper_pa):
        raise ValueError(f"{model.name} does not fire at upper_pa={upper_pa} pA; raise upper_pa")
    low, high = 0.0, float(upper_pa)
    while high - low > resolution_pa:
        middle = (low + high) / 2
        if fires(middle):
            high = middle
        else:
            low = middle
    return high


def find_rheobase(model: CellModel, *, resolution_pa: float = 1.0, upper_pa: float = 2000.0,
                  duration: float = 1.0, sampling_rate: float = 20_000.0) -> float:
    """Smallest long-square amplitude (pA) that makes ``model`` fire (ACTD's rheobase).

    Parameters
    ----------
    model : CellModel
    resolution_pa : float, default 1
        Precision of the bisection.
    upper_pa : float, default 2000
        An amplitude known to fire.
    duration : float, default 1.0
        Step length in seconds (ACTD's long square).
    sampling_rate : float, default 20 kHz
        Integration rate (coarser than recordings, to keep the search quick).

    Returns
    -------
    float
    """
    return find_threshold(model, lambda amplitude: long_square(amplitude, duration=duration, delay=0.02, tail=0.0,
                                                               sampling_rate=sampling_rate),
                          resolution_pa=resolution_pa, upper_pa=upper_pa)


def protocol_responses(model: CellModel, *, sampling_rate: float = DEFAULT_SAMPLING_RATE,
                       noise_epoch_s: float = 3.0, noise_gap_s: float = 1.0, seed: int = 0,
                       long_square_multiple: float = 1.5, resolution_pa: float = 2.0) -> dict[str, SimulationResult]:
    """The model's responses to the four ACTD stimulus types, with amplitudes set from its own thresholds.

    * long square: ``long_square_multiple`` x rheobase, 1 s;
    * short square: the smallest 3 ms step that fires (to ``resolution_pa``);
    * ramp: 25 pA/s from 0 pA up to 1.5 x rheobase (the M-current makes the regular-spiking cell
      accommodate to a slow ramp, so it needs more than its step rheobase);
    * noise: 0.75/1/1.5 x rheobase epochs, CV 0.2, seeded.

    Parameters
    ----------
    model : CellModel
    sampling_rate : float, default 50 kHz
        Sampling (and integration) rate of every sweep.
    noise_epoch_s, noise_gap_s : float
        Length of each noise epoch and of the rest between epochs.
    seed : int, default 0
        Seed of the noise.
    long_square_multiple : float, default 1.5
        Long-square amplitude as a multiple of rheobase.
    resolution_pa : float, default 2
        Precision of the rheobase and short-square threshold searches.

    Returns
    -------
    dict
        ``{"long_square", "short_square", "ramp", "noise"}`` -> :class:`SimulationResult`;
        ``result.stimulus.meta`` records the amplitudes.
    """
    rheobase = find_rheobase(model, resolution_pa=resolution_pa)
    short_threshold = find_threshold(model, lambda a: short_square(a, delay=0.01, tail=0.03, sampling_rate=sampling_rate),
                                     resolution_pa=resolution_pa, upper_pa=20_000.0)
    stimuli_by_kind = {
        "long_square": long_square(long_square_multiple * rheobase, sampling_rate=sampling_rate),
        "short_square": short_square(short_threshold, sampling_rate=sampling_rate),
        "ramp": ramp(1.5 * rheobase / RAMP_SLOPE_PA_PER_S, tail=0.1, sampling_rate=sampling_rate),
        "noise": noise(rheobase, epoch_duration=noise_epoch_s, gap=noise_gap_s, seed=seed, sampling_rate=sampling_rate),
    }
    responses = {kind: simulate(model, stim) for kind, stim in stimuli_by_kind.items()}
    for result in responses.values():
        result.stimulus.meta["rheobase_pa"] = rheobase
    return responses
