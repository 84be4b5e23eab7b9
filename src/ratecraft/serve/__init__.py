"""The HTTP service (``ratecraft serve``; extra ``[serve]``: FastAPI, uvicorn, prometheus-client).

from ratecraft.serve import ServeConfig, create_app, run
run(ServeConfig(port=8765, ab=("probe@candidate:0.1",)))   # 127.0.0.1 only
"""

from __future__ import annotations

import importlib
from typing import Any

from ratecraft.errors import MissingExtraError
from ratecraft.serve.config import HOST, ServeConfig

__all__ = ["HOST", "ServeConfig", "create_app", "run"]


def _need_extra() -> None:
    for module in ("fastapi", "uvicorn", "prometheus_client"):
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingExtraError(module, "serve") from None


def create_app(config: ServeConfig | None = None) -> Any:
    """The service's FastAPI app (see :mod:`ratecraft.serve.app`)."""
    _need_extra()
    from ratecraft.serve.app import create_app as make

    return make(config)


def run(config: ServeConfig) -> None:
    """Serve on 127.0.0.1 until interrupted."""
    _need_extra()
    import uvicorn

    uvicorn.run(
        create_app(config),
        host=HOST,
        port=config.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
