"""`vlaforge ui DATASET`: the review web app (browse, play, fix labels, save new versions)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    """Add the ui options."""
    from vlaforge.serve.cli import TOKEN_ENV

    parser.description = (
        "Open a dataset in the browser: episode list with filters, all cameras in sync, state/action plots,\n"
        "subtask timeline, instruction; edit instructions, subtask boundaries, trims, flags, drops, and accept or\n"
        "reject suggestions from `vlaforge engine annotate` and the corrections in the review queue of `vlaforge engine loop`.\n"
        "Each save writes a NEW version beside the dataset,\n"
        "DATASET.vN (N: its lineage version), atomically; a save based on an older version than the latest is refused.\n"
        f"Binds 127.0.0.1; any other address needs a token (--token-file PATH, or ${TOKEN_ENV})."
    )
    parser.add_argument("dataset", type=Path, help="LeRobot dataset directory (v3.0, or v2.1)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s, loopback only; anything else needs a token)")
    parser.add_argument("--port", type=int, default=8766, help="port to bind (default: %(default)s; 0 = any free port)")
    parser.add_argument("--token-file", type=Path, metavar="PATH", help=f"read the login token from this file (else ${TOKEN_ENV})")
    parser.add_argument("--max-body-mb", type=float, default=4.0, help="largest save request accepted (default: %(default)s)")
    parser.add_argument("--no-health", action="store_true", help="do not run the health check (its findings filter the episode list)")
    parser.set_defaults(func=run, token=None)


def run(args: argparse.Namespace) -> int:
    """Check the options, build the app, serve it with uvicorn until Ctrl-C."""
    import socket

    import uvicorn

    from vlaforge.errors import ConfigError
    from vlaforge.serve.cli import TOKEN_ENV, resolve_token
    from vlaforge.serve.server import is_loopback
    from vlaforge.ui.app import create_app

    token = resolve_token(args)
    if not is_loopback(args.host) and not token:
        raise ConfigError(f"binding {args.host} lets others edit the dataset: pass --token-file PATH (or set ${TOKEN_ENV})")
    if not 0 <= args.port < 65536 or not args.max_body_mb > 0:
        raise ConfigError(f"--port {args.port} must be 0-65535 and --max-body-mb {args.max_body_mb} > 0")
    app = create_app(args.dataset, token=token, host=args.host, max_body_bytes=int(args.max_body_mb * 1e6), health=not args.no_health)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        raise ConfigError(f"cannot bind {args.host}:{args.port} ({e.strerror}); pick another --port") from None
    port = sock.getsockname()[1]
    shown = f"[{args.host}]" if ":" in args.host else args.host
    chain = app_chain(args.dataset)
    print(f"vlaforge ui: {chain} on http://{shown}:{port}/ (auth {'on: log in with the token' if token else 'off, loopback only'}); "
          "saves go to new versions beside it; Ctrl-C stops", flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


def app_chain(dataset: Path) -> str:
    """What the banner says the app edits: the dataset and its latest saved version."""
    from vlaforge.ui.versions import VersionChain

    c = VersionChain(dataset)
    latest = c.latest()
    return f"{c.parent / c.name} (latest version {latest.number}: {latest.path.name})"
