
import matplotlib
import numpy as np
import pytest

from neurotype.ephys import features, simulate, stimuli
from neurotype.plots.features import plot_stimulus_responses

matplotlib.use("Agg")


@pytest.mark.parametrize("model", simulate.CELL_MODELS.values(), ids=list(simulate.CELL_MODELS))
def test_model_rests_without_current(model):
    result = simulate.simulate(model, stimuli.long_square(0.0, duration=0.2, sampling_rate=20_000.0))
    assert result.n_spikes == 0
    assert np.ptp(result.v) < 1e-3
    assert -80 < result.v[0] < -60


@pytest.mark.parametrize("model", simulate.CELL_MODELS.values(), ids=list(simulate.CELL_MODELS))
def test_rheobase_separates_silent_from_firing_steps(model, rheobases):
    rheobase = rheobases[model.name]
    below = simulate.simulate(model, stimuli.long_square(rheobase - 4.0, sampling_rate=20_000.0))
    above = simulate.simulate(model, stimuli.long_square(rheobase, sampling_rate=20_000.0))
    assert below.n_spikes == 0 and above.n_spikes >= 1
    assert 50 < rheobase < 1000  # ACTD-like range of rheobases


def test_fast_spiking_has_narrow_non_adapting_spikes_and_regular_spiking_adapts(step_sweeps):
    fs, rs = step_sweeps["fast-spiking"], step_sweeps["regular-spiking"]
    width = {name: features.sweep_spike_features(r.t, r.v, r.i)["width"] for name, r in step_sweeps.items()}
    assert width["fast-spiking"] < 0.5e-3 < 0.8e-3 < width["regular-spiking"]
    assert fs.n_spikes > 3 * rs.n_spikes
    fs_isi, rs_isi = np.diff(fs.spike_times), np.diff(rs.spike_times)
    assert fs_isi[-1] / fs_isi[0] < 1.1
    assert rs_isi[-1] / rs_isi[0] > 1.5


def test_halving_the_step_keeps_spike_count_and_times(rheobases):
    model = simulate.REGULAR_SPIKING
    coarse = simulate.simulate(model, stimuli.long_square(2 * rheobases[model.name], duration=0.5, sampling_rate=50_000.0))
    fine = simulate.simulate(model, stimuli.long_square(2 * rheobases[model.name], duration=0.5, sampling_rate=100_000.0))
    assert coarse.n_spikes == fine.n_spikes > 2
    assert np.max(np.abs(coarse.spike_times - fine.spike_times)) < 0.3e-3


def test_simulate_rejects_coarse_or_broken_stimuli():
    stim = stimuli.long_square(100.0, sampling_rate=5_000.0)
    with pytest.raises(ValueError, match="too coarse"):
        simulate.simulate(simulate.FAST_SPIKING, stim)
    good = stimuli.long_square(100.0, duration=0.01, delay=0.0, tail=0.0)
    broken = stimuli.Stimulus("long_square", good.t, np.where(good.t > 0.005, np.nan, good.i), good.start, good.end)
    with pytest.raises(ValueError, match="NaN"):
        simulate.simulate(simulate.FAST_SPIKING, broken)


def test_protocol_responses_fire_under_every_stimulus_type():
    responses = simulate.protocol_responses(simulate.FAST_SPIKING, sampling_rate=25_000.0, noise_epoch_s=0.3,
                                            noise_gap_s=0.1, resolution_pa=8.0)
    assert list(responses) == ["long_square", "short_square", "ramp", "noise"]
    assert responses["short_square"].n_spikes == 1
    assert all(r.n_spikes > 0 for r in responses.values())
    ramp = responses["ramp"].stimulus
    assert np.max(ramp.i) == pytest.approx(1.5 * ramp.meta["rheobase_pa"], rel=1e-3)
    figure = plot_stimulus_responses({kind: {"fast-spiking": r} for kind, r in responses.items()})
    assert len(figure.axes) == 8
