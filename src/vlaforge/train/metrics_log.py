"""Training metrics to JSONL and CSV (and TensorBoard when it is installed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


class MetricsLog:
    """Appends one row per logging step; resuming appends to the same files."""

    def __init__(self, run_dir: Path, tensorboard: bool = True):
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

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
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
