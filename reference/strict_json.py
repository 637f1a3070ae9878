"""JSON as nnparity reads it from users: a key given twice is an error (TOML refuses it too, Python's json
keeps the last silently), and nesting deeper than any spec or manifest needs is refused before Python's
recursion limit turns it into a crash."""
from __future__ import annotations

import json

MAX_DEPTH = 64


def _no_duplicates(pairs: list) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def depth_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``limit`` (a linear scan, no recursion)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def loads(text: str | bytes):
    """Parse JSON strictly: ``ValueError`` for malformed text, a duplicate key, or nesting past ``MAX_DEPTH``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if depth_exceeds(text):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return json.loads(text, object_pairs_hook=_no_duplicates)
