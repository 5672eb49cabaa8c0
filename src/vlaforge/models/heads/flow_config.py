"""FlowConfig: the flow head's own settings, `PolicyConfig.flow`, set as `--model.flow.<field>` (no torch here)."""

from __future__ import annotations

import dataclasses

from vlaforge.errors import ConfigError

TIME_SAMPLING = ("beta", "uniform")


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """Flow matching: how training draws times and how many Euler steps inference integrates."""

    steps: int = 10  # Euler steps at inference (the ONNX graph unrolls them)
    time_sampling: str = "beta"  # beta (pi0: emphasises noisy times) | uniform

    def __post_init__(self) -> None:
        bad = []
        if self.steps < 1:
            bad.append(f"--model.flow.steps {self.steps} (must be >= 1)")
        if self.time_sampling not in TIME_SAMPLING:
            bad.append(f"--model.flow.time_sampling {self.time_sampling!r} must be one of {', '.join(TIME_SAMPLING)}")
        if bad:
            raise ConfigError("; ".join(bad))
