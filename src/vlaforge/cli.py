"""The `vlaforge` command: one entry point, one sub-command per area.

Each area keeps its own argument parsing in `vlaforge/<area>/cli.py` with a
`register(parser)` function; only the area that is asked for gets imported, so
`vlaforge --help` stays fast (no torch, mujoco or av at start-up).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> (module with `register(parser)`, one-line help). Add a line to add a command.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("vlaforge.demo", "the whole loop on the built-in sim: collect, check, health, train, evaluate, report"),
    "data": ("vlaforge.data.cli", "create, inspect, check, convert, import (robomimic/LIBERO HDF5, RLDS) and edit LeRobot v3.0 datasets"),
    "bench": ("vlaforge.serve.bench", "measure: `bench latency RUN` (PyTorch vs ONNX fp32 vs ONNX int8, wall and CPU time)"),
    "engine": ("vlaforge.engine.cli", "data engine: `engine health` (what a policy would learn wrong), `engine augment` (time-consistent, action-aware), "
               "`engine annotate`/`review` (subtasks, suggested instructions), `engine loop` (active learning), "
               "`engine reground` (fine-tune a policy's grounding on its own rollouts' states)"),
    "eval": ("vlaforge.eval.cli", "evaluate a checkpoint on the tabletop or Meta-World suite (splits, perturbations, intervals, report); compare two evals"),
    "export": ("vlaforge.serve.export_cli", "export a policy to ONNX (fp32 or int8) with a parity check against PyTorch"),
    "pretrain": ("vlaforge.train.pretrain_cli", "stage-1 pretraining: `pretrain grounding` (find the named object and its goal in sim frames)"),
    "serve": ("vlaforge.serve.cli", "serve a policy over HTTP/WebSocket with auth, schema checks, rate limits, metrics"),
    "sim": ("vlaforge.sim.cli", "built-in MuJoCo tabletop suite (and Meta-World with its extra): collect expert demos, play rollouts"),
    "train": ("vlaforge.train.cli", "train a VLA policy (flow, tokens or chunk head) on a dataset; resume; torchrun for DDP"),
    "ui": ("vlaforge.ui.cli", "review web app: browse and play episodes, fix instructions, subtasks, trims, flags; save new versions"),
}

EPILOG = """examples:
  vlaforge data sample --out outputs/sample      write a small generated dataset
  vlaforge data info outputs/sample              summarize a dataset
  vlaforge data check outputs/sample             validate a dataset (exit 1 on problems)

run `vlaforge <command> --help` for the options of each command."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Top-level parser; only `command`'s module is imported to fill in its sub-parser."""
    from vlaforge import __version__

    parser = argparse.ArgumentParser(
        prog="vlaforge",
        description="vlaforge: vision-language-action robot policies, from demonstrations to a deployed policy.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vlaforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == command:
            importlib.import_module(module).register(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen command, turn user errors into one line on stderr and an exit code.

    Exit codes: 0 ok, 1 a user error (bad data, checkpoint, server), 2 a usage error (bad option or config
    value, as argparse), 130 interrupted.
    """
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("MUJOCO_GL", "egl")
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    func = getattr(args, "func", None)
    if func is None:  # an area given without its sub-command
        parser.parse_args([args.command, "--help"])
        return 0
    from vlaforge.errors import VlaforgeError

    try:
        rc = func(args, extra) if getattr(args, "accepts_overrides", False) else func(args)
    except VlaforgeError as e:
        print(f"error: {_one_line(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was left behind", file=sys.stderr)
        return 130
    return int(rc or 0)


def _one_line(message: str) -> str:
    """Fold a multi-line message onto one line so each error is exactly one stderr line."""
    return " | ".join(part.strip() for part in message.splitlines() if part.strip())


if __name__ == "__main__":
    raise SystemExit(main())
