"""Read a cell's current-clamp sweeps from an NWB file (NWB 2 with pynwb, ACTD's NWB 1 with h5py).

A lab's recordings arrive as NWB files: NWB 2 as DANDI, the Allen Patch-seq releases and most
rigs' converters write them, or the NWB 1 files of the Allen Cell Types Database. This module turns
one file into a :class:`Recording`: the cell's current-clamp sweeps in the units the feature
extractor expects (time in s, membrane potential in mV, injected current in pA), each with its
stimulus name, plus a list of the sweeps it could not use and why.

What is read
------------
NWB 2
    Every ``CurrentClampSeries`` in ``acquisition`` is paired with its
    ``CurrentClampStimulusSeries`` through the intracellular-recordings table, or else through the
    shared ``sweep_number``. The stimulus name is the stimulus series' ``stimulus_description``
    (the response's when the stimulus has none). Voltage-clamp and I=0 series are not current-clamp
    sweeps and are left out silently.
NWB 1 (ACTD layout)
    ``epochs/Sweep_N`` with ``stimulus/presentation/Sweep_N`` (current, and its
    ``aibs_stimulus_name``) and ``acquisition/timeseries/Sweep_N`` (potential). A sweep whose
    response is in amperes is a voltage-clamp sweep and is left out silently.

Values are ``data * conversion + offset`` in the series' declared ``unit``; volts, millivolts,
microvolts and amperes, nanoamperes, picoamperes are understood (NWB says SI, converters do not
always listen). Trailing NaNs (a sweep that was stopped early) are cut off.

What goes wrong, and where it lands
-----------------------------------
A file that is not HDF5, is truncated, or is HDF5 without an NWB version raises
:class:`NWBFileError` (a ``ValueError``) with one line naming the file and the problem. A sweep
without a stimulus series, with an unknown unit, with data that cannot be read, or whose
stimulus and response disagree in length is not raised: it goes to ``Recording.skipped`` with the
reason, so one bad sweep costs only itself. Magnitudes are not judged here (a potential of
-70,000 mV is passed on and rejected, with its value, by the feature extractor's unit checks).

:func:`write_nwb` writes sweeps to an NWB 2 file with pynwb, the way a rig's converter would; the
tests and the features chapter use it for simulated cells.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

__all__ = [
    "Sweep",
    "SkippedSweep",
    "Recording",
    "NWBFileError",
    "read_nwb",
    "nwb_version",
    "write_nwb",
    "VOLTAGE_UNITS_TO_MV",
    "CURRENT_UNITS_TO_PA",
]

#: Factor from a declared potential unit (lower case) to mV.
VOLTAGE_UNITS_TO_MV: dict[str, float] = {
    "v": 1e3, "volt": 1e3, "volts": 1e3,
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "µv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
}
#: Factor from a declared current unit (lower case) to pA.
CURRENT_UNITS_TO_PA: dict[str, float] = {
    "a": 1e12, "amp": 1e12, "amps": 1e12, "ampere": 1e12, "amperes": 1e12,
    "na": 1e3, "nanoamp": 1e3, "nanoamps": 1e3, "nanoampere": 1e3, "nanoamperes": 1e3,
    "pa": 1.0, "picoamp": 1.0, "picoamps": 1.0, "picoampere": 1.0, "picoamperes": 1.0,
}


class NWBFileError(ValueError):
    """A file that cannot be read as NWB at all; the message names the file and the problem."""


class _SweepReadError(ValueError):
    """One sweep that cannot be read (becomes a :class:`SkippedSweep`)."""


@dataclass(frozen=True)
class Sweep:
    """One current-clamp sweep.

    Attributes
    ----------
    number : int
        Sweep number in the file.
    stimulus_name : str
        The stimulus name stored with the sweep (e.g. ``"Long Square"``, ``"C1LSCOARSE150216"``).
    t : numpy.ndarray
        Time since the start of the sweep, s.
    v : numpy.ndarray
        Membrane potential, mV.
    i : numpy.ndarray
        Injected current, pA.
    """

    number: int
    stimulus_name: str
    t: np.ndarray
    v: np.ndarray
    i: np.ndarray

    @property
    def sampling_rate(self) -> float:
        """Samples per second."""
        return 1.0 / float(self.t[1] - self.t[0])


@dataclass(frozen=True)
class SkippedSweep:
    """A sweep that could not be read, and why."""

    number: int
    stimulus_name: str
    reason: str


@dataclass
class Recording:
    """A cell's current-clamp sweeps read from one NWB file.

    Attributes
    ----------
    path : Path
    cell_id : str
        The file name without its extension (``ephys.nwb`` files, as allensdk caches them, take
        their folder's name instead).
    nwb_version : str
        As stored in the file (``"2.8.0"``, ``"NWB-1.0.5"``).
    sweeps : list of Sweep
        Current-clamp sweeps in sweep-number order.
    skipped : list of SkippedSweep
        Sweeps that could not be read, with the reason.
    """

    path: Path
    cell_id: str
    nwb_version: str
    sweeps: list[Sweep] = field(default_factory=list)
    skipped: list[SkippedSweep] = field(default_factory=list)


# ----- helpers ---------------------------------------------------------------------------------

def _text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _cell_id(path: Path) -> str:
    if path.stem.lower() in {"ephys", "data", "recording", "cell"} and path.parent.name:
        return path.parent.name
    return path.stem


def _describe_hdf5_error(error: Exception) -> str:
    text = str(error)
    if "file signature not found" in text:
        return "not an HDF5 file, so not NWB (NWB 1 and 2 are both HDF5)"
    if "truncated file" in text:
        sizes = re.search(r"eof = (\d+).*stored_eof = (\d+)", text)
        have = f": {int(sizes.group(1)):,} of its {int(sizes.group(2)):,} bytes" if sizes else ""
        return f"truncated{have} (an interrupted copy or download?)"
    return f"cannot be opened as HDF5: {type(error).__name__}: {text}"


def nwb_version(path: Path | str) -> str:
    """The NWB version string stored in ``path``.

    Raises
    ------
    NWBFileError
        The file is missing, not HDF5, truncated, or HDF5 without an ``nwb_version``.
    """
    path = Path(path)
    if not path.is_file():
        raise NWBFileError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as handle:
            version = handle.attrs.get("nwb_version")
            if version is None and isinstance(handle.get("nwb_version"), h5py.Dataset):  # NWB 1 keeps a dataset
                version = handle["nwb_version"][()]
    except OSError as error:
        raise NWBFileError(f"{path}: {_describe_hdf5_error(error)}") from None
    version = _text(version).strip()
    if not version:
        raise NWBFileError(f"{path}: an HDF5 file without an nwb_version, so not an NWB file")
    return version


def _major_version(version: str) -> int | None:
    match = re.search(r"(\d+)\.\d+", version)
    return int(match.group(1)) if match else None


def _scale(unit: str, table: dict[str, float], what: str) -> float:
    key = unit.strip().lower().replace(" ", "")
    if key not in table:
        known = "volts, mV or µV" if table is VOLTAGE_UNITS_TO_MV else "amperes, nA or pA"
        raise _SweepReadError(f"the {what} has unit {unit!r}; expected {known}")
    return table[key]


def _as_float(dataset_or_array, what: str) -> np.ndarray:
    try:
        values = np.asarray(dataset_or_array[()], dtype=float)
    except Exception as error:  # h5py raises OSError/KeyError on damaged chunks; say which data
        raise _SweepReadError(f"the {what} data cannot be read ({type(error).__name__}: {error})") from None
    if values.ndim != 1:
        raise _SweepReadError(f"the {what} data have shape {values.shape}, not one value per sample")
    return values


def _assemble(number: int, name: str, v_mv: np.ndarray, i_pa: np.ndarray, rate: float) -> Sweep:
    if not np.isfinite(rate) or rate <= 0:
        raise _SweepReadError(f"sampling rate {rate!r} Hz is not a positive number")
    finite = np.flatnonzero(np.isfinite(v_mv))
    if finite.size < 3:
        raise _SweepReadError("the response holds fewer than 3 recorded samples")
    stop = int(finite[-1]) + 1  # a sweep stopped early is NaN-padded (MIES); keep what was recorded
    if i_pa.size < stop:
        raise _SweepReadError(f"the stimulus has {i_pa.size} samples but the response {stop}")
    v_mv, i_pa = v_mv[:stop], i_pa[:stop]
    return Sweep(number=int(number), stimulus_name=name, t=np.arange(stop) / float(rate), v=v_mv, i=i_pa)


# ----- NWB 2 -----------------------------------------------------------------------------------

def _stored_unit(series) -> str:
    """The unit written in the file: pynwb replaces an unexpected unit of a patch-clamp series by the
    standard one on reading (with only a warning), which would hide a mislabelled file."""
    attributes = getattr(series.data, "attrs", None)
    if attributes is not None and "unit" in attributes:
        return _text(attributes["unit"])
    return _text(series.unit)


def _series_values(series, table: dict[str, float], what: str) -> tuple[np.ndarray, float]:
    factor = _scale(_stored_unit(series), table, what)
    data = _as_float(series.data, what)
    conversion = float(series.conversion if series.conversion is not None else 1.0)
    offset = float(getattr(series, "offset", 0.0) or 0.0)
    if series.rate is not None:
        rate = float(series.rate)
    elif series.timestamps is not None and len(series.timestamps) > 1:
        rate = 1.0 / float(np.median(np.diff(np.asarray(series.timestamps[()], dtype=float))))
    else:
        raise _SweepReadError(f"the {what} has neither a sampling rate nor timestamps")
    return (data * conversion + offset) * factor, rate


def _stimulus_name(*series) -> str:
    for item in series:
        text = _text(getattr(item, "stimulus_description", None)).strip()
        if text and text.upper() != "N/A":
            return text
    return ""


def _read_nwb2(path: Path, version: str) -> Recording:
    from pynwb import NWBHDF5IO
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    recording = Recording(path=path, cell_id=_cell_id(path), nwb_version=version)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pynwb/hdmf warn about cached namespaces and old layouts
            io = NWBHDF5IO(str(path), "r", load_namespaces=True)
            nwbfile = io.read()
    except Exception as error:  # hdmf raises many types on a damaged or non-conforming file
        raise NWBFileError(f"{path}: pynwb cannot read this NWB {version} file ({type(error).__name__}: "
                           f"{str(error).splitlines()[0] if str(error) else ''})") from None
    try:
        stimulus_of: dict[int, object] = {}
        table = nwbfile.intracellular_recordings
        try:
            frame = table.to_dataframe() if table is not None and len(table) > 0 else None
        except Exception:  # a table this reader does not understand: pair by sweep_number instead
            frame = None
        for _, row in (frame.iterrows() if frame is not None else ()):
            stimulus_cell, response_cell = row.get(("stimuli", "stimulus")), row.get(("responses", "response"))
            if getattr(response_cell, "timeseries", None) is not None:
                stimulus_of[id(response_cell.timeseries)] = getattr(stimulus_cell, "timeseries", None)
        by_number: dict[int, object] = {}
        for series in nwbfile.stimulus.values():
            if isinstance(series, CurrentClampStimulusSeries) and getattr(series, "sweep_number", None) is not None:
                by_number[int(series.sweep_number)] = series
        responses = [s for s in nwbfile.acquisition.values() if type(s) is CurrentClampSeries]  # not IZeroClamp
        for position, response in enumerate(sorted(responses, key=lambda s: (s.sweep_number is None,
                                                                              s.sweep_number or 0, s.name))):
            number = int(response.sweep_number) if response.sweep_number is not None else position
            stimulus = stimulus_of.get(id(response)) or by_number.get(number)
            name = _stimulus_name(stimulus, response)
            try:
                if stimulus is None:
                    raise _SweepReadError("no stimulus series is stored for it, so the injected current is unknown")
                v_mv, rate = _series_values(response, VOLTAGE_UNITS_TO_MV, "response")
                i_pa, stimulus_rate = _series_values(stimulus, CURRENT_UNITS_TO_PA, "stimulus")
                if not np.isclose(rate, stimulus_rate, rtol=1e-6):
                    raise _SweepReadError(f"stimulus sampled at {stimulus_rate:g} Hz, response at {rate:g} Hz")
                recording.sweeps.append(_assemble(number, name, v_mv, i_pa, rate))
            except _SweepReadError as error:
                recording.skipped.append(SkippedSweep(number, name, str(error)))
    finally:
        io.close()
    return recording


# ----- NWB 1 (ACTD) ----------------------------------------------------------------------------

def _sweep_key_number(key: str) -> int | None:
    match = re.fullmatch(r"Sweep_(\d+)", key)
    return int(match.group(1)) if match else None


def _nwb1_series(handle: h5py.File, group_path: str, table: dict[str, float], what: str,
                 stop: int | None) -> tuple[np.ndarray, float]:
    group = handle.get(group_path)
    if not isinstance(group, h5py.Group) or "data" not in group:
        raise _SweepReadError(f"no {what} data at {group_path}")
    data = group["data"]
    factor = _scale(_text(data.attrs.get("unit", "")), table, what)
    values = _as_float(data, what)[:stop]
    conversion = float(np.asarray(data.attrs.get("conversion", 1.0)).reshape(-1)[0])
    start = group.get("starting_time")
    rate = float(np.asarray(start.attrs.get("rate", np.nan)).reshape(-1)[0]) if start is not None else np.nan
    return values * conversion * factor, rate


def _read_nwb1(path: Path, version: str) -> Recording:
    recording = Recording(path=path, cell_id=_cell_id(path), nwb_version=version)
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise NWBFileError(f"{path}: {_describe_hdf5_error(error)}") from None
    with handle:
        epochs = handle.get("epochs")
        numbers = sorted(n for n in (_sweep_key_number(k) for k in (epochs.keys() if epochs is not None else []))
                         if n is not None)
        for number in numbers:
            key = f"Sweep_{number}"
            stimulus_path, response_path = f"stimulus/presentation/{key}", f"acquisition/timeseries/{key}"
            name = ""
            try:
                stimulus_group = handle.get(stimulus_path)
                if isinstance(stimulus_group, h5py.Group) and "aibs_stimulus_name" in stimulus_group:
                    name = _text(stimulus_group["aibs_stimulus_name"][()]).strip()
                response_data = handle.get(f"{response_path}/data")
                if response_data is not None and _text(response_data.attrs.get("unit", "")).strip().lower() in \
                        CURRENT_UNITS_TO_PA:
                    continue  # response in amperes: a voltage-clamp sweep (test pulse, seal, break-in)
                stop = None
                count = handle.get(f"epochs/{key}/response/count")
                first = handle.get(f"epochs/{key}/response/idx_start")
                if count is not None:
                    stop = int(np.asarray(first[()] if first is not None else 0)) + int(np.asarray(count[()]))
                v_mv, rate = _nwb1_series(handle, response_path, VOLTAGE_UNITS_TO_MV, "response", stop)
                i_pa, _ = _nwb1_series(handle, stimulus_path, CURRENT_UNITS_TO_PA, "stimulus", stop)
                recording.sweeps.append(_assemble(number, name, v_mv, i_pa, rate))
            except _SweepReadError as error:
                recording.skipped.append(SkippedSweep(number, name, str(error)))
            except (OSError, KeyError) as error:  # a damaged group or link inside the file
                recording.skipped.append(SkippedSweep(number, name, f"cannot be read ({type(error).__name__}: {error})"))
    return recording


# ----- entry points ----------------------------------------------------------------------------

def read_nwb(path: Path | str) -> Recording:
    """Read the current-clamp sweeps of one cell from an NWB 2 or NWB 1 file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    Recording
        Sweeps in mV / pA / s, and the sweeps that could not be read with the reason.

    Raises
    ------
    NWBFileError
        The file is missing, not HDF5, truncated, not NWB, or pynwb cannot read it.
    """
    path = Path(path)
    version = nwb_version(path)
    major = _major_version(version)
    if major == 2:
        return _read_nwb2(path, version)
    if major == 1:
        return _read_nwb1(path, version)
    raise NWBFileError(f"{path}: NWB version {version!r} is neither 1.x nor 2.x")


def write_nwb(path: Path | str, sweeps: Iterable[Sweep], *, identifier: str | None = None,
              session_start_time: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc)) -> Path:
    """Write current-clamp sweeps to an NWB 2 file with pynwb, as a rig's converter would.

    Each sweep becomes a ``CurrentClampStimulusSeries`` (``stimulus_description`` = its stimulus
    name) and a ``CurrentClampSeries`` with the same ``sweep_number``, stored as float32 in pA and mV
    with ``conversion`` 1e-12 and 1e-3 (the NWB unit stays SI), and a row of the
    intracellular-recordings table.

    Parameters
    ----------
    path : path-like
        File to create (an existing file is replaced).
    sweeps : iterable of Sweep
    identifier : str, optional
        The file's NWB identifier (default: the file name without extension).
    session_start_time : datetime
        Fixed by default so that the same sweeps give the same file contents.

    Returns
    -------
    Path
    """
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    path = Path(path)
    nwbfile = NWBFile(session_description="current-clamp sweeps", identifier=identifier or path.stem,
                      session_start_time=session_start_time)
    device = nwbfile.create_device(name="amplifier")
    electrode = nwbfile.create_icephys_electrode(name="electrode_0", description="whole-cell patch pipette",
                                                 device=device)
    for sweep in sweeps:
        rate = float(sweep.sampling_rate)
        stimulus = CurrentClampStimulusSeries(
            name=f"stimulus_{sweep.number:05d}", data=np.asarray(sweep.i, dtype=np.float32), conversion=1e-12,
            rate=rate, starting_time=0.0, electrode=electrode, gain=1.0, sweep_number=sweep.number,
            stimulus_description=sweep.stimulus_name)
        response = CurrentClampSeries(
            name=f"response_{sweep.number:05d}", data=np.asarray(sweep.v, dtype=np.float32), conversion=1e-3,
            rate=rate, starting_time=0.0, electrode=electrode, gain=1.0, sweep_number=sweep.number,
            stimulus_description=sweep.stimulus_name)
        nwbfile.add_intracellular_recording(electrode=electrode, stimulus=stimulus, response=response)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    return path
