"""``ratecraft info``, ``synth``, ``encode`` and ``decode``: data files and containers."""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ratecraft.cli.app import (
    app,
    check_output,
    chunk_bar,
    console,
    describe_line,
    fmt,
    guarded,
    kv_table,
    log,
    notes,
    print_json,
    print_written,
    size_text,
    spinner,
    steps_bar,
)
from ratecraft.cli.codecs import (
    EncodeConfigOption,
    SetOption,
    encode_choice,
    encode_options,
    warn_replaced,
)
from ratecraft.errors import BadInputError

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Acquisition format SpikeInterface reads (spikeglx, openephys, intan, blackrock, "
        "nwb, ...); SpikeGLX, Open Ephys and SpikeInterface folders are recognised without it.",
    ),
]
StreamOption = Annotated[
    str | None,
    typer.Option(help="Stream of a multi-stream recording (e.g. imec0.ap, imec0.lf)."),
]


@app.command("info")
@guarded
def info_cmd(
    file: Annotated[Path, typer.Argument(help="A data file (.npz, .wav, .h5, ...) or an .rcz.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    fs: Annotated[
        float | None, typer.Option(help="Sample rate (Hz) for files without one.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset inside an HDF5/NWB file.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="Read a 2-D array as 'recording' or 'table'.")
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="Read every chunk of an .rcz and check its checksum.",
        ),
    ] = True,
    data_format: FormatOption = None,
    stream: StreamOption = None,
) -> None:
    """Describe a data file, or an .rcz container (codec, shape, metadata, real ratio).

    A container's chunks are all read and checked unless --no-verify says not to (the output
    then says they were not verified).
    """
    from ratecraft import api

    doc = api.info(
        file, fs=fs, dataset=dataset, kind=kind, verify=verify, fmt=data_format, stream=stream
    )
    if as_json:
        print_json(doc)
        return
    rows: list[tuple[str, str]] = []
    for key, value in doc.items():
        if value is None or key == "file":
            continue
        if key == "shape":
            value = " × ".join(str(v) for v in value)
        elif key == "ratio" or key == "bits_per_sample":
            value = f"{value:.3f}"
        elif key in ("file_bytes", "raw_bytes"):
            value = size_text(value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        elif isinstance(value, float):
            value = f"{value:g}"
        label = "bits/sample (per stored value)" if key == "bits_per_sample" else key
        rows.append((label.replace("_", " "), str(value)))
    kv_table(str(file), rows)


class SynthKind(StrEnum):
    recording = "recording"
    table = "table"


@app.command("synth")
@guarded
def synth_cmd(
    kind: Annotated[SynthKind, typer.Argument(help="What to simulate.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write (.npz, .wav, ...).")
    ],
    seed: Annotated[int, typer.Option(help="Random seed; a seed gives identical data.")] = 0,
    channels: Annotated[int | None, typer.Option(help="Recording: electrodes (16).")] = None,
    duration: Annotated[float | None, typer.Option(help="Recording: seconds (2).")] = None,
    fs: Annotated[float | None, typer.Option(help="Recording: sample rate in Hz (30000).")] = None,
    sparse_grid: Annotated[
        bool,
        typer.Option("--sparse-grid", help="Recording: 10-bit implant codes on a sparse grid."),
    ] = False,
    samples: Annotated[int | None, typer.Option(help="Table: rows (2000).")] = None,
) -> None:
    """Write a seeded synthetic recording (with spikes and LFP) or feature table."""
    from ratecraft.data.io import write_data
    from ratecraft.data.synthetic import simulate_recording, simulate_table

    check_output(output)
    data: Any
    if kind is SynthKind.recording:
        if samples is not None:
            raise BadInputError("--samples applies to tables; use --duration and --fs")
        options: dict[str, Any] = {"seed": seed, "sparse_grid": sparse_grid}
        for name, value in (
            ("n_channels", channels),
            ("duration_s", duration),
            ("sample_rate", fs),
        ):
            if value is not None:
                options[name] = value
        data, _ = simulate_recording(**options)
    else:
        given = [
            flag
            for flag, value in (
                ("--channels", channels),
                ("--duration", duration),
                ("--fs", fs),
                ("--sparse-grid", sparse_grid or None),
            )
            if value is not None
        ]
        if given:
            raise BadInputError(f"{', '.join(given)} apply to recordings; use --samples")
        data = simulate_table(seed=seed, **({"n_samples": samples} if samples else {}))
    write_data(data, output)
    print_written(output, data)


class BatchBackend(StrEnum):
    local = "local"
    ray = "ray"


@app.command("encode")
@guarded
def encode_cmd(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Data file to compress; several files, a folder or a quoted glob encode as a "
            "batch into the folder -o."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Container to write (.rcz); a folder for a batch."),
    ],
    codec: Annotated[
        str | None,
        typer.Option(
            help="Codec name (default: predictive; quant when lossy; columnar for tables, "
            "lossless or --max-error)."
        ),
    ] = None,
    lossless: Annotated[bool, typer.Option("--lossless", help="Bit-exact (the default).")] = False,
    ratio: Annotated[
        float | None, typer.Option(help="Lossy: target raw/compressed ratio (> 1).")
    ] = None,
    max_error: Annotated[
        float | None, typer.Option(help="Lossy: maximum absolute error, in stored units.")
    ] = None,
    fs: Annotated[
        float | None, typer.Option(help="Sample rate (Hz) for files without one.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset inside an HDF5/NWB file.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="Read a 2-D array as 'recording' or 'table'.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    model: Annotated[
        str | None,
        typer.Option(
            help="A trained model: a folder (from `ratecraft fit`), a registry reference "
            "(NAME, NAME@VERSION, NAME@production) or zoo:NAME."
        ),
    ] = None,
    save_model: Annotated[
        Path | None,
        typer.Option(help="Keep the model a codec trains here (its files need it to decode)."),
    ] = None,
    channels: Annotated[
        int | None, typer.Option(help="Raw binary (.bin/.dat): channels per frame.")
    ] = None,
    dtype: Annotated[
        str | None, typer.Option(help="Raw binary (.bin/.dat): sample type (int16).")
    ] = None,
    data_format: FormatOption = None,
    stream: StreamOption = None,
    config: EncodeConfigOption = None,
    set_: SetOption = None,
    backend: Annotated[
        BatchBackend | None,
        typer.Option(help="Batch: run the containers here one by one (local) or on Ray."),
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Batch on Ray: a cluster's address (else RAY_ADDRESS).")
    ] = None,
    part_seconds: Annotated[
        float | None,
        typer.Option(help="Batch: one container per this many seconds of each recording."),
    ] = None,
) -> None:
    """Compress a data file of any size into an .rcz container, chunk by chunk.

    The container appears only once complete. Codec options come from --config FILE and
    --set KEY=VALUE (`ratecraft codecs NAME` lists them); under a ratio or max-error budget,
    rate control sets the codec's own knob, fitted on an excerpt and then held chunk by chunk.

    Several inputs (or a folder, a glob, --backend, --part-seconds) make a batch: one container
    per file (or per part) in the folder -o, each its own task, with a manifest that makes the
    same command resume: finished containers are checked and skipped.
    """
    from ratecraft import api
    from ratecraft.data.io import expand_inputs

    files = expand_inputs(list(inputs), data_format)
    if len(files) > 1 or backend is not None or part_seconds is not None or files != inputs:
        _encode_batch(
            files, output, codec=codec, lossless=lossless, ratio=ratio, max_error=max_error,
            model=model, save_model=save_model, config=config, set_=set_, backend=backend,
            ray_address=ray_address, part_seconds=part_seconds, as_json=as_json,
            open_options={"fs": fs, "dataset": dataset, "kind": kind, "channels": channels,
                          "dtype": dtype, "fmt": data_format, "stream": stream},
        )  # fmt: skip
        return
    input = files[0]

    options: dict[str, Any] = {}
    if model is not None:
        if codec or lossless or ratio is not None or max_error is not None:
            raise BadInputError("--model carries its codec and budget; drop the other options")
        if save_model is not None:
            raise BadInputError("--save-model keeps a model trained here; --model is one already")
        if config is not None or set_:
            raise BadInputError("--model carries its options; drop --config and --set")
        from ratecraft.registry import load_model
        from ratecraft.registry.resolve import describe_model_spec

        fitted = load_model(model)
        name, setting = fitted.name, describe_model_spec(model)
    else:
        codec, budget, given = encode_choice(codec, lossless, ratio, max_error, config, set_)
        setting = budget.describe()
    check_output(output, input)
    if output.suffix.lower() != api.CONTAINER_SUFFIX:
        log.warning("%s: containers are usually named *.rcz", output)
    with api.open(
        input, fs=fs, dataset=dataset, kind=kind, channels=channels, dtype=dtype, fmt=data_format,
        stream=stream,
    ) as source:  # fmt: skip
        if notes.isEnabledFor(logging.DEBUG):  # describing a float file scans it
            notes.debug("read %s: %s", input, describe_line(source))
        if model is None:
            name, options = encode_options(codec, budget, source.facts.kind, config, given)
            with spinner(f"fitting {name} ({setting})"):
                fitted = api.fit(
                    source.excerpt(api.FIT_SAMPLES), codec=name, budget=budget, config=options
                )
            warn_replaced(name, options, fitted.config)
            notes.debug("fitted %s: %s", name, fitted.config.model_dump(mode="json"))
            if fitted.model_sha256() is not None and save_model is None:
                raise BadInputError(
                    f"{name} trained a model that its file needs to decode: pass --save-model "
                    "DIR to keep it (or train it first with `ratecraft fit`, then --model)"
                )
        with chunk_bar("encoding") as progress:
            stats = api.encode_file(source, output, fitted, progress=progress)
    if save_model is not None:
        fitted.save(save_model)
    doc = {
        "input": str(input),
        "output": str(output),
        "codec": name,
        "setting": setting,
        "model_sha256": fitted.model_sha256(),
        "raw_bytes": stats.raw_bytes,
        "container_bytes": stats.container_bytes,
        "n_samples": stats.n_samples,
        "ratio": stats.ratio,
        "bits_per_sample": stats.bits_per_sample,
        "est_bits_per_sample": stats.estimated_bits_per_sample,
        "seconds": stats.seconds,
        "samples_per_s": stats.n_samples / max(stats.seconds, 1e-9),
        "chunks": stats.blocks,
    }
    if as_json:
        print_json(doc)
        return
    rows = [
        ("codec", f"{name} ({setting})"),
        ("raw", size_text(stats.raw_bytes)),
        ("container", size_text(stats.container_bytes)),
        ("ratio", f"{stats.ratio:.3f}"),
        (
            "bits/sample (per stored value)",
            f"{stats.bits_per_sample:.3f} real, {fmt(stats.estimated_bits_per_sample)} estimated",
        ),
        ("time", f"{stats.seconds:.3f} s ({doc['samples_per_s']:,.0f} samples/s)"),
    ]
    knob = fitted.chunk_knob
    moved = [b[knob] for b in stats.blocks if knob and knob in b]
    if moved:
        rows.append(
            (
                knob,
                f"{min(moved):.4g}–{max(moved):.4g} over {len(moved)} chunks "
                "(fitted on an excerpt, held by the running rate control)",
            )
        )
    if save_model is not None:
        rows.append(("model", f"{save_model} (sha256 {str(doc['model_sha256'])[:16]}…)"))
    kv_table(f"wrote {output}", rows)


def _encode_batch(
    files: list[Path],
    output: Path,
    *,
    codec: str | None,
    lossless: bool,
    ratio: float | None,
    max_error: float | None,
    model: str | None,
    save_model: Path | None,
    config: Path | None,
    set_: list[str] | None,
    backend: BatchBackend | None,
    ray_address: str | None,
    part_seconds: float | None,
    as_json: bool,
    open_options: dict[str, Any],
) -> None:
    """``ratecraft encode`` of many files or parts: see :mod:`ratecraft.batch`."""
    from ratecraft.batch import BatchSettings, run_batch

    if output.exists() and not output.is_dir():
        raise BadInputError(f"{output}: a batch writes into a folder; this is a file")
    if save_model is not None:
        raise BadInputError("--save-model keeps one trained model; fit it first, then --model")
    if part_seconds is not None and not part_seconds > 0:
        raise BadInputError(f"--part-seconds must be > 0, not {part_seconds}")
    options: dict[str, Any] = {}
    if model is not None:
        if codec or lossless or ratio is not None or max_error is not None:
            raise BadInputError("--model carries its codec and budget; drop the other options")
        if config is not None or set_:
            raise BadInputError("--model carries its options; drop --config and --set")
        from ratecraft.registry import load_model

        fitted = load_model(model)  # a bad reference is refused before any task starts
        if Path(model).is_dir():
            model = str(Path(model).resolve())
        else:  # a registry or zoo model: a folder every task (every Ray node) can read
            folder = output / ".model"
            if not folder.is_dir():
                output.mkdir(parents=True, exist_ok=True)
                fitted.save(folder)
            model = str(folder.resolve())
    else:
        codec, budget, given = encode_choice(codec, lossless, ratio, max_error, config, set_)
        codec, options = encode_options(codec, budget, "recording", config, given)
        lossless, ratio, max_error = budget.lossless, budget.ratio, budget.max_error
    settings = BatchSettings(
        codec=codec, lossless=lossless, ratio=ratio, max_error=max_error, options=options,
        model=model, part_seconds=part_seconds,
        **open_options,
    )  # fmt: skip
    label = f"encoding {len(files)} file" + ("s" if len(files) > 1 else "")
    with steps_bar(label) as bar:
        summary = run_batch(
            files, output, settings, backend=(backend or BatchBackend.local).value,
            address=ray_address, progress=bar,
        )  # fmt: skip
    if as_json:
        print_json(summary)
    else:
        rows = [
            ("containers", f"{summary['tasks']} ({summary['skipped']} already done and checked, "
                           f"{summary['encoded']} encoded, {len(summary['failed'])} failed)"),
            ("bytes written", size_text(summary["container_bytes"])),
            ("manifest", summary["manifest"]),
        ]  # fmt: skip
        rows += [(Path(k).name, v) for k, v in summary["failed"].items()]
        kv_table(f"batch into {output}", rows)
    if summary["failed"]:
        raise typer.Exit(1)


def _names_a_model(path: Path) -> bool:
    """Whether the container at ``path`` needs a trained model (False when it is unreadable:
    decoding then refuses it in one line)."""
    from ratecraft.bitstream.container import ContainerReader
    from ratecraft.errors import RatecraftError

    try:
        with ContainerReader(path) as reader:
            return reader.header.model_sha256 is not None
    except (RatecraftError, OSError):
        return False


@app.command("decode")
@guarded
def decode_cmd(
    input: Annotated[Path, typer.Argument(help="An .rcz container.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write; format from the extension.")
    ],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset or series name to create in HDF5/NWB.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="The trained model the file names, if it names one: a folder, NAME@ALIAS or "
            "zoo:NAME (default: found in the registry or the zoo by its content hash)."
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="First frame to decode: seconds ('10s', '250ms') or a frame number."),
    ] = None,
    stop: Annotated[
        str | None, typer.Option(help="End of the range (exclusive), as --start.")
    ] = None,
) -> None:
    """Decode an .rcz container, or a time range of it, and write the data.

    Every chunk read is checked first; --start/--stop read only the chunks the range needs.
    """
    from ratecraft import api
    from ratecraft.data.io import WRITERS

    check_output(output, input)
    if output.suffix.lower() not in WRITERS:
        raise BadInputError(
            f"{output}: cannot write {output.suffix or 'files without an extension'!r}; "
            f"supported: {', '.join(WRITERS)}"
        )
    codec = None
    if model is not None or _names_a_model(input):  # the registry is imported only then
        from ratecraft.registry import load_model, model_for_container

        codec = load_model(model) if model is not None else model_for_container(input)
    with chunk_bar("decoding") as progress:
        d = api.decode_to(
            input, output, model=codec, start=start, stop=stop, dataset=dataset, progress=progress
        )
    rate = f" at {d['sample_rate']:g} Hz" if d["sample_rate"] else ""
    console().print(
        f"wrote {output}: {d['kind']} {' × '.join(map(str, d['shape']))} {d['dtype']}{rate}"
    )
