"""``ratecraft shrink``: apply a recipe of shrink steps to a model and save the artifact.

``MODEL`` is a saved shrink artifact (``shrink.json``) — its recipe is extended — or a trained
codec folder (``codec.json``), whose encoder is shrunk. Calibration data (``--calib``) is an
``.npz`` with ``x`` (and optional labels ``y``) or an ``.npy`` of inputs; for a codec it may
also be any data file the codec reads (a table), normalized the way the codec normalizes it.
The artifact folder is written all or nothing; sizes are measured on the files written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ratecraft.cli.app import app, guarded, kv_table, print_json, steps_bar
from ratecraft.cli.logs import stdout_to_log
from ratecraft.errors import BadInputError


def _calibration(path: Path | None, model_dir: Path, codec: Any, batch_size: int) -> Any:
    from ratecraft.shrink import Calibration

    if path is None:
        return None
    suffix = path.suffix.lower()
    if codec is not None:
        from ratecraft import api

        values = getattr(api.load(path), "values", None)
        if values is None or not hasattr(codec, "_z_of"):
            raise BadInputError(f"{path}: calibration for codec {codec.name} must be a table")
        x, y = codec._z_of(values)[0].astype(np.float32), None
    elif suffix in (".npz", ".npy"):
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{path}: cannot read calibration arrays ({exc})") from None
        if suffix == ".npy":
            x, y = loaded, None
        else:
            with loaded as z:
                if "x" not in z.files:
                    raise BadInputError(f"{path}: calibration .npz needs an array 'x'")
                x, y = z["x"], (z["y"] if "y" in z.files else None)
    else:
        raise BadInputError(f"{path}: calibration must be .npz or .npy")
    import torch  # imported here: the CLI should not pay torch's start-up for every command

    xt = torch.from_numpy(np.ascontiguousarray(x))
    if xt.is_floating_point():
        xt = xt.float()
    yt = None if y is None else torch.from_numpy(np.ascontiguousarray(y)).long()
    return Calibration.from_tensors(xt, yt, batch_size=batch_size)


def _source(model_dir: Path) -> tuple[Any, dict[str, Any], Any, Any]:
    """(model, spec, previous recipe, codec or None) for an artifact or a codec folder."""
    from ratecraft.shrink import is_artifact, load_artifact
    from ratecraft.shrink.models import codec_encoder_of, load_codec_dir

    if is_artifact(model_dir):
        art = load_artifact(model_dir)
        return art.model, art.spec, art.recipe, None
    if (model_dir / "codec.json").is_file():
        codec = load_codec_dir(model_dir)
        spec = {"builder": "codec-encoder", "source": str(model_dir.resolve())}
        return codec_encoder_of(codec), spec, None, codec
    raise BadInputError(f"{model_dir}: not a shrink artifact or a trained codec folder")


@app.command("shrink")
@guarded
def shrink_cmd(
    model: Annotated[Path, typer.Argument(help="Shrink artifact or trained codec folder.")],
    recipe: Annotated[Path, typer.Option(help="Recipe file (.yaml or .json).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Artifact folder to write.")],
    calib: Annotated[
        Path | None, typer.Option(help="Calibration data: .npz (x, y) / .npy, or a table file.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Calibration batch size.")] = 64,
    memory_budget_mb: Annotated[
        float | None, typer.Option(help="Refuse steps estimated above this many MiB.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Quantize / prune / distill / LoRA-recover MODEL as RECIPE says and save the result."""
    from ratecraft.shrink import Recipe, run_recipe, save_artifact
    from ratecraft.shrink.measure import artifact_bytes, parameter_count, sparsity

    if batch_size < 1:
        raise BadInputError("--batch-size must be ≥ 1")
    if output.resolve() == model.resolve():
        raise BadInputError(f"{output}: output would overwrite the input")
    plan = Recipe.from_file(recipe)
    net, spec, previous, codec = _source(model)
    data = _calibration(calib, model, codec, batch_size)
    params_before = parameter_count(net)
    budget = None if memory_budget_mb is None else int(memory_budget_mb * 2**20)
    with steps_bar("shrink") as progress, stdout_to_log("shrink"):
        net = run_recipe(net, plan, data, progress=progress, memory_budget=budget)
    full = plan if previous is None else Recipe(name=plan.name, steps=previous.steps + plan.steps)
    save_artifact(net, output, spec=spec, recipe=full, info={"source": str(model)})
    doc = {
        "model": str(model),
        "output": str(output),
        "recipe_hash": full.hash(),
        "steps": [s.step for s in full.steps],
        "parameters_before": params_before,
        "parameters": parameter_count(net),
        "sparsity": sparsity(net),
        "artifact_bytes": artifact_bytes(output),
    }
    if as_json:
        print_json(doc)
        return
    kv_table(f"shrunk {model} -> {output}", [(k, str(v)) for k, v in doc.items()])
