"""`LearnedTableCodec`: the shared glue of the learned feature-table codecs.

``fit(table, budget)`` runs clean → normalize → group → allocate → train. Groups are the
table's families, or, when it has none (``grouping: auto``, the default), learned from the data:
:func:`~ratecraft.data.grouping.cluster_groups` on the normalized values (average linkage on
``1 − |corr|``, the number of groups by silhouette). The fit report names them.

**Training cost.** The default trainer sees about :data:`SAMPLE_BUDGET` training rows in all
(``train.sample_budget``: a 20,000-row table trains a few epochs, a 150-row one up to
``train.epochs``) and stops early on the real rate–distortion of its validation rows
(``train.rd_stopping``); the fit report gives training samples per second. ``encode_block``
codes one chunk of samples: the model's latents or tokens (entropy coded with integer tables)
plus the exact NaN/±inf positions of the kept features (:class:`MissingCells`) and nothing else
per sample. ``decode_block`` inverts it in original units: inverse normalization, the recorded
NaN/inf cells put back, dropped constant/duplicate columns rebuilt from the cleaning report
(features dropped for being mostly missing come back as NaN: they were never coded).

**Finding the model at decode time.** A container names its trained model by content hash
(weights, integer tables, cleaning, normalization, grouping and config); decode it with
``decode(path, model=...)`` like any other codec's. A different model is refused in one line.

**Rate control.** ``Budget(ratio=R)`` becomes a bit budget per sample,
``8·raw_bytes_per_sample/R`` minus the container's own overhead
(:func:`~ratecraft.bitstream.container.overhead_bytes`) spread over the fitted table's
samples; each subclass turns it into widths and bits through
:func:`ratecraft.allocation.allocate` (see their docstrings) and the trainer steers the model's
estimated rate towards it. The real container is then measured, because a model's rate
saturates (a small network cannot use 8 bits per feature however large λ grows) and a model
may also overspend:

- a model that overspends (real ratio below ``R·(1 − 5%)``) is retrained with a proportionally
  smaller bit target, at most :data:`_RETRAINS` times;
- budget the model leaves unused goes to the shared **refinement layer**
  (:class:`~ratecraft.entropy.refinement.Refinement`): the normalized residual ``z − ẑ``
  quantized with one uniform step for every feature (equal distortion per component, what
  reverse water-filling gives at high rate). The step is the finest whose real container still
  meets ``R``, found by the one rate control (:func:`~ratecraft.codecs.ratecontrol.fit_ratio`).

Without a budget the config's ``latent_dims``/``bits`` and ``compression_level`` are used (and
``residual_step`` when set). ``Budget(lossless=True)`` and ``Budget(max_error=…)`` are refused:
these codecs are lossy with no per-value error bound. The achieved ratio on the fitted table,
with and without the refinement layer, is kept in ``fit_report``.
"""

from __future__ import annotations

import logging
import math
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn

from ratecraft.allocation import Allocation, AllocationConfig, GroupStats
from ratecraft.bitstream.container import overhead_bytes
from ratecraft.bitstream.sections import array_from, pack_sections, unpack_sections
from ratecraft.codecs.base import (
    BlockContext,
    BlockResult,
    Codec,
    CodecConfig,
    ModelState,
    header_for,
)
from ratecraft.codecs.budget import Budget
from ratecraft.codecs.learned.blocks import load_weights
from ratecraft.codecs.ratecontrol import Knob, fit_ratio
from ratecraft.data.clean import CleaningConfig, CleaningReport, MissingCells, apply_cleaning
from ratecraft.data.clean import clean_table as _clean
from ratecraft.data.grouping import GroupLayout, group_table
from ratecraft.data.normalize import NormalizeConfig, Normalizer
from ratecraft.data.types import Data, FeatureTable
from ratecraft.entropy.refinement import Refinement
from ratecraft.errors import BadInputError, CorruptStreamError
from ratecraft.train import checkpoint as ckpt
from ratecraft.train.trainer import TrainConfig, Trainer, TrainResult

__all__ = ["LearnedTableCodec", "LearnedTableConfig"]

log = logging.getLogger(__name__)
_MAX_MISSING = 1 << 28
_RETRAINS = 2  # retrains with a smaller bit target when a model overspends its budget
_RATIO_TOLERANCE = 0.05
_RESIDUAL_BLOCK = 64  # samples per scale bucket of the refinement layer
_MIN_STEP = 1e-6  # finest refinement step (normalized units)
SAMPLE_BUDGET = 200_000  # training rows the default trainer sees in all


def _default_train() -> TrainConfig:
    return TrainConfig(sample_budget=SAMPLE_BUDGET, rd_stopping=True, patience=6)


class LearnedTableConfig(CodecConfig):
    """Options shared by the learned table codecs (pipeline, allocation, training)."""

    grouping: str | dict[str, list[str]] = Field(
        "auto",
        description="feature groups: auto (families, else learned by correlation clustering), "
        "families, prefix, cluster, a YAML file or {group: [names]}",
    )
    cleaning: CleaningConfig = Field(
        default_factory=CleaningConfig, description="what is dropped before coding"
    )
    normalize: NormalizeConfig = Field(
        default_factory=NormalizeConfig, description="per-feature normalization"
    )
    allocation_strategy: str = Field(
        "auto",
        description="bit split across groups: auto (rd), uniform, variance, dimensionality, "
        "information, balanced, rd or manual",
    )
    compression_ratios: str | list[float] | dict[str, float | list[float]] = Field(
        "auto",
        description="manual shares per group: '0.5:1:1.5', a list or {group: share | [per level]}",
    )
    compression_level: float = Field(
        default=1.0,
        gt=0.0,
        allow_inf_nan=False,
        description="divides latent dims and bits (2 = half of each)",
    )
    latent_dims: int = Field(
        default=16, ge=1, le=1_000_000, description="latent dimensions in all (before the level)"
    )
    hidden: int = Field(default=64, ge=4, le=4096, description="width of the MLP hidden layers")
    temporal_families: list[str] = Field(
        default_factory=lambda: ["temporal"],
        description="families coded as time series (a temporal CNN encoder)",
    )
    group_weights: dict[str, float] | None = Field(
        None, description="{group: weight} of each group's distortion in the loss"
    )
    train: TrainConfig = Field(default_factory=_default_train, description="the trainer")
    seed: int = Field(default=0, ge=0, description="seed of grouping, initialization and training")
    residual: bool = Field(
        True, description="let a ratio budget spend what the model leaves on a refinement layer"
    )
    residual_step: float | None = Field(
        default=None,
        gt=0.0,
        allow_inf_nan=False,
        description="refinement step in normalized units (null: off; a ratio budget searches it)",
    )

    @model_validator(mode="after")
    def _allocation_ok(self) -> Self:
        AllocationConfig(  # raises a one-line error for unknown strategies or ratio conflicts
            allocation_strategy=self.allocation_strategy,
            compression_ratios=self.compression_ratios,
            compression_level=self.compression_level,
            latent_dims=self.latent_dims,
        )
        if self.group_weights is not None and any(
            not (math.isfinite(w) and w > 0) for w in self.group_weights.values()
        ):
            raise ValueError("group_weights must be positive numbers")
        return self


class LearnedTableCodec(Codec):
    """Base of the learned table codecs; subclasses build the model and code its outputs."""

    config_cls: ClassVar[type[CodecConfig]] = LearnedTableConfig
    config: LearnedTableConfig
    version: ClassVar[int] = 2  # 2: a fourth payload section, the refinement layer
    kinds = ("table",)
    supports_lossy = True
    budgets = ("ratio",)  # or none: the config's own bits
    learned = True
    tensor_framework = "pt"

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.report: CleaningReport | None = None
        self.normalizer: Normalizer | None = None
        self.layout: GroupLayout | None = None
        self.stats: list[GroupStats] | None = None
        self.allocation: Allocation | None = None
        self.model: nn.Module | None = None
        self.train_result: TrainResult | None = None

    # ---- subclass hooks ------------------------------------------------------------------
    @abstractmethod
    def _plan(self, stats: list[GroupStats], bits: float | None) -> Allocation: ...

    @abstractmethod
    def _build_model(self) -> nn.Module: ...

    def _target_rate(self, bits: float | None) -> float | None:
        """Bits per sample the trainer should steer the rate to (None: no rate control)."""
        return None

    def _before_training(self, z: np.ndarray) -> None:
        """After the model is built, before the trainer runs (e.g. a codebook initialization)."""

    def _finalize(self, z: np.ndarray) -> None:
        """After training: build the integer coding tables from the training data."""

    @abstractmethod
    def _encode_z(self, z: np.ndarray) -> tuple[bytes, float]: ...

    @abstractmethod
    def _decode_z(self, payload: memoryview, n: int) -> np.ndarray: ...

    @abstractmethod
    def _forward_z(self, z: np.ndarray) -> np.ndarray:
        """The model's own inference reconstruction (quantized latents), normalized units."""

    def _extra_meta(self) -> dict[str, Any]:
        return {}

    def _fit_extras(self) -> dict[str, Any]:
        """What a subclass adds to the fit report (e.g. codebook health)."""
        return {}

    def group_names(self) -> dict[str, list[str]]:
        """Group → the names of its features (the kept ones), as fitted."""
        if self.layout is None:
            return {}
        names = self.layout.feature_names or [f"f{i}" for i in range(self.layout.n_features)]
        return {g: [names[i] for i in idx] for g, idx in self.layout.groups.items()}

    def _load_extra(self, meta: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_meta` stored."""

    # ---- fitting -------------------------------------------------------------------------
    def check_input(self, data: Data) -> None:
        if not isinstance(data, FeatureTable):
            raise BadInputError(f"{self.name} codes feature tables, not {type(data).__name__}")
        if self.report is not None and data.n_features != self.report.n_features_in:
            raise BadInputError(
                f"{self.name}: model was fitted on {self.report.n_features_in} features, "
                f"table has {data.n_features}"
            )

    def fit(
        self,
        data: Data,
        budget: Budget | None = None,
        *,
        train_dir: str | Path | None = None,
        resume: bool = False,
    ) -> Self:
        """Clean, normalize, group, allocate and train on ``data``.

        ``train_dir`` receives the trainer's checkpoint and ``metrics.jsonl``; ``resume=True``
        continues an interrupted fit from it (same data and config give the same model).
        """
        if budget is not None and budget.lossless:
            raise BadInputError(
                f"{self.name} is a lossy learned codec; it cannot meet a lossless budget "
                "(use a lossless codec such as predictive or zstd)"
            )
        if budget is not None and budget.max_error is not None:
            raise BadInputError(
                f"{self.name} cannot guarantee a max_error; give a ratio or no budget"
            )
        self.check_input(data)
        assert isinstance(data, FeatureTable)
        cfg = self.config
        cleaned, report = _clean(data, cfg.cleaning)
        if cleaned.n_samples < 2:
            raise BadInputError(f"{self.name} needs at least 2 samples to fit")
        normalizer = Normalizer.fit(cleaned.values, cleaned.feature_names, cfg.normalize)
        z = normalizer.transform(cleaned.values)
        learned = FeatureTable(z, list(cleaned.feature_names or []), cleaned.families)
        layout = group_table(
            learned if cfg.grouping == "auto" else cleaned,
            cfg.grouping,
            seed=cfg.seed,
            ignore=report.dropped_names,
        )
        self._check_group_weights(layout)
        self.report, self.normalizer, self.layout = report, normalizer, layout
        self.stats = GroupStats.from_values(z, layout)
        bits = None if budget is None else self._budget_bits(data, budget)
        self._train(z, bits, train_dir, resume)
        if budget is not None:
            self.budget = budget
        model_ratio = None
        if budget is not None and budget.ratio is not None:
            model_ratio = self._fit_ratio(data, budget.ratio, z, bits, train_dir, resume)
        _, stats = self.encode_with_stats(data)
        assert self.train_result is not None
        self.fit_report = {
            "ratio": stats.ratio,
            "model_ratio": model_ratio,
            "residual_step": self.config.residual_step,
            "bits_per_sample": stats.bits_per_sample,
            "estimated_bits_per_sample": stats.estimated_bits_per_sample,
            "target_bits_per_sample": None if bits is None else bits / data.n_features,
            "parameters": self.parameter_count(),
            "grouping": layout.source,
            "groups": self.group_names(),
            **self._fit_extras(),
            **self.train_result.summary(),
        }
        log.info("%s fitted: %s", self.name, self.fit_report)
        return self

    def _train(
        self,
        z: np.ndarray,
        bits: float | None,
        train_dir: str | Path | None,
        resume: bool,
        metrics_dir: str | Path | None = None,
    ) -> None:
        """Allocate for ``bits``, build the model and train it on normalized values ``z``;
        checkpoints go to ``train_dir``, metrics to ``metrics_dir`` (default: the same), so a
        retrain appends its epochs to the first training's ``metrics.jsonl``."""
        assert self.stats is not None
        cfg = self.config
        self.allocation = self._plan(self.stats, bits)
        torch.manual_seed(cfg.seed)
        self.model = self._build_model()
        if not resume:
            self._before_training(z)
        trainer = Trainer(
            cfg.train,
            checkpoint_dir=train_dir,
            metrics_path=None
            if train_dir is None
            else Path(metrics_dir or train_dir) / "metrics.jsonl",
        )
        self.train_result = trainer.fit(
            self.model,
            z,
            feature_weights=self._feature_weights(),
            target_bits=self._target_rate(bits),
            resume=resume,
        )
        self.model.eval()
        self._finalize(z)

    def _fit_ratio(
        self,
        data: FeatureTable,
        target: float,
        z: np.ndarray,
        bits: float | None,
        train_dir: str | Path | None,
        resume: bool,
    ) -> float:
        """Retrain while the model overspends, then refine; returns the model-only ratio."""
        self._set(residual_step=None)
        ratio = self._real_ratio(data)
        for attempt in range(1, _RETRAINS + 1):
            if ratio >= target * (1.0 - _RATIO_TOLERANCE) or bits is None:
                break
            bits *= 0.97 * ratio / target
            log.info(
                "%s overspends (%.2fx < %gx): retraining at %.1f bits",
                self.name,
                ratio,
                target,
                bits,
            )
            sub = None if train_dir is None else Path(train_dir) / f"retrain-{attempt}"
            again = resume and sub is not None and (sub / "trainer_state.json").exists()
            self._train(z, bits, sub, again, metrics_dir=train_dir)
            ratio = self._real_ratio(data)
        if ratio < target * (1.0 - _RATIO_TOLERANCE):
            log.warning("%s: the model alone reaches %.2fx, short of %gx", self.name, ratio, target)
        elif ratio > target * (1.0 + _RATIO_TOLERANCE) and self.config.residual:
            self._set(residual_step=self._search_residual_step(data, target))
        return ratio

    def _real_ratio(self, data: FeatureTable, step: float | None = None) -> float:
        """Real container ratio of ``data`` with refinement step ``step`` (None: off)."""
        self._set(residual_step=step)
        return self.encode_with_stats(data)[1].ratio

    def _search_residual_step(self, data: FeatureTable, target: float) -> float:
        """Finest refinement step whose real container meets ``target`` (:func:`fit_ratio`),
        started from the model's own residual scale."""
        z, _ = self._z_of(data.values)
        rms = float(np.sqrt(np.mean((z - self._forward_z(z)) ** 2))) or 1.0
        return fit_ratio(
            self,
            data,
            target,
            lambda s: self._set(residual_step=s),
            Knob(_MIN_STEP, 1e6 * rms),
            start=8.0 * rms,
            what=f"{self.name} refinement",
        )

    def _check_group_weights(self, layout: GroupLayout) -> None:
        gw = self.config.group_weights or {}
        unknown = sorted(set(gw) - set(layout.names))
        if unknown:
            raise BadInputError(f"group_weights name unknown group(s) {unknown}")

    def _feature_weights(self) -> np.ndarray:
        assert self.layout is not None
        w = np.ones(self.layout.n_features)
        for name, weight in (self.config.group_weights or {}).items():
            w[self.layout.indices(name)] = weight
        return w

    def _budget_bits(self, data: FeatureTable, budget: Budget) -> float:
        """Bits per sample (table row) for the model from ``Budget(ratio=R)``, after the
        container's overhead and the payload's missing-cell records."""
        assert budget.ratio is not None and self.report is not None
        n = data.n_samples
        raw_bits = 8.0 * data.values.dtype.itemsize * data.n_features
        header = header_for(self, data).model_copy(update={"model_sha256": "0" * 64})
        missing = 9 * self.report.missing.count  # u64 position + u8 kind per NaN/inf cell
        sections = 20 * header.n_chunks  # four section lengths and a count per chunk
        overhead = 8 * (overhead_bytes(header) + missing + sections)
        bits = raw_bits / budget.ratio - overhead / n
        if bits <= 0:
            raise BadInputError(
                f"ratio {budget.ratio:g} is unreachable for {n} samples: the container "
                f"overhead alone needs {overhead / n:.1f} bits per sample"
            )
        return bits

    # ---- blocks --------------------------------------------------------------------------
    def _fitted(self) -> tuple[CleaningReport, Normalizer]:
        if self.report is None or self.normalizer is None or self.model is None:
            raise BadInputError(f"{self.name} is not fitted; call fit() or load() first")
        return self.report, self.normalizer

    def _z_of(self, values: np.ndarray) -> tuple[np.ndarray, MissingCells]:
        report, normalizer = self._fitted()
        kept, missing = apply_cleaning(values, report)
        return normalizer.transform(kept), missing

    def _to_original(self, z_hat: np.ndarray, missing: MissingCells, dtype: np.dtype) -> np.ndarray:
        report, normalizer = self._fitted()
        kept = missing.restore(normalizer.inverse(z_hat))
        full = report.restore_dropped(kept)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            full = np.clip(np.rint(np.nan_to_num(full)), info.min, info.max)
        return full.astype(dtype)

    def _refined(self, z_hat: np.ndarray, q: np.ndarray | None) -> np.ndarray:
        layer = self._refinement()
        return z_hat if q is None or layer is None else z_hat + layer.dequantize(q)

    def _refinement(self) -> Refinement | None:
        step = self.config.residual_step
        return None if step is None else Refinement(step, _RESIDUAL_BLOCK)

    def encode_block(self, block: np.ndarray, ctx: BlockContext) -> BlockResult:
        z, missing = self._z_of(block.T)
        codes, est = self._encode_z(z)
        layer = self._refinement()
        residual = b""
        if layer is not None:
            residual, res_bits = layer.compress(layer.quantize(z - self._forward_z(z)).T)
            est += res_bits
        width = missing.shape[1]
        flat = np.asarray(missing.rows, np.int64) * width + np.asarray(missing.cols, np.int64)
        flat = flat.astype("<u8")
        kinds = np.asarray(missing.kinds, np.uint8)
        payload = pack_sections([codes, flat.tobytes(), kinds.tobytes(), residual])
        return BlockResult(payload, est)

    def decode_block(self, payload: memoryview, ctx: BlockContext) -> np.ndarray:
        rows, frames, dtype = ctx.rows, ctx.frames, ctx.dtype
        report, _ = self._fitted()
        if rows != report.n_features_in:
            raise CorruptStreamError(f"stream has {rows} features, model {report.n_features_in}")
        codes, flat_raw, kinds_raw, residual = unpack_sections(payload, expect=4)
        width = len(report.kept)
        count = len(kinds_raw)
        if count > min(_MAX_MISSING, frames * width):
            raise CorruptStreamError("stream declares more missing cells than cells")
        flat = array_from(flat_raw, "<u8", count, "missing cells").astype(np.int64)
        kinds = array_from(kinds_raw, "u1", count, "missing kinds").astype(np.int64)
        if count and (flat.max() >= frames * width or kinds.max() > 2):
            raise CorruptStreamError("missing-cell positions or kinds out of range")
        missing = MissingCells(
            shape=(frames, width),
            rows=(flat // width).tolist(),
            cols=(flat % width).tolist(),
            kinds=kinds.tolist(),
        )
        z_hat = self._decode_z(codes, frames)
        q = None
        layer = self._refinement()
        if layer is not None:
            q = layer.decompress(residual, width, frames).T
        elif len(residual):
            raise CorruptStreamError("stream has a refinement layer this model does not use")
        return self._to_original(self._refined(z_hat, q), missing, np.dtype(dtype)).T

    def reconstruct(self, data: FeatureTable) -> FeatureTable:
        """The model's inference reconstruction without a bitstream (what decode must equal)."""
        self.check_input(data)
        z, missing = self._z_of(data.values)
        z_hat = self._forward_z(z)
        layer = self._refinement()
        z_hat = self._refined(z_hat, None if layer is None else layer.quantize(z - z_hat))
        values = self._to_original(z_hat, missing, data.values.dtype)
        return FeatureTable(values, list(data.feature_names or []), data.families, dict(data.meta))

    # ---- the trained state ---------------------------------------------------------------
    def stream_params(self) -> dict[str, Any]:
        return {}  # everything the decoder needs is in the model the header names

    def parameter_count(self) -> int:
        from ratecraft.codecs.learned.blocks import parameter_count

        return parameter_count(self.model) if self.model is not None else 0

    def model_state(self) -> ModelState | None:
        if self.report is None or self.normalizer is None or self.model is None:
            return None
        assert self.layout is not None and self.allocation is not None
        report_doc = self.report.model_dump(mode="json")
        report_doc["missing"] = {"shape": [0, len(self.report.kept)]}  # training holes: unneeded
        doc = {
            "feature_names": self.report.feature_names_in,
            "dropped_features": self.report.reasons(),
            "cleaning": report_doc,
            "normalization": self.normalizer.model_dump(mode="json"),
            "groups": self.layout.model_dump(mode="json"),
            "group_stats": [s.model_dump(mode="json") for s in self.stats or []],
            "allocation": self.allocation.model_dump(mode="json"),
            "parameters": self.parameter_count(),
            **self._extra_meta(),
        }
        return ModelState(dict(self.model.state_dict()), doc)

    def _restore_pipeline(self, doc: dict[str, Any]) -> None:
        """Cleaning, normalization, grouping and allocation from a state document."""
        self.report = CleaningReport.model_validate(doc["cleaning"])
        self.normalizer = Normalizer.model_validate(doc["normalization"])
        self.layout = GroupLayout.model_validate(doc["groups"])
        self.stats = [GroupStats.model_validate(s) for s in doc.get("group_stats", [])]
        self.allocation = Allocation.model_validate(doc["allocation"])
        torch.manual_seed(self.config.seed)

    def load_model_state(self, state: ModelState) -> None:
        self._restore_pipeline(state.doc)
        self.model = load_weights(self._build_model(), state.tensors)
        self._load_extra(state.doc)

    @classmethod
    def migrate_legacy(cls, doc: dict[str, Any], directory: Path) -> ModelState | None:
        """A ratecraft 0.1 folder: coding tables were JSON beside the weights."""
        old = ckpt.read_safetensors(Path(directory) / "weights.safetensors")
        if ckpt.tensors_digest(old) != doc.get("weights_sha256"):
            raise BadInputError("weights.safetensors does not match codec.json")
        codec = cls(doc["config"])
        codec._restore_pipeline(doc)
        codec.model = codec._build_model()
        missing, unexpected = codec.model.load_state_dict(old, strict=False)
        if unexpected or any("table_buffers" not in k for k in missing):
            raise BadInputError("weights do not fit the model")
        codec.model.eval()
        codec._install_legacy_tables(doc)
        state = codec.model_state()
        assert state is not None
        state.doc["legacy_stream_params"] = {
            "weights_sha256": doc["weights_sha256"],
            "residual_step": codec.config.residual_step,
        }
        return state

    @abstractmethod
    def _install_legacy_tables(self, doc: dict[str, Any]) -> None:
        """Put the JSON coding tables of a ratecraft 0.1 folder into the model's buffers."""
