"""The stimulus-name mapping (a data file a user extends) and the stimulus window of one sweep."""

from __future__ import annotations

import numpy as np
import pytest

from neurotype.ephys import stimuli
from neurotype.ephys.extract import stimulus_window
from neurotype.ephys.features import SweepError
from neurotype.ephys.nwb import Sweep
from neurotype.ephys.stimulus_names import StimulusMapError, load_stimulus_map


@pytest.mark.parametrize("name, protocol", [
    ("Long Square", "long_square"), ("  long   SQUARE ", "long_square"), ("C1LSCOARSE150216_DA_0", "long_square"),
    ("C1LSFINEST150112[0]", "long_square"), ("Short Square", "short_square"), ("C1SSCOARSE150112", "short_square"),
    ("Ramp", "ramp"), ("C1RP25PR1S141203", "ramp"), ("Noise 1", "noise"), ("Noise 2", "noise"),
    ("C1NSSEED_2150216", "noise"), ("Test", "ignore"), ("EXTPSMOKET141203", "ignore"), ("Ramp to Rheobase", "ignore"),
    ("Short Square - Triple", "ignore"), ("C2SSHM80CS150112", "ignore"), ("IV_steps", None), ("", None),
])
def test_default_names_of_actd_and_the_allen_pipeline(name, protocol):
    assert load_stimulus_map().protocol_of(name) == protocol


def test_a_users_file_is_tried_first(tmp_path):
    user = tmp_path / "rig.yml"
    user.write_text("long_square:\n  - IV_steps*\nignore: [Ramp]\nnoise: 'pink*'\n")
    mapping = load_stimulus_map(user)
    assert mapping.protocol_of("IV_steps_1s") == "long_square"
    assert mapping.protocol_of("Ramp") == "ignore"  # overrides the default
    assert mapping.protocol_of("Pink noise 0.2") == "noise"
    assert mapping.protocol_of("Long Square") == "long_square"  # the defaults still apply
    assert mapping.sources[0] == user


@pytest.mark.parametrize("content, message", [
    ("long_square: [a\n", "not valid YAML"),
    ("- Long Square\n", "mapping of protocol"),
    ("squares: [a]\n", "unknown protocol 'squares'"),
    ("ramp: {a: 1}\n", "ramp: expected a list"),
    ("noise: [null]\n", "noise: None is not a stimulus name"),
])
def test_a_bad_stimulus_map_is_named_with_its_problem(tmp_path, content, message):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    with pytest.raises(StimulusMapError, match=message) as caught:
        load_stimulus_map(path)
    assert str(caught.value).startswith(str(path))
    with pytest.raises(StimulusMapError, match="not found"):
        load_stimulus_map(tmp_path / "missing.yml")


def _sweep(stimulus: stimuli.Stimulus, current=None) -> Sweep:
    i = stimulus.i if current is None else current
    return Sweep(1, stimulus.kind, stimulus.t, np.full(stimulus.t.size, -70.0), i)


def test_window_of_each_protocol_with_and_without_a_test_pulse():
    square = stimuli.long_square(-50.0, delay=0.3, duration=0.5, sampling_rate=10_000.0)
    window = stimulus_window(_sweep(square), "long_square")
    assert (window.start, window.end, window.amplitude, window.test_pulse) == (0.3, 0.8, -50.0, False)
    pulsed = square.i.copy()
    pulsed[200:300] = -20.0  # 10 ms test pulse at 20 ms
    window = stimulus_window(_sweep(square, pulsed), "long_square")
    assert (window.start, window.end, window.amplitude, window.test_pulse) == (0.3, 0.8, -50.0, True)
    short = stimuli.short_square(900.0, delay=0.05, sampling_rate=10_000.0)  # a lone 3 ms step is no test pulse
    window = stimulus_window(_sweep(short), "short_square")
    assert (window.start, window.amplitude, window.test_pulse) == (0.05, 900.0, False)
    assert window.end == pytest.approx(0.053)
    ramp = stimuli.ramp(2.0, delay=0.1, sampling_rate=10_000.0)
    window = stimulus_window(_sweep(ramp), "ramp")
    assert window.start == pytest.approx(0.1001) and window.amplitude == pytest.approx(25 * 2.0, abs=0.01)
    noise = stimuli.noise(100.0, epoch_duration=0.2, gap=0.1, delay=0.1, sampling_rate=10_000.0)
    window = stimulus_window(_sweep(noise), "noise")
    assert window.start == pytest.approx(0.1) and window.end == pytest.approx(0.1 + 3 * 0.2 + 2 * 0.1)


@pytest.mark.parametrize("protocol, current, message", [
    ("long_square", lambda i: i * 0, "no current was injected"),
    ("long_square", lambda i: i[: i.size // 2], "still on"),
    ("long_square", lambda i: np.where(i != 0, i + np.linspace(0, 5, i.size), 0), "flat step"),
    ("long_square", lambda i: np.concatenate([i, i]), "2 separate pulses"),
    ("ramp", lambda i: -i, "rises steadily"),
])
def test_a_malformed_stimulus_is_named(protocol, current, message):
    square = stimuli.long_square(100.0, delay=0.2, duration=0.3, tail=0.3, sampling_rate=10_000.0)
    i = current(square.i)
    t = np.arange(i.size) / 10_000.0
    with pytest.raises(SweepError, match=message):
        stimulus_window(Sweep(1, "x", t, np.full(i.size, -70.0), i), protocol)


def test_a_long_square_needs_a_baseline():
    square = stimuli.long_square(100.0, delay=0.05, duration=0.3, sampling_rate=10_000.0)
    with pytest.raises(SweepError, match="needs 0.1 s of baseline"):
        stimulus_window(_sweep(square), "long_square")
