"""Frozen dataclass configs: build from dicts/JSON/YAML, reject unknown keys, apply `--a.b value` overrides."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from vlaforge.errors import ConfigError

T = TypeVar("T")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Turn a JSON/YAML/CLI value into the annotated type `tp`."""
    origin = typing.get_origin(tp)
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, found {value!r}")
        return from_dict(tp, value, _where=where)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in typing.get_args(tp):
                return None
        for a in args:
            try:
                return _coerce(a, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not fit {tp}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v != ""] if value else []
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, found {value!r}")
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        items = [_coerce(inner, v, where) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, found {value!r}")
        return dict(value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true/false, found {value!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected {tp.__name__}, found {value!r}") from None
    return value


def field_paths(cls: type, prefix: str = "") -> list[str]:
    """Every settable field of dataclass `cls` as a dotted path, nested sections expanded (`flow.steps`), in field order."""
    out = []
    for name, tp in _field_types(cls).items():
        path = f"{prefix}{name}"
        out += field_paths(tp, f"{path}.") if _is_dataclass_type(tp) else [path]
    return out


def _renamed(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    """`data` with the flat old names in `cls.RENAMED_KEYS` moved to their nested places (e.g. flow_steps → flow.steps)."""
    renames: dict[str, str] = getattr(cls, "RENAMED_KEYS", {})
    if not any(k in data for k in renames):
        return data
    prefix = f"{where}." if where else ""
    data = dict(data)
    for old, new in renames.items():
        if old not in data:
            continue
        value = data.pop(old)
        *sections, leaf = new.split(".")
        node = data
        for s in sections:
            child = node.get(s, {})
            if dataclasses.is_dataclass(child):
                child = {f.name: getattr(child, f.name) for f in dataclasses.fields(child)}
            if not isinstance(child, dict):
                raise ConfigError(f"{prefix}{s}: expected a mapping, found {child!r}")
            child = dict(child)  # a copy: the caller's dict is never changed
            node[s] = child
            node = child
        if leaf in node and node[leaf] != value:
            raise ConfigError(f"{prefix}{old} = {value!r} (the old name of {prefix}{new}) and {prefix}{new} = {node[leaf]!r} "
                              f"disagree; keep only {prefix}{new}")
        node[leaf] = value
    return data


def from_dict(cls: type[T], data: dict[str, Any], _where: str = "") -> T:
    """Build dataclass `cls` from a (nested) dict; unknown keys raise ConfigError listing the valid ones.

    Keys named in the class's `RETIRED_KEYS` (fields that were removed) are dropped, and those in
    `RENAMED_KEYS` (flat fields that moved into a nested section) are moved to their new place, so
    files saved before the change (a checkpoint's config.json) still load as the same config."""
    types_ = _field_types(cls)
    data = {k: v for k, v in data.items() if k not in getattr(cls, "RETIRED_KEYS", ())}
    data = _renamed(cls, data, _where)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        prefix = f"{_where}." if _where else ""
        raise ConfigError(
            f"unknown config key(s) {[prefix + k for k in unknown]} for {cls.__name__}; "
            f"valid keys: {sorted(field_paths(cls, prefix))}"
        )
    kwargs = {k: _coerce(types_[k], v, f"{_where}.{k}" if _where else k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    """Dataclass → plain JSON-able dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def override(cfg: T, dotted_key: str, value: Any, _where: str = "") -> T:
    """Return a copy of `cfg` with `a.b.c` set to `value` (parsed to the field's type); old flat names are aliases."""
    head, _, rest = dotted_key.partition(".")
    prefix = f"{_where}." if _where else ""
    renamed = getattr(type(cfg), "RENAMED_KEYS", {}).get(head)
    if renamed and not rest:
        return override(cfg, renamed, value, _where)
    types_ = _field_types(type(cfg))
    if head not in types_:
        raise ConfigError(f"unknown config key {prefix + dotted_key!r}; valid keys{' under ' + _where if _where else ''}: "
                          f"{sorted(field_paths(type(cfg), prefix))}")
    if rest:
        child = getattr(cfg, head)
        if not dataclasses.is_dataclass(child):
            raise ConfigError(f"{prefix + head!r} is not a section; cannot set {prefix + dotted_key!r}")
        return dataclasses.replace(cfg, **{head: override(child, rest, value, prefix + head)})
    if _is_dataclass_type(types_[head]) and not isinstance(value, (dict, types_[head])):
        raise ConfigError(f"{prefix + head!r} is a section; set its fields: {sorted(field_paths(types_[head], prefix + head + '.'))}")
    return dataclasses.replace(cfg, **{head: _coerce(types_[head], value, prefix + dotted_key)})


def apply_overrides(cfg: T, pairs: list[str]) -> T:
    """Apply CLI-style overrides: ['--model.head', 'flow', '--train.steps=2000'] or ['model.head=flow']."""
    i = 0
    while i < len(pairs):
        tok = pairs[i].removeprefix("--")
        if "=" in tok:
            key, value = tok.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(pairs):
                raise ConfigError(f"override {pairs[i]!r} has no value")
            key, value = tok, pairs[i + 1]
            i += 2
        cfg = override(cfg, key, value)
    return cfg


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML config file into a dict."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text) or {}  # plain data only: python/* tags are refused, never constructed
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not plain YAML data ({' '.join(str(e).split())}); fix the file") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON ({e}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data

