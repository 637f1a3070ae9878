"""Atomic file writes: a reader sees the old file or the complete new one, never a half-written one."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def replacing(path: Path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on a clean exit it replaces ``path``, on an error it is removed.

    The file gets the permissions an ordinary ``open()`` would give it (mkstemp's are 0600, which would
    make committed results unreadable to other users)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
