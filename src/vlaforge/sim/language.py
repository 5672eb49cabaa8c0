"""Wording shared by the task families: how objects are named and which template set each split uses.

Each family keeps its own templates (`TaskFamily.templates`, in `vlaforge.sim.families`): a train set
and two disjoint sets of unseen paraphrases. Wording "train" is used for the seen and
heldout-combos splits, "heldout" for the heldout-wording test split, and "val" for the val-wording
split, on which design choices (e.g. text augmentations) are made so the test wording stays unseen
by people as well as by models.
"""

from __future__ import annotations

# The env split that uses each wording other than "train".
WORDING_OF_SPLIT = {"heldout-wording": "heldout", "val-wording": "val"}


def describe(o: dict[str, str]) -> str:
    """'red block', 'green cylinder'."""
    return f"{o['color']} {o['shape']}"
