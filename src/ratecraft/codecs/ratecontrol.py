"""The one rate control: a codec's knob searched against real container bytes.

Every lossy codec meets ``Budget(ratio=R)`` the same way: a knob (a quantization step, an error
bound) whose coarser values give fewer bytes is searched for the **finest value whose real
container meets R** — bytes measured by encoding for real, headers included, never estimated.

- :func:`search` is the search itself on any size function: bracket by doubling/halving (or the
  secant of log size against log knob once two sizes are known), then bisect in log space, until
  the size fills at least ``fill`` of the budget or the bracket closes. Integer knobs bisect on
  integers.
- :func:`fit_ratio` runs it on a central excerpt of the data (:data:`PROBE_SAMPLES` values) and
  then on the whole data from where the excerpt landed, so a long recording costs a few whole
  encodes.
- :class:`ChunkControl` holds a ratio while a long input streams through a codec that was fitted
  on an excerpt of it: between chunks its knob (``Codec.chunk_knob``, stored in each chunk) is
  moved so that the next chunk spends its share plus its part of the running deficit spread
  over the chunks left. The move uses the measured slope of bits per sample against log2 of the
  knob (about −1 per octave for a quantizer step at high rate; from the chunks seen so far once
  two knobs differ), at most two octaves per chunk; inside ±1% of the running target nothing
  moves. :class:`StreamControl` is the same control for a stream of unknown length (windows
  pushed one at a time): the deficit is always spread over the next ``HORIZON`` windows.
- A codec that controls its rate chunk by chunk runs :func:`search` on each chunk's payload
  against ``BlockContext.target_bytes``: the whole budget less the container's own overhead
  (:func:`ratecraft.bitstream.container.overhead_bytes`), spread by frames. No codec hard-codes
  header sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ratecraft.data.types import Data, as_block, excerpt
from ratecraft.errors import BadInputError

if TYPE_CHECKING:
    from ratecraft.codecs.base import Codec

__all__ = ["PROBE_SAMPLES", "ChunkControl", "Knob", "StreamControl", "fit_ratio", "search"]

PROBE_SAMPLES = 1 << 19  # the excerpt a search runs on before the whole data


@dataclass(frozen=True)
class Knob:
    """A knob's range; coarser (larger) values must give fewer bytes (about monotonically)."""

    lo: float
    hi: float
    integer: bool = False

    def clip(self, value: float) -> float:
        v = min(max(value, self.lo), self.hi)
        return float(math.ceil(v)) if self.integer else v


class Unreachable(BadInputError):
    """Even the coarsest knob value overspends the budget."""


def search(
    size_at: Callable[[float], float],
    target: float,
    knob: Knob,
    *,
    start: float | None = None,
    fill: float = 0.98,
    max_evals: int = 32,
    what: str = "rate control",
) -> float:
    """The finest knob whose ``size_at`` is ≤ ``target`` (bytes), found when its size is at
    least ``fill · target`` or no finer knob fits (an integer knob always searches until the
    next finer integer overspends); :class:`Unreachable` when none fits.

    ``size_at`` must encode for real. Sizes already measured are reused, so a caller may pass
    a cached function or not.
    """
    seen: dict[float, float] = {}

    def f(s: float) -> float:
        if s not in seen:
            seen[s] = float(size_at(s))
        return seen[s]

    fits = math.inf  # finest knob known to fit
    over = -math.inf  # coarsest knob known to overspend
    s = knob.clip(start if start is not None else math.sqrt(knob.lo * knob.hi))
    for _ in range(max_evals):
        b = f(s)
        if b <= target:
            fits = min(fits, s)
            if (b >= fill * target and not knob.integer) or s <= knob.lo:
                return s
        else:
            over = max(over, s)
            if s >= knob.hi:
                break
        if _closed(over, fits, knob):
            return fits
        nxt = _next(seen, target, fill, over, fits, knob, s, b)
        if nxt in seen:
            break
        s = nxt
    if fits < math.inf:
        return fits
    best = min(seen.values())
    raise Unreachable(
        f"{what}: cannot reach the target on this data (smallest {best:.0f} bytes for a budget "
        f"of {target:.0f})"
    )


def _closed(over: float, fits: float, knob: Knob) -> bool:
    if not (over > -math.inf and fits < math.inf):
        return False
    return fits - over <= 1 if knob.integer else fits / over < 1.0005


def _next(
    seen: dict[float, float],
    target: float,
    fill: float,
    over: float,
    fits: float,
    knob: Knob,
    s: float,
    b: float,
) -> float:
    """The next knob: secant in log–log space through the two sizes nearest the goal, kept
    inside the bracket (else bisection); doubling/halving before there is a bracket."""
    goal = 0.5 * (1.0 + fill) * target
    bracket = over > -math.inf and fits < math.inf
    near = sorted(seen.items(), key=lambda p: abs(math.log(max(p[1], 1.0) / goal)))[:2]
    guess = None
    if len(near) == 2 and near[0][0] != near[1][0] and near[0][1] != near[1][1]:
        (s1, b1), (s2, b2) = near
        if s1 > 0 and s2 > 0 and b1 > 0 and b2 > 0:
            slope = math.log(b1 / b2) / math.log(s1 / s2)
            if slope < -0.05:
                guess = s1 * math.exp(math.log(goal / b1) / slope)
    if guess is None:
        guess = s * 2.0 if b > target else s / 2.0
    if bracket and not over < guess < fits:
        guess = math.sqrt(over * fits) if over > 0 else 0.5 * (over + fits)
    if knob.integer:
        g = math.floor(guess) if guess < s else math.ceil(guess)
        if bracket:
            g = min(max(g, int(over) + 1), int(fits) - 1) if fits - over > 1 else int(fits)
        guess = float(g)
    elif not bracket:  # a bounded growth before there is a bracket keeps a bad secant honest
        guess = min(max(guess, s / 16.0), s * 16.0)
    return knob.clip(guess)


def fit_ratio(
    codec: Codec,
    data: Data,
    ratio: float,
    set_knob: Callable[[float], None],
    knob: Knob,
    *,
    start: float | None = None,
    fill: float = 0.99,
    what: str | None = None,
) -> float:
    """Set ``codec``'s knob to the finest value whose real container of ``data`` meets
    ``ratio``: searched on an excerpt, then on the whole data. Returns the knob."""

    label = what or codec.name

    def size_on(part: Data) -> Callable[[float], float]:
        def size(s: float) -> float:
            set_knob(s)
            return codec.encode_with_stats(part)[1].container_bytes

        return size

    def target_of(part: Data) -> float:
        return as_block(part).nbytes / ratio

    probe = excerpt(data, PROBE_SAMPLES)
    try:
        s = search(size_on(probe), target_of(probe), knob, start=start, fill=fill, what=label)
        if probe is not data:
            s = search(size_on(data), target_of(data), knob, start=s, fill=fill, what=label)
    except Unreachable:
        raise BadInputError(f"{label}: cannot reach ratio {ratio:g} on this data") from None
    set_knob(s)
    return s


class ChunkControl:
    """The running rate control of one streamed encode (see the module doc)."""

    BAND = 0.01  # relative deviation of the running total that moves nothing
    MAX_OCTAVES = 2.0  # largest move of the knob per chunk
    DEFAULT_SLOPE = -1.0  # bits per sample per octave of the knob before any is measured

    def __init__(self, knob: float, targets: list[float], *, integer: bool) -> None:
        self.knob = float(knob)
        self.integer = integer
        self._targets = targets
        self._i = 0
        self.bytes = 0.0
        self.target = 0.0
        self._seen: list[tuple[float, float]] = []  # (log2 knob, bits per sample)

    def _slope(self) -> float:
        points = {}
        for x, y in self._seen[-4:]:
            points[x] = y
        if len(points) < 2:
            return self.DEFAULT_SLOPE
        (x1, y1), (x2, y2) = list(points.items())[-2:]
        slope = (y2 - y1) / (x2 - x1) if x2 != x1 else self.DEFAULT_SLOPE
        return min(max(slope, -2.0), -0.1)

    def update(self, payload_bytes: int, samples: int, next_samples: int) -> None:
        """After a chunk of ``samples`` values took ``payload_bytes``: set the next knob."""
        self.bytes += payload_bytes
        self.target += self._targets[self._i]
        self._i += 1
        if samples <= 0:
            return
        now = 8.0 * payload_bytes / samples
        self._seen.append((math.log2(max(self.knob, 1e-300)), now))
        left = len(self._targets) - self._i
        if left <= 0 or next_samples <= 0:
            return
        deficit = self.bytes - self.target
        if abs(deficit) <= self.BAND * self.target:
            return
        wanted = max(8.0 * (self._targets[self._i] - deficit / left) / next_samples, 0.01)
        octaves = (wanted - now) / self._slope()
        octaves = min(max(octaves, -self.MAX_OCTAVES), self.MAX_OCTAVES)
        knob = self.knob * 2.0**octaves
        self.knob = float(max(1, round(knob))) if self.integer else knob


class StreamControl(ChunkControl):
    """:class:`ChunkControl` for an open-ended stream of windows: the running deficit is spread
    over the next :attr:`HORIZON` windows, whatever has been pushed so far."""

    HORIZON = 25

    def __init__(self, knob: float, target: float, *, integer: bool = False) -> None:
        super().__init__(knob, [float(target)] * (self.HORIZON + 1), integer=integer)

    def push(self, payload_bytes: int, samples: int, target: float) -> None:
        """After a window of ``samples`` values took ``payload_bytes`` (its budget:
        ``target``): set the next window's knob."""
        self._targets[self._i] = float(target)
        self._targets.append(float(target))  # keeps HORIZON windows ahead
        self.update(payload_bytes, samples, samples)
