"""`vlaforge bench latency`: every runtime measured, int8 by the export's default method, wall and CPU time per row."""

from vlaforge.serve.bench import latency_table
from vlaforge.serve.quantize import DEFAULT_METHOD


def test_latency_table_times_the_default_int8_with_cpu_time(tiny_checkpoint):
    res = latency_table(tiny_checkpoint[0], iters=3)
    assert set(res["rows"]) == {"pytorch fp32", "onnx fp32", f"onnx int8 ({DEFAULT_METHOD})"}
    for name, row in res["rows"].items():
        assert set(row) == {"1t", "2t"}, f"{name}: {row}"  # an export that failed would be {"error": ...}
        for v in row.values():
            assert 0 < v["p50_ms"] <= v["p99_ms"] and v["cpu_p50_ms"] > 0
