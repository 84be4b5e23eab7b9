"""Calibrated LLM quantization steps for Hugging Face causal LMs (the ``llm`` extra).

- ``autoround``: Intel's AutoRound (sign-gradient descent on the rounding offsets and the
  min/max clipping of every group, block by block, against the float block's outputs on
  calibration tokens). It runs on CPU; calibration is the step's token-id batches
  (``Calibration.inputs``, tensors shaped ``(batch, seqlen)``), so AutoRound's default
  calibration set — a hub download — is never touched. ``zero_point="float"`` uses AutoRound's
  ``int_asym_float_zp`` data type (a real-valued zero point that only bounds the clamping range:
  AutoRound rounds before adding it, so the grid stays the integer multiples of the scale),
  ``"int"`` the usual integer zero point (exactly GGUF's Q4_1 form), ``"none"`` symmetric
  codes. ``iters=0`` is AutoRound's round-to-nearest mode.

  The tuned codes are not left as quantize-dequantized floats: every quantized ``Linear`` gets a
  torchao ``IntxUnpackedToInt8Tensor`` weight holding the integer codes, scales and zero points
  AutoRound chose, so :func:`ratecraft.shrink.save_artifact` stores them bit-packed and the
  reloaded model computes exactly what was measured.
- ``embedding-quant``: per-group weight-only quantization of the input embedding (torchao
  ``IntxWeightOnlyConfig``, symmetric by default: int8 / group 32 is GGUF's Q8_0). With tied
  embeddings the output head keeps sharing the same quantized tensor, so it is stored once.
  Needed for size: SmolLM2's 28 M-parameter embedding is a fifth of the model.
- ``bnb``: bitsandbytes int8 / nf4 ``Linear`` replacement, when bitsandbytes runs on this
  machine; otherwise a :class:`~ratecraft.errors.BadInputError` saying why.

GPTQ and AWQ are not offered: the maintained libraries (gptqmodel, llmcompressor) break this
environment (see ``NOTES-deps.md``).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from ratecraft.errors import BadInputError, MissingExtraError
from ratecraft.shrink.quantize import skipped
from ratecraft.shrink.steps import Calibration, Step, StepConfig, model_bytes, register_step

__all__ = [
    "AutoRoundConfig",
    "AutoRoundStep",
    "BnbConfig",
    "BnbStep",
    "EmbeddingQuantConfig",
    "EmbeddingQuantStep",
    "calibration_ids",
    "codes_to_torchao",
    "retie",
]

log = logging.getLogger(__name__)

_LLM = "llm"


def calibration_ids(calib: Calibration, seqlen: int, nsamples: int) -> list[torch.Tensor]:
    """``nsamples`` rows of ``seqlen`` token ids cut from the calibration batches, in order."""
    rows: list[torch.Tensor] = []
    for batch in calib.inputs:
        ids = batch.get("input_ids") if isinstance(batch, dict) else batch
        if not isinstance(ids, torch.Tensor) or ids.is_floating_point():
            raise BadInputError("LLM calibration batches must be integer token-id tensors")
        flat = ids.reshape(-1).long()
        for start in range(0, flat.numel() - seqlen + 1, seqlen):
            rows.append(flat[start : start + seqlen].reshape(1, seqlen))
            if len(rows) == nsamples:
                return rows
    if not rows:
        raise BadInputError(f"calibration holds fewer than {seqlen} tokens per batch")
    log.info("calibration gives %d of %d asked samples of %d tokens", len(rows), nsamples, seqlen)
    return rows


def codes_to_torchao(
    weight: torch.Tensor,
    scale: torch.Tensor,
    zero_point: torch.Tensor | None,
    bits: int,
    group_size: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """A torchao ``IntxUnpackedToInt8Tensor`` for ``weight = scale * (q - zero_point)``.

    ``weight`` is the quantize-dequantized float weight (out, in); ``scale`` and ``zero_point`` have
    one value per group (out, in // group_size). ``q`` is recovered by rounding, checked to lie
    in ``[0, 2**bits)``, and shifted by ``2**(bits-1)`` into torchao's signed range; the zero
    point is stored as an integer (int8), which is also GGUF Q4_1's form.
    """
    from torchao.quantization.quantize_.workflows.intx.intx_unpacked_to_int8_tensor import (
        IntxUnpackedToInt8Tensor,
    )

    out_f, in_f = weight.shape
    if in_f % group_size or scale.shape != (out_f, in_f // group_size):
        raise BadInputError(
            f"scales of shape {tuple(scale.shape)} do not fit weight {(out_f, in_f)}"
        )
    s = scale.float().repeat_interleave(group_size, dim=1)
    half = 1 << (bits - 1)
    if zero_point is None:  # symmetric: codes in [-half, half)
        z = torch.zeros_like(scale, dtype=torch.float32)
        q = torch.round(weight.float() / s).clamp(-half, half - 1)
        zp_t = torch.zeros_like(scale, dtype=torch.int8)
    else:
        # AutoRound rounds before adding its zero point (``q = round(w/s + v) + zp``), so its
        # grid is the integer multiples of ``s`` even when ``zp`` is fractional: with the zero
        # point rounded to an integer the same values are codes ``round(w/s) + round(zp)``,
        # exact except where AutoRound clamped at the ends of the range (at most s/2 off there)
        z = torch.round(zero_point.float())
        q = torch.round(weight.float() / s) + z.repeat_interleave(group_size, dim=1)
        if bool((q < -1).any()) or bool((q > 2 * half).any()):
            raise BadInputError("AutoRound codes fall outside their bit range")
        q = q.clamp(0, 2 * half - 1) - half
        zp_t = (z - half).to(torch.int8)
    return IntxUnpackedToInt8Tensor(
        qdata=q.to(torch.int8),
        scale=scale.detach().clone(),
        zero_point=zp_t,
        target_dtype=getattr(torch, f"int{bits}"),
        block_size=(1, group_size),
        dtype=dtype,
        activation_quantization=None,
    )


class _TokenIdsOnly:
    """Stands in for a tokenizer: AutoRound demands one, but our calibration is token ids."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise BadInputError("autoround calibration must be token ids, not text")


class AutoRoundConfig(StepConfig):
    """AutoRound: bit width, group size, zero-point kind and the (bounded) tuning effort."""

    bits: int = Field(default=4, ge=2, le=8)
    group_size: int = Field(default=32, ge=8)
    zero_point: Literal["int", "float", "none"] = "int"
    iters: int = Field(default=50, ge=0, description="tuning steps per block; 0: round-to-nearest")
    nsamples: int = Field(default=16, ge=1)
    seqlen: int = Field(default=256, ge=8)
    batch_size: int = Field(default=4, ge=1)
    lr: float | None = Field(default=None, gt=0, description="AutoRound default: 1/iters")
    skip: list[str] = Field(default_factory=lambda: ["lm_head"])
    seed: int = 42


def _scheme(cfg: AutoRoundConfig) -> dict[str, Any]:
    data_type = "int_asym_float_zp" if cfg.zero_point == "float" else "int"
    return {
        "bits": cfg.bits,
        "group_size": cfg.group_size,
        "sym": cfg.zero_point == "none",
        "data_type": data_type,
        "act_bits": 16,
    }


@register_step("autoround")
class AutoRoundStep(Step):
    """AutoRound weight quantization of a causal LM's Linear layers, stored as torchao codes."""

    role: ClassVar[str] = "quantize"

    config_cls: ClassVar[type[StepConfig]] = AutoRoundConfig
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = (
        ("auto_round", _LLM),
        ("torchao", "shrink"),
        ("transformers", _LLM),
    )
    needs_calibration: ClassVar[bool] = True

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        from auto_round import AutoRound

        cfg: AutoRoundConfig = config
        assert calib is not None
        if not hasattr(model, "config"):
            raise BadInputError("autoround needs a Hugging Face causal LM (model.config)")
        dtype = next(model.parameters()).dtype
        model = model.to(torch.float32)  # AutoRound tunes in float32 on CPU
        rows = calibration_ids(calib, cfg.seqlen, cfg.nsamples)
        layers = {}
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and not skipped(name, cfg.skip):
                if module.in_features % cfg.group_size:
                    raise BadInputError(
                        f"{name}: {module.in_features} inputs not a multiple of {cfg.group_size}"
                    )
                layers[name] = _scheme(cfg)
        if not layers:
            raise BadInputError("autoround found no Linear layer to quantize")
        kwargs: dict[str, Any] = {}
        if cfg.lr is not None:
            kwargs["lr"] = cfg.lr
        tuner = AutoRound(
            model,
            tokenizer=calib.extras.get("tokenizer") or _TokenIdsOnly(),
            scheme="W4A16",
            layer_config=layers,
            dataset=rows,
            iters=cfg.iters,
            nsamples=len(rows),
            seqlen=cfg.seqlen,
            batch_size=min(cfg.batch_size, len(rows)),
            device_map="cpu",
            amp=False,
            seed=cfg.seed,
            enable_torch_compile=False,
            **kwargs,
        )
        model, _ = tuner.quantize()
        done = 0
        for name, module in model.named_modules():
            if name not in layers:
                continue
            scale, zp = getattr(module, "scale", None), getattr(module, "zp", None)
            if not isinstance(scale, torch.Tensor):
                raise BadInputError(f"{name}: AutoRound left no per-group scales")
            if isinstance(zp, int | float):
                zp = torch.full_like(scale, float(zp))
            zero = None if cfg.zero_point == "none" else zp
            q = codes_to_torchao(
                module.weight.detach(), scale, zero, cfg.bits, cfg.group_size, dtype
            )
            for attr in ("scale", "zp", "w_d_scale", "w_d_wmin", "w_wmin"):
                if hasattr(module, attr):
                    delattr(module, attr)
            module.weight = nn.Parameter(q, requires_grad=False)
            done += 1
        log.info("autoround: %d Linear layers at %d bits, group %d", done, cfg.bits, cfg.group_size)
        model = _to_dtype(model, dtype)
        retie(model)
        return model.eval()

    def memory_estimate(self, model: nn.Module, config: Any, calib: Calibration | None) -> int:
        cfg: AutoRoundConfig = config
        hidden = int(getattr(getattr(model, "config", None), "hidden_size", 1024))
        cached = 4 * cfg.nsamples * cfg.seqlen * hidden * 3  # block inputs, outputs, grads
        return 2 * model_bytes(model) + cached


def retie(model: nn.Module) -> bool:
    """Share the input embedding with the output head again when the config ties them.

    AutoRound (and deep copies) can leave the head holding an equal but separate tensor; tied
    again, the artifact stores it once and embedding quantization reaches the head too.
    """
    config = getattr(model, "config", None)
    if not getattr(config, "tie_word_embeddings", False):
        return False
    try:
        head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    except (AttributeError, RuntimeError):  # models without a lookup for either table
        return False
    if head is None or emb is None or head.weight is emb.weight:
        return head is not None and emb is not None
    if head.weight.shape != emb.weight.shape or not torch.equal(
        head.weight.detach().float(), emb.weight.detach().float()
    ):
        return False
    head.weight = emb.weight
    return True


def _to_dtype(model: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Cast the float parameters (norms, embedding) back; quantized weights keep their dtype."""
    for module in model.modules():
        for key, p in list(module._parameters.items()):
            if p is not None and type(p.data) is torch.Tensor and p.is_floating_point():
                module._parameters[key] = nn.Parameter(p.data.to(dtype), requires_grad=False)
    return model


class EmbeddingQuantConfig(StepConfig):
    """Bits and group size of the embedding codes; symmetric unless asked otherwise."""

    bits: int = Field(default=8, ge=2, le=8)
    group_size: int = Field(default=32, ge=2)
    mapping: Literal["symmetric", "asymmetric"] = "symmetric"


@register_step("embedding-quant")
class EmbeddingQuantStep(Step):
    """Per-group weight-only quantization of ``nn.Embedding`` (tied heads share the result)."""

    role: ClassVar[str] = "embedding"

    config_cls: ClassVar[type[StepConfig]] = EmbeddingQuantConfig
    needs_extra: ClassVar[tuple[tuple[str, str], ...]] = (("torchao", "shrink"),)

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        from torchao.quantization import IntxWeightOnlyConfig, MappingType, quantize_
        from torchao.quantization.granularity import PerGroup

        cfg: EmbeddingQuantConfig = config
        retie(model)
        embeddings = [m for m in model.modules() if isinstance(m, nn.Embedding)]
        if not embeddings:
            raise BadInputError("embedding-quant: the model has no nn.Embedding")
        tied = [
            m
            for m in model.modules()
            if isinstance(m, nn.Linear) and any(m.weight is e.weight for e in embeddings)
        ]
        for e in embeddings:
            if e.embedding_dim % cfg.group_size:
                raise BadInputError(
                    f"embedding width {e.embedding_dim} is not a multiple of {cfg.group_size}"
                )
        mapping = MappingType.SYMMETRIC if cfg.mapping == "symmetric" else MappingType.ASYMMETRIC
        qcfg = IntxWeightOnlyConfig(
            weight_dtype=getattr(torch, f"int{cfg.bits}"),
            granularity=PerGroup(cfg.group_size),
            mapping_type=mapping,
        )
        with torch.no_grad():
            quantize_(model, qcfg, filter_fn=lambda m, _fqn: isinstance(m, nn.Embedding))
        for head in tied:  # keep sharing: the head computes with the same quantized table
            head.weight = next(e.weight for e in embeddings if e.weight.shape == head.weight.shape)
        log.info("embedding-quant: %d tables, %d tied heads", len(embeddings), len(tied))
        return model.eval()


class BnbConfig(StepConfig):
    """bitsandbytes quantization kind."""

    kind: Literal["int8", "nf4"] = "int8"
    skip: list[str] = Field(default_factory=lambda: ["lm_head"])


@register_step("bnb")
class BnbStep(Step):
    """bitsandbytes ``Linear8bitLt`` / ``Linear4bit`` (nf4) layers, where bitsandbytes runs."""

    role: ClassVar[str] = "quantize"

    config_cls: ClassVar[type[StepConfig]] = BnbConfig

    def apply(self, model: nn.Module, config: Any, calib: Calibration | None) -> nn.Module:
        cfg: BnbConfig = config
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise MissingExtraError("bitsandbytes", _LLM) from None
        except Exception as exc:  # bitsandbytes raises odd errors when no backend loads
            raise BadInputError(f"bitsandbytes does not load here: {exc}") from None
        replaced = 0
        for name, module in list(model.named_modules()):
            if not isinstance(module, nn.Linear) or skipped(name, cfg.skip):
                continue
            parent_name, _, leaf = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            try:
                new = _bnb_linear(bnb, module, cfg.kind)
            except (RuntimeError, ValueError, AssertionError) as exc:
                raise BadInputError(
                    f"bitsandbytes {cfg.kind} does not run on this CPU: {exc}"
                ) from None
            setattr(parent, leaf, new)
            replaced += 1
        if not replaced:
            raise BadInputError("bnb found no Linear layer to quantize")
        return model.eval()


def _bnb_linear(bnb: Any, module: nn.Linear, kind: str) -> nn.Module:
    bias = module.bias is not None
    w = module.weight.detach().float()
    if kind == "int8":
        new = bnb.nn.Linear8bitLt(
            module.in_features, module.out_features, bias, has_fp16_weights=False
        )
        new.weight = bnb.nn.Int8Params(w, requires_grad=False, has_fp16_weights=False)
    else:
        new = bnb.nn.Linear4bit(module.in_features, module.out_features, bias, quant_type="nf4")
        new.weight = bnb.nn.Params4bit(w, requires_grad=False, quant_type="nf4")
    if bias:
        new.bias = nn.Parameter(module.bias.detach().float(), requires_grad=False)
    new.to("cpu")
    x = torch.zeros(1, module.in_features)
    new(x)  # fail here, with a clear error, when the kernels do not run on this CPU
    return new
