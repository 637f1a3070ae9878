"""What every study gets: its options, a progress bar, running implementations, and a place to write.

Implementations are started once per ``reproduce`` run (one process each, every core) and closed at
the end. Results go to ``<out>/<study>/`` and are written atomically with their provenance.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nnparity import registry, report
from nnparity.console import out

ALIGNED = ["numpy", "torch", "keras-tensorflow"]  # the documents' frameworks, Keras on its default backend


@dataclass
class Context:
    out_dir: Path
    quick: bool
    seeds: int
    dtype: str = "float32"
    aligned: list[str] = field(default_factory=lambda: list(ALIGNED))
    pool: dict = field(default_factory=dict)  # (name, lane) -> implementation; the command closes them
    timings: dict = field(default_factory=dict)  # label -> seconds, reported in the results
    progress: Progress | None = None

    def impl(self, name: str, lane: str = "main"):
        """The implementation's process for ``lane``: work that runs concurrently takes different lanes,
        as a worker answers one request at a time. Every process is single-threaded (see ``parallel``)."""
        if (name, lane) not in self.pool:
            self.pool[name, lane] = registry.make(name, timeout=6 * 3600, single_thread=True)
        return self.pool[name, lane]

    @contextmanager
    def task(self, description: str, total: int):
        """A progress bar for one stage; ``advance()`` it as units complete."""
        task = self.progress.add_task(description, total=total) if self.progress else None

        def advance(n: int = 1):
            if self.progress:
                self.progress.advance(task, n)

        try:
            yield advance
        finally:
            if self.progress:
                self.progress.remove_task(task)

    def timed(self, label: str):
        ctx = self

        class _Timer:
            def __enter__(self):
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                ctx.timings[label] = ctx.timings.get(label, 0.0) + time.perf_counter() - self.t

        return _Timer()

    @staticmethod
    def parallel(jobs: dict[str, Callable[[], Any]]) -> dict[str, Any]:
        """Run ``jobs`` (name -> function) concurrently, one thread each; their results by name.

        Studies train small networks for many steps, where per-step overhead, not arithmetic, sets
        the pace: one single-threaded process per job on the two cores beats one job at a time with
        two threads each (and oversubscribed BLAS threads spin: measured 16x slower)."""
        results, errors = {}, {}

        def work(name, fn):
            try:
                results[name] = fn()
            except BaseException as exc:  # re-raised in the caller's thread
                errors[name] = exc

        threads = [threading.Thread(target=work, args=item, daemon=True) for item in jobs.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise next(iter(errors.values()))
        return {name: results[name] for name in jobs}

    def folder(self, study: str) -> Path:
        path = self.out_dir / study
        path.mkdir(parents=True, exist_ok=True)
        return path


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=out)


def provenance(command: str, ctx: Context, seeds: list[int]) -> dict:
    meta = report.provenance(command)
    meta.update({"seeds": seeds, "quick": ctx.quick, "aligned_dtype": ctx.dtype})
    return meta
