"""``ratecraft adapt``: run a recording through online drift detection and adaptation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ratecraft.cli.app import app, guarded, kv_table, print_json


@app.command("adapt")
@guarded
def adapt_cmd(
    input: Annotated[Path, typer.Argument(help="A recording to stream through the live model.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Registry model to watch and adapt.")],
    alias: Annotated[str, typer.Option(help="The alias being served.")] = "production",
    chunk: Annotated[float, typer.Option(help="Chunk length, seconds.")] = 0.25,
    recent: Annotated[
        int, typer.Option(help="Chunks collected after a drift before adapting.")
    ] = 24,
    ewc: Annotated[float, typer.Option(help="EWC penalty weight λ (0: none).")] = 100.0,
    replay: Annotated[
        float, typer.Option(help="Share of each batch from the replay buffer.")
    ] = 0.5,
    max_forgetting: Annotated[
        float, typer.Option(help="Most SNDR (dB) a promoted update may lose on old data.")
    ] = 1.0,
    fs: Annotated[float | None, typer.Option(help="Sample rate for files without one.")] = None,
    registry: Annotated[str | None, typer.Option(help="Registry: a folder or mlflow:URI.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Stream a recording through drift detection and online adaptation of NAME@ALIAS.

    River's ADWIN and Page-Hinkley watch noise, band powers, spike rate, bits and SNDR; after a
    drift the model is fine-tuned with replay and EWC, promoted behind the gate, and rolled back
    on live quality. Every step is a registry event (`ratecraft models show NAME --events`).
    """
    from ratecraft import api
    from ratecraft.data.types import Recording
    from ratecraft.errors import BadInputError
    from ratecraft.online import AdaptPolicy, FinetuneConfig, OnlineAdapter
    from ratecraft.registry.backends import open_registry

    if chunk <= 0:
        raise BadInputError("--chunk must be positive")
    policy = AdaptPolicy(
        alias=alias,
        recent_chunks=recent,
        max_forgetting_db=max_forgetting,
        finetune=FinetuneConfig(replay_share=replay, ewc_lambda=ewc),
    )
    adapter = OnlineAdapter(open_registry(registry), name, policy, who="ratecraft adapt")
    with api.open(input, fs=fs) as source:
        if source.kind != "recording":
            raise BadInputError(f"{input}: adapt watches recordings, not tables")
        step = max(1, round(chunk * float(source.facts.sample_rate or 0)))
        for start in range(0, source.frames - step + 1, step):
            rec = source.to_data(start, start + step)
            assert isinstance(rec, Recording)
            adapter.step(rec)
    actions = [(r["chunk"], a) for r in adapter.history for a in r["actions"]]
    live = adapter.registry.get(f"{name}@{alias}")
    doc = {
        "chunks": adapter.chunks,
        "actions": [{"chunk": c, "action": a} for c, a in actions],
        "serving": live.ref,
        "last_adaptation": getattr(adapter, "last_adaptation", None),
    }
    if as_json:
        print_json(doc)
        return
    kv_table(
        f"adapt {name}@{alias}: {adapter.chunks} chunks",
        [("serving now", live.ref)] + [(f"chunk {c}", a) for c, a in actions],
    )
