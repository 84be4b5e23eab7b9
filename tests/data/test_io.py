"""Round trips for every writable format, the Open Ephys reader on real data, and bad input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from ratecraft.data.io import describe, read_data, write_data
from ratecraft.data.types import FeatureTable, Recording
from ratecraft.errors import BadInputError

OPENEPHYS = Path(__file__).resolve().parents[3] / "shared" / "data" / "openephys-16ch"


def _recording(dtype: str = "int16", *, positions: bool = True) -> Recording:
    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind == "f":
        samples = rng.normal(0, 100, size=(4, 1000)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        samples = rng.integers(info.min, info.max, size=(4, 1000), endpoint=True, dtype=dtype)
    return Recording(
        samples=samples,
        sample_rate=30000.0,
        uv_per_step=0.195,
        channel_names=["A1", "A2", "B1", "B2"],
        channel_positions=rng.normal(size=(4, 2)) if positions else None,
        meta={"subject": "m1", "gain": [1, 2]},
    )


def _table() -> FeatureTable:
    rng = np.random.default_rng(11)
    values = rng.normal(size=(50, 5)) * 10.0 ** rng.integers(-300, 300, size=5)
    values[3, 1] = np.nan
    values[0, 0] = -0.0
    return FeatureTable(
        values=values,
        feature_names=["mean", "std", "peak, abs", "alpha", "beta"],
        families=["stats", "stats", "stats", "bands", "bands"],
        meta={"source": "unit test"},
    )


def _assert_recordings_equal(a: Recording, b: Recording, *, meta: bool = True) -> None:
    assert b.samples.dtype == a.samples.dtype
    np.testing.assert_array_equal(b.samples, a.samples)
    assert b.sample_rate == a.sample_rate
    assert b.uv_per_step == a.uv_per_step
    assert b.channel_names == a.channel_names
    if a.channel_positions is None:
        assert b.channel_positions is None
    else:
        np.testing.assert_array_equal(b.channel_positions, a.channel_positions)
    if meta:
        assert b.meta == a.meta


def _assert_tables_equal(a: FeatureTable, b: FeatureTable, *, meta: bool = True) -> None:
    assert b.values.dtype == a.values.dtype
    # Bit-exact, NaN and the sign of zero included.
    np.testing.assert_array_equal(b.values.view(np.uint64), a.values.view(np.uint64))
    assert b.feature_names == a.feature_names
    assert b.families == a.families
    if meta:
        assert b.meta == a.meta


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".hdf5"])
def test_recording_round_trip_keeps_everything(tmp_path: Path, suffix: str) -> None:
    rec = _recording()
    write_data(rec, tmp_path / f"r{suffix}")
    _assert_recordings_equal(rec, read_data(tmp_path / f"r{suffix}"))


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_table_round_trip_keeps_everything(tmp_path: Path, suffix: str) -> None:
    table = _table()
    write_data(table, tmp_path / f"t{suffix}")
    _assert_tables_equal(table, read_data(tmp_path / f"t{suffix}"))


def test_npy_recording_round_trip_needs_fs(tmp_path: Path) -> None:
    rec = _recording(positions=False)
    path = tmp_path / "r.npy"
    write_data(rec, path)
    back = read_data(path, fs=30000.0)
    np.testing.assert_array_equal(back.samples, rec.samples)
    assert back.samples.dtype == np.int16 and back.sample_rate == 30000.0


def test_npy_table_kind(tmp_path: Path) -> None:
    table = _table()
    write_data(table, tmp_path / "t.npy")
    back = read_data(tmp_path / "t.npy", kind="table")
    assert isinstance(back, FeatureTable)
    np.testing.assert_array_equal(back.values.view(np.uint64), table.values.view(np.uint64))


@pytest.mark.parametrize("dtype", ["int16", "int32", "float32", "float64"])
def test_wav_round_trip(tmp_path: Path, dtype: str) -> None:
    rec = Recording(samples=_recording(dtype).samples, sample_rate=30000.0)  # WAV: no gain/names
    write_data(rec, tmp_path / "r.wav")
    _assert_recordings_equal(rec, read_data(tmp_path / "r.wav"))


def test_wav_sidecar_keeps_what_wav_cannot_hold(tmp_path: Path) -> None:
    rec = _recording("int16")
    rec = Recording(
        rec.samples,
        19531.25,  # a rate WAV cannot hold exactly
        uv_per_step=0.195,
        channel_names=[f"e{i}" for i in range(rec.n_channels)],
        channel_positions=np.arange(2 * rec.n_channels, dtype=float).reshape(-1, 2),
        meta={"subject": "m1"},
    )
    write_data(rec, tmp_path / "r.wav")
    assert (tmp_path / "r.wav.json").exists()
    back = read_data(tmp_path / "r.wav")
    assert back.sample_rate == 19531.25 and back.uv_per_step == 0.195
    assert back.channel_names == rec.channel_names and back.meta == {"subject": "m1"}
    np.testing.assert_array_equal(back.channel_positions, rec.channel_positions)
    np.testing.assert_array_equal(back.samples, rec.samples)
    write_data(Recording(rec.samples, 20000.0), tmp_path / "r.wav")  # nothing extra: no sidecar
    assert not (tmp_path / "r.wav.json").exists()


def test_wav_sidecar_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    write_data(Recording(_recording("int16").samples, 20000.0), tmp_path / "r.wav")
    (tmp_path / "r.wav.json").write_text('{"channel_names": ["only-one"]}')
    with pytest.raises(BadInputError, match="channel names"):
        read_data(tmp_path / "r.wav")
    (tmp_path / "r.wav.json").write_text('{"uv_per_step": "big"}')
    with pytest.raises(BadInputError, match="uv_per_step"):
        read_data(tmp_path / "r.wav")


def test_wav_24_bit_keeps_integer_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(-(2**23), 2**23, size=(500, 2), dtype=np.int32)
    sf.write(tmp_path / "r24.wav", values << 8, 20000, subtype="PCM_24")
    back = read_data(tmp_path / "r24.wav")
    assert back.samples.dtype == np.int32
    np.testing.assert_array_equal(back.samples, values.T)


@pytest.mark.parametrize("positions", [True, False])
def test_nwb_round_trip(tmp_path: Path, positions: bool) -> None:
    rec = _recording(positions=positions)
    write_data(rec, tmp_path / "r.nwb")
    _assert_recordings_equal(rec, read_data(tmp_path / "r.nwb"), meta=False)


def test_nwb_named_series_and_float_data(tmp_path: Path) -> None:
    rec = _recording("float32")
    rec.uv_per_step = 0.05
    write_data(rec, tmp_path / "r.nwb", dataset="raw")
    _assert_recordings_equal(rec, read_data(tmp_path / "r.nwb", dataset="raw"), meta=False)
    with pytest.raises(BadInputError, match="no ElectricalSeries 'lfp'"):
        read_data(tmp_path / "r.nwb", dataset="lfp")


def test_csv_round_trip_with_families_sidecar(tmp_path: Path) -> None:
    table = _table()
    path = tmp_path / "t.csv"
    write_data(table, path)
    sidecar = json.loads((tmp_path / "t.csv.families.json").read_text())
    assert sidecar["alpha"] == "bands"
    _assert_tables_equal(table, read_data(path), meta=False)
    plain = FeatureTable(values=table.values, feature_names=table.feature_names)
    write_data(plain, path)  # a table without families removes the stale sidecar
    assert read_data(path).families is None


def test_csv_empty_cells_and_nan_read_as_nan(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,,nan\n2.5,3,NaN\n")
    back = read_data(path)
    assert back.feature_names == ["a", "b", "c"]
    np.testing.assert_array_equal(back.values, [[1, np.nan, np.nan], [2.5, 3, np.nan]])


def test_hdf5_picks_only_2d_dataset_or_named_one(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    data = np.arange(12, dtype=np.int16).reshape(3, 4)
    with h5py.File(path, "w") as h5:
        h5["grp/ephys"] = data
        h5["grp/ephys"].attrs["fs"] = 1000
        h5["t"] = np.arange(4.0)
    back = read_data(path)
    np.testing.assert_array_equal(back.samples, data)
    assert back.sample_rate == 1000.0
    assert isinstance(read_data(path, dataset="grp/ephys", kind="table"), FeatureTable)


def test_write_is_atomic_on_error(tmp_path: Path) -> None:
    path = tmp_path / "r.wav"
    path.write_bytes(b"old")
    rec = Recording(samples=np.zeros((2, 10), dtype=np.int8), sample_rate=1000.0)
    with pytest.raises(BadInputError, match="WAV cannot hold int8"):
        write_data(rec, path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.wav"]


def test_describe() -> None:
    info = describe(_recording())
    assert info["kind"] == "recording" and info["shape"] == [4, 1000]
    assert info["dtype"] == "int16" and info["duration_s"] == pytest.approx(1000 / 30000)
    table_info = describe(_table())
    assert table_info["families"] == {"stats": 3, "bands": 2}
    assert table_info["nan_count"] == 1 and table_info["sample_rate"] is None


# -- Open Ephys on real data ---------------------------------------------------------------------


def _first_record_by_hand(path: Path) -> tuple[list[int], bytes]:
    raw = path.read_bytes()
    _, n, _ = struct.unpack_from("<qHH", raw, 1024)
    samples = struct.unpack_from(f">{n}h", raw, 1024 + 12)
    return list(samples), raw[1024 + 12 + 2 * n : 1024 + 22 + 2 * n]


def test_openephys_folder() -> None:
    if not OPENEPHYS.is_dir():
        pytest.skip(f"{OPENEPHYS} not present")
    rec = read_data(OPENEPHYS)
    assert rec.samples.shape == (16, 133120)
    assert rec.samples.dtype == np.int16
    assert rec.sample_rate == 40000.0 and rec.uv_per_step == 0.05
    assert rec.channel_names == [f"CH{i}" for i in range(1, 17)]
    first, marker = _first_record_by_hand(OPENEPHYS / "100_example-data_CH10.continuous")
    assert marker == bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 255])
    assert rec.samples[9, :1024].tolist() == first
    single = read_data(OPENEPHYS / "100_example-data_CH10.continuous")
    np.testing.assert_array_equal(single.samples[0], rec.samples[9])


def test_openephys_truncated(tmp_path: Path) -> None:
    if not OPENEPHYS.is_dir():
        pytest.skip(f"{OPENEPHYS} not present")
    raw = (OPENEPHYS / "100_example-data_CH1.continuous").read_bytes()
    cut = tmp_path / "cut_CH1.continuous"
    cut.write_bytes(raw[:-100])
    with pytest.raises(BadInputError, match=r"cut_CH1\.continuous: truncated"):
        read_data(cut)


def test_openephys_sorts_channels_numerically(tmp_path: Path) -> None:
    header = (
        "header.format = 'Open Ephys Data Format';\nheader.version = 0.4;\n"
        "header.header_bytes = 1024;\nheader.date_created = '1-Jan-2026 10:00:00';\n"
        "header.channel = 'CH{ch}';\nheader.channelType = 'Continuous';\n"
        "header.sampleRate = 1000;\nheader.blockLength = 1024;\nheader.bitVolts = 0.195;\n"
    )
    marker = bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 255])
    for ch in (1, 2, 10):
        head = header.format(ch=ch).encode().ljust(1024, b" ")
        samples = struct.pack(">1024h", ch, -ch, *([0, 1] * 511))
        body = struct.pack("<qHH", 0, 1024, 0) + samples + marker
        (tmp_path / f"100_CH{ch}.continuous").write_bytes(head + body)
    rec = read_data(tmp_path)
    assert rec.channel_names == ["CH1", "CH2", "CH10"]
    assert rec.samples[:, 0].tolist() == [1, 2, 10] and rec.uv_per_step == 0.195


# -- bad input: one line naming the file ---------------------------------------------------------


def _one_line_error(path: Path, **kwargs: object) -> str:
    with pytest.raises(BadInputError) as info:
        read_data(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _one_line_error(tmp_path / "nope.npz")


def test_unknown_extension_lists_supported(tmp_path: Path) -> None:
    path = tmp_path / "x.xyz"
    path.write_bytes(b"1")
    message = _one_line_error(path)
    assert ".npz" in message and ".nwb" in message and "SpikeInterface" in message


def test_1d_npy(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(10))
    assert "2-D" in _one_line_error(tmp_path / "a.npy", fs=100.0)


def test_npy_without_fs(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 10), dtype=np.int16))
    assert "no sample rate in file; pass --fs" in _one_line_error(tmp_path / "a.npy")


def test_pickled_npy_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert "refusing to unpickle" in _one_line_error(tmp_path / "o.npy", fs=1.0)


def test_npy_declaring_huge_shape(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    with open(path, "wb") as fh:
        header = {"descr": "<i2", "fortran_order": False, "shape": (10**6, 10**7)}
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * 64)
    assert "declares shape" in _one_line_error(path, fs=1.0)


def test_garbage_h5(tmp_path: Path) -> None:
    path = tmp_path / "g.h5"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    assert "not a readable HDF5 file" in _one_line_error(path)


@pytest.mark.parametrize("suffix", [".npz", ".wav", ".nwb", ".csv", ".npy"])
def test_garbage_and_empty_files(tmp_path: Path, suffix: str) -> None:
    garbage = tmp_path / f"g{suffix}"
    garbage.write_bytes(b"\x00\xff" * 300 + b"garbage")
    _one_line_error(garbage, **({} if suffix == ".csv" else {"fs": 10.0}))
    empty = tmp_path / f"e{suffix}"
    empty.write_bytes(b"")
    _one_line_error(empty, **({} if suffix == ".csv" else {"fs": 10.0}))


def test_wrong_kind_for_format(tmp_path: Path) -> None:
    write_data(_table(), tmp_path / "t.csv")
    assert "not a recording" in _one_line_error(tmp_path / "t.csv", kind="recording")
    with pytest.raises(BadInputError, match="WAV holds recordings"):
        write_data(_table(), tmp_path / "t.wav")


def test_csv_text_columns_read_as_categories_and_write_back_as_text(tmp_path: Path) -> None:
    from ratecraft.data.columns import TEXT_META_KEY
    from ratecraft.data.io.table_csv import read_csv, write_csv

    path = tmp_path / "t.csv"
    path.write_text("a,label,c\n1.5,label0,3\n2.25,label1,\n,label0,5\n3,NA,6\n")
    table = read_csv(path)
    assert table.meta[TEXT_META_KEY] == {"1": ["label0", "label1"]}
    np.testing.assert_array_equal(table.values[:, 1], [0, 1, 0, np.nan])
    out = tmp_path / "back.csv"
    write_csv(table, out)
    assert out.read_text() == "a,label,c\n1.5,label0,3\n2.25,label1,\n,label0,5\n3,,6\n"
    again = read_csv(out)
    np.testing.assert_array_equal(again.values, table.values)
