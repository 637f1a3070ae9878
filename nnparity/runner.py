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
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from nnparity import hints
from nnparity.selection import Selection, default_selection  # noqa: F401  (the matrix's public names)
from reference.checks import make_case
from reference.errors import Unsupported
from reference.judge import CheckResult, Judge
from reference.worker import WorkerError

# pass/fail: judged against the reference. error: the implementation raised, crashed or hung.
# unsupported: the implementation declined the cell (``supports(spec)`` gave a reason). skip: it cannot run
# here at all (not installed, no such device). Only pass and fail are checks that ran.
STATUSES = ("pass", "fail", "error", "unsupported", "skip")


@dataclass
class Outcome:
    spec: str
    impl: str
    dtype: str
    device: str
    check: str
    status: str  # one of STATUSES
    max_rel: float | None = None
    max_abs: float | None = None
    tol: float | None = None
    worst: dict | None = None  # {"tensor", "index", "step", "max_rel"}
    failure: dict | None = None  # the first tensor (and step) outside the tolerance
    message: str | None = None  # why skipped, unsupported or errored: one line
    detail: str | None = None  # an error's traceback or the worker's last output (--verbose, JSON)
    curve: list[float] = field(default_factory=list)
    tols: list[float] = field(default_factory=list)
    horizon: int | None = None  # trajectory: first step where rounding alone exceeds the formula
    growth: float | None = None  # trajectory: the reference's own error growth per step
    operand_factor: float | None = None  # the largest operand scale / own max over its tensors (1: no cancellation)
    hints: list[str] = field(default_factory=list)  # mistakes that explain a failure, each recomputed (nnparity/hints)
    seconds: float = 0.0

    @property
    def id(self) -> str:
        device = "" if self.device == "cpu" else f"-{self.device}"
        return f"{self.spec}-{self.impl}-{self.dtype}{device}-{self.check}"

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()} | {"id": self.id}


def outcome_of(judge: Judge, impl_name: str, check: str, result: CheckResult, seconds: float) -> Outcome:
    """The cell for a judged check."""
    case = judge.case
    tol, tols = judge.tolerance(check)
    worst = result.worst
    failure = result.first_failure(tols or tol)
    o = Outcome(judge.label, impl_name, case.dtype, case.device, check, "fail" if failure else "pass",
                result.max_rel, result.max_abs, tol, seconds=seconds, curve=result.curve if len(result.steps) > 1 else [],
                tols=tols, operand_factor=result.operand_factor)
    if worst:
        s, d = worst
        o.worst = {"tensor": d.name, "index": d.worst_index, "step": s, "max_rel": d.max_rel, "scale": d.scale,
                   "own_scale": d.own_scale}
    if failure:
        s, d = failure
        limit = tols[min(s, len(tols) - 1)] if tols else tol
        o.failure = {"tensor": d.name, "step": s, "index": d.worst_index, "max_rel": d.max_rel,
                     "max_abs": d.max_abs, "problem": d.problem, "tol": limit, "scale": d.scale, "own_scale": d.own_scale}
    if check == "trajectory":
        o.horizon, o.growth = judge.chaos()
    return o


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
        for q in queues.values():
            q.put(None)
        for t in threads:
            t.join()
    except BaseException:  # Ctrl-C, SIGTERM: stop every worker now rather than wait for its current answer
        for _, _, impl in instances:
            getattr(impl, "kill", lambda: None)()
        for q in queues.values():
            q.put(None)
        for t in threads:
            t.join(timeout=5)
        raise
    finally:
        if pool is None:
            for name, k, impl in instances:
                impl.close()
                CPU[f"{name}#{k}"] = getattr(impl, "cpu_seconds", None)
    if stats is not None:
        stats.update(prepare_seconds=preparing, implementations=timings)
    order = {(s, d, t, i, c): n for n, (s, d, t, i, c) in enumerate(
        (s, d, t, i, c) for s in sel.labels for d in sel.devices for t in sel.dtypes for i in sel.impls for c in sel.checks)}
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
    for entry in sel.labelled:
        for device in sel.devices:
            for dtype in sel.dtypes:
                started = time.perf_counter()
                case = make_case(entry.spec, dtype, device, steps=sel.steps, replicas=sel.replicas)
                judge = Judge(case, entry.label).prepare(sel.checks)
                preparing += time.perf_counter() - started
                for name in sel.impls:
                    queues[name, n % sel.shard_count(name)].put(judge)
                n += 1
    return preparing


def greet(impl) -> dict:
    """The implementation's ``hello`` (starting its worker), or, when it failed to start (an import error, a crash,
    no answer within the timeout), the ``error`` that makes each of its cells an ERROR."""
    try:
        return impl.hello()
    except Exception as exc:
        return {"available": None, "devices": [], "error": exc}


def unavailable(hello: dict, name: str, device: str) -> str | None:
    """Why ``name`` cannot run on ``device`` (missing package, no such device, failed to start), or None."""
    if hello.get("error") is not None:
        return f"could not start: {str(hello['error']).splitlines()[0]}"
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
        for check in sel.applicable(case.spec):
            if hello.get("error") is not None:
                o = error_outcome(judge.label, name, case, check, hello["error"])
            elif why is not None:
                o = Outcome(judge.label, name, case.dtype, case.device, check, "skip", message=why)
            else:
                o = one(judge, impl, name, check, timeout, earlier)
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


def error_outcome(label: str, name: str, case, check: str, exc: Exception, seconds: float = 0.0) -> Outcome:
    """An ERROR cell: one line of reason, the traceback (or the worker's last output) kept as detail."""
    if isinstance(exc, WorkerError):
        message, detail = exc.reason, exc.detail
    else:
        message, detail = f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc, limit=8))
    first, _, rest = message.partition("\n")
    detail = "\n".join(p for p in (rest.strip(), (detail or "").strip()) if p) or None
    return Outcome(label, name, case.dtype, case.device, check, "error", message=first, detail=detail, seconds=seconds)


def one(judge: Judge, impl, name: str, check: str, timeout: float | None, earlier: dict | None = None) -> Outcome:
    """One cell: ask the implementation, judge its answers, and where it failed, the hints that explain it."""
    case = judge.case
    started = time.perf_counter()
    try:
        out = impl.collect(case, check, timeout=timeout)
    except Unsupported as exc:
        return Outcome(judge.label, name, case.dtype, case.device, check, "unsupported", message=str(exc),
                       seconds=time.perf_counter() - started)
    except Exception as exc:  # an implementation that raises is an ERROR cell; the matrix goes on
        return error_outcome(judge.label, name, case, check, exc, time.perf_counter() - started)
    result = judge.judge(check, out)
    o = outcome_of(judge, name, check, result, time.perf_counter() - started)
    if o.status == "fail":
        try:
            o.hints = hints.for_failure(judge, check, out, result, o.tols or o.tol, earlier)
        except Exception as exc:  # a hint is a courtesy; it never costs the report
            o.hints = [f"(no hint: {type(exc).__name__}: {exc})"]
    return o
