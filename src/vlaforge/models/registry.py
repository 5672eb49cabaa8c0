"""Name → class registries for vision encoders and action heads (tests are generated from them)."""

from __future__ import annotations

import importlib
from typing import Any, Callable

ENCODERS: dict[str, type] = {}
HEADS: dict[str, type] = {}

# Modules whose import registers the built-in entries (imported on first lookup, not at package import).
_BUILTIN = ("vlaforge.models.encoders.vision", "vlaforge.models.encoders.resnet", "vlaforge.models.heads.flow", "vlaforge.models.heads.chunk", "vlaforge.models.heads.tokens")


def _load_builtins() -> None:
    for m in _BUILTIN:
        importlib.import_module(m)


def register_encoder(name: str) -> Callable[[type], type]:
    """Class decorator: make a vision encoder available as `--model.encoder name`."""

    def deco(cls: type) -> type:
        ENCODERS[name] = cls
        return cls

    return deco


def register_head(name: str) -> Callable[[type], type]:
    """Class decorator: make an action head available as `--model.head name`."""

    def deco(cls: type) -> type:
        HEADS[name] = cls
        return cls

    return deco


def get(kind: str, name: str) -> Any:
    """Look up an encoder or head class by name, with the valid names in the error."""
    from vlaforge.errors import ConfigError

    _load_builtins()
    table = ENCODERS if kind == "encoder" else HEADS
    if name not in table:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of {sorted(table)}")
    return table[name]


def names(kind: str) -> list[str]:
    """Registered names of a kind ('encoder' or 'head')."""
    _load_builtins()
    return sorted(ENCODERS if kind == "encoder" else HEADS)
