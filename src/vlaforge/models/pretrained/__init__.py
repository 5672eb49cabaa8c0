"""Weights shipped inside the package, each with the recipe, seed and time that made them (JSON beside it).

`grounding.safetensors` + `grounding.json`: the grounding module pretrained on sim frames by
`vlaforge pretrain grounding` (see that JSON for the exact command); policies start from it by default.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def grounding_weights() -> Path:
    """Path of the shipped grounding weights."""
    return HERE / "grounding.safetensors"
