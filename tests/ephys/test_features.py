import numpy as np
import pandas as pd
import pytest

from neurotype.ephys import features, simulate, stimuli


@pytest.mark.parametrize("kind", ["noise_sweeps", "step_sweeps"])
@pytest.mark.parametrize("cell", list(simulate.CELL_MODELS))
def test_ipfx_finds_exactly_the_simulated_spikes(kind, cell, request):
    result = request.getfixturevalue(kind)[cell]
    spikes = features.detect_spikes(result.t, result.v, result.i)
    assert result.n_spikes > 0
    assert len(spikes) == result.n_spikes
    # ipfx's peak is the raw voltage maximum: the same sample as the model's own peak.
    np.testing.assert_allclose(spikes["peak_t"], result.peak_times, atol=1.5 / 50_000)
    lead = result.spike_times - spikes["threshold_t"].to_numpy()
    assert np.all((lead > 0) & (lead < 2e-3)), "threshold precedes the -20 mV crossing by < 2 ms"


def test_features_are_means_over_spikes_with_the_papers_names_and_units(noise_sweeps):
    result = noise_sweeps["regular-spiking"]
    spikes = features.detect_spikes(result.t, result.v, result.i)
    values = features.sweep_spike_features(result.t, result.v, result.i)
    assert list(values.index) == list(features.SPIKE_FEATURES)
    assert values.attrs["n_spikes"] == len(spikes)
    pd.testing.assert_series_equal(values, spikes[list(features.SPIKE_FEATURES)].mean(), check_names=False)
    # Units of the paper's table: width in s, dV/dt in mV/ms, potentials in mV, currents in pA.
    assert 1e-4 < values["width"] < 3e-3
    assert 100 < values["upstroke"] < 1000 and -1000 < values["downstroke"] < -20
    assert -60 < values["threshold_v"] < -20 < 0 < values["peak_v"] < 60
    assert values["threshold_v"] < values["upstroke_v"] < values["peak_v"]
    assert result.i.min() <= values["threshold_i"] <= result.i.max()
    assert values["upstroke_downstroke_ratio"] == pytest.approx(
        (spikes["upstroke"] / -spikes["downstroke"]).mean())


def test_window_limits_the_spikes_counted(noise_sweeps):
    result = noise_sweeps["fast-spiking"]
    begin, end, _ = result.stimulus.meta["epochs"][2]
    values = features.sweep_spike_features(result.t, result.v, result.i, start=begin, end=end)
    inside = np.sum((result.spike_times >= begin) & (result.spike_times < end))
    assert values.attrs["n_spikes"] == inside < result.n_spikes


@pytest.fixture
def quiet_sweep():
    """Half a second at rest: a valid sweep without spikes."""
    stim = stimuli.long_square(20.0, duration=0.3, delay=0.1, tail=0.1)
    return simulate.simulate(simulate.REGULAR_SPIKING, stim)


def test_sweep_without_spikes_raises_or_returns_documented_nans(quiet_sweep):
    with pytest.raises(features.NoSpikesError, match="no action potential"):
        features.sweep_spike_features(quiet_sweep.t, quiet_sweep.v, quiet_sweep.i)
    empty = features.sweep_spike_features(quiet_sweep.t, quiet_sweep.v, quiet_sweep.i, if_no_spikes="nan")
    assert list(empty.index) == list(features.SPIKE_FEATURES) and empty.isna().all()
    assert empty.attrs["n_spikes"] == 0


def _bad(sweep, **changes):
    arrays = {"t": sweep.t.copy(), "v": sweep.v.copy(), "i": sweep.i.copy()}
    for name, change in changes.items():
        arrays[name] = change(arrays[name])
    return arrays


def _with_nan(x):
    x[123] = np.nan
    return x


@pytest.mark.parametrize("changes, error, message", [
    ({"v": lambda v: v[:-5]}, features.SweepShapeError, r"same length.*25000, 24995"),
    ({"v": _with_nan}, features.SweepValueError, r"v \(mV\) has 1 NaN.*index 123"),
    ({"v": lambda v: v / 1000}, features.SweepUnitError, "looks like volts"),
    ({"i": lambda i: i / 1000}, features.SweepUnitError, "looks like nA"),
    ({"i": lambda i: i * 1e-12}, features.SweepUnitError, r"A \(multiply by 1e12\)"),
    ({"t": lambda t: t * 1000}, features.SweepUnitError, "milliseconds"),
    ({"t": lambda t: t[::-1]}, features.SweepValueError, "strictly increase"),
    ({"v": lambda v: v.reshape(-1, 1)}, features.SweepShapeError, "1-D"),
])
def test_bad_sweeps_raise_value_errors_that_name_the_problem(quiet_sweep, changes, error, message):
    arrays = _bad(quiet_sweep, **changes)
    with pytest.raises(error, match=message) as caught:
        features.sweep_spike_features(arrays["t"], arrays["v"], arrays["i"])
    assert isinstance(caught.value, ValueError)


def test_bad_window_and_filter_are_rejected(quiet_sweep):
    t, v, i = quiet_sweep.t, quiet_sweep.v, quiet_sweep.i
    with pytest.raises(features.SweepValueError, match="start = 9"):
        features.detect_spikes(t, v, i, start=9.0)
    with pytest.raises(features.SweepValueError, match="must come after"):
        features.detect_spikes(t, v, i, start=0.3, end=0.2)
    with pytest.raises(features.SweepValueError, match="Nyquist"):
        features.detect_spikes(t, v, i, filter_khz=30.0)


def test_failures_inside_ipfx_are_reported_as_sweep_errors(noise_sweeps, monkeypatch):
    from ipfx import feature_extractor

    def broken(self, t, v, i):
        raise IndexError("index 7 is out of bounds")

    monkeypatch.setattr(feature_extractor.SpikeFeatureExtractor, "process", broken)
    result = noise_sweeps["fast-spiking"]
    with pytest.raises(features.SweepError, match="ipfx could not analyse.*IndexError"):
        features.detect_spikes(result.t, result.v, result.i)
