"""Bad input costs only what it touches: corrupt, truncated, non-NWB, wrong-unit, unknown-stimulus and
missing-stimulus files, bad sweeps; NWB 1, test pulses and other rigs' stimulus names."""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from actd_files import write_nwb1
from neurotype.ephys import extract, nwb, sessions, simulate
from neurotype.ephys.extract import FEATURES, PROTOCOL_FEATURES, VOLTAGE_CLAMP_FEATURES

CELL = "fast-spiking"
MEASURABLE = [f for f in FEATURES if f not in VOLTAGE_CLAMP_FEATURES]


def _copy(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    return target


def _one(path: Path, **kwargs) -> pd.Series:
    return extract.extract_features([path], **kwargs).iloc[0]


def _assert_same(row: pd.Series, reference: pd.Series, names, rel: float = 1e-6) -> None:
    # atol: the fast-spiking cell's sag is 0 (no h-current), measured as +-1e-6
    np.testing.assert_allclose(row[list(names)].to_numpy(float), reference[list(names)].to_numpy(float), rtol=rel,
                               atol=1e-6, err_msg=str(row["qc"]))


def _numbers(session, protocol) -> list[int]:
    return session.numbers(protocol)


@pytest.fixture(scope="module")
def good(nwb2_files) -> Path:
    return nwb2_files[CELL]


@pytest.fixture(scope="module")
def reference(extracted) -> pd.Series:
    return extracted.loc[CELL]


@pytest.fixture(scope="module")
def session(simulated):
    return simulated[CELL]


def test_a_batch_with_broken_files_gives_one_failed_row_and_one_log_line_each(good, reference, tmp_path, caplog):
    not_nwb = tmp_path / "notes.nwb"
    not_nwb.write_text("patched cell 3, pipette 5 MOhm\n")
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    plain_hdf5 = tmp_path / "plain.nwb"
    with h5py.File(plain_hdf5, "w") as handle:
        handle["x"] = np.arange(3)
    corrupt = _copy(good, tmp_path / "corrupt.nwb")
    with corrupt.open("r+b") as handle:  # overwrite a stretch in the middle (data and metadata alike)
        size = corrupt.stat().st_size
        handle.seek(size // 3)
        handle.write(np.random.default_rng(0).integers(0, 256, size // 3, dtype=np.uint8).tobytes())
    files = [not_nwb, good, truncated, plain_hdf5, corrupt]
    with caplog.at_level(logging.WARNING, logger="neurotype.ephys.extract"):
        table = extract.extract_features(files)
    assert list(table["file"]) == [str(f) for f in files]
    rows = table.set_index("cell_id")
    _assert_same(rows.loc[CELL], reference, MEASURABLE)
    for cell, words in (("notes", "not an HDF5 file"), ("truncated", "truncated"), ("plain", "without an nwb_version")):
        assert rows.loc[cell, MEASURABLE].isna().all()
        assert words in rows.loc[cell, "qc"]
        assert rows.loc[cell, "failed_features"].split(";") == list(FEATURES)
    # The corrupt file may fail as a whole or lose some sweeps; either way it says so and nothing crashed.
    corrupt_row = rows.loc["corrupt"]
    assert corrupt_row["qc"] and corrupt_row[MEASURABLE].isna().any()
    messages = [r.getMessage() for r in caplog.records]
    for broken in (not_nwb, truncated, plain_hdf5):
        assert sum(str(broken) in m for m in messages) == 1
    assert not any(str(good) in m for m in messages)


def test_nwb1_files_give_the_same_features_as_nwb2(session, reference, tmp_path):
    sweeps = {s.number: (s.stimulus_name, s.i, s.v, s.sampling_rate) for s in session.sweeps}
    path = write_nwb1(tmp_path / "fast-spiking.nwb", sweeps)
    recording = nwb.read_nwb(path)
    assert recording.nwb_version.startswith("NWB-1") and len(recording.sweeps) == len(session.sweeps)
    _assert_same(_one(path), reference, MEASURABLE, rel=1e-4)  # NWB 1 stores float32 volts and amperes


def test_a_wrong_unit_costs_only_that_sweep(session, good, reference, tmp_path):
    noise_number = _numbers(session, "noise")[0]
    step_number = _numbers(session, "long_square")[-1]
    path = _copy(good, tmp_path / "units.nwb")
    with h5py.File(path, "a") as handle:
        # millivolts stored as if they were volts (conversion 1 instead of 1e-3): -70 "V"
        handle[f"acquisition/response_{noise_number:05d}/data"].attrs["conversion"] = 1.0
        handle[f"stimulus/presentation/stimulus_{step_number:05d}/data"].attrs["unit"] = "furlongs"
    row = _one(path)
    assert row[list(PROTOCOL_FEATURES["noise"])].isna().all()
    assert f"sweep {noise_number} (Noise 1) left out" in row["qc"] and "reaches 7e+04" in row["qc"]
    assert f"sweep {step_number} (Long Square) left out: the stimulus has unit 'furlongs'" in row["qc"]
    others = [f for f in MEASURABLE if f not in PROTOCOL_FEATURES["noise"] and f != "f_i_curve_slope"]
    _assert_same(row, reference, others)


def test_unknown_stimulus_names_are_reported_and_a_stimulus_map_file_teaches_them(session, reference, tmp_path):
    renamed = [nwb.Sweep(s.number, "SSq3ms" if session.protocols[s.number] == "short_square" else s.stimulus_name,
                         s.t, s.v, s.i) for s in session.sweeps]
    path = nwb.write_nwb(tmp_path / "renamed.nwb", renamed)
    row = _one(path)
    short = list(PROTOCOL_FEATURES["short_square"])
    assert row[short].isna().all()
    numbers = ", ".join(map(str, _numbers(session, "short_square")))
    assert f"unrecognised stimulus name 'SSq3ms' (sweeps {numbers})" in row["qc"]
    assert set(row["failed_features"].split(";")) == {*short, *VOLTAGE_CLAMP_FEATURES}
    mapping = tmp_path / "rig_names.yml"
    mapping.write_text("short_square: ['ssq*']   # our 3 ms steps\n")
    taught = _one(path, stimulus_map=mapping)
    _assert_same(taught, reference, MEASURABLE)
    assert "unrecognised" not in taught["qc"]


def test_a_sweep_without_stimulus_costs_only_its_protocol(session, reference, tmp_path):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.icephys import CurrentClampSeries, CurrentClampStimulusSeries

    ramp_number = _numbers(session, "ramp")[0]
    nwbfile = NWBFile(session_description="no icephys table; pairs by sweep_number", identifier="bare",
                      session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    electrode = nwbfile.create_icephys_electrode(name="e0", description="pipette", device=nwbfile.create_device(name="amp"))
    for sweep in session.sweeps:
        common = dict(rate=25_000.0, electrode=electrode, gain=1.0, sweep_number=np.uint32(sweep.number),
                      stimulus_description=sweep.stimulus_name)
        # float32 mV and pA, as write_nwb stores them (the noise sweep's trough_i moves with the last digit)
        nwbfile.add_acquisition(CurrentClampSeries(name=f"data_{sweep.number:05d}_AD0", data=sweep.v.astype(np.float32),
                                                   conversion=1e-3, **common))
        if sweep.number != ramp_number:
            nwbfile.add_stimulus(CurrentClampStimulusSeries(name=f"data_{sweep.number:05d}_DA0", conversion=1e-12,
                                                            data=sweep.i.astype(np.float32), **common))
    path = tmp_path / "bare.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    row = _one(path)
    ramp = list(PROTOCOL_FEATURES["ramp"])
    assert row[ramp].isna().all()
    assert f"sweep {ramp_number} (Ramp) left out: no stimulus series is stored for it" in row["qc"]
    assert "no usable ramp sweep" in row["qc"]
    _assert_same(row, reference, [f for f in MEASURABLE if f not in ramp])


def test_a_truncated_sweep_is_left_out_and_the_rest_measured(session, reference, tmp_path):
    last_step = _numbers(session, "long_square")[-1]
    cut = []
    for sweep in session.sweeps:
        if sweep.number == last_step:  # the rig stopped mid-step: NaN-padded response, as MIES writes it
            v = sweep.v.copy()
            v[int(0.6 * sweep.sampling_rate):] = np.nan
            sweep = nwb.Sweep(sweep.number, sweep.stimulus_name, sweep.t, v, sweep.i)
        cut.append(sweep)
    row = _one(nwb.write_nwb(tmp_path / "cut.nwb", cut))
    assert f"sweep {last_step} (Long Square) left out: the recording stops at 0.6 s while the" in row["qc"]
    kept = [n for n in _numbers(session, "long_square") if n != last_step
            and session.results[n].n_spikes > 0 and session.results[n].stimulus.meta["amplitude_pa"] > 0]
    amplitudes = [session.results[n].stimulus.meta["amplitude_pa"] for n in kept]
    rates = [session.results[n].n_spikes for n in kept]
    assert row["f_i_curve_slope"] == pytest.approx(np.polyfit(amplitudes, rates, 1)[0], rel=1e-9)
    _assert_same(row, reference, [f for f in MEASURABLE if f != "f_i_curve_slope"])
    assert row["sweeps_used"] == reference["sweeps_used"] - 1


def test_test_pulses_and_allen_stimulus_codes(reference, tmp_path):
    codes = {"long_square": "C1LSCOARSE150216_DA_0", "short_square": "C1SSFINEST150112[0]",
             "ramp": "C1RP25PR1S141203", "noise": "C1NSSEED_2150216"}
    pulsed = sessions.simulated_session(simulate.FAST_SPIKING, sampling_rate=25_000.0, ramp_slope_pa_per_s=100.0,
                                        noise_epoch_s=0.4, noise_gap_s=0.2, seed=5, names=codes, test_pulse=True)
    extra_test_sweep = nwb.Sweep(99, "EXTPSMOKET141203", pulsed.sweeps[0].t, pulsed.sweeps[0].v, pulsed.sweeps[0].i)
    row = _one(nwb.write_nwb(tmp_path / "pulsed.nwb", [*pulsed.sweeps, extra_test_sweep]))
    assert row["failed_features"].split(";") == list(VOLTAGE_CLAMP_FEATURES) and "unrecognised" not in row["qc"]
    # The same cell with a test pulse, its stimuli 0.2 s later, under other names: the same features.
    _assert_same(row, reference, MEASURABLE)  # measured: equal to 1e-12


def test_folders_expand_to_their_nwb_files_and_missing_paths_are_named(nwb2_files, tmp_path):
    folder = Path(next(iter(nwb2_files.values()))).parent
    assert extract.nwb_files([folder]) == sorted(Path(p) for p in nwb2_files.values())
    with pytest.raises(FileNotFoundError, match="nowhere.nwb: no such file"):
        extract.nwb_files([tmp_path / "nowhere.nwb"])
    with pytest.raises(FileNotFoundError, match="folder without .nwb files"):
        extract.nwb_files([tmp_path])


def test_nwb_cells_leaves_out_cells_without_any_model_feature(good, tmp_path):
    broken = tmp_path / "broken.nwb"
    broken.write_text("not hdf5")
    cells = extract.nwb_cells([good, broken], ["vrest", "ri"])
    assert list(cells["cell_id"]) == [CELL]
    with pytest.raises(ValueError, match="none of the 1 NWB file"):
        extract.nwb_cells([broken], ["vrest"])
