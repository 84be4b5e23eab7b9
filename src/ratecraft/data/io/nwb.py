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
from typing import Any

import numpy as np

from ratecraft.atomic import atomic_output
from ratecraft.data.io.common import bad, check_kind, make_recording, resolve_rate, warn_dropped
from ratecraft.data.types import Data, Recording
from ratecraft.errors import BadInputError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

_AXES = ("x", "y", "z")
_NAME_COLUMN = "channel_name"


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


def read_nwb(
    path: PathLike,
    *,
    fs: float | None = None,
    dataset: str | None = None,
    kind: str | None = None,
) -> Recording:
    """The first (or the ``dataset``-named) ElectricalSeries of an NWB file, as a recording."""
    from pynwb import NWBHDF5IO

    check_kind(path, kind, "recording")
    try:
        with NWBHDF5IO(os.fspath(path), "r") as io:
            series = _pick_series(path, io.read(), dataset)
            data = np.asarray(series.data[()])
            rate = series.rate
            conversion = float(series.conversion)
            channel_conversion = series.channel_conversion
            if channel_conversion is not None:
                channel_conversion = np.asarray(channel_conversion[()], dtype=np.float64)
            names, positions = _electrode_facts(series)
    except BadInputError:
        raise
    except Exception as exc:  # pynwb/hdmf raise many unrelated types on a malformed file
        raise bad(path, f"not a readable NWB file ({type(exc).__name__}: {exc})") from exc
    if data.ndim == 1:
        data = data[:, None]
    if channel_conversion is not None and not np.all(channel_conversion == channel_conversion[0]):
        raise bad(path, "per-channel conversion factors are not supported")
    uv = _shift(conversion, 6)
    if channel_conversion is not None and channel_conversion[0] != 1.0:
        uv *= float(channel_conversion[0])
    return make_recording(
        path,
        np.ascontiguousarray(data.T),
        sample_rate=resolve_rate(path, None if rate is None else float(rate), fs),
        uv_per_step=uv,
        channel_names=names,
        channel_positions=positions,
    )


def write_nwb(data: Data, path: PathLike, *, dataset: str | None = None) -> None:
    """Write a recording as an NWB file holding one ElectricalSeries (default name
    ``ElectricalSeries``), with a device, an electrode group and one electrode per channel."""
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.ecephys import ElectricalSeries

    if not isinstance(data, Recording):
        raise bad(path, "NWB holds recordings, not tables; write tables as .csv, .npz or .h5")
    positions = data.channel_positions
    if positions is not None and positions.shape[1] > len(_AXES):
        raise bad(path, f"NWB stores at most 3 position axes, got {positions.shape[1]}")
    extra = sorted(k for k in data.meta if k != "session_description")
    warn_dropped(path, "NWB", [f"metadata ({', '.join(extra)})"] if extra else [])
    nwbfile = NWBFile(
        session_description=str(data.meta.get("session_description", "written by ratecraft")),
        identifier=str(uuid.uuid4()),
        session_start_time=datetime.datetime.now(datetime.UTC),
    )
    device = nwbfile.create_device(name="device")
    group = nwbfile.create_electrode_group(
        name="electrodes", description="all channels", location="unknown", device=device
    )
    nwbfile.add_electrode_column(name=_NAME_COLUMN, description="channel name")
    for i, name in enumerate(data.channel_names or []):
        where = (
            {}
            if positions is None
            else {axis: float(v) for axis, v in zip(_AXES, positions[i], strict=False)}
        )
        nwbfile.add_electrode(location="unknown", group=group, **{_NAME_COLUMN: name}, **where)
    region = nwbfile.create_electrode_table_region(
        region=list(range(data.n_channels)), description="all channels"
    )
    nwbfile.add_acquisition(
        ElectricalSeries(
            name=dataset or "ElectricalSeries",
            data=np.ascontiguousarray(data.samples.T),
            electrodes=region,
            rate=float(data.sample_rate),
            conversion=_shift(data.uv_per_step, -6),
            starting_time=0.0,
        )
    )
    with atomic_output(path) as tmp, NWBHDF5IO(os.fspath(tmp), "w") as io:
        io.write(nwbfile)
