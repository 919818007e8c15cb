"""Features extracted from NWB 2 files against what the simulator did.

Every expected value is derived here from the simulator: its parameters (leak conductance,
capacitance, area), its resting potential, the amplitudes it was driven with, and its own record
of the spikes (threshold crossings of -20 mV and voltage maxima read from the model state, not
from ipfx). Tolerances, and the measured error on these sessions (25 kHz, seed 5):

==============================  ==============================  ================================
feature                         expected from                   tolerance (measured error)
==============================  ==============================  ================================
spike count of every sweep      simulator's spike record        exact (exact)
threshold_i_long_square         smallest firing step            exact; and in [rheobase, +20 pA)
f_i_curve_slope                 least squares on sim. counts    1e-9 relative (1e-15)
ri (fast-spiking)               1 / (g_leak * area)             1 % (2e-7)
ri (both)                       peak deflection of the traces   0.1 % (6e-7)
ri (regular-spiking)            1 / (g_leak * area)             -10 % to 0 (-6.0 %: M-current)
tau (fast-spiking)              C / g_leak                      1 % (2e-6)
tau (regular-spiking)           C / g_leak                      -15 % to 0 (-9.3 %: M-current)
vrest                           model's resting potential       0.05 mV (2e-5 mV, float32)
threshold_i_short_square        smallest firing 3 ms step       exact (exact)
threshold_v_*                   dV/dt < 5 % of the upstroke     1 mV (0.86 mV; ipfx filters)
threshold_i_ramp                current at that threshold       1 pA (1e-5 pA)
latency                         sim. -20 mV crossing            within 1 ms before it (0.2-0.3)
avg_isi                         mean sim. interspike interval   1 % (0.003 %)
noise peak_v                    sim. voltage maxima             0.5 mV (4e-7 mV)
==============================  ==============================  ================================
"""

from __future__ import annotations

import numpy as np
import pytest

from neurotype.ephys import features, nwb, simulate
from neurotype.ephys.extract import FEATURES, VOLTAGE_CLAMP_FEATURES

MODELS = list(simulate.CELL_MODELS)


def _amplitude(result) -> float:
    return float(result.stimulus.meta["amplitude_pa"])


def _firing_long_squares(session) -> list[int]:
    return [n for n in session.numbers("long_square")
            if session.results[n].n_spikes > 0 and _amplitude(session.results[n]) > 0]


def _rheobase_sweep(session) -> int:
    return min(_firing_long_squares(session), key=lambda n: _amplitude(session.results[n]))


def _hand_threshold(result) -> tuple[float, float]:
    """ipfx's threshold definition applied by hand to the simulated trace: the last sample before the
    first spike's steepest rise where dV/dt is below 5 % of that rise."""
    t, v = result.t, result.v
    dvdt = np.gradient(v, t) / 1e3  # mV/ms
    low = int(np.searchsorted(t, result.spike_times[0] - 0.002))
    peak = int(np.searchsorted(t, result.peak_times[0]))
    steepest = low + int(np.argmax(dvdt[low:peak + 1]))
    below = np.flatnonzero(dvdt[low:steepest] < 0.05 * dvdt[steepest])
    k = low + int(below[-1])
    return float(v[k]), float(t[k])


def test_every_sweep_round_trips_and_spike_counts_match_the_simulator(simulated, nwb2_files):
    for name, session in simulated.items():
        recording = nwb.read_nwb(nwb2_files[name])
        assert recording.nwb_version.startswith("2.") and not recording.skipped
        assert [s.number for s in recording.sweeps] == [s.number for s in session.sweeps]
        for sweep in recording.sweeps:
            truth = session.results[sweep.number]
            assert sweep.stimulus_name == session.sweeps[sweep.number - 1].stimulus_name
            np.testing.assert_allclose(sweep.v, truth.v, atol=1e-4)  # float32 in the file
            np.testing.assert_allclose(sweep.i, truth.i, atol=1e-3, rtol=1e-6)
            assert sweep.sampling_rate == pytest.approx(25_000.0)
            detected = features.detect_spikes(sweep.t, sweep.v, sweep.i)
            assert len(detected) == truth.n_spikes, f"{name} sweep {sweep.number}"


def test_every_current_clamp_feature_is_measured(extracted):
    for name in MODELS:
        row = extracted.loc[name]
        assert row["failed_features"].split(";") == list(VOLTAGE_CLAMP_FEATURES)
        assert "voltage clamp" in row["qc"]
        assert row[[f for f in FEATURES if f not in VOLTAGE_CLAMP_FEATURES]].notna().all()
        assert row["sweeps_used"] == 16


@pytest.mark.parametrize("name", MODELS)
def test_rheobase_and_f_i_slope_follow_the_simulated_spike_counts(name, simulated, extracted):
    session, row = simulated[name], extracted.loc[name]
    firing = _firing_long_squares(session)
    smallest = _amplitude(session.results[_rheobase_sweep(session)])
    assert row["threshold_i_long_square"] == smallest
    assert session.rheobase_pa <= smallest < session.rheobase_pa + 20.0
    amplitudes = np.array([_amplitude(session.results[n]) for n in firing])
    rates = np.array([session.results[n].n_spikes / 1.0 for n in firing])  # 1 s steps
    assert row["f_i_curve_slope"] == pytest.approx(np.polyfit(amplitudes, rates, 1)[0], rel=1e-9)


@pytest.mark.parametrize("name", MODELS)
def test_passive_properties_follow_the_membrane_parameters(name, simulated, extracted):
    session, row = simulated[name], extracted.loc[name]
    model = session.model
    leak_resistance_mohm = 1.0 / (model.g_leak * 1e-3 * model.area_cm2) / 1e6  # mS/cm2 * cm2 -> S -> MOhm
    leak_tau_ms = model.capacitance / model.g_leak  # uF/cm2 / (mS/cm2) = ms
    # Peak deflection of the hyperpolarising steps (-100 to 0 pA) against their amplitude, from the raw traces.
    deflections, amplitudes = [], []
    for number in session.numbers("long_square"):
        result = session.results[number]
        if -100 < _amplitude(result) < 0:
            during = (result.t >= result.stimulus.start) & (result.t < result.stimulus.end)
            deflections.append(result.v[during].min())
            amplitudes.append(_amplitude(result))
    assert row["ri"] == pytest.approx(np.polyfit(amplitudes, deflections, 1)[0] * 1e3, rel=1e-3)
    assert row["vrest"] == pytest.approx(simulate.resting_potential(model), abs=0.05)
    if model.g_m == 0:  # only the leak is open at rest: the textbook values hold
        assert row["ri"] == pytest.approx(leak_resistance_mohm, rel=0.01)
        assert row["tau"] == pytest.approx(leak_tau_ms, rel=0.01)
    else:  # the M-current adds conductance at rest, so both fall a little below the leak-only values
        assert 0.90 * leak_resistance_mohm < row["ri"] < leak_resistance_mohm
        assert 0.85 * leak_tau_ms < row["tau"] < leak_tau_ms


@pytest.mark.parametrize("name", MODELS)
def test_thresholds_follow_the_traces(name, simulated, extracted):
    session, row = simulated[name], extracted.loc[name]
    threshold_v, _ = _hand_threshold(session.results[_rheobase_sweep(session)])
    assert row["threshold_v_long_square"] == pytest.approx(threshold_v, abs=1.0)
    short = [session.results[n] for n in session.numbers("short_square")]
    assert row["threshold_i_short_square"] == min(_amplitude(r) for r in short if r.n_spikes > 0)
    assert session.short_square_threshold_pa <= row["threshold_i_short_square"] < session.short_square_threshold_pa + 10
    ramp = session.results[session.numbers("ramp")[0]]
    ramp_threshold_v, ramp_threshold_t = _hand_threshold(ramp)
    assert row["threshold_v_ramp"] == pytest.approx(ramp_threshold_v, abs=1.0)
    assert row["threshold_i_ramp"] == pytest.approx(np.interp(ramp_threshold_t, ramp.t, ramp.i), abs=1.0)


@pytest.mark.parametrize("name", MODELS)
def test_hero_sweep_and_noise_features_follow_the_simulated_spikes(name, simulated, extracted):
    session, row = simulated[name], extracted.loc[name]
    rheobase = _amplitude(session.results[_rheobase_sweep(session)])
    hero = session.results[min((n for n in _firing_long_squares(session)
                                if rheobase + 39 < _amplitude(session.results[n]) < rheobase + 61),
                               key=lambda n: _amplitude(session.results[n]))]
    crossing_latency = hero.spike_times[0] - hero.stimulus.start
    assert crossing_latency - 1e-3 < row["latency"] < crossing_latency  # threshold comes before the -20 mV crossing
    assert row["avg_isi"] == pytest.approx(np.diff(hero.spike_times).mean() * 1e3, rel=0.01)
    noise = session.results[session.numbers("noise")[0]]
    assert noise.n_spikes > 0
    assert row["peak_v"] == pytest.approx(np.interp(noise.peak_times, noise.t, noise.v).mean(), abs=0.5)


def test_the_two_model_cells_differ_as_their_classes_do(extracted):
    fast, regular = extracted.loc["fast-spiking"], extracted.loc["regular-spiking"]
    assert fast["width"] < 0.5e-3 < 0.8e-3 < regular["width"]  # narrow interneuron spikes
    assert fast["upstroke_downstroke_ratio"] < regular["upstroke_downstroke_ratio"]
    assert fast["f_i_curve_slope"] > 3 * regular["f_i_curve_slope"]
