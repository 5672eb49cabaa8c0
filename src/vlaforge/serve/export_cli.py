"""`vlaforge export RUN --format onnx [--int8] --out FILE`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    """Add the export options."""
    parser.description = ("Export a trained policy to ONNX (normalization inside, flow steps unrolled, language embeddings "
                          "precomputed for the dataset's tasks), check parity against PyTorch on real dataset samples, "
                          "and record it in FILE.json.")
    parser.add_argument("run", type=Path, help="run or checkpoint directory")
    parser.add_argument("--format", choices=["onnx"], default="onnx")
    parser.add_argument("--int8", action="store_true", help="dynamic int8 quantization of the weights")
    parser.add_argument("--out", type=Path, required=True, help="output .onnx file")
    parser.add_argument("--dataset", type=Path, help="dataset for the parity check (default: the one it was trained on)")
    parser.add_argument("--samples", type=int, default=32)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and report."""
    from vlaforge.serve.export import export_onnx
    from vlaforge.models.checkpoint import weights_errors

    with weights_errors(args.run):
        meta = export_onnx(args.run, args.out, int8=args.int8, dataset=args.dataset, samples=args.samples)
    print(f"wrote {args.out} (+ {args.out.name}.json); parity max relative error {max(meta['parity']['max_rel_err_per_dim']):.2e} "
          f"<= {meta['parity']['tolerance_rel']}")
    return 0
