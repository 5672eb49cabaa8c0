"""The versions a `vlaforge ui` session edits: the dataset it opened plus the `NAME.vN` siblings its saves wrote.

Saves never touch an existing directory: version N+1 goes to a new sibling `NAME.v{N+1}`. Which version is
the latest is read from disk under a file lock each time, so two tabs, or two `vlaforge ui` processes on the
same dataset, agree on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from vlaforge.data.lineage import read_lineage
from vlaforge.errors import DatasetError

_SUFFIX = re.compile(r"^(?P<base>.+)\.v(?P<n>\d+)$")


@dataclass(frozen=True)
class Version:
    """One dataset directory of the chain and its lineage number."""

    number: int
    path: Path


class VersionChain:
    """The opened dataset and the versions saved beside it (`NAME.vN`), keyed by lineage version number."""

    def __init__(self, opened: str | Path):
        opened = Path(opened).resolve()
        if not (opened / "meta" / "info.json").is_file():
            raise DatasetError(f"{opened} is not a LeRobot dataset (no meta/info.json); pass a dataset directory")
        m = _SUFFIX.match(opened.name)
        self.parent = opened.parent
        # opening data/sim.v3 continues the chain of data/sim, if data/sim.v3 is one of its versions
        self.name = m["base"] if m and _number(opened) == int(m["n"]) else opened.name
        self.opened = opened

    @property
    def lock_path(self) -> Path:
        """The lock file every save of this chain holds while it checks the latest version and writes the next."""
        return self.parent / f".{self.name}.ui.lock"

    def versions(self) -> list[Version]:
        """Every version on disk, oldest first; a `NAME.vN` whose lineage does not say version N is not one."""
        found = {}
        base = self.parent / self.name
        if (base / "meta" / "info.json").is_file():
            found[_number(base)] = base
        for p in self.parent.glob(f"{glob_escape(self.name)}.v*"):
            m = _SUFFIX.match(p.name)
            if m and m["base"] == self.name and (p / "meta" / "info.json").is_file() and _number(p) == int(m["n"]):
                found.setdefault(int(m["n"]), p)
        if self.opened not in found.values():
            found.setdefault(_number(self.opened), self.opened)
        return [Version(n, p) for n, p in sorted(found.items())]

    def latest(self) -> Version:
        """The highest version on disk."""
        return self.versions()[-1]

    def get(self, number: int) -> Version | None:
        """The version with this number, or None."""
        return next((v for v in self.versions() if v.number == number), None)

    def next_path(self) -> Path:
        """Where the version after the latest is written."""
        return self.parent / f"{self.name}.v{self.latest().number + 1}"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the chain's save lock (blocks until another save, in any process, has finished)."""
        self.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _number(root: Path) -> int:
    """The lineage version of a dataset directory (0 for a plain LeRobot dataset)."""
    try:
        return int(read_lineage(root).get("version", 0))
    except (DatasetError, TypeError, ValueError):
        return -1


def glob_escape(name: str) -> str:
    """`name` with glob metacharacters bracketed, so it matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def lineage_of(path: Path, depth: int = 32) -> list[dict[str, Any]]:
    """The chain of ancestors recorded in meta/vlaforge.json, newest first: version, path, operation, fingerprint."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    cur: Path | None = path
    while cur is not None and len(out) < depth and str(cur) not in seen:
        seen.add(str(cur))
        doc = read_lineage(cur) if (cur / "meta" / "info.json").is_file() else {}
        op = doc.get("operation") or {}
        out.append({"version": doc.get("version"), "path": str(cur), "exists": cur.exists(), "fingerprint": doc.get("fingerprint"),
                    "operation": op.get("name"), "summary": _summary(op), "created": op.get("created")})
        parents = doc.get("parents") or []
        cur = Path(parents[0]["path"]) if parents and parents[0].get("path") else None
    return out


def _summary(op: dict[str, Any]) -> str:
    """One line about an operation: its scalar parameters."""
    keys = [k for k, v in op.items() if k not in ("name", "created", "edits", "decisions") and isinstance(v, (str, int, float, bool))]
    return ", ".join(f"{k}={op[k]}" for k in keys[:6])
