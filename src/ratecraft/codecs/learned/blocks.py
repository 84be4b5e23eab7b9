"""Building blocks of the table models: family encoders (MLP, temporal CNN) and decoders.

Vector families (initial conditions, summary statistics, an agent's status) have no order
among their features, so an MLP encodes them. Time-series families (a sampled trajectory)
have local structure along the feature axis, which a small 1-D CNN captures with few weights:
two strided convolutions over the samples-in-time, then a linear map to the latent width.
Decoders are MLPs in both cases. Everything is trained end to end; nothing is frozen.
:func:`load_weights` is how every trained codec (tables and recordings) puts its saved tensors
back into a freshly built network.
"""

from __future__ import annotations

from typing import Any, TypeVar

from torch import Tensor, nn

from ratecraft.errors import BadInputError

__all__ = [
    "MLP",
    "TemporalEncoder",
    "family_encoder",
    "is_temporal",
    "load_weights",
    "parameter_count",
]

M = TypeVar("M", bound=nn.Module)


def load_weights(model: M, tensors: dict[str, Any]) -> M:
    """``model`` with ``tensors`` loaded (every key, nothing missing) in eval mode."""
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise BadInputError(f"weights do not fit the model ({first})") from None
    return model.eval()


class MLP(nn.Module):
    """``in → hidden (GELU) × depth → out``; ``depth=0`` is a single linear map."""

    def __init__(self, n_in: int, n_out: int, hidden: int = 64, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TemporalEncoder(nn.Module):
    """A temporal 1-D CNN over ``n_in`` time steps (one channel) to ``n_out`` latents."""

    def __init__(self, n_in: int, n_out: int, channels: int = 16) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(1, channels, kernel_size=5, padding=2),
            nn.GELU(),
            nn.Conv1d(channels, channels, kernel_size=5, stride=2, padding=2),
            nn.GELU(),
            nn.Conv1d(channels, channels, kernel_size=3, stride=2, padding=1),
            nn.GELU(),
        )
        length = n_in
        for _ in range(2):
            length = (length - 1) // 2 + 1
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * length, n_out))
        self.skip = nn.Linear(n_in, n_out)  # a linear path keeps smooth trends cheap to learn

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.conv(x.unsqueeze(1))) + self.skip(x)


def is_temporal(name: str, temporal_families: list[str]) -> bool:
    """A family is a time series when it is listed in ``temporal_families``."""
    return name in temporal_families


def family_encoder(n_in: int, n_out: int, *, temporal: bool, hidden: int) -> nn.Module:
    """The temporal CNN for time-series families (≥ 8 steps), otherwise an MLP."""
    if temporal and n_in >= 8:
        return TemporalEncoder(n_in, n_out, channels=max(4, hidden // 4))
    return MLP(n_in, n_out, hidden=hidden)


def parameter_count(module: nn.Module) -> int:
    """Trainable parameters plus buffers that are part of the model (e.g. VQ codebooks)."""
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for name, b in module.named_buffers() if name.endswith("embed"))
    return int(params + buffers)
