"""Training metrics to JSONL and CSV (and TensorBoard when it is installed)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends one row per logging step; resuming appends to the same files.

    `resume_step`: the step of the checkpoint a resumed run starts from. Rows logged after it by the
    interrupted run are dropped first (the resumed run logs those steps again), so no step appears twice.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = True, resume_step: int | None = None):
        if resume_step is not None:
            truncate_after(run_dir, resume_step)
        self.jsonl = open(run_dir / "metrics.jsonl", "a")
        self.csv_path = run_dir / "metrics.csv"
        self._fields: list[str] | None = None
        if self.csv_path.exists() and self.csv_path.stat().st_size:
            with open(self.csv_path) as f:
                self._fields = next(csv.reader(f), None)
        self.csv = open(self.csv_path, "a", newline="")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                # purge_step hides the interrupted run's events after the checkpoint, as the files above.
                purge = resume_step + 1 if resume_step is not None else None
                self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge)
            except Exception:  # tensorboard not installed: JSONL/CSV are enough
                self.tb = None

    def log(self, row: dict[str, Any]) -> None:
        """Write one row of scalars (keys may differ between rows; CSV keeps the first row's columns)."""
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        if self._fields is None:
            self._fields = list(row)
            csv.writer(self.csv).writerow(self._fields)
        csv.writer(self.csv).writerow([row.get(k, "") for k in self._fields])
        self.csv.flush()
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.tb.add_scalar(k, v, row.get("step", 0))

    def close(self) -> None:
        """Flush and close the files."""
        self.jsonl.close()
        self.csv.close()
        if self.tb is not None:
            self.tb.close()


def truncate_after(run_dir: Path, step: int) -> None:
    """Keep only rows with step <= `step` in metrics.jsonl and metrics.csv (atomically; a torn last line goes too)."""
    from vlaforge.io import atomic_write_text

    jsonl, csv_path = run_dir / "metrics.jsonl", run_dir / "metrics.csv"
    if jsonl.exists():
        kept = []
        for line in jsonl.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line torn by the crash
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                kept.append(line + "\n")
        atomic_write_text(jsonl, "".join(kept))
    if csv_path.exists() and csv_path.stat().st_size:
        with open(csv_path, newline="") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        col = header.index("step") if "step" in header else None
        keep = [r for r in body if col is not None and len(r) == len(header) and r[col].isdigit() and int(r[col]) <= step]
        out = io.StringIO()
        csv.writer(out).writerows([header, *keep])
        atomic_write_text(csv_path, out.getvalue())
