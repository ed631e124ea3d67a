"""Build frozen dataclasses from YAML data, refusing unknown keys and wrong types.

Every error names the file and the dotted field, so a typo in a catalog file is found at load
time, not after an hour of training.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from landmarks.errors import ConfigError

T = TypeVar("T")


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def build(cls: type[T], data: Any, where: str, field: str = "") -> T:
    """Convert `data` into `cls`; `where` (a file name) and `field` go into every error."""
    return _convert(cls, data, where, field)


def _fail(where: str, field: str, msg: str) -> ConfigError:
    name = field or "(top level)"
    return ConfigError(f"{where}: field '{name}': {msg}")


def _join(field: str, key: Any) -> str:
    return f"{field}.{key}" if field else str(key)


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _convert(tp: Any, value: Any, where: str, field: str) -> Any:
    if tp is Any:
        return value
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, value, where, field)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise _fail(where, field, f"must be one of {list(allowed)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise _fail(where, field, "must not be empty")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where, field)
            except ConfigError as exc:
                errors.append(str(exc))
        raise errors[0] if len(errors) == 1 else _fail(where, field, f"unexpected {_describe(value)}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _fail(where, field, f"expected a list, got {_describe(value)}")
        (item_tp, *_rest) = get_args(tp) or (Any,)
        return tuple(_convert(item_tp, v, where, f"{field}[{i}]") for i, v in enumerate(value))
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            raise _fail(where, field, f"expected a mapping, got {_describe(value)}")
        _, val_tp = get_args(tp)
        return types.MappingProxyType(
            {str(k): _convert(val_tp, v, where, _join(field, k)) for k, v in value.items()}
        )
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, field, f"expected a number, got {_describe(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, field, f"expected a whole number, got {_describe(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, field, f"expected true or false, got {_describe(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, field, f"expected text, got {_describe(value)}")
        return value
    raise TypeError(f"strict loader cannot build {tp!r}")


def _dataclass(cls: Any, value: Any, where: str, field: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(where, field, f"expected a mapping, got {_describe(value)}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(map(str, value)) - set(fields))
    if unknown:
        raise _fail(
            where, _join(field, unknown[0]), f"unknown key; allowed here: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], where, _join(field, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(where, _join(field, name), "missing (required)")
    return cls(**kwargs)


def to_plain(obj: Any) -> Any:
    """The inverse direction: dataclasses and mapping proxies back to plain YAML/JSON data."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (dict, types.MappingProxyType)):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj

