"""One typed record per benchmark run: what ran, how big its output was, how fast, how faithful.

A *sample* is one stored value (channels × time for a recording, samples × features for a
table), so ``bits_per_sample`` means the same for every kind of data: container bytes × 8 / stored
values. The rates (``ratio``, ``bits_per_sample``, throughput, multiples of real time) are derived
from the measured sizes and times rather than stored beside them, so they can never disagree.

``status`` is ``"ok"``; ``"refused"`` when the codec (or a peer tool) declined the input or the
setting with a reason (NaN for a lossless integer codec, a missing optional extra);
``"unreachable"`` when a peer cannot reach the setting at all (WavPack's bit-rate floor);
``"skipped"`` when the run did not apply; or ``"failed"``: a crash, a container that does not
decode, a lossless run that is not bit-exact or a max-error run over its bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ratecraft.codecs.budget import Budget
from ratecraft.data.types import Data, FeatureTable, Recording, as_block

Status = Literal["ok", "refused", "unreachable", "skipped", "failed"]

# derived values :meth:`RunRecord.to_json` writes right after the stored field they follow
_DERIVED_AFTER: dict[str, tuple[str, ...]] = {
    "container_bytes": ("ratio", "bits_per_sample"),
    "estimated_bits": ("est_bits_per_sample",),
    "decode_seconds": (
        "encode_samples_per_s",
        "decode_samples_per_s",
        "encode_x_realtime",
        "decode_x_realtime",
    ),
    "nmse_mean": ("family_worst_best",),
}


@dataclass
class RunRecord:
    """One input × codec × setting run (``None`` wherever a value does not apply).

    Identity: ``input`` (name), ``kind`` (``"recording"`` | ``"table"``), ``shape`` and ``dtype``
    of the stored block, ``sample_rate`` (recordings), ``codec``, ``setting`` (``lossless``,
    ``ratio=10``, ``max_error=2``, ``as trained`` or a peer tool's own words), ``lossless``,
    ``target_ratio`` and ``target_max_error``.

    Size: ``raw_bytes``, ``container_bytes`` (the whole file, headers included), ``n_samples``
    (stored values), ``estimated_bits`` (the codec's −Σlog2 p; ``None`` for codecs without a
    probability model), ``model_bytes`` (the saved model the decoder needs; 0 when none).

    Time: ``fit_seconds`` (rate control and training), ``encode_seconds`` and ``decode_seconds``
    (the coding calls alone).

    Fidelity: ``bit_exact``; ``budget_met`` (lossless: bit-exact; max error: within the bound;
    ratio: reached, which is reported, never a failure); ``sndr_db`` (``inf`` when exact),
    ``prd_percent``, ``max_abs_error``; recordings: ``spike_f1``, ``spike_window_sndr_db``,
    ``lfp_band_error``, ``spike_f1_truth`` (against a simulator's spikes); tables:
    ``family_nmse`` ({family: NMSE}), ``nmse_mean`` and ``lost_cells`` (cells with data that
    came back empty).

    ``part_ratios`` holds each part's ratio when the record sums several files
    (:func:`combine`); ``extra`` holds figures and labels a benchmark adds under its own names
    (e.g. ``lfp_sndr_db``, ``tool``), written into the JSON beside the fields.
    """

    input: str
    kind: str
    shape: list[int]
    dtype: str
    codec: str
    setting: str
    lossless: bool = False
    target_ratio: float | None = None
    target_max_error: float | None = None
    sample_rate: float | None = None
    status: Status = "ok"
    error: str | None = None
    raw_bytes: int = 0
    container_bytes: int | None = None
    n_samples: int = 0
    estimated_bits: float | None = None
    model_bytes: int | None = None
    fit_seconds: float | None = None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    bit_exact: bool | None = None
    budget_met: bool | None = None
    sndr_db: float | None = None
    prd_percent: float | None = None
    max_abs_error: float | None = None
    spike_f1: float | None = None
    spike_window_sndr_db: float | None = None
    lfp_band_error: float | None = None
    spike_f1_truth: float | None = None
    family_nmse: dict[str, float] | None = None
    nmse_mean: float | None = None
    lost_cells: int | None = None
    part_ratios: list[float] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        input: str,
        data: Data,
        codec: str,
        setting: str | Budget,
        *,
        lossless: bool | None = None,
    ) -> RunRecord:
        """A record of ``data`` before the run: identity and raw size filled in.

        ``setting`` is a :class:`~ratecraft.codecs.Budget` (its label and targets are taken
        from it) or a peer tool's own description, with ``lossless`` saying what it promises.
        """
        block = as_block(data)
        table = isinstance(data, FeatureTable)
        record = cls(
            input=input,
            kind="table" if table else "recording",
            shape=[int(n) for n in (data.values.shape if table else data.samples.shape)],
            dtype=block.dtype.name,
            codec=codec,
            setting=setting if isinstance(setting, str) else setting.describe(),
            sample_rate=float(data.sample_rate) if isinstance(data, Recording) else None,
            raw_bytes=int(block.nbytes),
            n_samples=int(block.size),
        )
        if isinstance(setting, Budget):
            record.lossless = bool(setting.lossless)
            record.target_ratio = setting.ratio
            record.target_max_error = setting.max_error
        if lossless is not None:
            record.lossless = lossless
        return record

    # ---- derived rates ----------------------------------------------------------------------
    @property
    def ratio(self) -> float | None:
        """Raw bytes / container bytes (the real compression ratio)."""
        if not self.container_bytes:
            return None
        return self.raw_bytes / self.container_bytes

    @property
    def bits_per_sample(self) -> float | None:
        """Container bits per stored value."""
        if self.container_bytes is None or not self.n_samples:
            return None
        return 8.0 * self.container_bytes / self.n_samples

    @property
    def est_bits_per_sample(self) -> float | None:
        """The codec's estimated bits per stored value, beside the real rate."""
        if self.estimated_bits is None or not self.n_samples:
            return None
        return self.estimated_bits / self.n_samples

    @property
    def encode_samples_per_s(self) -> float | None:
        return _per_second(self.n_samples, self.encode_seconds)

    @property
    def decode_samples_per_s(self) -> float | None:
        return _per_second(self.n_samples, self.decode_seconds)

    @property
    def realtime_rate(self) -> float | None:
        """Values per second the source produces (channels × sample rate; recordings only)."""
        if self.sample_rate is None or not self.shape:
            return None
        return self.shape[0] * self.sample_rate

    @property
    def encode_x_realtime(self) -> float | None:
        return _ratio(self.encode_samples_per_s, self.realtime_rate)

    @property
    def decode_x_realtime(self) -> float | None:
        return _ratio(self.decode_samples_per_s, self.realtime_rate)

    @property
    def family_worst_best(self) -> float | None:
        """Worst / best family NMSE (``inf`` when the best family is exact)."""
        values = [v for v in (self.family_nmse or {}).values() if math.isfinite(v)]
        if not values:
            return None
        lo, hi = min(values), max(values)
        return hi / lo if lo > 0 else math.inf

    # ---- access, changes and output ---------------------------------------------------------
    def get(self, name: str) -> Any:
        """A field, a derived rate or an ``extra`` figure by name (``None`` when there is none)."""
        if name in self.extra:
            return self.extra[name]
        return getattr(self, name, None) if name in _READABLE else None

    def set(self, **values: Any) -> RunRecord:
        """Set fields by name (an unknown name is an error, not a silent new key)."""
        names = _field_names()
        for name, value in values.items():
            if name not in names or name == "extra":
                raise AttributeError(f"RunRecord has no field {name!r}")
            setattr(self, name, value)
        return self

    def to_json(self) -> dict[str, Any]:
        """Every field and derived rate, then ``extra``, as plain JSON types.

        Floats may be ±inf or NaN; :func:`ratecraft.jsonsafe.dumps` writes them strictly.
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            out[f.name] = _plain(value)
            for name in _DERIVED_AFTER.get(f.name, ()):
                out[name] = getattr(self, name)
        clash = sorted(out.keys() & self.extra.keys())
        if clash:
            raise ValueError(f"extra figures shadow record fields: {', '.join(clash)}")
        out.update({k: _plain(v) for k, v in self.extra.items()})
        return out


def _field_names() -> frozenset[str]:
    return frozenset(f.name for f in fields(RunRecord))


_READABLE = (_field_names() - {"extra"}) | {n for names in _DERIVED_AFTER.values() for n in names}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _per_second(n: int, seconds: float | None) -> float | None:
    if seconds is None:
        return None
    return n / max(seconds, 1e-9)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return a / b


def failures(records: Sequence[RunRecord]) -> list[RunRecord]:
    """Runs that failed (crash, corrupt own output, lossless not bit-exact, max error exceeded)."""
    return [r for r in records if r.status == "failed"]


_STATUS_ORDER: tuple[Status, ...] = ("failed", "refused", "unreachable", "skipped", "ok")


def combine(parts: Sequence[RunRecord], input: str) -> RunRecord:
    """One record for ``parts`` (runs of one codec and setting on several files): sizes, values
    and times summed, so its ratio is total raw / total container bytes and its throughput total
    values / total seconds; bit-exact only when every part is; the worst status and its reason.

    Only sizes, times and exactness are combined; per-part quality stays with the parts.
    """
    if not parts:
        raise ValueError("combine needs at least one record")
    first = parts[0]
    shape = list(first.shape)
    if first.kind == "recording" and all(p.shape[:1] == shape[:1] for p in parts):
        shape = [shape[0], sum(p.shape[1] for p in parts)]  # the files one after the other
    out = RunRecord(
        input=input,
        kind=first.kind,
        shape=shape,
        dtype=first.dtype,
        codec=first.codec,
        setting=first.setting,
        lossless=first.lossless,
        target_ratio=first.target_ratio,
        target_max_error=first.target_max_error,
        sample_rate=first.sample_rate,
        raw_bytes=sum(p.raw_bytes for p in parts),
        n_samples=sum(p.n_samples for p in parts),
        extra=dict(first.extra),
    )
    worst = min(parts, key=lambda p: _STATUS_ORDER.index(p.status))
    out.status, out.error = worst.status, worst.error
    if any(p.container_bytes is None for p in parts):
        return out
    out.container_bytes = sum(p.container_bytes or 0 for p in parts)
    out.part_ratios = [p.ratio for p in parts if p.ratio is not None]
    out.estimated_bits = _sum_or_none([p.estimated_bits for p in parts])
    out.model_bytes = max((p.model_bytes or 0) for p in parts)
    out.fit_seconds = _sum_or_none([p.fit_seconds for p in parts])
    out.encode_seconds = _sum_or_none([p.encode_seconds for p in parts])
    out.decode_seconds = _sum_or_none([p.decode_seconds for p in parts])
    exact = [p.bit_exact for p in parts]
    out.bit_exact = None if None in exact else all(exact)
    met = [p.budget_met for p in parts]
    out.budget_met = None if None in met else all(met)
    return out


def _sum_or_none(values: Sequence[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return float(sum(v for v in values if v is not None))
