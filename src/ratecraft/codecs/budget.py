"""What a caller asks of a codec: lossless, a target real ratio, or a maximum absolute error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Budget(BaseModel):
    """Exactly one of: ``lossless``, ``ratio`` (raw bytes / container bytes) or ``max_error``.

    ``max_error`` is in the units of the stored samples (integer steps for integer data).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lossless: bool = False
    ratio: float | None = Field(default=None, gt=1.0)
    max_error: float | None = Field(default=None, ge=0.0)

    @model_validator(mode="after")
    def _one_mode(self) -> Budget:
        modes = sum([self.lossless, self.ratio is not None, self.max_error is not None])
        if modes != 1:
            raise ValueError("give exactly one of lossless, ratio or max_error")
        return self

    def describe(self) -> str:
        if self.lossless:
            return "lossless"
        if self.ratio is not None:
            return f"ratio={self.ratio:g}"
        return f"max_error={self.max_error:g}"


LOSSLESS = Budget(lossless=True)
