"""Chunk execution for any policy (DESIGN §2): policies predict chunks; this layer turns them into one action per step.

`PolicyControl` (action queue or temporal ensembling, gripper hysteresis) for local execution;
`AsyncChunkExecutor` / `NaiveChunkExecutor` with a simulated or real clock when inference has latency.
Used by evaluation, by robots driving a `serve.Client`, and by anyone with a `predict_chunk`.
"""

from __future__ import annotations

from vlaforge.lazy import lazy_getattr

_EXPORTS = {
    "ActionQueue": "vlaforge.control.queue",
    "TemporalEnsemble": "vlaforge.control.queue",
    "GripperHysteresis": "vlaforge.control.queue",
    "PolicyControl": "vlaforge.control.queue",
    "AsyncChunkExecutor": "vlaforge.control.executor",
    "NaiveChunkExecutor": "vlaforge.control.executor",
    "ExecutorStats": "vlaforge.control.executor",
    "Rate": "vlaforge.control.clocks",
    "SimulatedLatency": "vlaforge.control.clocks",
    "BackgroundInference": "vlaforge.control.clocks",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
