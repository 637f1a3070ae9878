"""Typed parameter descriptions, shared by every name -> function table that takes parameters.

A table maps each parameter name to a ``Param`` that knows its default (or that it has none)
and how to check a value. ``resolve`` validates a user's parameters against a table and returns
them with the defaults filled in, reporting each problem with its field path.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reference.errors import SHOWN, show


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One parameter: its default (``REQUIRED`` if the spec must state it) and its check.

    ``check(value)`` returns ``None`` when the value is acceptable, else what is expected.
    """

    default: Any
    check: Callable[[Any], str | None]
    describe: str


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def number(default=REQUIRED, *, min=None, max=None, min_open=False, max_open=False) -> Param:
    """A finite real number in an optionally bounded interval."""
    lo = "(" if min_open else "["
    hi = ")" if max_open else "]"
    interval = f"{lo}{'-inf' if min is None else min}, {'inf' if max is None else max}{hi}"

    def check(v):
        if not _is_number(v) or not math.isfinite(v):
            return f"a finite number in {interval}"
        if min is not None and (v < min or (min_open and v == min)):
            return f"a number in {interval}"
        if max is not None and (v > max or (max_open and v == max)):
            return f"a number in {interval}"
        return None

    return Param(default, check, f"number in {interval}")


def integer(default=REQUIRED, *, min=None) -> Param:
    def check(v):
        if not isinstance(v, int) or isinstance(v, bool):
            return "an integer" + ("" if min is None else f" >= {min}")
        if min is not None and v < min:
            return f"an integer >= {min}"
        return None

    return Param(default, check, "integer" + ("" if min is None else f" >= {min}"))


def flag(default=REQUIRED) -> Param:
    return Param(default, lambda v: None if isinstance(v, bool) else "true or false", "true or false")


def choice(options: tuple[str, ...], default=REQUIRED) -> Param:
    listed = ", ".join(repr(o) for o in options)
    return Param(default, lambda v: None if v in options else f"one of {listed}", f"one of {listed}")


def int_list(default=REQUIRED, *, min=0) -> Param:
    def check(v):
        if not isinstance(v, (list, tuple)) or not v or not all(isinstance(i, int) and i >= min for i in v):
            return f"a non-empty list of integers >= {min}"
        return None

    return Param(default, check, "list of integers")


def resolve(path: str, given: dict, table: dict[str, Param], problems: list[str]) -> dict:
    """Validate ``given`` against ``table``; append problems; return params with defaults filled in."""
    out = {}
    unknown = [key for key in given if key not in table]
    for key in unknown[:SHOWN // 2]:
        known = ", ".join(table) or "none"
        problems.append(f"{path}.{str(key)[:60]}: unknown parameter; known: {known}")
    if len(unknown) > SHOWN // 2:
        problems.append(f"{path}: {len(unknown) - SHOWN // 2:,} more unknown parameters")
    for key, param in table.items():
        if key in given:
            value = given[key]
            why = param.check(value)
            if why is not None:
                problems.append(f"{path}.{key}: got {show(value)}; expected {why}")
                continue
            out[key] = list(value) if isinstance(value, tuple) else value
        elif param.default is REQUIRED:
            problems.append(f"{path}.{key}: required ({param.describe}); state it explicitly")
        else:
            out[key] = param.default
    return out
