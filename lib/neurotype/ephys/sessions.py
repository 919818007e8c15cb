"""A simulated recording session: the sweeps a rig records from one cell under ACTD's protocols.

:func:`simulated_session` runs the Hodgkin-Huxley model cells of :mod:`neurotype.ephys.simulate`
through a protocol like ACTD's (a series of 1 s long squares around rheobase plus hyperpolarising
steps, short squares around their threshold, a ramp, a noise sweep) and returns the sweeps,
ready for :func:`neurotype.ephys.nwb.write_nwb`, with the simulator's own account of every sweep
(:class:`~neurotype.ephys.simulate.SimulationResult`: its spike times, read from the model
state). The tests write these sessions to NWB files and compare what the feature extraction
reports with what the simulator did; the features chapter uses one to show the route from NWB
files to a feature table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from neurotype.ephys import simulate, stimuli
from neurotype.ephys.nwb import Sweep

__all__ = ["ACTD_STIMULUS_NAMES", "SimulatedSession", "simulated_session"]

#: The names ACTD's NWB 1 files store for the four protocols.
ACTD_STIMULUS_NAMES: dict[str, str] = {"long_square": "Long Square", "short_square": "Short Square",
                                       "ramp": "Ramp", "noise": "Noise 1"}


@dataclass
class SimulatedSession:
    """Sweeps of one simulated cell, with the ground truth.

    Attributes
    ----------
    model : CellModel
    sweeps : list of Sweep
        Sweep numbers start at 1, in recording order.
    results : dict
        Sweep number -> :class:`~neurotype.ephys.simulate.SimulationResult`.
    protocols : dict
        Sweep number -> ``"long_square"``, ``"short_square"``, ``"ramp"`` or ``"noise"``.
    rheobase_pa : float
        The model's long-square rheobase by bisection (to ``resolution_pa``).
    short_square_threshold_pa : float
        The smallest 3 ms step that fires (to ``resolution_pa``).
    """

    model: simulate.CellModel
    sweeps: list[Sweep] = field(default_factory=list)
    results: dict[int, simulate.SimulationResult] = field(default_factory=dict)
    protocols: dict[int, str] = field(default_factory=dict)
    rheobase_pa: float = math.nan
    short_square_threshold_pa: float = math.nan

    def numbers(self, protocol: str) -> list[int]:
        """Sweep numbers of one protocol."""
        return [n for n, p in self.protocols.items() if p == protocol]


def _with_test_pulse(stimulus: stimuli.Stimulus, amplitude_pa: float, start_s: float, duration_s: float) -> stimuli.Stimulus:
    current = stimulus.i.copy()
    first = int(round(start_s * stimulus.sampling_rate))
    current[first:first + int(round(duration_s * stimulus.sampling_rate))] += amplitude_pa
    return replace(stimulus, i=current)


def simulated_session(model: simulate.CellModel, *, sampling_rate: float = 25_000.0,
                      hyperpolarising_pa: tuple[float, ...] = (-90.0, -70.0, -50.0, -30.0),
                      long_square_step_pa: float = 20.0, n_firing_steps: int = 5, short_square_step_pa: float = 10.0,
                      ramp_slope_pa_per_s: float = stimuli.RAMP_SLOPE_PA_PER_S, noise_epoch_s: float = 0.5,
                      noise_gap_s: float = 0.2, seed: int = 0, names: dict[str, str] | None = None,
                      test_pulse: bool = False, resolution_pa: float = 1.0) -> SimulatedSession:
    """Simulate ACTD-like sweeps of one model cell.

    Long squares: ``hyperpolarising_pa``, then every multiple of ``long_square_step_pa`` from one
    step below rheobase upwards, ``n_firing_steps`` of them firing (so the "hero" sweep at
    rheobase + 40 to 60 pA exists with the default 20 pA step). Short squares: one step below
    the threshold (on the ``short_square_step_pa`` grid) and three at it, as ACTD repeats the
    threshold amplitude. One ramp from 0 pA to 1.5 x rheobase. One noise sweep (three epochs
    around 0.75, 1 and 1.5 x rheobase, seeded).

    Parameters
    ----------
    model : CellModel
    sampling_rate : float, default 25 kHz
        Above 20 kHz so ACTD's 10 kHz filter applies; ACTD recorded at 50 or 200 kHz.
    hyperpolarising_pa : tuple of float
        Negative long-square amplitudes (ACTD's input resistance uses -100 to 0 pA).
    long_square_step_pa : float, default 20
        Spacing of the depolarising long squares (ACTD's coarse step).
    n_firing_steps : int, default 5
        Depolarising long squares at or above rheobase.
    short_square_step_pa : float, default 10
    ramp_slope_pa_per_s : float, default 25
        ACTD's slope; a steeper ramp is quicker to simulate.
    noise_epoch_s, noise_gap_s : float
        Length of each noise epoch and of the rests between them (ACTD: 3 s epochs).
    seed : int, default 0
        Seed of the noise.
    names : dict, optional
        Protocol -> stored stimulus name (default :data:`ACTD_STIMULUS_NAMES`).
    test_pulse : bool, default False
        Put a 10 ms, -20 pA test pulse 20 ms into every sweep, as rigs do, and start every
        stimulus 0.3 s later so the cell has recovered from it.
    resolution_pa : float, default 1
        Precision of the rheobase and short-square threshold searches.

    Returns
    -------
    SimulatedSession
    """
    names = {**ACTD_STIMULUS_NAMES, **(names or {})}
    delay = 0.3 if test_pulse else 0.1
    session = SimulatedSession(model=model)
    session.rheobase_pa = simulate.find_rheobase(model, resolution_pa=resolution_pa, sampling_rate=sampling_rate)
    session.short_square_threshold_pa = simulate.find_threshold(
        model, lambda a: stimuli.short_square(a, delay=0.01, tail=0.03, sampling_rate=sampling_rate),
        resolution_pa=resolution_pa, upper_pa=20_000.0)

    first_step = math.floor(session.rheobase_pa / long_square_step_pa)
    depolarising = [k * long_square_step_pa for k in range(first_step, first_step + n_firing_steps + 1)]
    short_grid = math.ceil(session.short_square_threshold_pa / short_square_step_pa) * short_square_step_pa
    ramp_duration = 1.5 * session.rheobase_pa / ramp_slope_pa_per_s
    planned: list[tuple[str, stimuli.Stimulus]] = (
        [("long_square", stimuli.long_square(a, delay=delay, sampling_rate=sampling_rate))
         for a in (*hyperpolarising_pa, *depolarising)]
        + [("short_square", stimuli.short_square(a, delay=delay, sampling_rate=sampling_rate))
           for a in (short_grid - short_square_step_pa, short_grid, short_grid, short_grid)]
        + [("ramp", stimuli.ramp(ramp_duration, slope_pa_per_s=ramp_slope_pa_per_s, delay=delay, tail=0.1,
                                 sampling_rate=sampling_rate)),
           ("noise", stimuli.noise(session.rheobase_pa, epoch_duration=noise_epoch_s, gap=noise_gap_s, delay=delay,
                                   seed=seed, sampling_rate=sampling_rate))])
    for number, (protocol, stimulus) in enumerate(planned, start=1):
        if test_pulse:
            stimulus = _with_test_pulse(stimulus, -20.0, 0.02, 0.01)
        result = simulate.simulate(model, stimulus)
        session.results[number] = result
        session.protocols[number] = protocol
        session.sweeps.append(Sweep(number=number, stimulus_name=names[protocol], t=result.t, v=result.v,
                                    i=np.asarray(result.i, dtype=float)))
    return session
