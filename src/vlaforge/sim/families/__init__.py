"""Task families of the tabletop suite: one module each, a `TaskFamily` registered in `TASKS` by name.

A family owns its task sampling and held-out combinations, its instruction templates per wording
(train / val / heldout), its scene layout, its goal and success test, its scripted expert's plan
and where the perturbations aim (`base.TaskFamily` lists the hooks). Adding a family is adding one
module here with a `@register_family("name")` class: `TASKS` lists this package to find it, and the
tests parametrized over `TASKS` run it. Importing this package registers every family.
"""

from vlaforge.sim.families.base import TASKS, TaskFamily, register_family

TASKS.load()

__all__ = ["TASKS", "TaskFamily", "register_family"]
