"""`Registry`: name → class for one kind of plug-in (encoders, heads, tasks, perturbations, augmentations).

Adding one is a class with `@REGISTRY.register("name")` in its own module; the registry imports the
modules of the built-in entries on first lookup (not at package import), and the tests generated
from `names()` exercise every entry. A registry is a dict, so `reg[name]`, `list(reg)` and `name in reg`
work as usual once it is loaded.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")


class Registry(dict):
    """Classes of one `kind` by name; `builtins` are module paths whose import registers the built-in ones."""

    def __init__(self, kind: str, builtins: Sequence[str] = ()):
        super().__init__()
        self.kind, self.builtins = kind, tuple(builtins)
        self._loaded = not self.builtins

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: add the class under `name` (and set its `name`); a second class for a name is an error."""

        def deco(cls: Any) -> Any:
            if name in self and self[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice ({self[name].__name__}, {cls.__name__})")
            cls.name = name
            self[name] = cls
            return cls

        return deco

    def load(self) -> "Registry":
        """Import the built-in entries' modules (once); returns the registry."""
        if not self._loaded:
            self._loaded = True
            for m in self.builtins:
                importlib.import_module(m)
        return self

    def lookup(self, name: str) -> Any:
        """The class registered as `name`, or a ConfigError naming the valid ones."""
        from vlaforge.errors import ConfigError

        self.load()
        if name not in self:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {self.names()}")
        return self[name]

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self.load())
