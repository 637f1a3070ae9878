"""Run an implementation in another process: for a Keras backend (fixed per process) or a plugin
that may crash or hang.

The parent writes one JSON request per line to the worker's stdin; arrays travel in bundle files
(``reference/bundle.py``: a JSON header and raw bytes; never pickle) in a private temporary directory. The worker answers
on a duplicate of its original stdout, so anything a library prints goes to its stderr, which is
kept in a log whose tail explains a crash. Every call has a timeout; a worker that does not answer
in time is killed, and the next call starts a fresh one (re-sending the cases it had). A worker never
outlives its parent, and takes what it started with it (``reference/processes.py``).

Requests: ``hello`` (name, availability, devices), ``load_case`` (spec + arrays), ``collect`` (one
check of a loaded case), ``drop_case``, ``call`` (a function ``module:name`` taking the worker's
implementation, arrays and JSON keyword arguments, returning a JSON result and arrays: how the
reproductions train in the framework's own process), ``exit``.
"""
from __future__ import annotations

import importlib
import itertools
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from reference import bundle, processes
from reference.checks import Case, collect
from reference.errors import Unsupported

_CLEANED = False


def _clean_temp_once() -> None:
    """Remove the worker directories of nnparity processes that died without removing them (once per process)."""
    global _CLEANED
    if not _CLEANED:
        _CLEANED = True
        processes.remove_stale(Path(tempfile.gettempdir()))

DEFAULT_TIMEOUT = 600.0


class WorkerError(RuntimeError):
    """The worker process failed: it died, timed out, or raised while answering. ``reason`` is one line;
    ``detail`` the traceback or the worker's last output, for ``--verbose`` and the JSON report."""

    def __init__(self, reason: str, detail: str | None = None, timed_out: bool = False):
        super().__init__(reason + (f"\n{detail}" if detail else ""))
        self.reason, self.detail, self.timed_out = reason, detail, timed_out


def load_target(target: str):
    """``module.path:ClassName`` -> an instance (``module:function`` -> the function)."""
    module, _, attr = target.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj() if isinstance(obj, type) else obj


_save, _load = bundle.save, bundle.load  # the arrays of a request or a reply (reference/bundle.py)


class InProcess:
    """An implementation in this process, seen through the same calls as a ``Worker``."""

    def __init__(self, impl):
        self.impl = impl
        self.name = impl.name

    def hello(self) -> dict:
        return {"name": self.impl.name, "available": self.impl.available(), "devices": _devices(self.impl)}

    def collect(self, case: Case, check: str, timeout: float | None = None) -> dict:
        return collect(self.impl, case, check)

    def release(self, case: Case) -> None:
        pass

    def call(self, fn: str, arrays: dict | None = None, timeout: float | None = None, **kwargs) -> tuple[dict, dict]:
        result, out = load_target(fn)(self.impl, arrays or {}, **kwargs)
        return result, out

    def close(self) -> None:
        pass


def _devices(impl) -> list[str]:
    return list(impl.devices()) if hasattr(impl, "devices") else ["cpu"]


class Worker:
    """An implementation in a child process; ``target`` is ``module:Class``, ``env`` set before its imports."""

    def __init__(self, name: str, target: str, env: dict | None = None, timeout: float = DEFAULT_TIMEOUT,
                 launcher: list[str] | None = None):
        """``launcher``: the command that starts the worker (default: this Python; data-parallel replicas are
        started by their framework's launcher, ``reference.worker`` being each replica's program)."""
        self.name, self.target, self.env, self.timeout = name, target, env or {}, timeout
        self.launcher = launcher or [sys.executable, "-m", "reference.worker"]
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None
        self.loaded: set[int] = set()
        self._ids = itertools.count()
        self.startup_seconds = 0.0
        self.cpu_seconds = 0.0  # CPU time of the worker processes this object has run (Linux: /proc)

    # -- process management --
    def _start(self) -> None:
        if self.tmp is None:
            _clean_temp_once()
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)[:40]
            self.tmp = Path(tempfile.mkdtemp(prefix=processes.owned_name("nnparity") + safe + "-"))
        self.log = open(self.tmp / "stderr.log", "w+b")
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1", "NNPARITY_WORKER_DIR": str(self.tmp)}
        started = time.perf_counter()
        self.proc = subprocess.Popen([*self.launcher, self.target], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env, start_new_session=True)
        self.loaded = set()
        self._request({"op": "hello"}, timeout=self.timeout)
        self.startup_seconds += time.perf_counter() - started

    def _stderr_tail(self, lines: int = 12) -> str:
        try:
            self.log.flush()
            self.log.seek(0)
            text = self.log.read().decode("utf-8", "replace").strip().splitlines()
            return "\n".join(text[-lines:])
        except (OSError, ValueError):
            return ""

    def _account_cpu(self) -> None:
        """Add the live worker's user + system CPU time (from /proc; zero where there is none)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            self.cpu_seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError, AttributeError):
            pass

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self._account_cpu()
            processes.kill_tree(self.proc.pid)  # its group, and what left the group (setsid)
            self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """Stop the worker now (an interrupted run does not wait for its current answer) and remove its files."""
        self._kill()
        self.close()

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self._account_cpu()
            try:
                self.proc.stdin.write(b'{"op": "exit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.proc and self.proc.poll() is None:
            self._kill()
        self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # -- the wire --
    def _request(self, req: dict, arrays: dict | None = None, timeout: float | None = None) -> tuple[dict, dict]:
        rid = next(self._ids)
        if arrays:
            path = self.tmp / f"req{rid}.arrays"
            _save(path, arrays)
            req = {**req, "arrays": str(path)}
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died(req["op"])
        line = self._readline(timeout or self.timeout, req["op"])
        if not line:
            return self._died(req["op"])
        reply = json.loads(line)
        if not reply.get("ok"):
            if "unsupported" in reply:
                raise Unsupported(reply["unsupported"])
            raise WorkerError(f"{self.name}: {reply.get('error', 'failed')}", reply.get("traceback", "").rstrip() or None)
        out = _load(reply["arrays"]) if reply.get("arrays") else {}
        for p in (req.get("arrays"), reply.get("arrays")):
            if p:
                Path(p).unlink(missing_ok=True)
        return reply.get("result", {}), out

    def _readline(self, timeout: float, op: str) -> bytes:
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                self._kill()
                raise WorkerError(f"{self.name}: no answer to '{op}' within {timeout:g} s; the worker was stopped "
                                  f"(a later call starts a new one)", timed_out=True)
        return self.proc.stdout.readline()

    def _died(self, op: str):
        code = self.proc.wait() if self.proc else None
        tail = self._stderr_tail()
        self._kill()
        raise WorkerError(f"{self.name}: the worker process exited (code {code}) during '{op}'"
                          + (f"; its last output: {tail.splitlines()[-1][:200]}" if tail else "."),
                          f"The worker's last output:\n{tail}" if tail else None)

    # -- the calls the runner makes --
    def _ensure(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._kill()
            self._start()

    def hello(self) -> dict:
        self._ensure()
        return self._request({"op": "hello"})[0]

    def collect(self, case: Case, check: str, timeout: float | None = None) -> dict:
        self._ensure()
        if case.uid not in self.loaded:
            meta, arrays = case.to_arrays()
            self._request({"op": "load_case", "case": case.uid, "meta": meta}, arrays)
            self.loaded.add(case.uid)
        return self._request({"op": "collect", "case": case.uid, "check": check}, timeout=timeout)[1]

    def call(self, fn: str, arrays: dict | None = None, timeout: float | None = None, **kwargs) -> tuple[dict, dict]:
        """Run ``fn(implementation, arrays, **kwargs)`` in the worker: (its JSON result, its arrays)."""
        self._ensure()
        return self._request({"op": "call", "fn": fn, "kwargs": kwargs}, arrays or None, timeout=timeout)

    def release(self, case: Case) -> None:
        """The worker may forget this case (its arrays can be large)."""
        if self.proc is not None and self.proc.poll() is None and case.uid in self.loaded:
            self.loaded.discard(case.uid)
            self._request({"op": "drop_case", "case": case.uid})


def serve(target: str) -> None:
    """The worker's main loop (``python -m reference.worker module:Class``). Started by a data-parallel launcher
    (``NNPARITY_REPLICAS`` set), rank 0 is the worker and every other rank follows its calls (``follow``)."""
    if "NNPARITY_REPLICAS" in os.environ and int(os.environ.get("RANK", "0")) > 0:
        return follow(target)
    wire = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr, not into the protocol
    sys.stdout = sys.stderr
    impl, cases, replies = None, {}, itertools.count()
    folder = Path(os.environ.get("NNPARITY_WORKER_DIR") or tempfile.mkdtemp(prefix=processes.owned_name("nnparity") + "worker-"))
    processes.become_subreaper()

    def orphaned() -> None:  # the parent died (killed, crashed): end what this worker started, and itself
        processes.end_descendants()
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(1)

    processes.watch_parent(orphaned)
    if "NNPARITY_REPLICAS" in os.environ:
        impl = load_target(target)  # now: the other ranks wait for it to join their process group
    try:
        _serve_lines(target, wire, folder, impl, cases, replies)
    finally:
        if hasattr(impl, "follow"):
            impl.close()  # the other ranks stop following
        processes.end_descendants()
    # Done, and every answer sent: skip the interpreter's teardown, whose atexit hooks cost jax 1.7 s of
    # clearing its caches (and TensorFlow its own) while the parent waits for the exit (measured on the
    # default matrix, where the last worker's exit is the run's last second).
    wire.flush()
    sys.stderr.flush()
    os._exit(0)


def follow(target: str) -> None:
    """A replica other than rank 0: nothing on the wire; it makes each call rank 0 broadcasts, until told to stop."""
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    processes.become_subreaper()
    try:
        load_target(target).follow()
    finally:
        processes.end_descendants()


def _serve_lines(target: str, wire, folder: Path, impl, cases: dict, replies) -> None:
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "exit":
            break
        try:
            arrays = _load(req["arrays"]) if req.get("arrays") else {}
            result, out = {}, None
            if req["op"] == "hello":
                impl = impl or load_target(target)
                result = {"name": impl.name, "available": impl.available(), "devices": _devices(impl)}
            elif req["op"] == "load_case":
                cases[req["case"]] = Case.from_arrays(req["meta"], arrays)
            elif req["op"] == "collect":
                out = collect(impl, cases[req["case"]], req["check"])
            elif req["op"] == "drop_case":
                cases.pop(req["case"], None)
                if hasattr(impl, "forget"):
                    impl.forget()  # its handles (on every replica)
            elif req["op"] == "call":
                impl = impl or load_target(target)
                result, out = load_target(req["fn"])(impl, arrays, **req.get("kwargs", {}))
            else:
                raise ValueError(f"unknown request {req['op']!r}")
            reply = {"ok": True, "result": result}
            if out is not None:
                path = folder / f"reply{next(replies)}.arrays"
                _save(path, out)
                reply["arrays"] = str(path)
        except Unsupported as exc:
            reply = {"ok": False, "unsupported": str(exc)}
        except Exception as exc:  # reported to the parent, which decides what it means
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=8)}
        wire.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    serve(sys.argv[1])
