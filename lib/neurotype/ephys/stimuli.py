"""Current-clamp stimuli with the shapes of the Allen Cell Types Database protocols.

The ACTD characterises each cell with four families of current injections
(Allen Cell Types Database technical white paper, "Electrophysiology"; summarised in
Ophir et al. 2024, section 2.1):

* **long square**: a 1 s step (ACTD steps run from -110 pA to rheobase + 160 pA in 20 pA increments);
* **short square**: a 3 ms step, used to find the threshold for a single action potential;
* **ramp**: a current rising at 25 pA/s until the cell fires a train of spikes;
* **noise**: pink noise (1/f power between 1 and 100 Hz) with coefficient of variation 0.2
  around three mean levels, 0.75, 1 and 1.5 times rheobase ("Noise 1" and "Noise 2" use different seeds).

Every builder returns a :class:`Stimulus`: time in seconds, injected current in pA, and the
window in which the stimulus is on. Defaults follow ACTD where it is documented; the delays
before the stimulus are shorter than ACTD's 1.02 s because our simulated cells start at rest,
so nothing needs to settle (that saves simulation time and changes no feature).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Stimulus",
    "long_square",
    "short_square",
    "ramp",
    "noise",
    "pink_noise",
    "DEFAULT_SAMPLING_RATE",
    "RAMP_SLOPE_PA_PER_S",
    "NOISE_CV",
    "NOISE_SCALES",
]

#: Sampling rate of ACTD recordings made after 2016 (earlier ones used 200 kHz), in Hz.
DEFAULT_SAMPLING_RATE = 50_000.0
#: Slope of the ACTD ramp, in pA per second.
RAMP_SLOPE_PA_PER_S = 25.0
#: Coefficient of variation (standard deviation / mean) of the ACTD noise epochs.
NOISE_CV = 0.2
#: Mean levels of the three ACTD noise epochs, as multiples of rheobase.
NOISE_SCALES = (0.75, 1.0, 1.5)


@dataclass(frozen=True)
class Stimulus:
    """A sampled current-clamp stimulus.

    Attributes
    ----------
    kind : str
        ``"long_square"``, ``"short_square"``, ``"ramp"`` or ``"noise"``.
    t : numpy.ndarray
        Sample times in seconds, starting at 0, evenly spaced.
    i : numpy.ndarray
        Injected current in pA, one value per sample.
    start, end : float
        Times (s) at which the stimulus switches on and off; feature extraction uses this window.
    meta : dict
        Protocol parameters (amplitudes, epochs, seed) for figures and reports.
    """

    kind: str
    t: np.ndarray
    i: np.ndarray
    start: float
    end: float
    meta: dict = field(default_factory=dict)

    @property
    def sampling_rate(self) -> float:
        """Samples per second."""
        return 1.0 / float(self.t[1] - self.t[0])

    @property
    def duration(self) -> float:
        """Length of the sweep in seconds."""
        return float(self.t[-1] + (self.t[1] - self.t[0]))


def _check_positive(name: str, value: float) -> float:
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number; got {value!r}")
    return float(value)


def _time_axis(total: float, sampling_rate: float) -> np.ndarray:
    n_samples = int(round(total * sampling_rate))
    return np.arange(n_samples) / sampling_rate


def _square(kind: str, amplitude_pa: float, duration: float, delay: float, tail: float,
            sampling_rate: float) -> Stimulus:
    _check_positive("duration", duration)
    _check_positive("sampling_rate", sampling_rate)
    if delay < 0 or tail < 0:
        raise ValueError(f"delay and tail must be >= 0 s; got delay={delay!r}, tail={tail!r}")
    if not np.isfinite(amplitude_pa):
        raise ValueError(f"amplitude_pa must be finite; got {amplitude_pa!r}")
    t = _time_axis(delay + duration + tail, sampling_rate)
    # Index arithmetic (not float comparison) so the step lasts exactly round(duration * rate) samples.
    first = int(round(delay * sampling_rate))
    last = first + int(round(duration * sampling_rate))
    i = np.zeros_like(t)
    i[first:last] = amplitude_pa
    return Stimulus(kind, t, i, start=first / sampling_rate, end=last / sampling_rate,
                    meta={"amplitude_pa": float(amplitude_pa), "duration_s": float(duration)})


def long_square(amplitude_pa: float, *, duration: float = 1.0, delay: float = 0.1, tail: float = 0.2,
                sampling_rate: float = DEFAULT_SAMPLING_RATE) -> Stimulus:
    """A 1 s current step (ACTD "Long Square").

    Parameters
    ----------
    amplitude_pa : float
        Step amplitude in pA (negative values hyperpolarise).
    duration : float, default 1.0
        Length of the step in seconds.
    delay, tail : float
        Rest before and after the step, in seconds.
    sampling_rate : float, default 50 kHz
        Samples per second.

    Returns
    -------
    Stimulus
    """
    return _square("long_square", amplitude_pa, duration, delay, tail, sampling_rate)


def short_square(amplitude_pa: float, *, duration: float = 0.003, delay: float = 0.05, tail: float = 0.1,
                 sampling_rate: float = DEFAULT_SAMPLING_RATE) -> Stimulus:
    """A 3 ms current step (ACTD "Short Square").

    Parameters
    ----------
    amplitude_pa : float
        Step amplitude in pA; a short step needs several times the long-step rheobase to fire.
    duration : float, default 0.003
        Length of the step in seconds.
    delay, tail : float
        Rest before and after the step, in seconds.
    sampling_rate : float, default 50 kHz
        Samples per second.

    Returns
    -------
    Stimulus
    """
    return _square("short_square", amplitude_pa, duration, delay, tail, sampling_rate)


def ramp(duration: float, *, slope_pa_per_s: float = RAMP_SLOPE_PA_PER_S, delay: float = 0.1, tail: float = 0.0,
         sampling_rate: float = DEFAULT_SAMPLING_RATE) -> Stimulus:
    """A current ramp from 0 pA rising at 25 pA/s (ACTD "Ramp").

    ACTD stops the ramp once the cell has fired a train of spikes; pick ``duration`` so that
    ``slope * duration`` passes the cell's rheobase (a ramp that stops earlier simply evokes no spike).

    Parameters
    ----------
    duration : float
        How long the current rises, in seconds.
    slope_pa_per_s : float, default 25
        Rate of rise in pA/s.
    delay, tail : float
        Rest before the ramp and after it stops (current back to 0), in seconds.
    sampling_rate : float, default 50 kHz
        Samples per second.

    Returns
    -------
    Stimulus
    """
    _check_positive("duration", duration)
    _check_positive("slope_pa_per_s", slope_pa_per_s)
    _check_positive("sampling_rate", sampling_rate)
    t = _time_axis(delay + duration + tail, sampling_rate)
    first = int(round(delay * sampling_rate))
    last = first + int(round(duration * sampling_rate))
    i = np.zeros_like(t)
    i[first:last] = slope_pa_per_s * (t[first:last] - t[first])
    return Stimulus("ramp", t, i, start=first / sampling_rate, end=last / sampling_rate,
                    meta={"slope_pa_per_s": float(slope_pa_per_s), "duration_s": float(duration)})


def pink_noise(n_samples: int, sampling_rate: float, *, band_hz: tuple[float, float] = (1.0, 100.0),
               rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance noise with a 1/f power spectrum inside ``band_hz``.

    Built in the frequency domain: random phases, amplitude ``1/sqrt(f)`` (power ``1/f``) for
    frequencies inside the band and zero outside, then an inverse FFT and standardisation.

    Parameters
    ----------
    n_samples : int
        Length of the output.
    sampling_rate : float
        Samples per second.
    band_hz : (float, float), default (1, 100)
        Lowest and highest frequency with power.
    rng : numpy.random.Generator
        Source of randomness (seed it for reproducible stimuli).

    Returns
    -------
    numpy.ndarray
        ``n_samples`` values with mean 0 and standard deviation 1.
    """
    low, high = band_hz
    if not 0 < low < high < sampling_rate / 2:
        raise ValueError(f"band_hz must satisfy 0 < low < high < Nyquist ({sampling_rate / 2:g} Hz); got {band_hz!r}")
    frequencies = np.fft.rfftfreq(n_samples, d=1.0 / sampling_rate)
    in_band = (frequencies >= low) & (frequencies <= high)
    if in_band.sum() < 2:
        raise ValueError(f"{n_samples} samples at {sampling_rate:g} Hz resolve fewer than two frequencies in {band_hz!r} Hz; "
                         "use a longer epoch")
    amplitude = np.zeros_like(frequencies)
    amplitude[in_band] = 1.0 / np.sqrt(frequencies[in_band])
    phases = rng.uniform(0.0, 2.0 * np.pi, size=frequencies.size)
    signal = np.fft.irfft(amplitude * np.exp(1j * phases), n=n_samples)
    return (signal - signal.mean()) / signal.std()


def noise(rheobase_pa: float, *, scales: tuple[float, ...] = NOISE_SCALES, cv: float = NOISE_CV,
          epoch_duration: float = 3.0, gap: float = 1.0, delay: float = 0.1, tail: float = 0.2,
          band_hz: tuple[float, float] = (1.0, 100.0), seed: int = 0,
          sampling_rate: float = DEFAULT_SAMPLING_RATE) -> Stimulus:
    """Pink-noise epochs around multiples of rheobase (ACTD "Noise 1" / "Noise 2").

    Epoch ``k`` carries ``scales[k] * rheobase_pa * (1 + cv * z_k(t))`` where ``z_k`` is
    unit-variance pink noise, so each epoch has mean ``scales[k] * rheobase`` and coefficient of
    variation ``cv`` exactly. The 3 s epochs are ACTD's; ACTD rests the cell for several seconds
    between epochs, and our 1 s default ``gap`` is shorter only to save simulation time (the
    model cells recover from an epoch well within it). Both can be shortened further for tests.

    Parameters
    ----------
    rheobase_pa : float
        The cell's rheobase in pA (smallest 1 s step that fires).
    scales : tuple of float, default (0.75, 1, 1.5)
        Mean current of each epoch as a multiple of rheobase.
    cv : float, default 0.2
        Standard deviation / mean within each epoch.
    epoch_duration, gap, delay, tail : float
        Epoch length, rest between epochs, before the first and after the last, in seconds.
    band_hz : (float, float), default (1, 100)
        Frequency band of the pink noise.
    seed : int, default 0
        Seed of the noise; ACTD's Noise 1 and Noise 2 differ only in their noise realisation.
    sampling_rate : float, default 50 kHz
        Samples per second.

    Returns
    -------
    Stimulus
        ``meta["epochs"]`` lists ``(start_s, end_s, mean_pa)`` for each epoch.
    """
    _check_positive("rheobase_pa", rheobase_pa)
    _check_positive("epoch_duration", epoch_duration)
    _check_positive("sampling_rate", sampling_rate)
    if not 0 <= cv < 1:
        raise ValueError(f"cv must be in [0, 1) so the current stays mostly positive; got {cv!r}")
    if not scales or any(not np.isfinite(s) or s <= 0 for s in scales):
        raise ValueError(f"scales must be positive multiples of rheobase; got {scales!r}")
    rng = np.random.default_rng(seed)
    n_epoch = int(round(epoch_duration * sampling_rate))
    n_gap = int(round(gap * sampling_rate))
    first = int(round(delay * sampling_rate))
    total = first + len(scales) * n_epoch + (len(scales) - 1) * n_gap + int(round(tail * sampling_rate))
    t = np.arange(total) / sampling_rate
    i = np.zeros(total)
    epochs = []
    begin = first
    for scale in scales:
        mean = scale * rheobase_pa
        i[begin:begin + n_epoch] = mean * (1.0 + cv * pink_noise(n_epoch, sampling_rate, band_hz=band_hz, rng=rng))
        epochs.append((begin / sampling_rate, (begin + n_epoch) / sampling_rate, float(mean)))
        begin += n_epoch + n_gap
    return Stimulus("noise", t, i, start=epochs[0][0], end=epochs[-1][1],
                    meta={"rheobase_pa": float(rheobase_pa), "scales": tuple(scales), "cv": float(cv),
                          "epochs": epochs, "seed": int(seed), "band_hz": tuple(band_hz)})
