"""The server's batcher on the real tiny ONNX export: a lone request starts at once, requests that queue
while a batch runs form the next batch (capped at max_batch), each gets its own row, and a window waits."""

import asyncio
import threading

import numpy as np

from vlaforge.serve.onnx_policy import OnnxPolicy
from vlaforge.serve.server import Batcher, Metrics, create_app

CAMERAS = ("observation.images.front", "observation.images.wrist")


class Gated:
    """The real policy, except that each batch records its size, says it started, and waits for `release`."""

    def __init__(self, policy: OnnxPolicy):
        self.policy, self.spec = policy, policy.spec
        self.sizes: list[int] = []
        self.started, self.release = threading.Event(), threading.Event()

    def predict_batch(self, observations, instructions):
        self.sizes.append(len(observations))
        self.started.set()
        assert self.release.wait(timeout=10), "the test never released the batch"
        return self.policy.predict_batch(observations, instructions)


def _observations(ds, n):
    return [{k: ds[i][k] for k in (*CAMERAS, "observation.state")} for i in range(n)]


async def _settle():
    for _ in range(10):  # let every ready task run; no timer can fire in between
        await asyncio.sleep(0)


def test_a_lone_request_starts_at_once_and_the_queue_forms_the_next_batch(onnx_export, tiny_checkpoint):
    path, ds = onnx_export[0], tiny_checkpoint[1]
    gated = Gated(OnnxPolicy(path, threads=1, seed=7))
    batcher = create_app(gated).state.batcher  # the server's defaults
    obs = _observations(ds, 5)

    async def main():
        first = asyncio.ensure_future(batcher.submit(obs[0], "move to the red block"))
        await _settle()
        # Blocking the event loop here stops every timer: the batch can only have started if nothing waited for one.
        assert gated.started.wait(timeout=5), "a lone request was held back waiting for company"
        rest = [asyncio.ensure_future(batcher.submit(o, "move to the red block")) for o in obs[1:]]
        await _settle()  # all four are queued behind the running batch
        gated.release.set()
        return await asyncio.wait_for(asyncio.gather(first, *rest), 30)

    chunks = asyncio.run(main())
    batcher.pool.shutdown()
    assert gated.sizes == [1, 4] and batcher.metrics.batches == 2 and batcher.metrics.batched_items == 5
    single = OnnxPolicy(path, threads=1, seed=7)  # the same noise, drawn in request order, one call each
    for o, chunk in zip(obs, chunks):
        np.testing.assert_allclose(chunk, single.predict_chunk(o, "move to the red block"), rtol=1e-5, atol=1e-5)


def test_a_batch_holds_at_most_max_batch(onnx_export, tiny_checkpoint):
    path, ds = onnx_export[0], tiny_checkpoint[1]
    gated = Gated(OnnxPolicy(path, threads=1))
    batcher = Batcher(gated, max_batch=3, window_s=0.0, metrics=Metrics())
    obs = _observations(ds, 5)

    async def main():
        first = asyncio.ensure_future(batcher.submit(obs[0], "go"))
        await _settle()
        assert gated.started.wait(timeout=5)
        rest = [asyncio.ensure_future(batcher.submit(o, "go")) for o in obs[1:]]
        await _settle()
        gated.release.set()
        return await asyncio.wait_for(asyncio.gather(first, *rest), 30)

    chunks = asyncio.run(main())
    batcher.pool.shutdown()
    assert gated.sizes == [1, 3, 1] and all(c.shape == (gated.spec.chunk, gated.spec.action_dim) for c in chunks)


def test_a_window_waits_for_company_until_the_batch_is_full(onnx_export, tiny_checkpoint):
    path, ds = onnx_export[0], tiny_checkpoint[1]
    gated = Gated(OnnxPolicy(path, threads=1))
    gated.release.set()
    batcher = Batcher(gated, max_batch=2, window_s=60.0, metrics=Metrics())
    obs = _observations(ds, 2)

    async def main():
        first = asyncio.ensure_future(batcher.submit(obs[0], "go"))
        await _settle()
        assert not gated.started.is_set()  # held for the window
        second = asyncio.ensure_future(batcher.submit(obs[1], "go"))
        return await asyncio.wait_for(asyncio.gather(first, second), 30)  # a full batch does not wait out the 60 s

    asyncio.run(main())
    batcher.pool.shutdown()
    assert gated.sizes == [2]
