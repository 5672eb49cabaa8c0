"""The vision encoder and action head registries (tests are generated from them); see `vlaforge.registry`."""

from __future__ import annotations

from typing import Any, Callable

from vlaforge.registry import Registry

ENCODERS = Registry("encoder", ("vlaforge.models.encoders.vision", "vlaforge.models.encoders.resnet"))
HEADS = Registry("head", ("vlaforge.models.heads.flow", "vlaforge.models.heads.chunk", "vlaforge.models.heads.tokens"))


def register_encoder(name: str) -> Callable[[type], type]:
    """Class decorator: make a vision encoder available as `--model.encoder name`."""
    return ENCODERS.register(name)


def register_head(name: str) -> Callable[[type], type]:
    """Class decorator: make an action head available as `--model.head name`.

    A head has `loss(ctx, actions, pad) -> (loss, metrics)`, `sample(ctx, noise=None) -> (B, H, A)`,
    `draws_noise` (whether `sample` uses `noise`; export feeds the same noise input to every head) and
    `config` (its own settings, a nested section of PolicyConfig such as `cfg.flow`, or None)."""
    return HEADS.register(name)


def _table(kind: str) -> Registry:
    return ENCODERS if kind == "encoder" else HEADS


def get(kind: str, name: str) -> Any:
    """Look up an encoder or head class by name, with the valid names in the error."""
    return _table(kind).lookup(name)


def names(kind: str) -> list[str]:
    """Registered names of a kind ('encoder' or 'head')."""
    return _table(kind).names()
