"""The HTTP service: FastAPI routes over the library (``ratecraft serve``, extra ``[serve]``).

``POST /v1/compress`` · ``POST /v1/decompress`` · ``POST /v1/quality`` · ``GET /v1/models`` ·
``GET /v1/models/{ref}`` · ``GET /healthz`` · ``GET /metrics`` · ``GET /`` (the dashboard) ·
``GET /docs`` (OpenAPI).

Every request for work takes one of ``max_concurrency`` slots before its body is read (none
free: 503 with ``Retry-After``); the work runs on a thread pool of that size under a time limit
(504; the slot stays taken until the thread finishes, so an overrun cannot stack up work). Every
error is one JSON line ``{"error": …, "status": …}`` (the traceback of an unexpected one is
logged, never sent); a response is built whole before its first byte is sent, so a failure
never leaves a half-written answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

import ratecraft
from ratecraft import api
from ratecraft.bench.scoring import quality as measure_quality
from ratecraft.bitstream.container import ContainerReader
from ratecraft.codecs.base import Codec, EncodeStats
from ratecraft.data.types import Data, FeatureTable, Recording, as_block
from ratecraft.errors import BadInputError, MissingExtraError, RatecraftError
from ratecraft.jsonsafe import json_safe
from ratecraft.registry.backends import open_registry
from ratecraft.registry.names import parse_ref
from ratecraft.registry.zoo import find_zoo_model, zoo_card, zoo_models
from ratecraft.serve.bodies import (
    MEDIA,
    BodyTooLarge,
    TruncatedBody,
    UnsupportedMedia,
    body_format,
    read_body_data,
    render,
    spool,
)
from ratecraft.serve.config import ApiKeys, ServeConfig, parse_ab
from ratecraft.serve.metrics import ServiceMetrics
from ratecraft.serve.models import ModelCache, Served

__all__ = ["create_app"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_OPEN_PATHS = ("/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect")
_TABLE_EXCERPT_ROWS = 2000
_DATA_FORMATS = ("npy", "wav", "raw", "csv")


class Busy(RatecraftError):
    """Every slot is taken (503)."""


class TimeLimit(RatecraftError):
    """The work ran past the request time limit (504)."""


@dataclass
class _Slots:
    free: int

    @contextlib.contextmanager
    def take(self) -> Iterator[_Slot]:
        if self.free <= 0:
            raise Busy("the service is at its concurrency limit; retry shortly")
        self.free -= 1
        slot = _Slot(self)
        try:
            yield slot
        finally:
            if not slot.deferred:
                slot.release()


@dataclass
class _Slot:
    slots: _Slots
    deferred: bool = False
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.slots.free += 1


class Service:
    """What the routes share: settings, registry, models, keys, metrics, worker threads."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.registry = open_registry(config.registry)
        splits = {s.name: s for s in map(parse_ab, config.ab)}
        self.models = ModelCache(self.registry, splits, seed=config.ab_seed)
        self.keys = ApiKeys(config.api_keys_file) if config.api_keys_file else None
        self.metrics = ServiceMetrics()
        self.pool = ThreadPoolExecutor(config.max_concurrency, thread_name_prefix="rc-work")
        self.slots = _Slots(config.max_concurrency)
        self.started = time.time()

    async def run(self, slot: _Slot, fn: Callable[[], T]) -> T:
        """``fn`` on a worker thread under the time limit; the slot is freed when it ends."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, fn)
        slot.deferred = True
        self.metrics.inflight.inc()

        def done(_: object) -> None:
            self.metrics.inflight.dec()
            slot.release()

        future.add_done_callback(done)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.config.request_timeout_s)
        except TimeoutError:
            raise TimeLimit(
                f"the request ran past the {self.config.request_timeout_s:g}-s time limit"
            ) from None

    def served_for_hash(self, sha: str) -> Served | None:
        found = self.registry.find_model(sha)
        if found:
            return self.models.get(found[0].ref)
        name = find_zoo_model(sha)
        return self.models.get(f"zoo:{name}") if name else None

    def flush_ab(self, served: Served | None = None, *, force: bool = False) -> None:
        """File each A/B tally that gathered enough requests as a registry event."""
        for label, tally in list(self.models.tallies.items()):
            if served is not None and label != served.label:
                continue
            if tally.unflushed and (force or tally.unflushed >= self.config.ab_flush_every):
                tally.unflushed = 0
                self.registry.record_event(
                    label,
                    "ab",
                    "A/B tally (measured on the requests)",
                    tally.summary(),
                    who="serve",
                )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    text = " ".join(str(message).split())[:500]
    return JSONResponse({"error": text, "status": status}, status_code=status, headers=headers)


def _status_of(exc: BaseException) -> int:
    if isinstance(exc, BodyTooLarge):
        return 413
    if isinstance(exc, UnsupportedMedia):
        return 415
    if isinstance(exc, Busy):
        return 503
    if isinstance(exc, TimeLimit):
        return 504
    if isinstance(exc, MissingExtraError):
        return 501
    if isinstance(exc, BadInputError):
        return 400
    return 500


def _api_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def _headers(stats: EncodeStats, served: Served | None, codec: Codec) -> dict[str, str]:
    out = {
        "X-Ratecraft-Ratio": f"{stats.ratio:.6g}",
        "X-Ratecraft-Bits-Per-Sample": f"{stats.bits_per_sample:.6g}",
        "X-Ratecraft-Estimated-Bits": (
            "unknown" if stats.estimated_bits is None else f"{stats.estimated_bits:.6g}"
        ),
        "X-Ratecraft-Raw-Bytes": str(stats.raw_bytes),
        "X-Ratecraft-Codec": codec.name,
    }
    if served is not None:
        out["X-Ratecraft-Model"] = served.label
        out["X-Ratecraft-AB-Arm"] = served.arm
    return out


def _summary(q: dict[str, Any]) -> dict[str, Any]:
    keys = (
        *("sndr_db", "prd_percent", "max_abs_error", "spike_f1", "spike_window_sndr_db"),
        *("lfp_band_error", "nmse_mean", "family_nmse"),
    )
    return {k: q[k] for k in keys if q.get(k) is not None}


def _excerpt(data: Data, seconds: float) -> Data:
    if isinstance(data, Recording):
        frames = max(1, round(seconds * data.sample_rate))
        return data if data.n_samples <= frames else data.slice_time(0, frames)
    assert isinstance(data, FeatureTable)
    if data.values.shape[0] <= _TABLE_EXCERPT_ROWS:
        return data
    return FeatureTable(
        values=data.values[:_TABLE_EXCERPT_ROWS],
        feature_names=data.feature_names,
        families=data.families,
    )


@dataclass
class Setting:
    """How to compress: a registry or zoo ``model``, or a ``codec`` under ``ratio`` /
    ``max_error`` (neither: lossless). A bad model name is refused before any body is read."""

    codec: str | None = None
    model: str | None = None
    ratio: float | None = None
    max_error: float | None = None

    def __post_init__(self) -> None:
        if self.model is not None:
            if self.codec or self.ratio is not None or self.max_error is not None:
                raise BadInputError(
                    "model carries its codec and budget; drop codec/ratio/max_error"
                )
            parse_ref(self.model)

    def fitted(self, models: ModelCache, data: Data) -> tuple[Codec, Served | None]:
        """The codec to use on ``data`` (fitted here unless it is a model)."""
        if self.model is not None:
            served = models.get(self.model)
            return served.codec, served
        budget = api.make_budget(ratio=self.ratio, max_error=self.max_error)
        name = self.codec or api.default_codec(budget)
        api.check_codec(name, budget)
        return api.fit(data, codec=name, budget=budget), None


@dataclass
class DataBody:
    """What the body is: ``format`` (else the Content-Type), and for raw samples ``channels``,
    ``sample_rate`` and ``dtype``; ``kind=table`` reads a 2-D .npy as samples × features."""

    channels: int | None = None
    sample_rate: float | None = None
    dtype: str | None = None
    kind: str | None = None
    format: str | None = None

    def fmt(self, request: Request) -> str:
        return body_format(self.format, request.headers.get("content-type"), _DATA_FORMATS)

    def read(self, path: Path, fmt: str) -> Data:
        return read_body_data(
            path,
            fmt,
            channels=self.channels,
            sample_rate=self.sample_rate,
            dtype=self.dtype,
            kind=self.kind,
        )


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The service's ASGI app (run it with uvicorn on 127.0.0.1, as ``ratecraft serve`` does)."""
    from ratecraft.serve.dashboard import render_dashboard

    service = Service(config or ServeConfig())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.flush_ab(force=True)
        service.pool.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="ratecraft",
        version=ratecraft.__version__,
        description="Learned compression with honest rate control: compress, decompress, "
        "predict quality, browse the model registry.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(RatecraftError)
    async def _ratecraft_error(_: Request, exc: RatecraftError) -> JSONResponse:
        status = _status_of(exc)
        headers = {"Retry-After": str(service.config.retry_after_s)} if status == 503 else None
        return _error(status, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); see the service log")

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        path = request.url.path
        t0 = time.perf_counter()
        locked = service.keys is not None and path not in _OPEN_PATHS
        if locked and not service.keys.accepts(_api_key(request)):  # type: ignore[union-attr]
            service.metrics.rejected.labels("unauthorised").inc()
            service.metrics.requests.labels("other", "401").inc()
            return _error(
                401,
                "missing or wrong API key (send Authorization: Bearer KEY or X-API-Key)",
                {"WWW-Authenticate": "Bearer"},
            )
        try:
            response: Response = await call_next(request)
        except Exception as exc:  # errors raised past the handlers (middleware order)
            log.exception("unexpected error on %s %s", request.method, path)
            response = _error(500, f"internal error ({type(exc).__name__}); see the service log")
        route = request.scope.get("route")
        endpoint = str(getattr(route, "path", "other"))
        service.metrics.requests.labels(endpoint, str(response.status_code)).inc()
        service.metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)
        if response.status_code in (413, 415, 503):
            service.metrics.rejected.labels(str(response.status_code)).inc()
        return response

    @contextlib.asynccontextmanager
    async def body_of(request: Request, fmt: str) -> AsyncIterator[Path]:
        try:
            async with spool(
                request.stream(),
                fmt,
                service.config.max_body_bytes,
                request.headers.get("content-length"),
            ) as path:
                yield path
        except ClientDisconnect:
            raise TruncatedBody("the client closed the connection before the body ended") from None

    # ---- work -------------------------------------------------------------------------------
    @app.post("/v1/compress", response_class=Response)
    async def compress(
        request: Request,
        setting: Annotated[Setting, Depends()],
        body: Annotated[DataBody, Depends()],
    ) -> Response:
        """Compress a body (.npy, .wav, raw samples, feature-table .csv) into an .rcz container:
        by a registry or zoo ``model``, or by ``codec`` under ``ratio`` / ``max_error``
        (neither: lossless). Ratio, bits/sample and estimated bits come back as headers."""
        fmt = body.fmt(request)
        with service.slots.take() as slot:
            async with body_of(request, fmt) as path:

                def work() -> tuple[bytes, EncodeStats, Served | None, Codec, dict[str, Any]]:
                    data = body.read(path, fmt)
                    fitted, served = setting.fitted(service.models, data)
                    blob, stats = api.encode(data, codec=fitted)
                    measured: dict[str, Any] = {}
                    if served is not None and service.models.in_split(served):
                        measured = measure_quality(data, fitted.decode(blob))
                        service.models.tally(served, measured["sndr_db"], stats.ratio)
                        service.flush_ab(served)
                    return blob, stats, served, fitted, measured

                blob, stats, served, fitted, measured = await service.run(slot, work)
        headers = _headers(stats, served, fitted)
        label = served.label if served else fitted.name
        service.metrics.samples.labels("compress").inc(stats.n_samples)
        service.metrics.ratio.labels(label).observe(stats.ratio)
        if served is not None and measured:
            tally = service.models.tallies[served.label].summary()
            m = service.metrics
            m.ab_requests.labels(served.label, served.arm).inc()
            m.ab_sndr.labels(served.label, served.arm).set(tally["mean_sndr_db"])
            m.ab_ratio.labels(served.label, served.arm).set(tally["mean_ratio"])
            headers["X-Ratecraft-SNDR-dB"] = f"{min(measured['sndr_db'], 1e300):.6g}"
        return Response(blob, media_type="application/x-ratecraft", headers=headers)

    @app.post("/v1/decompress", response_class=Response)
    async def decompress(
        request: Request,
        model: str | None = None,
        format: str = "npy",
        start: str | None = None,
        stop: str | None = None,
    ) -> Response:
        """Decompress an .rcz body into .npy (default), .wav or .csv (tables); the model a
        container names is found in the registry or the zoo by its content hash."""
        body_format(
            None, request.headers.get("content-type") or "application/x-ratecraft", ("rcz",)
        )
        if format not in MEDIA:
            raise UnsupportedMedia(f"cannot answer in {format!r}; use one of {list(MEDIA)}")
        if model is not None:
            parse_ref(model)
        with service.slots.take() as slot:
            async with body_of(request, "rcz") as path:

                def work() -> tuple[bytes, Data]:
                    if model is not None:
                        codec: Codec | None = service.models.get(model).codec
                    else:
                        with ContainerReader(path) as reader:
                            sha = reader.header.model_sha256
                        served = service.served_for_hash(sha) if sha else None
                        codec = served.codec if served else None
                    data = api.decode(path, model=codec, start=start, stop=stop)
                    with render(data, format) as out:
                        return out.read_bytes(), data

                content, data = await service.run(slot, work)
        service.metrics.samples.labels("decompress").inc(as_block(data).size)
        headers = {"X-Ratecraft-Shape": "x".join(map(str, as_block(data).shape))}
        if isinstance(data, Recording):
            headers["X-Ratecraft-Sample-Rate"] = f"{data.sample_rate:g}"
        return Response(content, media_type=MEDIA[format], headers=headers)

    @app.post("/v1/quality")
    async def quality(
        request: Request,
        setting: Annotated[Setting, Depends()],
        body: Annotated[DataBody, Depends()],
    ) -> JSONResponse:
        """Predict the quality a setting gives on a sample, without returning data: the VAE's
        own calibrated error estimate where the model has one, otherwise a measured encode and
        decode of an excerpt (the first ``quality_excerpt_s`` seconds, or rows of a table)."""
        fmt = body.fmt(request)
        with service.slots.take() as slot:
            async with body_of(request, fmt) as path:

                def work() -> dict[str, Any]:
                    part = _excerpt(body.read(path, fmt), service.config.quality_excerpt_s)
                    fitted, served = setting.fitted(service.models, part)
                    out: dict[str, Any] = {
                        "codec": fitted.name,
                        "model": served.label if served else None,
                        "excerpt_shape": list(as_block(part).shape),
                    }
                    predicted = getattr(fitted, "predicted_error", None)
                    if callable(predicted):
                        err = predicted(part)
                        out.update(
                            method="vae-uncertainty",
                            predicted_max_abs_error_median=float(_quantile(err, 0.5)),
                            predicted_max_abs_error_p95=float(_quantile(err, 0.95)),
                        )
                        return out
                    blob, stats = api.encode(part, codec=fitted)
                    q = measure_quality(part, fitted.decode(blob))
                    out.update(
                        method="measured-excerpt",
                        ratio=stats.ratio,
                        bits_per_sample=stats.bits_per_sample,
                        estimated_bits_per_sample=stats.estimated_bits_per_sample,
                        **_summary(q),
                    )
                    return out

                result = await service.run(slot, work)
        return JSONResponse(json_safe(result))

    # ---- reading ----------------------------------------------------------------------------
    @app.get("/v1/models")
    async def list_models() -> JSONResponse:
        """Registry models (versions, aliases, held-out figures) and the shipped zoo."""
        reg = service.registry
        models = []
        for name in reg.names():
            versions = reg.versions(name)
            models.append(
                {
                    "name": name,
                    "aliases": reg.aliases(name),
                    "versions": [
                        {
                            "version": v.version,
                            "codec": v.codec,
                            "aliases": v.aliases,
                            "model_sha256": v.model_sha256,
                            "heldout": _summary((v.card or {}).get("heldout") or {}),
                        }
                        for v in versions
                    ],
                }
            )
        zoo = [
            {
                "name": f"zoo:{n}",
                "codec": zoo_card(n).get("codec"),
                "description": zoo_card(n).get("description"),
            }
            for n in zoo_models()
        ]
        return JSONResponse(json_safe({"models": models, "zoo": zoo}))

    @app.get("/v1/models/{ref}")
    async def show_model(ref: str) -> JSONResponse:
        """One model's card: ``NAME`` (every version, with its events), ``NAME@VERSION``,
        ``NAME@ALIAS`` or ``zoo:NAME``."""
        parsed = parse_ref(ref)
        if parsed.zoo:
            return JSONResponse(json_safe({"name": str(parsed), "card": zoo_card(parsed.name)}))
        reg = service.registry
        if parsed.version is None and parsed.alias is None:
            versions = reg.versions(parsed.name)
            if not versions:
                reg.get(parsed)  # the one "no such model" error
            events = [e.to_json() for e in reg.events(parsed.name)]
            doc = {
                "name": parsed.name,
                "aliases": reg.aliases(parsed.name),
                "versions": [v.to_json() for v in versions],
                "events": events,
            }
            return JSONResponse(json_safe(doc))
        return JSONResponse(json_safe(reg.get(parsed).to_json()))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the version, uptime, loaded models and free slots."""
        return {
            "status": "ok",
            "version": ratecraft.__version__,
            "uptime_s": round(time.time() - service.started, 3),
            "loaded_models": service.models.loaded(),
            "free_slots": service.slots.free,
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text format."""
        return Response(service.metrics.text(), media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        """Models and aliases, cards, rate–distortion points, A/B statistics and the
        drift / adaptation timeline of each model (server-rendered, no script)."""
        return HTMLResponse(render_dashboard(service.registry, service.models.tallies))

    return app


def _quantile(values: Any, q: float) -> float:
    import numpy as np

    return float(np.quantile(np.asarray(values, dtype=np.float64), q))
