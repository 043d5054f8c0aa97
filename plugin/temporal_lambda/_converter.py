"""How the request and result dataclasses cross Temporal: as the plain dict of their fields.

Temporal's JSON converter already writes a dataclass as the dict of its fields, but it gets
there through ``dataclasses.asdict`` (a deep copy of the payload, up to 6 MB) and reads it
back through ``value_to_type``, which re-evaluates the class's type hints on every call;
each call is converted four times (the request and the result, in both workers), so that
work is paid on every call (figures in ``benchmarks/README.md``).

:func:`carried_as_fields` registers a transfer type converter
(``temporalio.converter.transfer_type_convertible``) that hands the converter the fields as
they are and checks them on the way back against hints read once per class. The JSON is the
same, byte for byte, so histories written before and after it replay alike, and any payload
converter or codec the worker has (Pydantic, encryption) still does the encoding.

temporalio (1.35) marks transfer type converters experimental. Should they change, dropping
the decorator brings back the default conversion, which reads and writes the same JSON.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from temporalio.converter import TransferTypeConverter, transfer_type_convertible

_Check = Callable[[Any], bool]
_T = TypeVar("_T")


def _check_for(hint: Any) -> tuple[_Check, str]:
    """Return a check for values of type ``hint`` and the hint's name, for JSON-shaped hints.

    Raises:
        TypeError: ``hint`` is not one the carried dataclasses use.
    """
    if hint is Any:
        return (lambda value: True), "any value"
    if hint is bool:
        return (lambda value: isinstance(value, bool)), "bool"
    if hint is int:
        return (lambda value: isinstance(value, int) and not isinstance(value, bool)), "int"
    if hint is str:
        return (lambda value: isinstance(value, str)), "str"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        inner, name = _check_for(next(arg for arg in args if arg is not type(None)))
        return (lambda value: value is None or inner(value)), f"{name} or None"
    if origin is list and len(args) == 1:
        item, name = _check_for(args[0])
        return (lambda value: isinstance(value, list) and all(map(item, value))), f"list of {name}"
    if origin is dict and len(args) == 2 and args[0] is str:
        entry, name = _check_for(args[1])
        return (
            lambda value: (
                isinstance(value, dict)
                and all(isinstance(key, str) and entry(item) for key, item in value.items())
            )
        ), f"object of {name}"
    raise TypeError(f"no wire check for {hint!r}")


_Fields = tuple[tuple[str, _Check, str], ...]
_FIELDS: dict[type, _Fields] = {}


def _fields(cls: type) -> _Fields:
    """Each field of dataclass ``cls``: name, value check, expected type's name (cached)."""
    fields = _FIELDS.get(cls)
    if fields is None:
        hints = typing.get_type_hints(cls)
        fields = tuple((f.name, *_check_for(hints[f.name])) for f in dataclasses.fields(cls))
        _FIELDS[cls] = fields
    return fields


class _FieldsConverter(TransferTypeConverter[Any, dict[str, Any]]):
    """A dataclass to and from the dict of its fields (no copy, hints read once)."""

    def to_transfer_type(self, value: Any) -> dict[str, Any]:
        """Return the fields of ``value`` as a dict (the values themselves, not copies)."""
        return {name: getattr(value, name) for name, _check, _expected in _fields(type(value))}

    def from_transfer_type(self, value: dict[str, Any], type_hint: type[Any]) -> Any:
        """Build ``type_hint`` from decoded JSON, checking each field's type.

        Unknown keys are ignored, as Temporal's converter ignores them; a missing required
        field or a value of the wrong type raises ``TypeError``.
        """
        if not isinstance(value, dict):
            raise TypeError(f"cannot read {type_hint.__name__} from a JSON {type(value).__name__}")
        fields = {}
        for name, check, expected in _fields(type_hint):
            if name in value:
                item = value[name]
                if not check(item):
                    raise TypeError(
                        f"{type_hint.__name__}.{name}: expected {expected}, "
                        f"got {type(item).__name__}"
                    )
                fields[name] = item
        return type_hint(**fields)


def carried_as_fields(cls: type[_T]) -> type[_T]:
    """Carry dataclass ``cls`` through Temporal as the dict of its fields (a class decorator).

    Its hints are checked here, once, so a field of a kind the wire check does not know fails
    at import rather than at the first call.
    """
    _fields(cls)
    return transfer_type_convertible(_FieldsConverter)(cls)
