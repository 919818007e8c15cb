import numpy as np
import pytest

from neurotype.ephys import stimuli


def test_long_square_lasts_one_second_at_the_requested_amplitude():
    stim = stimuli.long_square(150.0)
    on = stim.i != 0
    assert on.sum() / stim.sampling_rate == pytest.approx(1.0, abs=1e-9)
    assert np.all(stim.i[on] == 150.0)
    assert stim.end - stim.start == pytest.approx(1.0)
    assert stim.sampling_rate == pytest.approx(50_000.0)


def test_short_square_lasts_three_milliseconds():
    stim = stimuli.short_square(800.0)
    on = np.flatnonzero(stim.i)
    assert on.size == 150  # 3 ms at 50 kHz
    assert stim.t[on[0]] == pytest.approx(stim.start)
    assert np.all(stim.i[on] == 800.0)


def test_ramp_rises_at_25_pa_per_second_from_zero():
    stim = stimuli.ramp(2.0, sampling_rate=20_000.0)
    window = (stim.t >= stim.start) & (stim.t < stim.end)
    slope, intercept = np.polyfit(stim.t[window] - stim.start, stim.i[window], 1)
    assert slope == pytest.approx(25.0, rel=1e-9)
    assert intercept == pytest.approx(0.0, abs=1e-9)
    assert np.all(stim.i[stim.t < stim.start] == 0)


def test_noise_epochs_have_cv_0_2_and_means_at_multiples_of_rheobase():
    stim = stimuli.noise(200.0, epoch_duration=1.0, gap=0.3, seed=5)
    assert [e[2] for e in stim.meta["epochs"]] == pytest.approx([150.0, 200.0, 300.0])
    for begin, end, mean in stim.meta["epochs"]:
        epoch = stim.i[(stim.t >= begin) & (stim.t < end)]
        assert epoch.size == 50_000
        assert epoch.mean() == pytest.approx(mean, rel=1e-9)
        assert epoch.std() / epoch.mean() == pytest.approx(0.2, rel=1e-9)
    gaps = ~np.any([(stim.t >= b) & (stim.t < e) for b, e, _ in stim.meta["epochs"]], axis=0)
    assert np.all(stim.i[gaps] == 0)


def test_noise_is_seeded_and_pink_within_its_band():
    a = stimuli.noise(100.0, epoch_duration=2.0, seed=1, sampling_rate=10_000.0)
    assert np.array_equal(a.i, stimuli.noise(100.0, epoch_duration=2.0, seed=1, sampling_rate=10_000.0).i)
    assert not np.array_equal(a.i, stimuli.noise(100.0, epoch_duration=2.0, seed=2, sampling_rate=10_000.0).i)
    z = stimuli.pink_noise(200_000, 10_000.0, rng=np.random.default_rng(0))
    power = np.abs(np.fft.rfft(z)) ** 2
    freqs = np.fft.rfftfreq(z.size, 1e-4)
    assert power[freqs > 101].sum() < 1e-12 * power.sum()
    band = (freqs >= 2) & (freqs <= 90)
    slope = np.polyfit(np.log(freqs[band]), np.log(power[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)


@pytest.mark.parametrize("call, message", [
    (lambda: stimuli.long_square(100.0, duration=0.0), "duration"),
    (lambda: stimuli.ramp(1.0, slope_pa_per_s=-25.0), "slope"),
    (lambda: stimuli.noise(-10.0), "rheobase"),
    (lambda: stimuli.noise(100.0, cv=1.5), "cv"),
    (lambda: stimuli.noise(100.0, band_hz=(1.0, 1e6)), "band_hz"),
])
def test_bad_protocol_parameters_raise_value_errors_naming_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()
