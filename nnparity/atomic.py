"""Atomic file writes: a reader sees the old file or the complete new one, never a half-written one.

The temporary file lies beside the target (``os.replace`` is atomic only within one filesystem) and carries
the writer's pid; one left behind by a writer that was killed outright (SIGKILL, a power cut) is removed
by the next write into that directory (``reference/processes.py``).
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from reference import processes


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
    processes.remove_stale(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{processes.owned_name('nnparity')}", suffix=suffix or path.suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
