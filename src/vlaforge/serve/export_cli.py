"""`vlaforge export RUN --format onnx [--int8 [--int8-method M] [--calibration DATASET]] --out FILE`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vlaforge.serve.quantize import DEFAULT_METHOD, METHODS


def register(parser: argparse.ArgumentParser) -> None:
    """Add the export options."""
    parser.description = ("Export a trained policy to ONNX (normalization inside, flow steps unrolled, language embeddings "
                          "precomputed for the dataset's tasks), check parity against PyTorch on real dataset samples, "
                          "and record it in FILE.json.")
    parser.add_argument("run", type=Path, help="run or checkpoint directory")
    parser.add_argument("--format", choices=["onnx"], default="onnx")
    parser.add_argument("--int8", action="store_true", help=f"int8 quantization ({DEFAULT_METHOD} unless --int8-method says otherwise)")
    parser.add_argument("--int8-method", choices=sorted(METHODS), default=DEFAULT_METHOD,
                        help="; ".join(f"{k}: {v}" for k, v in METHODS.items()))
    parser.add_argument("--out", type=Path, required=True, help="output .onnx file")
    parser.add_argument("--dataset", type=Path, help="dataset for the parity check (default: the one it was trained on)")
    parser.add_argument("--calibration", type=Path, metavar="DATASET",
                        help="dataset whose frames calibrate int8 activation ranges (default: --dataset, else the one it was trained on)")
    parser.add_argument("--calibration-frames", type=int, default=64, help="how many frames calibrate (never the parity samples)")
    parser.add_argument("--samples", type=int, default=32, help="dataset frames for the parity check")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and report."""
    from vlaforge.serve.export import export_onnx
    from vlaforge.models.checkpoint import weights_errors

    with weights_errors(args.run):
        meta = export_onnx(args.run, args.out, int8=args.int8, dataset=args.dataset, samples=args.samples, int8_method=args.int8_method,
                           calibration=args.calibration, calibration_frames=args.calibration_frames)
    q = meta["quantization"]
    print(f"wrote {args.out} (+ {args.out.name}.json)" + (f", int8 {q['method']}" if q else ", fp32") + "; parity max relative error {max(meta['parity']['max_rel_err_per_dim']):.2e} "
          f"<= {meta['parity']['tolerance_rel']}")
    return 0
