"""The importers registry: every format is exercised by name, and a new format is one new file."""

import dataclasses
import sys

import numpy as np
import pytest

from vlaforge.cli import main
from vlaforge.data import ImportOptions, check_dataset, importers, open_dataset
from vlaforge.errors import ConfigError

OPTION_FIELDS = {f.name for f in dataclasses.fields(ImportOptions)}


@pytest.mark.parametrize("name", importers.names())
def test_every_registered_format_is_complete(name, tmp_path):
    imp = importers.get(name)
    assert imp.name == name and imp.version and imp.description
    assert imp.options <= OPTION_FIELDS and "max_episodes" in imp.options and "task" in imp.options
    (tmp_path / "notes.txt").write_text("plain text, no format")
    assert not imp.detect(tmp_path / "notes.txt")


def test_registry_lists_the_shipped_formats_and_refuses_unknown_ones(tmp_path):
    assert {"robomimic", "rlds"} <= set(importers.names())
    with pytest.raises(ConfigError, match="unknown import format 'hdf6'; known formats: .*robomimic"):
        importers.get("hdf6")
    (tmp_path / "x.bin").write_bytes(b"\0" * 64)
    with pytest.raises(ConfigError, match=r"cannot tell the format of .*x.bin \(no format matched\); pass --format"):
        importers.detect(tmp_path / "x.bin")


TOY_FORMAT = '''
"""A toy format: a directory of episode_*.npz files with state, action and a 'task' string."""
from pathlib import Path
import numpy as np
from vlaforge.data.features import Feature
from vlaforge.data.importers._base import Importer, Source, SourceEpisode


class NpzSource(Source):
    def __init__(self, src, options):
        self.files = sorted(Path(src).glob("episode_*.npz"))
        first = np.load(self.files[0])
        self.features = {"observation.state": Feature("float32", first["state"].shape[1:]), "action": Feature("float32", first["action"].shape[1:])}
        self.fps, self.robot_type, self.info, self.notes = 15, None, {"count": len(self.files)}, []

    def episodes(self):
        for p in self.files:
            d = np.load(p)
            yield SourceEpisode({"observation.state": d["state"], "action": d["action"]}, str(d["task"]), p.name)


class NpzImporter(Importer):
    name, version, description = "npzdir", "7", "a directory of episode_*.npz files"
    options = frozenset({"task", "max_episodes"})

    def detect(self, src):
        return Path(src).is_dir() and any(Path(src).glob("episode_*.npz"))

    def open(self, src, options):
        return NpzSource(src, options)


IMPORTER = NpzImporter()
'''


def test_a_new_format_is_one_new_file(tmp_path, monkeypatch):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "npzdir.py").write_text(TOY_FORMAT)
    monkeypatch.setattr(importers, "__path__", [*importers.__path__, str(plugin)])
    monkeypatch.delitem(sys.modules, "vlaforge.data.importers.npzdir", raising=False)
    src = tmp_path / "npz"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        np.savez(src / f"episode_{i}.npz", state=rng.normal(size=(5, 3)), action=rng.normal(size=(5, 2)), task="wipe the table")
    assert "npzdir" in importers.names()
    assert main(["data", "import", str(src), "--out", str(tmp_path / "out")]) == 0  # found by --format auto
    ds = open_dataset(tmp_path / "out")
    assert ds.num_episodes == 2 and ds.fps == 15 and ds.tasks == ["wipe the table"] and check_dataset(tmp_path / "out") == []
    op = ds.lineage["operation"]
    assert (op["format"], op["converter"], op["converter_version"], op["source"]["count"]) == ("npzdir", "vlaforge.data.importers.npzdir", "7", 2)
    assert len(op["source"]["files"]) == 2


def test_cli_needs_the_output_once(tmp_path, capsys):
    assert main(["data", "import", str(tmp_path), str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 2
    assert "give the output directory once" in capsys.readouterr().err
