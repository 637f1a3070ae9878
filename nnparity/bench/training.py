r"""Training throughput per implementation: one epoch of forward + backward + optimizer step.

Every implementation trains in a process of its own (the reference too), one at a time, with the
machine's default threading, on identical data, weights and batches. Each figure is the median
of the timed repeats, with their spread (min - max); throughput is samples / median seconds and the
achieved rate is ``flops.training_step`` x steps / median seconds, also given as a fraction of the
matmul peak measured in the same run (``peak.py``).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from nnparity import registry, runner
from nnparity.bench import flops
from reference import datasets
from reference import spec as S
from reference.batches import BatchSchedule
from reference.weights import cast, init_weights
from reference.worker import Worker

REFERENCE_TARGET = "reference.implementation:NumpyImplementation"


@dataclass
class Timing:
    impl: str
    batch: int
    dtype: str
    device: str
    steps: int = 0
    seconds: list[float] = field(default_factory=list)
    warmup_seconds: float = 0.0
    flops_per_step: int = 0
    peak_gflops: float | None = None
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def samples_per_second(self) -> float:
        return self.steps * self.batch / self.median

    @property
    def gflops(self) -> float:
        return self.flops_per_step * self.steps / self.median / 1e9

    def to_json(self) -> dict:
        d = dict(self.__dict__)
        if self.seconds:
            d.update(median_seconds=self.median, min_seconds=min(self.seconds), max_seconds=max(self.seconds),
                     samples_per_second=self.samples_per_second, gflops=self.gflops,
                     fraction_of_peak=self.gflops / self.peak_gflops if self.peak_gflops else None)
        return d


def process(name: str):
    """The implementation in a process of its own, every core available to it."""
    if name == "numpy":
        return Worker("numpy", REFERENCE_TARGET, {})
    return registry.make(name, single_thread=False)


def inputs(spec: S.Spec, dtype: str, rows: int | None) -> dict:
    """Training rows, the spec's weights and the schedule's first epoch order, as the worker's arrays."""
    data = datasets.for_spec(spec, dtype=dtype, train_rows=rows)
    order = BatchSchedule(len(data.x_train), 1, 1, spec.training.schedule_seed, spec.training.shuffle).order(0)
    weights = cast(init_weights(spec), np.dtype(dtype))
    return {"x": data.x_train, "y": data.y_train, "order": order, **{f"w{i}": w for i, w in enumerate(weights)}}


def measure(spec: S.Spec, impls: list[str], batches: list[int], dtypes: list[str], device: str, rows: int | None,
            repeats: int, peak: dict, advance=lambda: None, timeout: float = 1800.0) -> list[Timing]:
    """Every implementation's timings for every (dtype, batch), the repeats interleaved: round r times
    each implementation once, in an order rotated from round to round, so that a slow spell of a shared
    machine lands on all of them rather than on whichever ran then (measured: the same epoch varies
    by up to 2x from minute to minute here). An implementation that cannot run, or fails, gives
    timings with ``error`` set and the others still run. ``advance`` is called per timed epoch."""
    workers = {name: process(name) for name in impls}
    out: list[Timing] = []
    try:
        why = {name: _first_line(runner.unavailable(runner.greet(w), name, device)) for name, w in workers.items()}
        for dtype in dtypes:
            arrays = inputs(spec, dtype, rows)
            for name in impls:
                why[name] = why[name] or _try(workers[name], "nnparity.bench.remote:load", arrays, timeout, key=dtype)
            for batch in batches:
                cells = {name: Timing(name, batch, dtype, device, flops_per_step=flops.training_step(spec, batch),
                                      peak_gflops=peak.get(dtype, {}).get("peak"), error=why[name]) for name in impls}
                kwargs = dict(key=dtype, spec=S.to_dict(spec), dtype=dtype, device=device, batch_size=batch,
                              n_weights=sum(k.startswith("w") for k in arrays))
                for r in range(repeats):
                    for name in impls[r % len(impls):] + impls[: r % len(impls)]:
                        t = cells[name]
                        if t.error is None:
                            result = _try(workers[name], "nnparity.bench.remote:time_epoch", {}, timeout, warmup=r == 0, **kwargs)
                            if isinstance(result, str):
                                t.error, t.seconds = result, []
                            else:
                                t.seconds.append(result["seconds"])
                                t.steps = result["steps"]
                                t.warmup_seconds = result["warmup_seconds"] or t.warmup_seconds
                        advance()
                out += cells.values()
    finally:
        for w in workers.values():
            w.close()
    return out


def _try(worker, fn: str, arrays: dict, timeout: float, **kwargs):
    """The call's result, or the first line of its error (one implementation's failure is its own row)."""
    try:
        return worker.call(fn, arrays, timeout=timeout, **kwargs)[0] or None
    except Exception as exc:
        return _first_line(str(exc))


def _first_line(message: str | None) -> str | None:
    """A table cell's worth of an error (the rest of it is a traceback)."""
    return message.splitlines()[0] if message else message
