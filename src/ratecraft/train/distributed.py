"""Training in several processes: the process group ``torchrun`` describes, joined with gloo.

``torchrun --nproc_per_node 2 -m ratecraft fit …`` starts the processes and sets ``RANK`` /
``WORLD_SIZE`` / ``MASTER_ADDR``; each joins the group here, the trainer splits every global
batch between them (see :class:`~ratecraft.train.trainer.Trainer`) and rank 0 alone writes.
"""

from __future__ import annotations

import os

import torch.distributed as dist

__all__ = ["finish", "join_from_env"]


def join_from_env() -> tuple[int, int]:
    """``(rank, world size)``: the group of ``torchrun``'s environment joined (gloo: CPU), or
    ``(0, 1)`` for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size()


def finish() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
