"""NWB files through ``pynwb``: one ``ElectricalSeries`` from ``acquisition``.

On disk the series is time × channels with ``conversion`` in volts per stored unit; in memory it
becomes channels × time with ``uv_per_step = conversion · 10⁶``. The scaling by 10⁶ is done in
decimal so that a gain such as 0.195 µV survives the round trip bit for bit. Electrode positions
come from the ``x``/``y``/``z`` columns of the electrodes table and channel names from its
``channel_name`` column, when present.
"""

from __future__ import annotations

import datetime
import logging
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from ratecraft.data.io.common import bad, check_kind, resolve_rate, warn_dropped
from ratecraft.data.sinks import Sink
from ratecraft.data.sources import ArraySource, Facts, Source
from ratecraft.errors import BadInputError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

_AXES = ("x", "y", "z")
_NAME_COLUMN = "channel_name"
_DEFAULT_DESCRIPTION = "written by ratecraft"


def _shift(value: float, places: int) -> float:
    """``value · 10**places`` computed on the shortest decimal form of ``value``."""
    return float(Decimal(repr(float(value))).scaleb(places))


def _pick_series(path: PathLike, nwbfile: Any, name: str | None) -> Any:
    from pynwb.ecephys import ElectricalSeries

    series = {k: v for k, v in nwbfile.acquisition.items() if isinstance(v, ElectricalSeries)}
    if name is not None:
        if name not in series:
            found = ", ".join(series) or "none"
            raise bad(path, f"no ElectricalSeries {name!r} in acquisition (found: {found})")
        return series[name]
    if not series:
        raise bad(path, "no ElectricalSeries in acquisition")
    first = next(iter(series))
    if len(series) > 1:
        log.info("%s: %d ElectricalSeries; reading %r", os.fspath(path), len(series), first)
    return series[first]


def _electrode_facts(series: Any) -> tuple[list[str] | None, np.ndarray | None]:
    """Channel names and positions of the series' electrodes, when the table has them."""
    region = series.electrodes
    table = region.table
    rows = np.asarray(region.data[:], dtype=np.int64)
    names = None
    if _NAME_COLUMN in table.colnames:
        names = [str(n) for n in np.asarray(table[_NAME_COLUMN].data[:])[rows]]
    axes = [a for a in _AXES if a in table.colnames]
    positions = None
    if axes:
        cols = [np.asarray(table[a].data[:], dtype=np.float64)[rows] for a in axes]
        positions = np.column_stack(cols)
        if np.isnan(positions).all():
            positions = None
    return names, positions


def open_nwb(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
) -> Source:
    """The first (or the ``dataset``-named) ElectricalSeries of an NWB file as a chunked source:
    the series' data is sliced lazily (the file stays open until the source is closed)."""
    from pynwb import NWBHDF5IO

    check_kind(path, kind, "recording")
    io = None
    try:
        io = NWBHDF5IO(os.fspath(path), "r")
        nwbfile = io.read()
        series = _pick_series(path, nwbfile, dataset)
        data = series.data
        rate = series.rate
        conversion = float(series.conversion)
        channel_conversion = series.channel_conversion
        if channel_conversion is not None:
            channel_conversion = np.asarray(channel_conversion[()], dtype=np.float64)
        names, positions = _electrode_facts(series)
        description = str(nwbfile.session_description)
    except BadInputError:
        if io is not None:
            io.close()
        raise
    except Exception as exc:  # pynwb/hdmf raise many unrelated types on a malformed file
        if io is not None:
            io.close()
        raise bad(path, f"not a readable NWB file ({type(exc).__name__}: {exc})") from exc
    if len(data.shape) == 1:
        data = np.asarray(data[()])[:, None]
    if channel_conversion is not None and not np.all(channel_conversion == channel_conversion[0]):
        io.close()
        raise bad(path, "per-channel conversion factors are not supported")
    uv = _shift(conversion, 6)
    if channel_conversion is not None and channel_conversion[0] != 1.0:
        uv *= float(channel_conversion[0])
    try:
        facts = Facts(
            "recording",
            sample_rate=resolve_rate(path, None if rate is None else float(rate), fs),
            uv_per_step=uv,
            channel_names=names,
            channel_positions=positions,
            meta={}
            if description == _DEFAULT_DESCRIPTION
            else {"session_description": description},
        )
        return ArraySource(data, facts, frames_axis=0, path=Path(path), closer=io)
    except BaseException:
        io.close()
        raise


class NwbSink(Sink):
    """An NWB file holding one ElectricalSeries (default name ``ElectricalSeries``) with a
    device, an electrode group and one electrode per channel; the series is created resizable
    by pynwb and filled block by block through h5py."""

    def __init__(
        self,
        path: Path,
        rows: int,
        frames: int,
        dtype: np.dtype,
        facts: Facts,
        *,
        dataset: str | None = None,
    ) -> None:
        from hdmf.backends.hdf5.h5_utils import H5DataIO
        from pynwb import NWBHDF5IO, NWBFile
        from pynwb.ecephys import ElectricalSeries

        if facts.kind != "recording":
            raise bad(path, "NWB holds recordings, not tables; write tables as .csv, .npz or .h5")
        positions = facts.channel_positions
        if positions is not None and np.asarray(positions).shape[1] > len(_AXES):
            raise bad(
                path, f"NWB stores at most 3 position axes, got {np.asarray(positions).shape[1]}"
            )
        super().__init__(path, rows, frames, dtype, facts)
        extra = sorted(k for k in facts.meta if k != "session_description")
        warn_dropped(path, "NWB", [f"metadata ({', '.join(extra)})"] if extra else [])
        nwbfile = NWBFile(
            session_description=str(facts.meta.get("session_description", _DEFAULT_DESCRIPTION)),
            identifier=str(uuid.uuid4()),
            session_start_time=datetime.datetime.now(datetime.UTC),
        )
        device = nwbfile.create_device(name="device")
        group = nwbfile.create_electrode_group(
            name="electrodes", description="all channels", location="unknown", device=device
        )
        nwbfile.add_electrode_column(name=_NAME_COLUMN, description="channel name")
        for i, name in enumerate(facts.channel_names or [f"ch{i}" for i in range(rows)]):
            where = (
                {}
                if positions is None
                else {
                    axis: float(v) for axis, v in zip(_AXES, np.asarray(positions)[i], strict=False)
                }
            )
            nwbfile.add_electrode(location="unknown", group=group, **{_NAME_COLUMN: name}, **where)
        region = nwbfile.create_electrode_table_region(
            region=list(range(rows)), description="all channels"
        )
        self._name = dataset or "ElectricalSeries"
        chunk = (max(1, min(frames, 1 << 15)), max(rows, 1))
        empty = H5DataIO(
            data=np.zeros((0, rows), dtype=self.dtype), maxshape=(None, rows), chunks=chunk
        )
        nwbfile.add_acquisition(
            ElectricalSeries(
                name=self._name,
                data=empty,
                electrodes=region,
                rate=float(facts.sample_rate or 1.0),
                conversion=_shift(facts.uv_per_step, -6),
                starting_time=0.0,
            )
        )
        with NWBHDF5IO(os.fspath(self.tmp), "w") as io:
            io.write(nwbfile)
        import h5py

        self._h5 = h5py.File(self.tmp, "a")
        self._data = self._h5[f"acquisition/{self._name}/data"]
        self._data.resize((frames, rows))

    def _write(self, first: int, block: np.ndarray) -> None:
        self._data[first : first + block.shape[1], :] = block.T

    def _finish(self) -> None:
        self._h5.flush()
        self._h5.close()

    def _discard(self) -> None:
        self._h5.close()
