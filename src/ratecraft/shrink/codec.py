"""Shrink a trained codec's encoder and save the codec back as a normal codec folder.

A codec's encoder runs where the data is recorded (an implant, a sensor), its decoder where
it is read, so shrink works on the encoder: :func:`shrink_codec` runs a recipe on a copy of
the encoder (:func:`~ratecraft.shrink.models.codec_encoder_of`), then

1. writes the shrunk encoder's **effective weights** back into the codec's own model — the
   dequantized values of int8 / int4 / quanto / ONNX Runtime int8 weights, the zeros of pruned
   ones — so the folder computes with exactly the weights the shrunk encoder holds;
2. saves the codec through its own ``save`` into the output folder, with a ``shrink`` entry in
   its fit report (its card: recipe, hash, measured quality change), and the deployable shrunk
   encoder beside it in ``encoder/`` (a shrink artifact: packed tensors, or the ONNX file);
3. measures, on evaluation data: the reconstruction SNR (tables) or SNDR (recordings) of the
   original codec and of the saved folder reloaded, and the SNR of the shrunk encoder's latents
   against the original encoder's.

The folder then encodes and decodes like any trained model (``ratecraft encode --model``);
its containers name the new weights' hash. Steps that change the encoder's shapes (structured
pruning, a narrower student) cannot go into a folder that rebuilds its model from its config
and are refused with one line. Steps that also quantize activations (``int8-dynamic``,
``onnxrt`` static) only carry their weights into the folder: the folder's PyTorch encoder
computes activations in float, the deployable encoder in int8; both figures are reported.

What this module reads and sets on a codec: ``model`` (its ``nn.Module``, whose new weights
change the folder's :meth:`~ratecraft.codecs.base.Codec.model_sha256`, so containers written
by the shrunk codec name it and not its source), ``fit_report`` (a dict saved in
``codec.json``), ``save(dir)`` / ``Codec.load(dir)``, ``reconstruct(data)``, and the
normalized encoder inputs from ``_z_of(values)`` (tables) or ``_windows(samples)``
(recordings).
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ratecraft.errors import BadInputError
from ratecraft.shrink.measure import artifact_bytes, parameter_count
from ratecraft.shrink.recipe import Recipe, run_recipe
from ratecraft.shrink.steps import Calibration

__all__ = [
    "codec_quality_db",
    "effective_weights",
    "encoder_inputs",
    "fold_encoder",
    "latent_snr_db",
    "shrink_codec",
]

log = logging.getLogger(__name__)

ENCODER_DIR = "encoder"


def encoder_inputs(codec: Any, data: Any, limit: int | None = None) -> Tensor:
    """The encoder's inputs for ``data``: normalized rows (tables) or windows (recordings)."""
    from ratecraft.data.types import FeatureTable, Recording

    if isinstance(data, FeatureTable) and hasattr(codec, "_z_of"):
        x = codec._z_of(data.values)[0]
    elif isinstance(data, Recording) and hasattr(codec, "_windows"):
        x = codec._windows(data.samples)
    else:
        raise BadInputError(f"codec {codec.name} cannot take {type(data).__name__} data")
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return t if limit is None else t[:limit]


def _snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    ok = np.isfinite(ref) & np.isfinite(test)
    r, t = ref[ok].astype(np.float64), test[ok].astype(np.float64)
    noise = max(float(((r - t) ** 2).sum()), 1e-300)
    return float(10 * np.log10(max(float((r**2).sum()), 1e-300) / noise))


def codec_quality_db(codec: Any, data: Any) -> float:
    """Reconstruction quality in dB: SNR of a table, SNDR of a recording."""
    from ratecraft.data.types import Recording

    recon = codec.reconstruct(data)
    if isinstance(data, Recording):
        from ratecraft.metrics import sndr_db

        return float(sndr_db(data.samples, recon.samples))
    return _snr_db(data.values, recon.values)


def codec_bits_per_value(codec: Any, data: Any) -> float:
    """Container bits per stored value of ``data`` encoded by ``codec``: with a refinement
    layer the quality stays near its step and a worse encoder shows here instead."""
    from ratecraft.data.types import Recording

    values = data.samples if isinstance(data, Recording) else data.values
    return 8.0 * len(codec.encode(data)) / max(int(values.size), 1)


def latent_snr_db(reference: nn.Module, shrunk: nn.Module, x: Tensor) -> float:
    """SNR (dB) of ``shrunk``'s outputs on ``x`` against ``reference``'s."""
    with torch.inference_mode():
        ref, out = reference(x), shrunk(x)
    return _snr_db(ref.float().numpy(), out.float().numpy())


def effective_weights(model: nn.Module) -> dict[str, Tensor]:
    """The float values a (shrunk) module computes with, by parameter name.

    Quantized weights are dequantized (torchao tensors, quanto's, ONNX Runtime's int8
    initializers); plain tensors are taken as they are.
    """
    from ratecraft.shrink.runtime import is_runtime

    if is_runtime(model):
        if not hasattr(model, "float_weights"):
            raise BadInputError(f"a {model.kind} model has no weights to fold into a codec")
        return {k: torch.from_numpy(v) for k, v in model.float_weights().items()}
    out: dict[str, Tensor] = {}
    for mname, module in model.named_modules():
        for pname, p in module._parameters.items():
            if p is None:
                continue
            value = p.dequantize() if type(p) not in (Tensor, nn.Parameter) else p
            out[f"{mname}.{pname}" if mname else pname] = value.detach().float()
    return out


def fold_encoder(codec: Any, encoder: nn.Module, shrunk: nn.Module) -> int:
    """Write ``shrunk``'s effective weights into ``codec.model``; returns tensors written.

    ``encoder`` is the original encoder view (sharing the codec's modules) that ``shrunk`` was
    copied from; parameter names are mapped through it. A shape change is refused.
    """
    names = {id(m): n for n, m in codec.model.named_modules()}
    where: dict[str, str] = {}
    for ename, module in encoder.named_modules():
        if id(module) in names:
            for pname in module._parameters:
                full = f"{ename}.{pname}" if ename else pname
                owner = names[id(module)]
                where[full] = f"{owner}.{pname}" if owner else pname
    written = 0
    with torch.no_grad():
        for name, value in effective_weights(shrunk).items():
            target = where.get(name)
            if target is None:
                continue
            param = codec.model.get_parameter(target)
            if tuple(param.shape) != tuple(value.shape):
                raise BadInputError(
                    f"the shrunk encoder changed {name} from {tuple(param.shape)} to "
                    f"{tuple(value.shape)}; a codec folder rebuilds its model from its config, "
                    "so shape-changing steps (structured pruning, a narrower student) cannot "
                    "go into it"
                )
            param.copy_(value.to(param.dtype))
            written += 1
    if not written:
        raise BadInputError("no weight of the shrunk encoder maps back onto the codec's model")
    return written


def _float_bytes(module: nn.Module) -> int:
    return 4 * parameter_count(module)


def shrink_codec(
    codec: Any,
    source: Path,
    recipe: Recipe,
    output: Path,
    *,
    calib_data: Any,
    eval_data: Any | None = None,
    batch_size: int = 64,
    memory_budget: int | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """Shrink ``codec``'s encoder as ``recipe`` says and write the codec folder ``output``.

    ``calib_data`` (a table or a recording the codec reads) feeds the steps; quality is
    measured on ``eval_data`` (default: the calibration data, and the summary says so).
    Returns the summary, also stored as ``fit_report["shrink"]`` in the saved folder.
    """
    from ratecraft.codecs.base import Codec
    from ratecraft.shrink.artifact import save_artifact
    from ratecraft.shrink.models import codec_encoder_of
    from ratecraft.shrink.steps import frozen_copy

    evaluation = calib_data if eval_data is None else eval_data
    encoder = codec_encoder_of(codec).eval()
    x_cal = encoder_inputs(codec, calib_data)
    x_eval = encoder_inputs(codec, evaluation, limit=4096)
    calib = Calibration.from_tensors(x_cal, batch_size=batch_size, teacher=frozen_copy(encoder))
    before = codec_quality_db(codec, evaluation)
    bits_before = codec_bits_per_value(codec, evaluation)
    params_before = parameter_count(encoder)
    torch.manual_seed(0)
    shrunk = run_recipe(
        copy.deepcopy(encoder), recipe, calib, progress=progress, memory_budget=memory_budget
    )
    latent_db = latent_snr_db(encoder, shrunk, x_eval)
    folded = fold_encoder(codec, encoder, shrunk)
    parent = output.parent if str(output.parent) else Path(".")
    staged = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=parent))
    try:
        art = save_artifact(
            shrunk,
            staged / ENCODER_DIR,
            spec={"builder": "codec-encoder", "source": str(output.resolve())},
            recipe=recipe,
            info={"source": str(source)},
        )
        doc: dict[str, Any] = {
            "source": str(source),
            "recipe_hash": recipe.hash(),
            "steps": [s.step for s in recipe.steps],
            "encoder_parameters_before": params_before,
            "encoder_parameters": parameter_count(shrunk),
            "encoder_bytes_fp32": _float_bytes(encoder),
            "encoder_bytes": artifact_bytes(art),
            "encoder_latent_snr_db": latent_db,
            "weights_folded": folded,
            "quality_metric": "sndr_db" if hasattr(codec, "_windows") else "snr_db",
            "quality_before_db": before,
            "measured_on": "calibration data" if eval_data is None else "evaluation data",
        }
        codec.fit_report = {**dict(codec.fit_report or {}), "shrink": doc}
        codec.save(staged)
        reloaded = Codec.load(staged)
        doc["quality_after_db"] = codec_quality_db(reloaded, evaluation)
        doc["quality_change_db"] = doc["quality_after_db"] - before
        doc["bits_per_value_before"] = bits_before
        doc["bits_per_value"] = codec_bits_per_value(reloaded, evaluation)
        codec.fit_report["shrink"] = doc
        codec.save(staged)  # the card now holds the measured change too
        if output.exists():
            shutil.rmtree(output)
        staged.rename(output)
    finally:
        if staged.exists():
            shutil.rmtree(staged)
    log.info("shrunk codec %s -> %s: %s", codec.name, output, doc)
    return doc
