"""`vlaforge serve RUN | EXPORT.onnx | lerobot:DIR`: the authenticated inference server."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Mapping

TOKEN_ENV = "VLAFORGE_TOKEN"
DEFAULT_CACHE = 4096  # = vlaforge.lru.DEFAULT_SIZE, kept here so `serve --help` imports nothing heavy


def register(parser: argparse.ArgumentParser) -> None:
    """Add the serve options."""
    parser.description = (
        "Serve a policy over HTTP (POST /act, GET /health, GET /spec, GET /metrics) and WebSocket (/ws),\n"
        "msgpack or JSON with explicit arrays (never pickle). A bearer token is required when binding\n"
        f"anything but loopback; give it, safest first, with --token-file, with ${TOKEN_ENV}, or\n"
        "(visible to other users in `ps`) with --token.\n"
        "lerobot:DIR serves a LeRobot pretrained_model directory (ACT, Diffusion, SmolVLA, ...) with its own\n"
        "pre/post-processors; it needs `lerobot` importable, i.e. vlaforge installed into a LeRobot venv."
    )
    parser.add_argument("policy", nargs="?", help="run dir, checkpoint dir, exported .onnx file, or lerobot:DIR")
    parser.add_argument("--policy", dest="policy_option", metavar="POLICY", help="the same as the positional POLICY")
    parser.add_argument("--token-file", type=Path, metavar="PATH", help="read the bearer token from this file (surrounding whitespace stripped)")
    parser.add_argument("--token", help=f"bearer token on the command line: other users can read it in `ps`; prefer --token-file or ${TOKEN_ENV}")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback only; anything else needs a token)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (default: %(default)s)")
    parser.add_argument("--max-body-mb", type=float, default=4.0, metavar="MB",
                        help="largest request body (or WebSocket message) accepted, else 413 (default: %(default)s)")
    parser.add_argument("--rate-limit", type=float, default=1000.0, metavar="R",
                        help="requests/s per connection, else 429 (0 = unlimited; default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="inference threads (default: 0 = all cores)")
    parser.add_argument("--instruction-cache", type=int, default=DEFAULT_CACHE, metavar="N",
                        help="language features kept for the N most recently used instructions (default: %(default)s)")
    parser.add_argument("--body-timeout-s", type=float, default=10.0, metavar="S",
                        help="a request body must arrive within S seconds of its headers, else 408 (default: %(default)s)")
    parser.set_defaults(func=run)


def load_predictor(path: str | Path, threads: int = 0, instruction_cache: int = DEFAULT_CACHE) -> object:
    """A predictor for a PyTorch checkpoint/run, an .onnx export, or `lerobot:DIR` (a LeRobot pretrained_model directory)."""
    from vlaforge.runtime import set_torch_threads
    from vlaforge.serve.lerobot_policy import lerobot_dir

    set_torch_threads(threads or None)
    foreign = lerobot_dir(path)
    if foreign is not None:
        from vlaforge.serve.lerobot_policy import LeRobotPolicy

        return LeRobotPolicy(foreign)
    path = Path(path)
    if path.suffix == ".onnx":
        from vlaforge.serve.onnx_policy import OnnxPolicy

        return OnnxPolicy(path, threads=threads or None, instruction_cache=instruction_cache)
    from vlaforge.models import load_policy
    from vlaforge.serve.schema import TorchPredictor
    from vlaforge.models.checkpoint import weights_errors

    with weights_errors(path):
        return TorchPredictor(load_policy(path), instruction_cache=instruction_cache)


def resolve_token(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> str | None:
    """The bearer token from --token-file, --token or $VLAFORGE_TOKEN (in that order); None when none is given."""
    from vlaforge.errors import ConfigError

    if args.token_file is not None and args.token is not None:
        raise ConfigError("pass the token once: --token-file or --token, not both")
    if args.token_file is not None:
        try:
            token = Path(args.token_file).read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--token-file {args.token_file} cannot be read ({getattr(e, 'strerror', None) or e}); point it at a readable text file holding the token") from None
        if not token:
            raise ConfigError(f"--token-file {args.token_file} is empty; write the token into it")
        return token
    if args.token is not None:
        if not args.token.strip():
            raise ConfigError(f"--token is empty; pass a non-empty token (or use --token-file / ${TOKEN_ENV})")
        return args.token.strip()
    return environ.get(TOKEN_ENV, "").strip() or None


def run(args: argparse.Namespace) -> int:
    """Start uvicorn with the app."""
    import uvicorn

    from vlaforge.errors import ConfigError
    from vlaforge.serve.server import create_app, is_loopback

    if (args.policy is None) == (args.policy_option is None):
        raise ConfigError("name the policy once: `vlaforge serve POLICY` or `vlaforge serve --policy POLICY` "
                          "(a run dir, checkpoint dir, exported .onnx file, or lerobot:DIR)")
    policy = args.policy or args.policy_option
    token = resolve_token(args)
    if not is_loopback(args.host) and not token:
        raise ConfigError(f"binding {args.host} exposes the robot to the network: pass --token-file PATH (or set ${TOKEN_ENV})")
    if args.instruction_cache < 1 or not args.body_timeout_s > 0:
        raise ConfigError(f"--instruction-cache {args.instruction_cache} must be >= 1 and --body-timeout-s {args.body_timeout_s} > 0")
    predictor = load_predictor(policy, args.threads, args.instruction_cache)
    if hasattr(predictor, "describe"):
        print(predictor.describe(), flush=True)
    t0 = time.perf_counter()
    predictor.warmup()  # type: ignore[attr-defined]
    what = "one inference run" if hasattr(predictor, "describe") else "text model loaded, one inference run"
    print(f"warmed up in {time.perf_counter() - t0:.1f} s: {what}", flush=True)
    app = create_app(predictor, token=token, max_body_bytes=int(args.max_body_mb * 1e6), rate_limit=args.rate_limit,
                     body_timeout_s=args.body_timeout_s)
    print(f"serving {policy} on http://{args.host}:{args.port} (auth {'on' if token else 'off'})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
