"""Where the default ``nnparity parity`` spends its wall time (``nnparity bench --parity``).

The matrix runs one thread per implementation beside a main thread that prepares each case and its
reference answers. Per implementation this splits its wall time into start-up (process, imports,
``hello``), checks (its requests, summed) and waiting (for the main thread's next case, or for a
core); the worker's CPU seconds say how much of that it actually computed.
"""
from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict

from nnparity import registry, runner


def cli_startup() -> float:
    """Seconds for ``nnparity specs`` in a fresh interpreter: the command's own start-up."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nnparity.cli", "specs"], capture_output=True, check=False)
    return time.perf_counter() - started


def profile(sel: runner.Selection | None = None, progress=lambda o: None) -> dict:
    sel = sel or runner.default_selection()
    stats: dict = {}
    started = time.perf_counter()
    outcomes = runner.run(sel, registry.make, progress, stats=stats)
    wall = time.perf_counter() - started
    checks, cells, statuses = defaultdict(float), defaultdict(int), defaultdict(int)
    for o in outcomes:
        checks[o.impl] += o.seconds
        cells[o.impl] += 1
        statuses[o.status] += 1
    per_impl = {}
    for key, t in stats["implementations"].items():
        name = key.split("#")[0]
        per_impl[key] = {"startup_seconds": t["startup_seconds"], "check_seconds": checks[name], "cells": cells[name],
                         "waiting_seconds": max(0.0, wall - t["startup_seconds"] - checks[name]),
                         "worker_cpu_seconds": runner.CPU.get(key)}
    return {"wall_seconds": wall, "cells": len(outcomes), "statuses": dict(statuses),
            "prepare_seconds": stats["prepare_seconds"], "cli_startup_seconds": cli_startup(), "implementations": per_impl}
