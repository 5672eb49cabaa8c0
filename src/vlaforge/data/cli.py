"""`vlaforge data ...`: placeholder filled in by the data layer."""
import argparse


def register(parser: argparse.ArgumentParser) -> None:
    """Add the data sub-commands."""
    parser.add_subparsers(dest="data_command", metavar="<subcommand>")
