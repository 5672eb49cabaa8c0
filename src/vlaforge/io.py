"""Atomic file and directory writes: write to a temp path on the same filesystem, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see the old file or the new one, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600 files; results are meant to be shared
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write, pretty-printed."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


@contextlib.contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh sibling temp dir; on success it atomically replaces `final`, on error it is removed.

    A crash or Ctrl-C at any point leaves `final` as it was (or absent): the swap of a whole
    directory is two renames (old → trash, new → final), and a leftover trash dir from a crash
    between them is restored by `recover_dir` the next time anything opens the path.
    """
    final = Path(final)
    recover_dir(final)
    tmp = new_staging_dir(final)
    try:
        yield tmp
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


STAGING_OWNER = ".staging-owner.json"  # {"pid", "host"} of the writer; a dot-file, so never part of a fingerprint


def new_staging_dir(final: Path) -> Path:
    """A fresh `.NAME.staging.*` dir beside `final` that records its owner; stale ones in that parent go first."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging.", dir=final.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700 dirs; the finished directory is meant to be shared
    atomic_write_json(tmp / STAGING_OWNER, {"pid": os.getpid(), "host": socket.gethostname()})
    return tmp


def staging_dirs(parent: Path, name: str = "*") -> list[Path]:
    """The `.NAME.staging.*` dirs in `parent` (every dataset's when `name` is '*')."""
    return sorted(p for p in Path(parent).glob(f".{name}.staging.*") if p.is_dir())


def staging_owner(staging: Path) -> dict[str, Any] | None:
    """The {"pid", "host"} a staging dir records, or None (an older vlaforge, or not written yet)."""
    try:
        owner = json.loads((Path(staging) / STAGING_OWNER).read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


def is_stale(staging: Path) -> bool:
    """True when the staging dir's writer ran on this host and its process is gone (killed or crashed)."""
    owner = staging_owner(staging)
    if owner is None or owner.get("host") != socket.gethostname():
        return False  # unknown owner, or another machine's writer on a shared disk: never ours to delete
    return not _pid_alive(owner["pid"])


def remove_stale_staging(parent: Path) -> list[Path]:
    """Delete the staging dirs in `parent` whose writer process is gone; return what was removed."""
    removed = [p for p in staging_dirs(parent) if is_stale(p)]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _trash_path(final: Path) -> Path:
    return final.parent / f".{final.name}.old"


def replace_dir(new: Path, final: Path) -> None:
    """Move directory `new` onto `final`, keeping the old one until the new one is in place."""
    (Path(new) / STAGING_OWNER).unlink(missing_ok=True)  # bookkeeping of the writer, not part of the result
    trash = _trash_path(final)
    if trash.exists():
        shutil.rmtree(trash)
    if final.exists():
        os.replace(final, trash)
    os.replace(new, final)
    shutil.rmtree(trash, ignore_errors=True)


def recover_dir(final: Path) -> None:
    """Undo a swap interrupted between its two renames: bring the previous version back."""
    trash = _trash_path(Path(final))
    if trash.exists() and not Path(final).exists():
        os.replace(trash, final)
    elif trash.exists():
        shutil.rmtree(trash, ignore_errors=True)
