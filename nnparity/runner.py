"""The parity matrix: every spec x implementation x dtype x device x check, judged against the reference.

Each (spec, dtype, device) case is built once and its reference answers computed once, then
shared by every implementation. An implementation that is missing is a *skip* with its reason;
one that raises is an *error* and the rest of the matrix still runs; a number outside its
tolerance is a *fail* that names the first diverging tensor (backward order) and, for the
multi-step checks, the first step.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from nnparity import hints
from reference import spec as S
from reference import tolerance as T
from reference.checks import TRAJECTORY_STEPS, check_names, make_case, optimizer_spec
from reference.judge import CheckResult, Judge
from reference.worker import WorkerError


@dataclass
class Outcome:
    spec: str
    impl: str
    dtype: str
    device: str
    check: str
    status: str  # "pass", "fail", "error" or "skip"
    max_rel: float | None = None
    max_abs: float | None = None
    tol: float | None = None
    worst: dict | None = None  # {"tensor", "index", "step", "max_rel"}
    failure: dict | None = None  # the first tensor (and step) outside the tolerance
    message: str | None = None  # why skipped or errored
    curve: list[float] = field(default_factory=list)
    tols: list[float] = field(default_factory=list)
    horizon: int | None = None  # trajectory: first step where rounding alone exceeds the formula
    growth: float | None = None  # trajectory: the reference's own error growth per step
    hints: list[str] = field(default_factory=list)  # why it failed, when a known pattern matches (hints.py)
    seconds: float = 0.0

    @property
    def id(self) -> str:
        device = "" if self.device == "cpu" else f"-{self.device}"
        return f"{self.spec}-{self.impl}-{self.dtype}{device}-{self.check}"

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()} | {"id": self.id}


def _tolerance(judge: Judge, check: str) -> tuple[float, list[float]]:
    """(the check's tolerance, per-step tolerances for the trajectory)."""
    case = judge.case
    if check != "trajectory":
        opt = optimizer_spec(check[5:]) if check.startswith("step-") else None
        return T.tolerance(check, case.spec, case.dtype, len(case.x), opt), []
    bounds = T.trajectory_bounds(case.spec, case.dtype, max(len(b) for b in case.batches), case.spec.optimizer,
                                 judge.relative_steps())
    tols = T.trajectory_tolerances(bounds, judge.shadow())
    return tols[-1], tols


def outcome_of(judge: Judge, impl_name: str, check: str, result: CheckResult, seconds: float,
               tolerances: tuple[float, list[float]] | None = None) -> Outcome:
    """The cell for a judged check; ``tolerances`` (tol, per-step tols) when they are known already (golden files)."""
    case = judge.case
    tol, tols = tolerances or _tolerance(judge, check)
    worst = result.worst
    failure = result.first_failure(tols or tol)
    o = Outcome(case.spec.name, impl_name, case.dtype, case.device, check, "fail" if failure else "pass",
                result.max_rel, result.max_abs, tol, seconds=seconds, curve=result.curve if len(result.steps) > 1 else [],
                tols=tols)
    if worst:
        s, d = worst
        o.worst = {"tensor": d.name, "index": d.worst_index, "step": s, "max_rel": d.max_rel}
    if failure:
        s, d = failure
        limit = tols[min(s, len(tols) - 1)] if tols else tol
        o.failure = {"tensor": d.name, "step": s, "index": d.worst_index, "max_rel": d.max_rel,
                     "max_abs": d.max_abs, "problem": d.problem, "tol": limit}
    if check == "trajectory" and tolerances is None:
        o.horizon, o.growth = chaos(judge)
    return o


def chaos(judge: Judge) -> tuple[int | None, float | None]:
    """(the step from which rounding alone exceeds the trajectory formula, the growth per step)."""
    case, shadow = judge.case, judge.shadow()
    bounds = T.trajectory_bounds(case.spec, case.dtype, max(len(b) for b in case.batches), case.spec.optimizer,
                                 judge.relative_steps())
    return T.chaos_horizon(bounds, shadow), T.growth_rate(shadow)


@dataclass
class Selection:
    specs: list[str]
    impls: list[str]
    dtypes: list[str]
    devices: list[str]
    checks: list[str]
    steps: int = TRAJECTORY_STEPS
    # Worker processes per implementation, sharing its cases round-robin. One each by default: the
    # matrix is CPU-bound on two cores, and a second keras-jax worker cost 19 s more CPU than it saved.
    shards: dict[str, int] = field(default_factory=dict)

    def shard_count(self, name: str) -> int:
        return max(1, self.shards.get(name, 1))


def run(sel: Selection, make_impl: Callable[[str], object], progress: Callable[[Outcome], None] = lambda o: None,
        timeout: float | None = None, pool: dict | None = None, stats: dict | None = None) -> list[Outcome]:
    """Every cell of the selection. Implementations run concurrently, one thread each (a worker
    process answers one request at a time); the main thread prepares each case and its reference
    answers once, ahead of them. Outcomes come back in the selection's order.

    ``pool`` keeps implementations (and their worker processes) alive between runs: they are taken
    from it, added to it, and left open; the caller closes them (``close_pool``). ``stats`` receives where
    the time went: the main thread's case preparation, and each implementation's start-up (``nnparity bench --parity``)."""
    single_thread()
    instances = _instances(sel, make_impl, pool)
    queues = {(name, k): queue.Queue() for name, k, _ in instances}
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    timings: dict[str, dict] = {}

    def record(o: Outcome) -> None:
        with lock:
            outcomes.append(o)
            progress(o)

    threads = [threading.Thread(target=_serve, args=(name, k, impl, queues[name, k], sel, timeout, record, timings), daemon=True)
               for name, k, impl in instances]
    for t in threads:
        t.start()
    try:
        preparing = _feed(sel, queues)
    finally:
        for q in queues.values():
            q.put(None)
        for t in threads:
            t.join()
        if pool is None:
            for name, k, impl in instances:
                impl.close()
                CPU[f"{name}#{k}"] = getattr(impl, "cpu_seconds", None)
    if stats is not None:
        stats.update(prepare_seconds=preparing, implementations=timings)
    order = {(s, d, t, i, c): n for n, (s, d, t, i, c) in enumerate(
        (s, d, t, i, c) for s in sel.specs for d in sel.devices for t in sel.dtypes for i in sel.impls for c in sel.checks)}
    return sorted(outcomes, key=lambda o: order[o.spec, o.device, o.dtype, o.impl, o.check])


def _instances(sel: Selection, make_impl, pool: dict | None) -> list[tuple[str, int, object]]:
    """(name, shard, implementation) for every worker the selection needs, from ``pool`` where it has them."""
    out = []
    for name in sel.impls:
        for k in range(sel.shard_count(name)):
            if pool is not None and (name, k) not in pool:
                pool[name, k] = make_impl(name)
            out.append((name, k, pool[name, k] if pool is not None else make_impl(name)))
    return out


def _feed(sel: Selection, queues: dict) -> float:
    """Build each case and its reference answers once, in the main thread, and hand them to every
    implementation (its shards in turn); the seconds this took."""
    preparing, n = 0.0, 0
    for spec_name in sel.specs:
        spec = S.load(spec_name)
        for device in sel.devices:
            for dtype in sel.dtypes:
                started = time.perf_counter()
                judge = Judge(make_case(spec, dtype, device, steps=sel.steps)).prepare(sel.checks)
                preparing += time.perf_counter() - started
                for name in sel.impls:
                    queues[name, n % sel.shard_count(name)].put(judge)
                n += 1
    return preparing


def greet(impl) -> dict:
    """The implementation's ``hello`` (starting its worker), or one that says why it could not start."""
    try:
        return impl.hello()
    except Exception as exc:
        return {"available": f"could not start: {exc}", "devices": []}


def unavailable(hello: dict, name: str, device: str) -> str | None:
    """Why ``name`` cannot run on ``device`` (missing package, no such device), or None."""
    why = hello.get("available")
    if why is None and device not in hello.get("devices", ["cpu"]):
        why = f"no {device} device for {name} here"
    return why


def _serve(name: str, k: int, impl, cases: queue.Queue, sel: Selection, timeout: float | None,
           record: Callable[[Outcome], None], timings: dict) -> None:
    """One implementation shard's thread: start it, then run every check of each case it is handed
    until it is handed None. A missing implementation or device makes each of its cells a skip."""
    started = time.perf_counter()
    hello = greet(impl)
    timings[f"{name}#{k}"] = {"startup_seconds": time.perf_counter() - started}
    while (judge := cases.get()) is not None:
        case = judge.case
        why = unavailable(hello, name, case.device)
        earlier: dict[str, Outcome] = {}
        for check in sel.checks:
            if why is not None:
                o = Outcome(case.spec.name, name, case.dtype, case.device, check, "skip", message=why)
            else:
                o = _one(judge, impl, name, check, timeout, earlier)
            earlier[check] = o
            record(o)
        if hasattr(impl, "release"):
            try:
                impl.release(case)
            except Exception:  # a dead worker forgets by itself
                pass


CPU: dict[str, float | None] = {}  # worker CPU seconds of the last run, per implementation shard


def close_pool(pool: dict) -> None:
    for (name, k), impl in pool.items():
        impl.close()
        CPU[f"{name}#{k}"] = getattr(impl, "cpu_seconds", None)
    pool.clear()


def single_thread() -> None:
    """One BLAS / OpenMP / torch thread in this process: its implementations share the cores with
    the workers, and spin-waiting thread pools on 64-row matrices only burn CPU (measured: torch's
    checks took 96 s of CPU with two threads beside a busy main thread, 7 s alone)."""
    import sys

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    if "torch" in sys.modules:  # only where torch runs here (importing it costs a second and a half)
        sys.modules["torch"].set_num_threads(1)


def _one(judge: Judge, impl, name: str, check: str, timeout: float | None, earlier: dict | None = None) -> Outcome:
    case = judge.case
    started = time.perf_counter()
    try:
        out = impl.collect(case, check, timeout=timeout)
    except Exception as exc:  # an implementation that raises is an ERROR cell; the matrix goes on
        msg = str(exc) if isinstance(exc, WorkerError) else f"{type(exc).__name__}: {exc}"
        return Outcome(case.spec.name, name, case.dtype, case.device, check, "error", message=msg,
                       seconds=time.perf_counter() - started)
    result = judge.judge(check, out)
    o = outcome_of(judge, name, check, result, time.perf_counter() - started)
    if o.status == "fail":
        forward = (earlier or {}).get("forward")
        try:
            o.hints = hints.for_failure(judge, check, out, result, o.tols or o.tol,
                                        forward_ok=None if forward is None else forward.status == "pass")
        except Exception as exc:  # a hint is a courtesy; it never costs the report
            o.hints = [f"(no hint: {type(exc).__name__}: {exc})"]
    return o


def default_selection() -> Selection:
    return Selection(S.bundled_names(), ["numpy", "torch", "keras-tensorflow", "keras-jax", "keras-torch"],
                     ["float64", "float32"], ["cpu"], check_names())


