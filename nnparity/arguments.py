"""Command-line values checked before any work starts: numbers in range, a flag given once, and output
paths that can be written (a results file after minutes of training is no time to find out).

Each failure is a ``UserError``: one paragraph naming the flag and how to fix it, exit code 2.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from reference.errors import UserError


class Once(argparse.Action):
    """A single-valued flag: given twice, it is a mistake, not a silent choice of the last value."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = namespace.__dict__.setdefault("_given_once", set())
        if self.dest in seen:
            parser.error(f"{option_string} was given twice; it takes one value (give it once)")
        seen.add(self.dest)
        setattr(namespace, self.dest, values)


def number(kind: type, low: float, *, open_low: bool = False):
    """An argparse ``type``: ``kind`` (int or float), at least ``low`` (more than it, with ``open_low``), finite."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if kind is float and not (value == value and abs(value) != float("inf")):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if value < low or (open_low and value == low):
            raise argparse.ArgumentTypeError(f"{text}: must be {'more than' if open_low else 'at least'} {low:g}")
        return value

    return parse


positive_int = number(int, 1)
seconds = number(float, 0, open_low=True)


def _nearest_existing(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if os.path.lexists(parent):
            return parent
    return Path(".")


def _probe(directory: Path, flag: str, target: Path) -> None:
    """Create and remove a file in ``directory``: the one test that read-only mounts and permissions both fail."""
    try:
        fd, name = tempfile.mkstemp(prefix=".nnparity-probe-", dir=directory)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise UserError(f"{flag} {target}: cannot write there ({exc.strerror} in {directory}). Give a path in a "
                        "directory you can write to.") from None


def writable_file(path: str | Path | None, flag: str) -> Path | None:
    """``path`` as a file this process can create or replace (its directories are created when it is written)."""
    if path is None:
        return None
    target = Path(path)
    if target.is_dir():
        raise UserError(f"{flag} {target}: is a directory; give a file name (for example {target / 'report.json'}).")
    existing = _nearest_existing(target.parent)
    if not existing.is_dir():
        raise UserError(f"{flag} {target}: {existing} is a file, so nothing can be written under it; give another path.")
    _probe(existing, flag, target)
    return target


def writable_dir(path: str | Path, flag: str) -> Path:
    """``path`` as a directory this process can create (if missing) and write into."""
    target = Path(path)
    if os.path.lexists(target) and not target.is_dir():
        raise UserError(f"{flag} {target}: is a file, not a directory; give a directory (it is created if missing).")
    existing = _nearest_existing(target)
    if not existing.is_dir():
        raise UserError(f"{flag} {target}: {existing} is a file, so no directory can be made under it; give another path.")
    _probe(existing, flag, target)
    return target
