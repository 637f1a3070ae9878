"""No process outlives the command, and no temporary directory outlives its owner (Linux; elsewhere best effort).

* A worker watches its parent (``watch_parent``): when the parent is gone — Ctrl-C, SIGTERM, SIGKILL,
  a crash — it ends its own descendants, removes its temporary directory and exits within a second,
  even in the middle of a plugin's computation.
* Workers and the ``nnparity`` command are *child subreapers* (``become_subreaper``): a process a
  plugin started whose parent died, or one that called ``setsid`` to leave the process group, is
  re-parented to them instead of to init, so ``end_descendants`` still finds it by walking ``/proc``.
* Temporary directories and files carry the owner's pid (``owned_name``); ``remove_stale`` deletes those
  whose owner is no longer alive, for the case where everything was killed at once.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first, then theirs), from /proc."""
    children, out, queue = _children_map(), [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            out.append(child)
            queue.append(child)
    return out


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def end_descendants(pid: int | None = None) -> None:
    """SIGKILL every descendant of ``pid`` (default: this process), repeatedly until none is left: a dying
    process's orphans re-parent to the subreaper above them, which is where this looks next."""
    pid = os.getpid() if pid is None else pid
    for _ in range(20):
        found = descendants(pid)
        if not found:
            return
        for child in found:
            _kill(child)
        for child in found:
            try:
                os.waitpid(child, os.WNOHANG)
            except (ChildProcessError, OSError):
                pass
        time.sleep(0.01)


def kill_tree(pid: int) -> None:
    """``pid``, its process group and every descendant it has (those that left the group included)."""
    below = descendants(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for child in [pid, *below]:
        _kill(child)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch_parent(on_death, interval: float = 0.25) -> None:
    """Call ``on_death()`` (from a daemon thread) as soon as this process's parent is gone."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(interval)
            if os.getppid() != parent or not alive(parent):
                on_death()
                return

    threading.Thread(target=watch, daemon=True, name="nnparity-parent-watch").start()


def owned_name(prefix: str) -> str:
    """``prefix`` with this process's pid: what ``remove_stale`` recognises."""
    return f"{prefix}-{os.getpid()}-"


_STALE = re.compile(r"^\.?(?:.*\.)?nnparity-(\d+)-")


def remove_stale(folder: Path) -> None:
    """Delete the owned temporary files and directories in ``folder`` whose owner process has died."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        m = _STALE.match(entry.name)
        if not m or alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
