"""The command line: fast start, helpful help, user errors without tracebacks."""

import subprocess
import sys

from vlaforge.cli import COMMANDS, main


def test_import_and_help_do_not_load_heavy_modules():
    code = (
        "import sys, vlaforge, vlaforge.cli;"
        "from vlaforge.cli import build_parser; build_parser().format_help();"
        "heavy = [m for m in ('torch', 'mujoco', 'av', 'pyarrow', 'transformers') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        try:
            main([name, "--help"])
        except SystemExit as e:
            assert e.code == 0
        assert name in capsys.readouterr().out


def test_top_level_help_lists_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_eval_latency_help_says_milliseconds_and_how_they_become_sim_steps(capsys):
    from vlaforge.sim.env import FPS

    try:
        main(["eval", "--help"])
    except SystemExit:
        pass
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--latency-ms MS simulated inference latency in milliseconds" in text
    assert "ceil(MS x fps / 1000) control steps" in text and f"runs at {FPS} Hz" in text
    assert "in control steps of the sim clock" not in text
