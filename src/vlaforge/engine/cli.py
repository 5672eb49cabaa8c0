"""`vlaforge engine ...`: the data engine's sub-commands (health check, augmentation, annotation and review, active learning, re-grounding)."""

from __future__ import annotations

import argparse


def register(parser: argparse.ArgumentParser) -> None:
    """Add the engine sub-commands."""
    from vlaforge.engine.active.cli import add_loop_parser
    from vlaforge.engine.annotate.cli import add_annotate_parser
    from vlaforge.data.augment.cli import add_augment_parser
    from vlaforge.engine.health.cli import add_health_parser
    from vlaforge.engine.reground import add_reground_parser

    sub = parser.add_subparsers(dest="engine_command", metavar="<subcommand>")
    add_health_parser(sub)
    add_augment_parser(sub)
    add_annotate_parser(sub)
    add_loop_parser(sub)
    add_reground_parser(sub)
