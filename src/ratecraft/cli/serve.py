"""``ratecraft serve``: the HTTP service on 127.0.0.1 (extra ``[serve]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ratecraft.cli.app import app, guarded, notes


@app.command("serve")
@guarded
def serve_cmd(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (loopback only).")] = 8765,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry: a folder or mlflow:URI (default $RATECRAFT_REGISTRY, else "
            "$RATECRAFT_HOME or ~/.ratecraft)."
        ),
    ] = None,
    api_keys: Annotated[
        Path | None,
        typer.Option("--api-keys", help="File of API keys, one per line (default: no keys)."),
    ] = None,
    max_body_mb: Annotated[float, typer.Option(help="Largest request body, MiB (413).")] = 256.0,
    timeout: Annotated[float, typer.Option(help="Time limit per request, seconds (504).")] = 120.0,
    concurrency: Annotated[
        int, typer.Option(help="Requests computed at once; more get 503 with Retry-After.")
    ] = 4,
    ab: Annotated[
        list[str] | None,
        typer.Option(
            "--ab",
            help="Route a share of NAME's requests to an alias, e.g. probe@candidate:0.1 "
            "(repeatable); quality and ratio are measured per version.",
        ),
    ] = None,
) -> None:
    """Serve compress, decompress, quality and the model registry over HTTP on 127.0.0.1.

    Prometheus metrics at /metrics, OpenAPI docs at /docs and the dashboard at /.
    """
    from ratecraft.serve import HOST, ServeConfig, run

    config = ServeConfig(
        port=port,
        registry=registry,
        api_keys_file=api_keys,
        max_body_bytes=max(1, int(max_body_mb * (1 << 20))),
        request_timeout_s=timeout,
        max_concurrency=concurrency,
        ab=tuple(ab or ()),
    )
    from ratecraft.serve.config import parse_ab

    for split in config.ab:
        parse_ab(split)
    notes.info("serving on http://%s:%d (docs at /docs)", HOST, port)
    run(config)
