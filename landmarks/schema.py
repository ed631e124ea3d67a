"""Strict, frozen config models (pydantic v2) and errors that name the file and the field.

The catalog (`benchmarks/*.yaml`), recipes and `params.yaml` are all read through `validate`:
unknown keys, wrong types and missing fields are refused with `<file>: field '<dotted.path>':
<what is wrong>`, so a typo is found at load time, not after an hour of training. Validation runs
in pydantic's JSON mode, where strict still takes a YAML list for a tuple and an int for a float
but never a string for a number or a bool for an int.
"""

from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from landmarks.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are never coerced, frozen."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first: yaml.Mark, again: yaml.Mark) -> None:
        super().__init__(f"key {key!r} appears twice (lines {first.line + 1} and {again.line + 1}); "
                         "YAML would keep only the last one: remove or rename one of them")


class _StrictLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error: PyYAML silently
    keeps the last one, so `epochs: 30` above a forgotten `epochs: 3` would quietly win or lose."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise _DuplicateKey(key, seen[key], key_node.start_mark)
            except TypeError:  # an unhashable key: the base class reports it
                break
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


# what a document may expand to, aliases (*name) written out: a catalog file is a few thousand
# characters; nine levels of nine aliases ("billion laughs") in a few hundred bytes would expand to
# gigabytes in validation's json.dumps
EXPANDED_MAX = 10_000_000


class _TooLarge(yaml.YAMLError):
    pass


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """Characters of scalars plus one per node, with every alias written out; each node is counted
    once (an alias points at its anchor's node), so a bomb is measured without being expanded."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_:
        raise _TooLarge(f"an alias refers to the node it is inside (line {node.start_mark.line + 1}): a value "
                        "cannot contain itself")
    open_.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        size = 1 + len(node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(item, sizes, open_) for item in node.value)
    else:
        size = 1 + sum(_expanded_size(k, sizes, open_) + _expanded_size(v, sizes, open_) for k, v in node.value)
    open_.discard(id(node))
    sizes[id(node)] = size
    if size > EXPANDED_MAX:
        raise _TooLarge(f"its aliases (*name) expand to more than {EXPANDED_MAX:,} characters (at the node on line "
                        f"{node.start_mark.line + 1}), a YAML alias bomb or a mistake: write the values out, or "
                        "use fewer aliases")
    return size


def parse_yaml(text: str) -> Any:
    """YAML text to plain values, refusing duplicate keys and aliases that expand beyond
    EXPANDED_MAX (yaml.YAMLErrors), before anything is built from them."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return parse_yaml(text)
    except (_DuplicateKey, _TooLarge) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read (thousands of levels of lists or mappings)") from None


def field_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    """('claims', 1, 'model_args') -> 'claims[1].model_args'."""
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validate(cls: type[M], data: Any, where: str, prefix: str = "") -> M:
    """`data` (plain YAML values) as a `cls`; a ConfigError naming `where` and the field otherwise."""
    try:
        text = json.dumps(data)
    except (TypeError, ValueError) as exc:  # a YAML date or set: not a value any field takes
        raise ConfigError(f"{where}: field '{prefix or '(top level)'}': {exc}") from None
    try:
        return cls.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise ConfigError(f"{where}: field '{field_path(loc, prefix)}': {_explain(cls, err)}") from None


_EXPECTED = {
    "float_type": "a number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}


_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "too_short", "too_long")


def _explain(cls: type[BaseModel], err: dict) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        allowed = _fields_at(cls, tuple(err["loc"])[:-1])
        return "unknown key" + (f"; allowed here: {', '.join(sorted(allowed))}" if allowed else "")
    if kind == "missing":
        return "missing (required)"
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}, got {value!r}"
    if kind in _BOUNDS:  # "greater than 0", "less than 1", "at least 2 items" ...
        return f"must be {err['msg'].removeprefix('Input should be ').removeprefix('Input should have ')}, got {value!r}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {type(value).__name__} {value!r}"
    return err["msg"]


def _inner(tp: Any) -> Any:
    """The element type of a container or optional type (the last argument, None left out)."""
    args = [a for a in typing.get_args(tp) if a is not type(None) and a is not Ellipsis]
    return args[-1] if args else Any


def _model(tp: Any) -> type[BaseModel] | None:
    while typing.get_origin(tp) is not None:
        tp = _inner(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _fields_at(cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the model found by walking `loc` from `cls` (for 'allowed here')."""
    tp: Any = cls
    for part in loc:
        model = tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
        if model is not None and isinstance(part, str):
            tp = model.model_fields[part].annotation if part in model.model_fields else Any
        else:  # an item of a list or a value of a mapping
            tp = _inner(tp) if typing.get_origin(tp) is not None else Any
        while typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = _inner(tp)
    model = _model(tp)
    return list(model.model_fields) if model else []
