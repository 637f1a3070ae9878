"""Reading one table of a spec dict: its keys with their field paths, each problem reported, unknown keys errors.

``Table`` reads a table's keys (``get``), a named thing (``named``: ``"name"`` or ``{ name = ..., param = ... }``,
resolved against its name -> parameters table) and, on ``close``, reports every key nobody asked for, so a
misspelt field never silently falls back to a default. ``spec_parse.py`` reads a whole spec with it.
"""
from __future__ import annotations

import math
from typing import Any

from reference.errors import SHOWN, show
from reference.params import resolve

MISSING = object()


def kind_ok(value: Any, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, list)
    if kind == "table":
        return isinstance(value, dict)
    raise AssertionError(kind)


KIND_TEXT = {"int": "an integer", "number": "a finite number", "bool": "true or false", "str": "a string",
              "list": "a list", "table": "a table"}


class Table:
    """Reads one table's keys with their paths; ``close`` reports the keys nobody asked for."""

    def __init__(self, raw: Any, path: str, problems: list[str]):
        self.path, self.problems, self.used = path, problems, set()
        if not isinstance(raw, dict):
            problems.append(f"{path or 'the spec'}: expected a table, got {show(raw)}")
            raw = {}
        self.raw = raw

    def at(self, key: str) -> str:
        key = key if len(str(key)) <= 60 else str(key)[:57] + "..."
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: str, default: Any = MISSING) -> Any:
        self.used.add(key)
        if key not in self.raw:
            if default is MISSING:
                self.problems.append(f"{self.at(key)}: required ({KIND_TEXT[kind]})")
            return None if default is MISSING else default
        value = self.raw[key]
        if not kind_ok(value, kind):
            self.problems.append(f"{self.at(key)}: got {show(value)}; expected {KIND_TEXT[kind]}")
            return None if default is MISSING else default
        return value

    def rest(self, *taken: str) -> dict:
        """The keys other than ``taken``: a named thing's parameters."""
        self.used.update(self.raw)
        return {k: v for k, v in self.raw.items() if k not in taken}

    def named(self, key: str, table: dict, aliases: dict, param_tables: dict, what: str,
              default: Any = MISSING, allow_string: bool = True) -> tuple[str | None, dict]:
        """A ``key = "name"`` or ``key = { name = ..., param = ... }`` entry, resolved against its table."""
        self.used.add(key)
        raw = self.raw.get(key, default)
        if raw is MISSING:
            form = f'"{next(iter(table))}"' if allow_string else f'{{ name = "{next(iter(table))}", ... }}'
            self.problems.append(f"{self.at(key)}: required ({what}, for example {form})")
            return None, {}
        return named_thing(raw, self.at(key), table, aliases, param_tables, what, self.problems, allow_string)

    def close(self) -> None:
        unknown = [key for key in self.raw if key not in self.used]
        shown = SHOWN // 2  # the count below stays within the SHOWN problems a SpecError lists
        for key in unknown[:shown]:
            self.problems.append(f"{self.at(key)}: unknown field; known: {', '.join(sorted(self.used))}")
        if len(unknown) > shown:
            self.problems.append(f"{self.path or 'the spec'}: {len(unknown) - shown:,} more unknown fields")


def lookup(path: str, name: Any, table: dict, aliases: dict, what: str, problems: list[str]) -> str | None:
    name = aliases.get(name, name)
    if name in table:
        return name
    problems.append(f"{path}: unknown {what} {show(name)}; known: {', '.join(table)}")
    return None


def named_thing(raw: Any, path: str, table: dict, aliases: dict, param_tables: dict, what: str,
                 problems: list[str], allow_string: bool) -> tuple[str | None, dict]:
    """A ``"name"`` or ``{name = ..., param = ...}`` entry, resolved against its table."""
    is_string = isinstance(raw, str) and allow_string
    t = Table({"name": raw} if is_string else raw, path, problems)
    name = t.get("name", "str")
    params = t.rest("name")
    if name is None:
        return None, {}
    name = lookup(path if is_string else f"{path}.name", name, table, aliases, what, problems)
    if name is None:
        return None, {}
    return name, resolve(path, params, param_tables.get(name, {}), problems)
