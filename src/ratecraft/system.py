"""Facts about the machine a run depends on."""

from __future__ import annotations

import os

__all__ = ["available_memory", "start_ray"]


def available_memory() -> int:
    """Bytes of RAM available to a new allocation now (psutil, else the kernel's page counts)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray: the cluster at ``address`` (or ``RAY_ADDRESS``), else a local instance
    with ``num_cpus``; True when this call started it (the caller then shuts it down). Needs
    the ``distributed`` extra."""
    try:
        import ray
    except ImportError:
        from ratecraft.errors import MissingExtraError

        raise MissingExtraError("ray", "distributed") from None
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    options: dict[str, object] = {"include_dashboard": False, "log_to_driver": False}
    if address:
        options["address"] = address
    else:
        options["num_cpus"] = num_cpus
    ray.init(**options)
    return True
