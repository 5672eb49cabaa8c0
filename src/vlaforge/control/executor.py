"""Chunked action execution under inference latency: async (overlapped + blended) and naive (wait-then-act).

Both executors are actors for any gymnasium-style loop: built from `predict(obs, instruction) -> (H, A)`
(a local policy's `predict_chunk`, an `OnnxPolicy`, a `serve.Client`, the sim oracle), called once per
control step as `executor(obs, instruction) -> action (A,)`, and `reset()` at each episode start.

A chunk requested at step t from the observation of step t plans the actions of steps t, t+1, ...
It becomes available d steps later (d from a `vlaforge.control.clocks` clock: simulated from
`latency_ms`, or measured with inference in a background thread). Its first k actions are stale,
k = the steps of those d on which the robot executed a planned action (of the old chunk); on the
steps it held still nothing moved, so the new chunk's plan for them is still ahead.

- `AsyncChunkExecutor` requests the next chunk `lead` = expected d steps before `execute_horizon`
  actions of the current one have run and keeps executing the current chunk meanwhile. On arrival
  it drops the k stale actions and blends the old chunk's future into the new one over `blend`
  steps (real-time-chunking style) with a smoothstep weight. Delta dims (all but `absolute_dims`)
  are blended on the path they command, so after the window the robot is exactly on the new plan's
  path even where the k actions it ran differed from the new plan's first k (the world changed);
  absolute dims are blended on their value; `switch_dims` (a binary gripper) switch at once.
  A predictor with a `prefix` keyword (the sim oracle has one) is also given the actions that
  will run while it computes, (d, A), and should return a chunk that starts with them (the frozen
  prefix of real-time chunking): then the new plan already accounts for them and nothing is off.
- `NaiveChunkExecutor` executes `execute_horizon` actions, then requests a chunk and holds still
  until it arrives (what a robot does while it waits), then executes it from its first action.
  With zero latency it is plain local chunk execution.

While nothing is ready both output the hold action: zeros, except the `absolute_dims` (e.g. the
gripper command), which keep their last value. With `action_space` (a gymnasium Box) outputs are
clipped to it, and a path correction the bounds cut short is carried into the next steps.
`stats` counts per episode what an evaluation reports.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from vlaforge.control.clocks import Arrival, Predict, make_clock
from vlaforge.errors import ConfigError, FeatureMismatch, VlaforgeError


@dataclass
class ExecutorStats:
    """What happened in one episode (since the last `reset`)."""

    steps: int = 0  # executor calls (control steps)
    requests: int = 0  # chunk inferences started
    switches: int = 0  # chunks taken into execution
    held_steps: int = 0  # steps that output the hold action because no planned action was ready
    skipped_actions: int = 0  # stale actions dropped (the old chunk's actions ran in their place)
    delay_steps: list[int] = field(default_factory=list)  # per chunk: steps between request and arrival
    inference_ms: list[float] = field(default_factory=list)  # per chunk: wall time of predict

    def summary(self) -> dict[str, Any]:
        """Counts and means as plain numbers (for JSON and eval records)."""
        mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
        return {"steps": self.steps, "requests": self.requests, "switches": self.switches, "held_steps": self.held_steps,
                "skipped_actions": self.skipped_actions, "mean_delay_steps": mean(self.delay_steps),
                "mean_inference_ms": mean(self.inference_ms)}


class _ChunkExecutor:
    """Shared machinery: the clock, the chunk being executed, hold, bounds and stats (see module doc)."""

    def __init__(self, predict: Predict, execute_horizon: int = 8, latency_ms: float = 0.0, fps: float = 10.0,
                 clock: str = "sim", absolute_dims: Sequence[int] = (-1,), action_space: Any = None):
        if not isinstance(execute_horizon, int) or execute_horizon < 1:
            raise ConfigError(f"execute_horizon must be a positive integer; got {execute_horizon!r}")
        self.horizon = execute_horizon
        self.absolute_dims = tuple(absolute_dims)
        self.bounds = None if action_space is None else (np.asarray(action_space.low, np.float32), np.asarray(action_space.high, np.float32))
        self.clock = make_clock(clock, predict, latency_ms, fps)
        self.reset()

    def reset(self) -> None:
        """New episode: drop the chunk, any request in flight and the stats."""
        self.clock.reset()
        self.chunk: np.ndarray | None = None  # (n, A): the actions still to execute are chunk[i:]
        self.i = 0
        self.t = 0
        self.last: np.ndarray | None = None
        self.moved = 0  # planned (non-hold) actions executed since the request in flight was made
        self.since_request: np.ndarray | float = 0.0  # (A,) sum of the actions output since that request
        self.stats = ExecutorStats()

    @property
    def inference_ms(self) -> list[float]:
        """Wall time of each chunk inference this episode (what eval records average)."""
        return self.stats.inference_ms

    def __call__(self, obs: dict[str, np.ndarray], instruction: str) -> np.ndarray:
        """The action (A,) for this control step; never blocks except for the first chunk of a real-time episode."""
        if not self.clock.pending and self._should_request():
            self.clock.request(obs, instruction, self.t, **self._request_extra())
            self.stats.requests += 1
            self.moved, self.since_request = 0, 0.0
        arrival = self.clock.poll(self.t)
        if arrival is None and self.last is None and self.clock.can_block:
            arrival = self.clock.wait(self.t)  # real clock, first chunk of the episode: the robot is at rest anyway
        if arrival is not None:
            self._record(arrival)
            stale = min(self.moved, len(arrival.chunk))
            self.stats.skipped_actions += stale
            self._take(arrival.chunk, stale)
        if self._remaining() > 0:
            action = self._emit(self.chunk[self.i])
            self.i += 1
            self.moved += 1
        else:
            action = self._hold()
            self.stats.held_steps += 1
        self.last = action
        self.since_request = self.since_request + action
        self.t += 1
        self.stats.steps += 1
        return action.copy()

    # ------------------------------------------------------------------ helpers
    def _remaining(self) -> int:
        return 0 if self.chunk is None else len(self.chunk) - self.i

    def _record(self, arrival: Arrival) -> None:
        a = arrival.chunk.shape[1]
        if self.last is not None and a != len(self.last):
            raise FeatureMismatch(f"predict returned a chunk with {a} action dims after chunks with {len(self.last)}")
        if self.bounds is not None and self.bounds[0].shape != (a,):
            raise FeatureMismatch(f"action_space has shape {self.bounds[0].shape} but predict returned {a} action dims; "
                                  "pass the env's action_space")
        self.stats.switches += 1
        self.stats.delay_steps.append(arrival.delay)
        self.stats.inference_ms.append(arrival.inference_ms)

    def _delta_dims(self, a: int) -> list[int]:
        absolute = {d % a for d in self.absolute_dims}
        return [d for d in range(a) if d not in absolute]

    def _clip(self, action: np.ndarray) -> np.ndarray:
        return action if self.bounds is None else np.clip(action, *self.bounds)

    def _emit(self, planned: np.ndarray) -> np.ndarray:
        """The planned action as sent (clipped to the action space)."""
        return self._clip(planned)

    def _hold(self) -> np.ndarray:
        """Stand still: zero deltas; absolute dims (the gripper) keep their last command."""
        a = np.zeros(self.clock.action_dim, np.float32)  # (A,)
        if self.last is not None:
            for d in self.absolute_dims:
                a[d] = self.last[d]
        return self._clip(a)

    def _should_request(self) -> bool:
        raise NotImplementedError

    def _request_extra(self) -> dict[str, Any]:
        """Keyword arguments for predict beyond (obs, instruction)."""
        return {}

    def _take(self, chunk: np.ndarray, stale: int) -> None:
        """Start executing the arrived `chunk` (H, A), whose first `stale` actions are already in the past."""
        raise NotImplementedError

    def close(self) -> None:
        """Free the clock's background thread (real clock)."""
        self.clock.close()

    def __enter__(self) -> "_ChunkExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChunkExecutor(_ChunkExecutor):
    """Overlapped inference with skip-stale + path blending (see module doc).

    Args: predict; execute_horizon (actions of a chunk run before the next one takes over);
    blend (steps until the robot is on the new chunk's path; 0 = hard switch, no correction);
    latency_ms (clock "sim": the latency to simulate; "real": the expected latency until one is
    measured); fps (control rate); clock ("sim" | "real"); absolute_dims (action dims that are
    commands, not deltas: held at their last value while waiting, blended by value);
    switch_dims (dims taken from the new chunk at once, e.g. a binary gripper); action_space
    (optional Box: clip outputs, carry a clipped path correction forward).
    """

    def __init__(self, predict: Predict, execute_horizon: int = 8, blend: int = 4, latency_ms: float = 0.0, fps: float = 10.0,
                 clock: str = "sim", absolute_dims: Sequence[int] = (-1,), switch_dims: Sequence[int] = (-1,),
                 action_space: Any = None):
        if not isinstance(blend, int) or blend < 0:
            raise ConfigError(f"blend must be an integer >= 0; got {blend!r}")
        self.blend = blend
        self.switch_dims = tuple(switch_dims)
        self.pass_prefix = "prefix" in _keyword_params(predict)
        super().__init__(predict, execute_horizon, latency_ms, fps, clock, absolute_dims, action_space)

    def reset(self) -> None:
        """New episode: drop the chunk, any request in flight, the carried correction and the stats."""
        super().reset()
        self.carry: np.ndarray | float = 0.0  # (A,) path correction the action bounds have not let through yet

    def _should_request(self) -> bool:
        if self.chunk is None:
            return True
        # Ask `lead` steps early so the new chunk lands when `execute_horizon` actions have run.
        due = min(self.horizon, len(self.chunk)) - self.clock.expected_delay
        return self.i >= due

    def _request_extra(self) -> dict[str, Any]:
        """`prefix`: the actions that will run while the chunk is inferred, for predictors that plan after them."""
        if not self.pass_prefix or self.chunk is None:
            return {}
        k = self.clock.expected_delay
        rest = self.chunk[self.i : self.i + k]
        holds = [self._hold()] * (k - len(rest))
        return {"prefix": np.stack([*map(self._clip, rest), *holds]) if k else self.chunk[:0].copy()}  # (k, A)

    def _emit(self, planned: np.ndarray) -> np.ndarray:
        """Add the carried correction on delta dims, clip, and carry what the bounds cut off."""
        want = planned + self.carry  # (A,)
        out = self._clip(want)
        self.carry = np.zeros_like(want)
        delta = self._delta_dims(len(want))
        self.carry[delta] = (want - out)[delta]  # a command beyond the bounds (absolute dims) is just clipped
        return out

    def _take(self, chunk: np.ndarray, stale: int) -> None:
        new = chunk[stale:].copy()  # (H - stale, A)
        n = min(self.blend, len(new))
        if self.chunk is None or n == 0:  # the episode's first chunk starts from rest: nothing to blend with
            self.chunk, self.i, self.carry = new, 0, 0.0
            return
        a = new.shape[1]
        # The old chunk's future over the window; where it has run out the new plan alone is followed.
        old = new[:n].copy()  # (n, A)
        rest = self.chunk[self.i : self.i + n]
        old[: len(rest)] = rest
        s = np.arange(1, n + 1, dtype=np.float64) / n
        w = (s * s * (3 - 2 * s))[:, None]  # (n, 1) weight of the new chunk: smoothstep, reaching 1 with zero slope
        out = new[:n].astype(np.float64)  # (n, A); switch dims keep the new chunk's command
        switch = {d % a for d in self.switch_dims}
        delta = [d for d in self._delta_dims(a) if d not in switch]
        absolute = [d for d in range(a) if d not in delta and d not in switch]
        out[:, absolute] = (1 - w) * old[:, absolute] + w * new[:n, absolute]
        # Delta dims: blend the commanded paths (relative to the current command), so the window ends on the new
        # plan's path. `off`: where the commands since the request took us minus where the new plan has us now.
        off = (np.zeros(a) + self.since_request)[delta] - chunk[:stale, delta].sum(axis=0)  # (D,)
        old_path = np.cumsum(old[:, delta], axis=0)  # (n, D)
        new_path = np.cumsum(new[:n, delta], axis=0) - off  # (n, D)
        path = (1 - w) * old_path + w * new_path
        out[:, delta] = np.diff(path, axis=0, prepend=np.zeros((1, len(delta))))
        new[:n] = out
        self.chunk, self.i, self.carry = new, 0, 0.0  # `off` already counts what the bounds cut off before


def _keyword_params(fn: Any) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return set()


class NaiveChunkExecutor(_ChunkExecutor):
    """Wait-then-act baseline (see module doc); with latency 0 it is local chunk execution.

    Args: predict, execute_horizon, latency_ms, fps, clock, absolute_dims, action_space as for
    `AsyncChunkExecutor`."""

    def _should_request(self) -> bool:
        return self._remaining() == 0

    def _take(self, chunk: np.ndarray, stale: int) -> None:
        # The robot stood still while waiting (nothing is stale), so the chunk runs from its first action.
        self.chunk, self.i = chunk[stale : stale + self.horizon], 0
