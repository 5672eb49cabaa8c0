"""When a requested action chunk becomes available: a simulated clock (latency in control steps) or a real one.

Both answer the same three calls, with time counted in control steps (one executor call = one step):
`request(obs, instruction, step)` starts an inference, `poll(step)` returns the `Arrival` once it is
available at `step`, `wait(step)` blocks for it (`can_block`: only the real clock can, used for the
first chunk of an episode, when the robot is at rest anyway).

- `SimulatedLatency(predict, latency_ms, fps)`: a chunk requested at step t is available at step
  t + d, d = ceil(latency_ms / control period). `predict` runs synchronously at request time, so
  results are exactly reproducible and no thread is involved.
- `BackgroundInference(predict)`: `predict` runs in one background thread while the caller keeps
  stepping at its control rate (pace the loop with `Rate`); the delay is the number of steps that
  passed until the result was seen.
"""

from __future__ import annotations

import concurrent.futures
import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vlaforge.errors import ConfigError, VlaforgeError

Predict = Callable[[dict[str, np.ndarray], str], np.ndarray]  # (obs, instruction) -> (H, A)


@dataclass(frozen=True)
class Arrival:
    """A finished chunk: planned from the observation of step `requested_at`, seen at step `step`."""

    chunk: np.ndarray  # (H, A) float32
    requested_at: int
    step: int
    inference_ms: float

    @property
    def delay(self) -> int:
        """Control steps that passed between request and arrival (the chunk's stale prefix)."""
        return self.step - self.requested_at


def latency_steps(latency_ms: float, fps: float) -> int:
    """Control steps a latency spans: ceil(latency / period), so 100 ms at 10 Hz is 1 step, 101 ms is 2."""
    if not math.isfinite(latency_ms) or latency_ms < 0:
        raise ConfigError(f"latency_ms must be a finite number >= 0; got {latency_ms!r}")
    if not math.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps must be a positive number; got {fps!r}")
    return math.ceil(round(latency_ms * fps / 1000, 9))  # round: 100 ms * 10 Hz is 1 step, not 2 by float error


def _as_chunk(chunk: object) -> np.ndarray:
    a = np.asarray(chunk, np.float32)
    if a.ndim != 2 or len(a) == 0:
        raise VlaforgeError(f"predict returned an array of shape {a.shape}; expected an action chunk (H, A) with H >= 1")
    return a  # (H, A)


def _timed(predict: Predict, obs: dict[str, np.ndarray], instruction: str, extra: dict[str, Any]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    chunk = _as_chunk(predict(obs, instruction, **extra))
    return chunk, (time.perf_counter() - t0) * 1000


class SimulatedLatency:
    """Deterministic clock: the chunk requested at step t arrives at step t + `delay_steps` (see module doc)."""

    def __init__(self, predict: Predict, latency_ms: float = 0.0, fps: float = 10.0):
        self.predict = predict
        self.delay_steps = latency_steps(latency_ms, fps)
        self.can_block = False
        self.action_dim: int | None = None
        self._pending: tuple[np.ndarray, int, float] | None = None

    @property
    def pending(self) -> bool:
        """A request is in flight."""
        return self._pending is not None

    @property
    def expected_delay(self) -> int:
        """Steps a request takes (exact here)."""
        return self.delay_steps

    def request(self, obs: dict[str, np.ndarray], instruction: str, step: int, **extra: Any) -> None:
        """Plan a chunk from `obs` (the observation of `step`; `extra` goes to predict); it arrives `delay_steps` later."""
        if self._pending is not None:
            raise VlaforgeError("a chunk request is already in flight; poll for it before requesting another")
        chunk, ms = _timed(self.predict, obs, instruction, extra)
        self.action_dim = chunk.shape[1]
        self._pending = (chunk, step, ms)

    def poll(self, step: int) -> Arrival | None:
        """The requested chunk if it is available at `step`, else None."""
        if self._pending is None or step < self._pending[1] + self.delay_steps:
            return None
        chunk, at, ms = self._pending
        self._pending = None
        return Arrival(chunk, at, step, ms)

    def wait(self, step: int) -> Arrival:
        """Not used in simulated time: the executor holds until `poll` answers."""
        raise VlaforgeError("SimulatedLatency cannot block; hold until poll() returns the chunk")

    def reset(self) -> None:
        """Drop a request in flight (new episode)."""
        self._pending = None

    def close(self) -> None:
        """Nothing to free."""


class BackgroundInference:
    """Real-time clock: `predict` runs in a background thread; the delay is measured in steps (see module doc)."""

    def __init__(self, predict: Predict, latency_ms: float = 0.0, fps: float = 10.0):
        self.predict = predict
        self.hint_steps = latency_steps(latency_ms, fps)
        self.can_block = True
        self.action_dim: int | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlaforge-inference")
        self._future: concurrent.futures.Future | None = None
        self._at = 0
        self._recent: list[int] = []  # delays of the last few arrivals

    @property
    def pending(self) -> bool:
        """A request is in flight."""
        return self._future is not None

    @property
    def expected_delay(self) -> int:
        """Steps a request is expected to take: the longest of the last 3 measured delays (the hint before any)."""
        return max(self._recent[-3:]) if self._recent else self.hint_steps

    def request(self, obs: dict[str, np.ndarray], instruction: str, step: int, **extra: Any) -> None:
        """Start inferring a chunk from `obs` (copied: the env may reuse its buffers) in the background."""
        if self._future is not None:
            raise VlaforgeError("a chunk request is already in flight; poll for it before requesting another")
        snapshot = {k: np.array(v, copy=True) for k, v in obs.items()}
        self._future, self._at = self._pool.submit(_timed, self.predict, snapshot, instruction, extra), step

    def poll(self, step: int) -> Arrival | None:
        """The chunk if the inference has finished by now, else None; errors of `predict` are raised here."""
        if self._future is None or not self._future.done():
            return None
        return self._take(step)

    def wait(self, step: int) -> Arrival:
        """Block until the chunk in flight is done (before the first chunk, when there is nothing to hold with)."""
        if self._future is None:
            raise VlaforgeError("wait() without a request in flight")
        concurrent.futures.wait([self._future])
        return self._take(step, measured=False)

    def _take(self, step: int, measured: bool = True) -> Arrival:
        future, self._future = self._future, None
        chunk, ms = future.result()
        self.action_dim = chunk.shape[1]
        if measured:  # a blocking wait saw no steps pass; it says nothing about the delay to expect
            self._recent = [*self._recent[-2:], step - self._at]
        return Arrival(chunk, self._at, step, ms)

    def reset(self) -> None:
        """Let a request in flight finish and drop it, so the next episode's first request does not queue behind it."""
        if self._future is not None:
            concurrent.futures.wait([self._future])
            self._future = None

    def close(self) -> None:
        """Stop the background thread."""
        self._pool.shutdown(wait=True)


CLOCKS = {"sim": SimulatedLatency, "real": BackgroundInference}


def make_clock(kind: str, predict: Predict, latency_ms: float, fps: float) -> SimulatedLatency | BackgroundInference:
    """A clock by name: "sim" (simulated latency) or "real" (background thread)."""
    if kind not in CLOCKS:
        raise ConfigError(f"unknown clock {kind!r}; choose from {sorted(CLOCKS)}")
    return CLOCKS[kind](predict, latency_ms, fps)


class Rate:
    """Pace a loop at `fps`: call `sleep()` once per iteration; an overrun starts a new period instead of bursting."""

    def __init__(self, fps: float):
        if not math.isfinite(fps) or fps <= 0:
            raise ConfigError(f"fps must be a positive number; got {fps!r}")
        self.period = 1.0 / fps
        self.overruns = 0
        self._next: float | None = None

    def sleep(self) -> None:
        """Sleep until the next period starts."""
        now = time.perf_counter()
        self._next = (now if self._next is None else self._next) + self.period
        if self._next > now:
            time.sleep(self._next - now)
        else:
            self.overruns += 1
            self._next = now
