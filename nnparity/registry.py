"""Implementation names -> factories. ``numpy``, ``torch``, the three Keras backends and ``sklearn`` are built in;
packages add theirs through the entry-point group ``nnparity.implementations`` (``name =
"module:Class"``), and ``module.path:ClassName`` names any class directly.

The Keras backends run in worker processes (a Keras backend is fixed per process), unless this
process already runs keras with that backend. Outside implementations always run in a worker, so
that one which crashes or hangs costs its own checks and nothing else. Every factory returns an
object with ``name``, ``hello()`` (availability and devices) and ``collect(case, check)``: an
``InProcess`` or a ``Worker``.
"""
from __future__ import annotations

from collections.abc import Callable

from reference.worker import DEFAULT_TIMEOUT, InProcess, Worker, WorkerError

KERAS_TARGET = "keras_impl.implementation:KerasImplementation"


class Unavailable:
    """A stand-in for an implementation that cannot run here; every cell it owns is a skip."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason

    def hello(self) -> dict:
        return {"name": self.name, "available": self.reason, "devices": []}

    def close(self) -> None:
        pass


def _numpy(timeout: float, single_thread: bool = True):
    from reference.implementation import NumpyImplementation

    return InProcess(NumpyImplementation())


def _torch(timeout: float, single_thread: bool = True):
    import importlib.util

    from reference.threads import SINGLE_THREAD

    if importlib.util.find_spec("torch") is None:
        return Unavailable("torch", "torch is not installed")
    # A worker of its own: in this process its small ops would contend for the GIL with the runner.
    env = dict(SINGLE_THREAD) if single_thread else {}
    return Worker("torch", "torch_impl.implementation:TorchImplementation", env, timeout=timeout)


def _keras(backend: str) -> Callable:
    def make(timeout: float, single_thread: bool = True):
        from keras_impl import backends

        name = f"keras-{backend}"
        why = backends.missing(backend)
        if why:
            return Unavailable(name, why)
        if backends.current() == backend:
            from keras_impl.implementation import KerasImplementation

            return InProcess(KerasImplementation())
        return Worker(name, KERAS_TARGET, backends.environment(backend, single_thread), timeout=timeout)

    return make


def _sklearn(timeout: float, single_thread: bool = True):
    from reference.threads import SINGLE_THREAD

    # A worker of its own, as torch: its steps are many small NumPy calls that would contend for the GIL here.
    env = dict(SINGLE_THREAD) if single_thread else {}
    return Worker("sklearn", "sklearn_impl.implementation:SklearnImplementation", env, timeout=timeout)


BUILTIN: dict[str, Callable] = {
    "numpy": _numpy,
    "torch": _torch,
    "keras-tensorflow": _keras("tensorflow"),
    "keras-jax": _keras("jax"),
    "keras-torch": _keras("torch"),
    "sklearn": _sklearn,
}


ENTRY_POINT_GROUP = "nnparity.implementations"


def plugins() -> dict[str, str]:
    """Installed plugins: name -> "module:Class"."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def names() -> list[str]:
    """The built-in implementations (the default matrix); ``known()`` adds the installed plugins."""
    return list(BUILTIN)


def known() -> list[str]:
    return list(BUILTIN) + [n for n in plugins() if n not in BUILTIN]


def is_target(name: str) -> bool:
    return ":" in name


def load(name: str, timeout: float = DEFAULT_TIMEOUT, single_thread: bool = True):
    """``make`` for an implementation the user asked for by name: started now, and a ``UserError`` (one
    paragraph, exit 2, nothing run) if it cannot be imported or its ``available()`` says no."""
    from reference.errors import UserError

    impl = make(name, timeout, single_thread)
    try:
        hello = impl.hello()
    except WorkerError as exc:
        impl.close()
        if exc.timed_out:
            raise UserError(f"--impl {name}: did not start within --timeout {timeout:g} s (its import or available() "
                            "hangs, or needs longer: raise --timeout). Nothing was checked.") from None
        raise UserError(f"--impl {name}: cannot be loaded: {_import_error(exc)}. "
                        + ("Check that the module is importable here (installed, or on PYTHONPATH) and that the class "
                           "name is right: --impl module.path:ClassName." if is_target(plugins().get(name, name)) else
                           "Reinstall nnparity's dependencies (make install).") + " Nothing was checked.") from None
    why = hello.get("available")
    if why is not None:
        impl.close()
        raise UserError(f"--impl {name}: cannot run here: {why}. Nothing was checked.")
    return impl


def _import_error(exc: WorkerError) -> str:
    """The import error's own line from a failed start (the worker's traceback ends with it)."""
    lines = [ln.strip() for ln in (exc.detail or "").splitlines() if ln.strip()]
    reason = exc.reason.split(": ", 1)[-1]
    return lines[-1] if lines and reason in lines[-1] else reason


def make(name: str, timeout: float = DEFAULT_TIMEOUT, single_thread: bool = True):
    """A running implementation: a built-in or plugin name, or ``module.path:ClassName``.
    ``single_thread`` (the parity matrix's choice) pins its process to one thread; the reproductions,
    which train one framework at a time for minutes, use every core."""
    from reference.threads import SINGLE_THREAD

    if name in BUILTIN:
        return BUILTIN[name](timeout, single_thread)
    target = plugins().get(name, name)
    if not is_target(target):
        from reference.errors import UserError

        raise UserError(f"--impl {name}: unknown; known: {', '.join(known())}, or module.path:ClassName.")
    return Worker(name, target, dict(SINGLE_THREAD) if single_thread else {}, timeout=timeout)
