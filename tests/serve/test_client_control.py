"""The async executor of `vlaforge.control` driving a `vlaforge serve` policy through the client, in real time."""

import time

import numpy as np

from vlaforge.control.clocks import Rate
from vlaforge.control.executor import AsyncChunkExecutor


def test_real_clock_against_a_server_with_100ms_latency_keeps_the_control_rate(server):
    from vlaforge.serve.client import Client

    url, ds = server
    item = ds[3]
    obs = {k: item[k] for k in ("observation.images.front", "observation.images.wrist", "observation.state")}
    client = Client(url, token="s3cret", latency_ms=100)
    ex = AsyncChunkExecutor(client.predict_chunk, execute_horizon=4, blend=2, latency_ms=100, fps=10, clock="real")
    rate, call_s = Rate(10), []
    try:
        ex.reset()
        for _ in range(16):
            t0 = time.perf_counter()
            a = ex(obs, "pick up the red block")
            call_s.append(time.perf_counter() - t0)
            assert a.shape == (4,) and np.isfinite(a).all()
            rate.sleep()
    finally:
        ex.close()
        client.close()
    assert max(call_s[1:]) < 0.05  # never waits out the 100 ms round trip (only the first chunk is awaited)
    assert ex.stats.switches >= 3 and min(ex.stats.delay_steps[1:]) >= 1
    assert min(ex.stats.inference_ms) >= 100
