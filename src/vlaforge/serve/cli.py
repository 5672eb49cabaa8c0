"""`vlaforge serve RUN_OR_ONNX`: the authenticated inference server."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    """Add the serve options."""
    parser.description = (
        "Serve a policy over HTTP (POST /act, GET /health, GET /metrics) and WebSocket (/ws), msgpack or JSON with explicit "
        "arrays (never pickle). A bearer token is required when binding anything but loopback."
    )
    parser.add_argument("policy", type=Path, help="run dir, checkpoint dir, or exported .onnx file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=os.environ.get("VLAFORGE_TOKEN"), help="bearer token (or $VLAFORGE_TOKEN)")
    parser.add_argument("--max-body-mb", type=float, default=4.0)
    parser.add_argument("--rate-limit", type=float, default=1000.0, help="requests/s per connection (0 = unlimited)")
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0 = all cores)")
    parser.set_defaults(func=run)


def load_predictor(path: Path, threads: int = 0) -> object:
    """A predictor for a PyTorch checkpoint/run or an .onnx export."""
    from vlaforge.runtime import set_torch_threads

    set_torch_threads(threads or None)
    if path.suffix == ".onnx":
        from vlaforge.serve.onnx_policy import OnnxPolicy

        return OnnxPolicy(path, threads=threads or None)
    from vlaforge.models import load_policy
    from vlaforge.serve.schema import TorchPredictor

    return TorchPredictor(load_policy(path))


def run(args: argparse.Namespace) -> int:
    """Start uvicorn with the app."""
    import uvicorn

    from vlaforge.errors import ConfigError
    from vlaforge.serve.server import create_app, is_loopback

    if not is_loopback(args.host) and not args.token:
        raise ConfigError(f"binding {args.host} exposes the robot to the network: pass --token (or set $VLAFORGE_TOKEN)")
    predictor = load_predictor(args.policy, args.threads)
    app = create_app(predictor, token=args.token, max_body_bytes=int(args.max_body_mb * 1e6), rate_limit=args.rate_limit)
    print(f"serving {args.policy} on http://{args.host}:{args.port} (auth {'on' if args.token else 'off'})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
