"""Entropy models for recording latents: factorized, or a scale hyperprior (Ballé et al. 2018).

Latents are ``y`` of shape (n, channels, steps). Two options (``entropy`` in the config):

- ``factorized``: one learned density per latent channel
  (:class:`~ratecraft.codecs.learned.entropy.EntropyBottleneck`).
- ``hyperprior``: a small hyper-encoder turns ``|y|`` into side latents ``z`` (half as many
  steps), coded with a factorized bottleneck; a hyper-decoder predicts from ``ẑ`` a scale
  ``σ`` for every element of ``y``, which is coded with a zero-mean Gaussian of that scale
  (:class:`GaussianConditional`). Local scale adapts the rate to spikes vs. quiet stretches.

Both are trained with additive uniform noise (rate) and straight-through rounding (decoder).
At coding time ``y`` (and ``z``) are quantized with a **step** ``q`` (the codec's rate-control
knob): ``y_int = round(y / q)``. Tables for a step come from the learned densities evaluated on the
bins ``[(k−½)q, (k+½)q]``; the Gaussian tables are one fixed set of integer count tables over a
geometric scale grid, picked by index ``σ / q``. Every table is integer one-byte count codes
(:mod:`ratecraft.bitstream.ans`), stored in the model's ``codec.json``, so decoding never
consults a float density and is bit-exact.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal

import numpy as np
import torch
from scipy.special import ndtr, ndtri
from torch import Tensor, nn

from ratecraft.bitstream.ans import (
    GroupDecoder,
    SymbolModel,
    dequantize_counts,
    encode_groups,
    quantize_counts,
)
from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.codecs.learned.entropy import EntropyBottleneck, EntropyTables
from ratecraft.errors import BadInputError, CorruptStreamError

__all__ = ["GaussianConditional", "GaussianTables", "LatentEntropy", "factorized_tables"]

_LIK_MIN = 1e-9
_PRECISION = 1 << 16
_SCALE_MIN, _SCALE_MAX, _LEVELS = 0.11, 64.0, 40
_TAIL = 1e-6
_INT32 = 2**31 - 1

EntropyKind = Literal["factorized", "hyperprior"]


def _std_cdf(t: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-t * (2.0**-0.5))


@torch.no_grad()
def factorized_tables(eb: EntropyBottleneck, step: float, max_support: int = 4096) -> EntropyTables:
    """Integer tables of ``round(y / step)`` under the bottleneck's learned densities."""
    grid = torch.arange(-max_support, max_support + 1, dtype=torch.float32)
    v = grid.expand(eb.channels, 1, -1)
    hi = torch.sigmoid(eb._logits_cumulative((v + 0.5) * step)).squeeze(1).double()
    lo = torch.sigmoid(eb._logits_cumulative((v - 0.5) * step)).squeeze(1).double()
    offsets, codes = [], []
    for c in range(eb.channels):
        inside = ((hi[c] > _TAIL) & (lo[c] < 1.0 - _TAIL)).nonzero().ravel()
        if inside.numel() == 0:
            first = last = int(torch.argmax(hi[c] - lo[c]))
        else:
            first, last = int(inside[0]), int(inside[-1])
        pmf = (hi[c, first : last + 1] - lo[c, first : last + 1]).clamp_min(0.0).numpy()
        probs = np.append(pmf, max(0.0, 1.0 - float(pmf.sum())))
        counts = np.maximum(1, np.rint(probs * _PRECISION)).astype(np.int64)
        offsets.append(first - max_support)
        codes.append(quantize_counts(counts).tolist())
    return EntropyTables(offsets, codes)


class GaussianTables:
    """Integer tables of a zero-mean unit-step Gaussian per scale level (escape symbol last)."""

    def __init__(self, scales: list[float], codes: list[list[int]]) -> None:
        if len(scales) != len(codes) or not scales:
            raise BadInputError("gaussian tables need one count table per scale")
        if any(len(c) < 4 or len(c) % 2 or any(not 0 <= v <= 255 for v in c) for c in codes):
            raise BadInputError("gaussian count codes must be an even number (≥ 4) of bytes")
        self.scales = np.asarray(scales, dtype=np.float64)
        self.codes = [[int(v) for v in c] for c in codes]
        self.models = [SymbolModel(dequantize_counts(np.asarray(c))) for c in self.codes]
        self.half = [(len(c) - 2) // 2 for c in self.codes]  # support −half .. half

    @classmethod
    def build(cls) -> GaussianTables:
        scales = np.exp(np.linspace(math.log(_SCALE_MIN), math.log(_SCALE_MAX), _LEVELS))
        z = float(-ndtri(_TAIL / 2))
        codes = []
        for s in scales:
            half = max(1, math.ceil(z * s))
            k = np.arange(-half, half + 1, dtype=np.float64)
            pmf = ndtr((k + 0.5) / s) - ndtr((k - 0.5) / s)
            probs = np.append(pmf, max(0.0, 1.0 - pmf.sum()))
            counts = np.maximum(1, np.rint(probs * _PRECISION)).astype(np.int64)
            codes.append(quantize_counts(counts).tolist())
        return cls(scales.tolist(), codes)

    def to_json(self) -> dict[str, Any]:
        return {"scales": self.scales.tolist(), "codes": self.codes}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> GaussianTables:
        try:
            return cls(list(doc["scales"]), list(doc["codes"]))
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"malformed gaussian tables ({exc})") from None

    def index(self, scales: np.ndarray) -> np.ndarray:
        """Table index per element: the smallest grid scale ≥ the predicted scale."""
        idx = np.searchsorted(self.scales, np.asarray(scales, np.float64), side="left")
        return np.clip(idx, 0, len(self.scales) - 1).astype(np.int64)

    def compress(self, values: np.ndarray, index: np.ndarray) -> tuple[bytes, float]:
        """Code int values (flat) with their table indices; returns bytes and estimated bits."""
        v = np.asarray(values, np.int64).ravel()
        idx = np.asarray(index, np.int64).ravel()
        if v.size and np.abs(v).max() > _INT32:
            raise BadInputError("latent values beyond ±2^31 cannot be coded")
        order = np.argsort(idx, kind="stable")
        v, idx = v[order], idx[order]
        bounds = np.searchsorted(idx, np.arange(len(self.models) + 1))
        groups, escapes, est = [], [], 0.0
        for i, model in enumerate(self.models):
            part = v[bounds[i] : bounds[i + 1]]
            if not part.size:
                continue
            h = self.half[i]
            out = np.abs(part) > h
            sym = np.where(out, 2 * h + 1, part + h)
            escapes.append(part[out])
            groups.append((sym, model))
            est += model.estimated_bits(sym)
        esc = np.concatenate(escapes) if escapes else np.zeros(0, np.int64)
        raw = esc.astype("<i4").tobytes()
        return pack_sections([encode_groups(groups), raw]), float(est + 32 * esc.size)

    def decompress(self, payload: bytes | memoryview, index: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`compress` given the same indices (flat int64 out)."""
        idx = np.asarray(index, np.int64).ravel()
        ans, raw = unpack_sections(payload, expect=2)
        if len(raw) % 4 or len(raw) // 4 > idx.size:
            raise CorruptStreamError("gaussian payload declares an impossible number of escapes")
        escapes = array_from(raw, "<i4", len(raw) // 4, "escaped latents").astype(np.int64)
        order = np.argsort(idx, kind="stable")
        counts = np.bincount(idx, minlength=len(self.models))
        dec = GroupDecoder(ans)
        sorted_vals = np.empty(idx.size, np.int64)
        pos = esc_pos = 0
        for i, model in enumerate(self.models):
            n = int(counts[i])
            if not n:
                continue
            h = self.half[i]
            sym = dec.take(n, model)
            vals = sym - h
            out = sym == 2 * h + 1
            k = int(out.sum())
            if esc_pos + k > escapes.size:
                raise CorruptStreamError("gaussian payload has fewer escaped values than escapes")
            vals[out] = escapes[esc_pos : esc_pos + k]
            esc_pos += k
            sorted_vals[pos : pos + n] = vals
            pos += n
        if esc_pos != escapes.size:
            raise CorruptStreamError("gaussian payload has more escaped values than escapes")
        result = np.empty_like(sorted_vals)
        result[order] = sorted_vals
        return result


class GaussianConditional(nn.Module):
    """Likelihood of rounded values under N(0, σ²) per element (training side)."""

    def __init__(self, scale_min: float = _SCALE_MIN) -> None:
        super().__init__()
        self.scale_min = float(scale_min)

    def likelihood(self, y: Tensor, scales: Tensor) -> Tensor:
        s = scales.clamp_min(self.scale_min)
        v = y.abs()
        lik = _std_cdf((0.5 - v) / s) - _std_cdf((-0.5 - v) / s)
        return lik.clamp_min(_LIK_MIN)


def _rows(y: Tensor) -> Tensor:
    """(n, channels, steps) → (n·steps, channels) for the factorized bottleneck."""
    return y.permute(0, 2, 1).reshape(-1, y.shape[1])


def _unrows(rows: Tensor, shape: torch.Size) -> Tensor:
    n, c, t = shape
    return rows.reshape(n, t, c).permute(0, 2, 1)


class LatentEntropy(nn.Module):
    """The entropy model of latents (n, channels, steps): factorized or scale hyperprior."""

    def __init__(self, channels: int, kind: EntropyKind = "factorized", hyper: int = 8) -> None:
        super().__init__()
        self.kind = kind
        if kind == "factorized":
            self.bottleneck = EntropyBottleneck(channels)
        elif kind == "hyperprior":
            self.h_a = nn.Sequential(
                nn.Conv1d(channels, hyper, 3, padding=1),
                nn.GELU(),
                nn.Conv1d(hyper, hyper, 3, stride=2, padding=1),
            )
            self.h_s = nn.Sequential(
                nn.ConvTranspose1d(hyper, hyper, 4, stride=2, padding=1),
                nn.GELU(),
                nn.Conv1d(hyper, channels, 3, padding=1),
                nn.Softplus(),
            )
            self.bottleneck = EntropyBottleneck(hyper)
            self.gaussian = GaussianConditional()
        else:
            raise BadInputError(f"unknown entropy model {kind!r}; use factorized or hyperprior")

    def _scales(self, z_hat: Tensor, steps: int) -> Tensor:
        return self.h_s(z_hat)[..., :steps]

    def forward(self, y: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """(decoder input, likelihoods): noisy rate and STE rounding in training."""
        if self.kind == "factorized":
            rows, lik = self.bottleneck(_rows(y))
            return _unrows(rows, y.shape), {"y": lik}
        z = self.h_a(y.abs())
        z_rows, z_lik = self.bottleneck(_rows(z))
        scales = self._scales(_unrows(z_rows, z.shape), y.shape[-1])
        if self.training:
            noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            y_hat = y + (torch.round(y) - y).detach()
        else:
            noisy = y_hat = torch.round(y)
        return y_hat, {"y": self.gaussian.likelihood(noisy, scales), "z": z_lik}

    # ---- coding --------------------------------------------------------------------------
    def build_tables(self, step: float) -> dict[str, Any]:
        """JSON-able integer tables for quantization step ``step``."""
        doc: dict[str, Any] = {"kind": self.kind, "step": float(step)}
        if self.kind == "factorized":
            doc["factorized"] = factorized_tables(self.bottleneck, step).to_json()
        else:
            doc["z"] = factorized_tables(self.bottleneck, step).to_json()
            doc["gaussian"] = GaussianTables.build().to_json()
        return doc

    def load_tables(self, doc: dict[str, Any]) -> None:
        """Install the tables from :meth:`build_tables` (checked) for coding."""
        if doc.get("kind") != self.kind:
            raise BadInputError(f"entropy tables are for {doc.get('kind')!r}, model {self.kind!r}")
        step = float(doc.get("step", 0.0))
        if not (math.isfinite(step) and step > 0):
            raise BadInputError("entropy tables carry no valid quantization step")
        self.step = step
        if self.kind == "factorized":
            self.y_tables = EntropyTables.from_json(doc["factorized"])
        else:
            self.z_tables = EntropyTables.from_json(doc["z"])
            self.g_tables = GaussianTables.from_json(doc["gaussian"])
        self.tables_doc = doc
        blob = json.dumps(doc, sort_keys=True).encode()
        self.tables_sha256 = hashlib.sha256(blob).hexdigest()

    def quantize(self, y: Tensor) -> Tensor:
        """Integer latents (as float) at the installed step; what decode dequantizes."""
        return torch.round(y / self.step)

    def dequantize(self, y_int: Tensor) -> Tensor:
        return y_int * self.step

    def compress(self, y: Tensor) -> tuple[bytes, float, Tensor]:
        """(payload, estimated bits, integer latents) of continuous latents ``y``."""
        y_int = self.quantize(y)
        ints = y_int.to(torch.int64).numpy()
        if self.kind == "factorized":
            rows = ints.transpose(0, 2, 1).reshape(-1, ints.shape[1])
            payload, est = self.y_tables.compress(rows)
            return pack_sections([payload]), est, y_int
        z_int = torch.round(self.h_a(y.abs()) / self.step)
        zi = z_int.to(torch.int64).numpy()
        z_payload, z_est = self.z_tables.compress(zi.transpose(0, 2, 1).reshape(-1, zi.shape[1]))
        index = self._index(z_int, y.shape[-1])
        y_payload, y_est = self.g_tables.compress(ints, index)
        return pack_sections([z_payload, y_payload]), z_est + y_est, y_int

    def _index(self, z_int: Tensor, steps: int) -> np.ndarray:
        scales = self._scales(z_int * self.step, steps).clamp_min(self.gaussian.scale_min)
        return self.g_tables.index(scales.double().numpy() / self.step)

    def decompress(self, payload: bytes | memoryview, shape: tuple[int, int, int]) -> Tensor:
        """Integer latents (as float32) of ``shape`` from :meth:`compress`'s payload."""
        n, c, t = shape
        if self.kind == "factorized":
            (body,) = unpack_sections(payload, expect=1)
            rows = self.y_tables.decompress(body, n * t)
            ints = rows.reshape(n, t, c).transpose(0, 2, 1)
        else:
            z_body, y_body = unpack_sections(payload, expect=2)
            zc = self.z_tables.channels
            tz = (t + 1) // 2
            zi = self.z_tables.decompress(z_body, n * tz).reshape(n, tz, zc).transpose(0, 2, 1)
            z_int = torch.from_numpy(np.ascontiguousarray(zi)).float()
            index = self._index(z_int, t)
            ints = self.g_tables.decompress(y_body, index).reshape(n, c, t)
        return torch.from_numpy(np.ascontiguousarray(ints)).float()
