"""Fine-tuning a trained recording network on recent data, with a replay buffer and an EWC
penalty, so it follows a drift without forgetting what it knew.

The codec is copied; its network (the ``RecordingModel`` every autoencoder codec trains) is
trained for ``steps`` Adam steps on windows drawn from the recent chunks and the replay buffer
(older windows, ``replay_share`` of each batch), with the codec's own rate–distortion terms
(``train_terms``: reconstruction, bits per window, the model's auxiliary loss) and, when
``ewc_lambda`` > 0, Elastic Weight Consolidation (Kirkpatrick et al. 2017): a penalty
``λ/2 · Σ F_i (θ_i − θ*_i)²`` where ``θ*`` are the weights before the update and ``F`` the
diagonal (empirical, per mini-batch) Fisher information on the older data. The normalization
and the latent step stay those of the version being adapted, so the bitstream keeps its meaning
and the achieved bits stay comparable; the integer coding tables are rebuilt afterwards.

It works through the learned recording codecs' continue-training hooks:
:meth:`~ratecraft.codecs.learned.recording_codec.LearnedRecordingCodec.training_windows` (the
rows the network trains on, normalized as fitted) and ``refresh_tables`` (the coding tables
rebuilt after the weights changed).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ratecraft.codecs.base import Codec
from ratecraft.codecs.learned.recording_codec import LearnedRecordingCodec
from ratecraft.data.types import Recording
from ratecraft.errors import BadInputError

__all__ = ["FinetuneConfig", "can_finetune", "finetune"]


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 60
    batch: int = 16
    lr: float = 1e-3
    replay_share: float = 0.5  # of each batch, from the replay buffer (0: recent data only)
    ewc_lambda: float = 0.0
    fisher_batches: int = 8
    seed: int = 0


def can_finetune(codec: Codec) -> bool:
    """Whether ``codec`` is a trained learned recording codec (its network can learn more)."""
    return isinstance(codec, LearnedRecordingCodec) and codec.model is not None


def _rows(codec: LearnedRecordingCodec, chunks: Sequence[Recording]) -> torch.Tensor:
    return torch.from_numpy(codec.training_windows(list(chunks)))


def _loss(model: torch.nn.Module, rows: torch.Tensor, lmbda: float) -> torch.Tensor:
    x_hat, bits, aux = model.train_terms(rows)  # type: ignore[operator]
    loss: torch.Tensor = lmbda * ((x_hat - rows) ** 2).mean() + bits / rows.shape[1] + aux
    return loss


def _fisher(
    model: torch.nn.Module, rows: torch.Tensor, cfg: FinetuneConfig, lmbda: float
) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters() if p.requires_grad}
    for _ in range(cfg.fisher_batches):
        idx = torch.randint(len(rows), (min(cfg.batch, len(rows)),), generator=gen)
        model.zero_grad()
        _loss(model, rows[idx], lmbda).backward()  # type: ignore[no-untyped-call]
        for n, p in model.named_parameters():
            if p.grad is not None and n in fisher:
                fisher[n] += p.grad.detach() ** 2 / cfg.fisher_batches
    model.zero_grad()
    return fisher


def finetune(
    codec: Codec,
    recent: Sequence[Recording],
    replay: Sequence[Recording] = (),
    cfg: FinetuneConfig | None = None,
) -> Codec:
    """A fine-tuned copy of ``codec`` (the original is left as it was)."""
    cfg = cfg or FinetuneConfig()
    if not can_finetune(codec):
        raise BadInputError(
            f"{codec.name} has no network to fine-tune (adapt needs a learned codec)"
        )
    if not recent:
        raise BadInputError("no recent data to fine-tune on")
    assert isinstance(codec, LearnedRecordingCodec) and codec.model is not None
    new = copy.deepcopy(codec)
    assert new.model is not None
    model: torch.nn.Module = new.model
    lmbda = float(new.config.train.lmbda)
    fresh, old = _rows(new, recent), _rows(new, replay)
    torch.manual_seed(cfg.seed)
    model.train()
    anchor = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = _fisher(model, old, cfg, lmbda) if cfg.ewc_lambda > 0 and len(old) else {}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    n_old = round(cfg.batch * cfg.replay_share) if len(old) else 0
    for _ in range(cfg.steps):
        parts = [fresh[torch.randint(len(fresh), (cfg.batch - n_old,), generator=gen)]]
        if n_old:
            parts.append(old[torch.randint(len(old), (n_old,), generator=gen)])
        loss = _loss(model, torch.cat(parts), lmbda)
        if fisher:
            penalty = sum(
                (fisher[n] * (p - anchor[n]) ** 2).sum()
                for n, p in model.named_parameters()
                if n in fisher
            )
            loss = loss + 0.5 * cfg.ewc_lambda * penalty
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
    model.eval()
    new.refresh_tables()
    return new
