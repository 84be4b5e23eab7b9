"""Write a Hugging Face Llama-family causal LM as a GGUF file that llama.cpp loads.

:func:`write_gguf` maps the model's tensors to llama.cpp's names (``gguf``'s own
``TensorNameMap``), permutes the query/key rows the way llama.cpp's converter does (llama.cpp
applies rotary embeddings to interleaved pairs, Hugging Face to split halves), and writes the
architecture keys from the model's config. Tokenizer and descriptive keys come from a *template*
GGUF — the file the model was loaded from (SmolLM2's bundled GGUF, a user's ``.gguf``) — so the
vocabulary, merges, special tokens and chat template carry over unchanged; a model without one
is written with ``tokenizer.ggml.model = "none"`` (token ids in, logits out: enough for
perplexity and speed, not for text).

Float tensors are written as f16 (1-D norms as f32). Weights that a shrink step already
quantized are written **in their own grid**, not re-rounded: torchao per-group codes with
group 32 become GGUF blocks exactly — symmetric 4-bit → ``Q4_0``, 4-bit with a zero point
(AutoRound, asymmetric RTN) → ``Q4_1``, symmetric 8-bit → ``Q8_0`` — with only the per-block
scale (and min) rounded to f16 as GGUF stores them; a per-row int8 weight is ``Q8_0`` with
that row's scale in every block. Anything else is refused with a one-line error.

Needs the ``gguf`` package (the ``llm`` or ``gguf`` extra).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ratecraft.errors import BadInputError, MissingExtraError

__all__ = ["GGUF_BLOCK", "pack_blocks", "write_gguf"]

log = logging.getLogger(__name__)

GGUF_BLOCK = 32  # weights per block of the legacy GGUF types written here
_ARCHS = {"llama": "LLAMA"}  # Hugging Face model_type -> gguf MODEL_ARCH member
_TEMPLATE_SKIP = ("GGUF.", "general.architecture", "general.file_type", "general.quantization")


def _gguf() -> Any:
    try:
        import gguf
    except ImportError:
        raise MissingExtraError("gguf", "gguf") from None
    return gguf


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order for rotary pairs (its converter's ``permute``), any trailing dims."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _half(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32).astype(np.float16)


def _nibbles(q: np.ndarray) -> np.ndarray:
    """GGUF 4-bit packing of blocks of 32 codes in 0..15: byte j = q[j] | q[j + 16] << 4."""
    q = q.astype(np.uint8)
    return (q[..., :16] | (q[..., 16:] << 4)).astype(np.uint8)


def pack_blocks(kind: str, q: np.ndarray, d: np.ndarray, m: np.ndarray | None = None) -> np.ndarray:
    """Bytes of GGUF ``Q4_0`` / ``Q4_1`` / ``Q8_0`` rows from integer codes and block scales.

    ``q`` is (rows, cols) codes — 0..15 for the 4-bit kinds, −128..127 for ``Q8_0`` — and ``d``
    (and ``m`` for ``Q4_1``) hold one value per block of 32: ``x = d·(q − 8)`` (Q4_0),
    ``x = d·q + m`` (Q4_1), ``x = d·q`` (Q8_0). Returns uint8 (rows, bytes per row).
    """
    rows, cols = q.shape
    if cols % GGUF_BLOCK:
        raise BadInputError(f"{cols} columns are not a multiple of the GGUF block of 32")
    blocks = q.reshape(rows, cols // GGUF_BLOCK, GGUF_BLOCK)
    parts = [_half(d).reshape(rows, -1, 1).view(np.uint8)]
    if kind == "Q4_1":
        if m is None:
            raise BadInputError("Q4_1 blocks need their minimum")
        parts.append(_half(m).reshape(rows, -1, 1).view(np.uint8))
    if kind in ("Q4_0", "Q4_1"):
        if blocks.min() < 0 or blocks.max() > 15:
            raise BadInputError(f"{kind} codes must lie in 0..15")
        parts.append(_nibbles(blocks))
    elif kind == "Q8_0":
        parts.append(blocks.astype(np.int8).view(np.uint8))
    else:
        raise BadInputError(f"cannot pack GGUF blocks of kind {kind!r}")
    return np.concatenate(parts, axis=-1).reshape(rows, -1)


def _torchao_blocks(w: torch.Tensor) -> tuple[str, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(kind, codes, d, m)`` of a torchao-quantized weight in GGUF terms (see module doc)."""
    name = type(w).__name__
    if name == "IntxUnpackedToInt8Tensor":
        bits = int(str(w.target_dtype).removeprefix("torch.int"))
        group = int(w.block_size[-1])
        if group != GGUF_BLOCK or int(w.block_size[0]) != 1 or bits not in (4, 8):
            raise BadInputError(
                f"only group-32 4-bit or 8-bit codes map onto GGUF blocks (got {bits}-bit, "
                f"group {tuple(w.block_size)})"
            )
        qt = w.qdata.to(torch.int64).numpy()
        scale = w.scale.float().numpy()
        zp = w.zero_point.float().numpy()  # torchao: x = scale · (q_t − zp_t), q_t signed
        if bits == 8:
            if np.any(zp != 0):
                raise BadInputError("8-bit codes with a zero point have no GGUF block type")
            return "Q8_0", qt, scale, None
        if not np.any(zp != 0):  # symmetric: q_t in −8..7 → Q4_0 code q_t + 8
            return "Q4_0", qt + 8, scale, None
        # x = scale·(q_t − zp_t) = d·(q_t + 8) + m with d = scale, m = −scale·(zp_t + 8)
        return "Q4_1", qt + 8, scale, -scale * (zp + 8)
    if name == "Int8Tensor":
        if getattr(w, "act_quant_kwargs", None) is not None:
            raise BadInputError("int8-dynamic weights quantize activations too; GGUF cannot")
        qt = w.qdata.to(torch.int64).numpy()
        scale = w.scale.float().reshape(-1).numpy()
        if scale.shape[0] != qt.shape[0]:
            raise BadInputError("only per-row int8 weights map onto GGUF Q8_0 blocks")
        per_block = np.repeat(scale[:, None], qt.shape[1] // GGUF_BLOCK, axis=1)
        return "Q8_0", qt, per_block, None
    raise BadInputError(f"a {name} weight has no GGUF form; export the float model instead")


def _tensor_data(
    name: str, w: torch.Tensor, permute_heads: int | None
) -> tuple[np.ndarray, Any | None]:
    """``(array, raw GGML type or None)`` of one tensor as it goes into the file."""
    gguf = _gguf()
    if type(w) not in (torch.Tensor, nn.Parameter):
        kind, q, d, m = _torchao_blocks(w)
        if permute_heads:
            q, d = _permute(q, permute_heads), _permute(d, permute_heads)
            m = None if m is None else _permute(m, permute_heads)
        return pack_blocks(kind, q, d, m), getattr(gguf.GGMLQuantizationType, kind)
    x = w.detach().float().numpy()
    if permute_heads:
        x = _permute(x, permute_heads)
    return (x.astype(np.float32) if x.ndim == 1 else x.astype(np.float16)), None


def _template_fields(writer: Any, template: Path, gguf: Any) -> None:
    reader = gguf.GGUFReader(template)
    arch = str(reader.fields["general.architecture"].contents())
    for key, field in reader.fields.items():
        if key.startswith(_TEMPLATE_SKIP) or key.startswith(f"{arch}."):
            continue  # architecture keys are written from the model's own config
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub)


def _config_fields(writer: Any, cfg: Any) -> None:
    heads = int(cfg.num_attention_heads)
    head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // heads)
    writer.add_context_length(int(cfg.max_position_embeddings))
    writer.add_embedding_length(int(cfg.hidden_size))
    writer.add_block_count(int(cfg.num_hidden_layers))
    writer.add_feed_forward_length(int(cfg.intermediate_size))
    writer.add_head_count(heads)
    writer.add_head_count_kv(int(getattr(cfg, "num_key_value_heads", None) or heads))
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    writer.add_vocab_size(int(cfg.vocab_size))
    rope = getattr(cfg, "rope_parameters", None) or {}
    theta = rope.get("rope_theta") if isinstance(rope, dict) else None
    writer.add_rope_freq_base(float(theta or getattr(cfg, "rope_theta", 10000.0)))


def _tied(model: nn.Module) -> bool:
    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    return head is not None and emb is not None and head.weight is emb.weight


def write_gguf(
    model: nn.Module, path: str | Path, *, template: str | Path | None = None, name: str = ""
) -> Path:
    """Write ``model`` (a Hugging Face Llama causal LM) to ``path``; returns the path.

    ``template`` is a GGUF file whose tokenizer and descriptive keys are copied (see module
    doc). The file is written to a temporary name beside ``path`` and renamed into place.
    """
    gguf = _gguf()
    cfg = getattr(model, "config", None)
    arch = _ARCHS.get(str(getattr(cfg, "model_type", "")))
    if cfg is None or arch is None:
        raise BadInputError(
            f"GGUF export supports {', '.join(_ARCHS)} causal LMs, not "
            f"{getattr(cfg, 'model_type', type(model).__name__)}"
        )
    out = Path(path)
    if not out.parent.is_dir():
        raise BadInputError(f"{out}: folder {out.parent} does not exist")
    heads = int(cfg.num_attention_heads)
    kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
    n_layers = int(cfg.num_hidden_layers)
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch), n_layers)
    tmp = Path(tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)[1])
    try:
        writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[getattr(gguf.MODEL_ARCH, arch)])
        if template is not None:
            _template_fields(writer, Path(template), gguf)
        else:
            writer.add_tokenizer_model("none")
        if name:
            writer.add_name(name)
        _config_fields(writer, cfg)
        kinds: set[str] = set()
        tied = _tied(model)
        seen: set[int] = set()
        for key, tensor in model.state_dict(keep_vars=True).items():
            if id(tensor) in seen or (tied and key.endswith("lm_head.weight")):
                continue
            seen.add(id(tensor))
            target = names.get_name(key, try_suffixes=(".weight", ".bias"))
            if target is None:
                raise BadInputError(f"GGUF export: no llama.cpp name for tensor {key}")
            permute = heads if ".q_proj." in key else kv_heads if ".k_proj." in key else None
            data, raw = _tensor_data(key, tensor, permute)
            writer.add_tensor(target, data, raw_dtype=raw)
            kinds.add("F16" if raw is None else raw.name)
        quantized = sorted(kinds - {"F16"})
        file_type = {"Q4_0": 2, "Q4_1": 3, "Q8_0": 7}.get(quantized[0] if quantized else "", 1)
        writer.add_file_type(file_type)
        if quantized:
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %s (%s)", out, ", ".join(sorted(kinds)))
    return out
