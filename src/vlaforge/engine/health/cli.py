"""`vlaforge engine health DATASET --out DIR`: run the checks, write health.json + health.html, print the top findings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_health_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `health` sub-command to an `engine` sub-parser group."""
    p = subparsers.add_parser(
        "health", help="dataset health check: counts, images, workspace heatmaps, actions/states, episodes → HTML + JSON",
        description="Checks a dataset for problems a policy would learn from (idle starts, rare tasks, dark cameras, "
        "lagged or saturated actions, gripper chatter, duplicates, failed demos, ...), each with a threshold and the "
        "vlaforge command that fixes it. Writes DIR/health.json and a self-contained DIR/health.html.",
    )
    p.add_argument("dataset", type=Path, help="dataset directory (LeRobot v3.0 or v2.1)")
    p.add_argument("--out", type=Path, required=True, help="directory for health.json and health.html")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a threshold, e.g. --set idle_edge_frames=10 (repeatable; see the report's Thresholds table)")
    p.add_argument("--config", type=Path, help="JSON/YAML file of thresholds")
    p.add_argument("--skip", action="append", default=[], choices=["counts", "images", "heatmap", "motion", "episodes"],
                   help="leave a section out (repeatable), e.g. --skip images for a fast run")
    p.add_argument("--top", type=int, default=None, help="findings to print (default: config top_findings)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--fail-on", choices=["never", "error", "warning"], default="never",
                   help="exit 1 when a finding at least this severe is present (for CI)")
    p.set_defaults(func=run_health_cli)
    return p


def load_config(config_file: Path | None, overrides: list[str]) -> Any:
    """HealthConfig from an optional file plus KEY=VALUE overrides (unknown keys are ConfigError)."""
    from vlaforge.config import apply_overrides, from_dict, load_file
    from vlaforge.engine.health.config import HealthConfig

    cfg = from_dict(HealthConfig, load_file(config_file)) if config_file else HealthConfig()
    return apply_overrides(cfg, [o if "=" in o else f"{o}=" for o in overrides])


def run_health_cli(args: argparse.Namespace) -> int:
    """Run the health check for parsed `args`; returns the exit code."""
    from rich.console import Console
    from rich.table import Table

    from vlaforge.engine.health.report import write_report
    from vlaforge.engine.health.run import run_health
    from vlaforge.errors import DatasetError

    if not args.dataset.is_dir():
        raise DatasetError(f"{args.dataset} is not a dataset directory (expected meta/info.json inside)")
    cfg = load_config(getattr(args, "config", None), getattr(args, "overrides", []))
    report = run_health(args.dataset, cfg, progress=not getattr(args, "no_progress", False), skip=tuple(getattr(args, "skip", [])))
    json_path, html_path = write_report(report, args.out)
    con = Console()
    counts = report.counts()
    con.print(f"health of {args.dataset}: {report.dataset['episodes']} episodes, {report.dataset['frames']} frames, "
              f"checked in {report.seconds:.1f} s -> {counts['error']} errors, {counts['warning']} warnings, {counts['info']} infos")
    top = report.findings[: args.top if getattr(args, "top", None) is not None else cfg.top_findings]
    if top:
        t = Table(show_header=True, header_style="bold")
        for h in ("severity", "finding", "fix"):
            t.add_column(h, overflow="fold")
        style = {"error": "bold red", "warning": "yellow", "info": "cyan"}
        for f in top:
            t.add_row(f"[{style[f.severity]}]{f.severity}[/]", f.title, f.recommendation)
        con.print(t)
    con.print(f"wrote {html_path} and {json_path}")
    fail_on = getattr(args, "fail_on", "never")
    if fail_on == "error" and counts["error"] or fail_on == "warning" and counts["error"] + counts["warning"]:
        return 1
    return 0
