"""Errors a user can fix. The CLI prints their message (one paragraph, no traceback) and exits with 2.

Every message stays short whatever the user gave: values are shown through ``show`` (a bounded repr) and
a spec with thousands of problems lists the first ``SHOWN`` and counts the rest.
"""
import reprlib

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 6, 6, 6, 60, 60
SHOWN = 20


def show(value) -> str:
    """A user's value in a message: its repr, cut short (a 10 MB string or a list nested 1000 deep included)."""
    return _REPR.repr(value)


class UserError(Exception):
    """A mistake in what the user gave us: a spec, a file, an argument, a missing dataset."""


class SpecError(UserError):
    """A spec that does not validate. The message names every bad field by its path."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        listed = "\n".join(f"  - {p if len(p) <= 400 else p[:397] + '...'}" for p in self.problems[:SHOWN])
        more = f"\n  ... and {len(self.problems) - SHOWN:,} more problems" if len(self.problems) > SHOWN else ""
        super().__init__(f"{source}: the spec is not valid:\n{listed}{more}")


class DatasetError(UserError):
    """A dataset that is missing, unreadable or fails its checksum."""


class Unsupported(Exception):
    """An implementation declines a cell: its ``supports(spec)`` gave this reason. Not an error, not a pass."""
