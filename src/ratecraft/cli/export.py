"""``ratecraft export``: a trained codec's encoder as ONNX or TorchScript, parity-checked.

Registered on the main Typer app (see :mod:`ratecraft.cli`), with the same one-line errors and
exit codes. The file is written only when the exported encoder reproduces the PyTorch latents
within the tolerance; ``export.json`` beside it records the check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ratecraft.cli.app import app, guarded, kv_table, print_json, spinner
from ratecraft.cli.logs import stdout_to_log


@app.command("export")
@guarded
def export_cmd(
    model: Annotated[Path, typer.Option(help="A trained model folder (from `ratecraft fit`).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    format: Annotated[str, typer.Option("--format", help="onnx or torchscript.")] = "onnx",
    tolerance: Annotated[
        float, typer.Option(help="Largest |exported − PyTorch| latent difference accepted.")
    ] = 1e-4,
    batch: Annotated[int, typer.Option(help="Batch size of the parity check input.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Export the encoder of a trained codec and check it against PyTorch."""
    from dataclasses import asdict

    from ratecraft.export import export_encoder

    with spinner(f"exporting {model} to {format}"), stdout_to_log("export"):
        report = export_encoder(model, format, output, batch=batch, tolerance=tolerance)
    doc = asdict(report)
    if as_json:
        print_json(doc)
        return
    rows = [(k, str(v)) for k, v in doc.items() if v is not None]
    kv_table(f"exported {report.codec} encoder -> {output}", rows)
