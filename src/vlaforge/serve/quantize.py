"""Int8 quantization of an exported fp32 ONNX graph (onnxruntime.quantization), one named method each.

Which method is the default was measured (benchmarks/int8_profile.py, docs/deploy.md): quantizing the
convolutions dynamically runs them as ConvInteger, which onnxruntime's CPU provider executes far more slowly
than its fp32 Conv, so the old "every weight dynamic" export was slower than fp32. Static QDQ convolutions
(activation ranges calibrated on dataset frames) fuse into QLinearConv and are faster than fp32; the
transformer's MatMuls keep their accuracy with per-call (dynamic) activation ranges, where calibrated static
ranges for them cost several % of the action range for no further speed.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

if TYPE_CHECKING:  # `vlaforge export --help` imports this module for the method names; numpy is not needed for that
    import numpy as np

METHODS = {
    "hybrid": "static QDQ int8 Conv (per-channel weights, activation ranges calibrated on dataset frames) + dynamic int8 MatMul/Gemm",
    "static": "static QDQ int8 Conv, MatMul and Gemm (per-channel weights, activation ranges calibrated on dataset frames)",
    "dynamic": "dynamic int8 MatMul/Gemm weights only (no calibration; convolutions stay fp32)",
    "dynamic-all": "dynamic int8 weights of every Conv, MatMul and Gemm (convolutions become ConvInteger: slower than fp32 on CPU)",
}
DEFAULT_METHOD = "hybrid"
CALIBRATED = {"hybrid", "static"}  # the methods that need calibration frames


def check_method(method: str) -> str:
    """`method` if it is one of METHODS, else a ConfigError listing them."""
    from vlaforge.errors import ConfigError

    if method not in METHODS:
        raise ConfigError(f"unknown int8 method {method!r}; choose one of {sorted(METHODS)}")
    return method


def _reader(feeds: Iterable[dict[str, np.ndarray]]) -> Any:
    """The feeds as an onnxruntime CalibrationDataReader."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    return Reader()


def quantize(fp32: str | Path, out: str | Path, method: str = DEFAULT_METHOD,
             calibration: Iterable[dict[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """Write the int8 version of the fp32 graph at `fp32` to `out` by `method`; `calibration` yields session feeds
    (input name → array) of real frames for the calibrated methods. Returns what was done, for the export's metadata."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vlaforge.errors import ConfigError

    feeds = list(calibration or [])
    if check_method(method) in CALIBRATED and not feeds:
        raise ConfigError(f"int8 method {method!r} calibrates activation ranges on dataset frames; none were given")
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization logs advice at WARNING for every call
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))  # shape inference + graph optimization, as onnxruntime advises before quantizing
        if method == "dynamic-all":  # exactly the export's int8 before the methods were measured, for comparison
            quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
        elif method == "dynamic":
            quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"], per_channel=True)
        else:
            ops = ["Conv"] if method == "hybrid" else ["Conv", "MatMul", "Gemm"]
            static = Path(tmp) / "static.onnx" if method == "hybrid" else Path(out)
            quantize_static(str(pre), str(static), _reader(feeds), quant_format=QuantFormat.QDQ, op_types_to_quantize=ops,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            if method == "hybrid":
                quantize_dynamic(str(static), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    return {"method": method, "what": METHODS[method], "calibration_frames": len(feeds) if method in CALIBRATED else 0}
