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


# Implementations that train over N data-parallel replicas with their framework's own engine, by base name:
# the replicated implementation's target, or why there is none yet (reference/replicas.py).
REPLICATED: dict[str, str] = {"torch": "torch_impl.replicated:ReplicatedTorch",
                              "keras-jax": "keras_impl.replicated_jax:ReplicatedKerasJax",
                              "keras-tensorflow": "keras_impl.replicated_tensorflow:ReplicatedKerasTensorflow"}
NO_REPLICAS = {
    "numpy": "the reference runs in one process: it is what the replicas are compared with",
    "sklearn": "scikit-learn's MLP has no data-parallel training",
    "keras-torch": ("Keras on torch has no data-parallel training of its own: Keras's example (keras/examples/"
                    "demo_torch_multi_gpu.py) wraps the model in torch's DistributedDataParallel and trains it with a "
                    "torch optimizer, loss and loop, which is torch's engine and update (torch-xN checks them), not "
                    "Keras's fit or optimizers"),
}


def replicated_name(name: str, replicas: int) -> str:
    """The cells' name for ``name`` over ``replicas`` (``torch-x2``); ``name`` itself for one process."""
    return name if replicas <= 1 else f"{name}-x{replicas}"


def _replicated(name: str, timeout: float, single_thread: bool):
    """``<impl>-x<N>``: the implementation over N replicas on this machine, started by its framework's launcher."""
    base, n = _replica_parts(name)
    if base not in REPLICATED:
        return Unavailable(name, NO_REPLICAS.get(base, f"{base} has no data-parallel engine here"))
    if base in ("keras-jax", "keras-tensorflow"):
        return _keras_devices(name, base, n, timeout, single_thread)
    return torch_replicas(name, REPLICATED[base], n, timeout, single_thread)


def _keras_devices(name: str, base: str, replicas: int, timeout: float, single_thread: bool):
    """Keras over ``replicas`` devices of one process: JAX's host devices (``keras_impl/replicated_jax.py``) or
    TensorFlow's logical CPU devices (``keras_impl/replicated_tensorflow.py``); one machine only."""
    from keras_impl import backends
    from nnparity.replica_topology import announced

    backend = base.removeprefix("keras-")
    if announced(replicas).nnodes > 1:
        return Unavailable(name, f"Keras on {backend} over several machines: not wired; its replicas are the devices "
                                 "of one process")
    if why := backends.missing(backend):
        return Unavailable(name, why)
    env = backends.environment(backend, single_thread)
    if backend == "jax":
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={replicas}".strip()
    else:
        env[backends.TF_REPLICAS] = str(replicas)
    return Worker(name, REPLICATED[base], env, timeout=timeout)


def torch_replicas(name: str, target: str, replicas: int, timeout: float = DEFAULT_TIMEOUT, single_thread: bool = True):
    """``target`` (a replicated implementation, ``torch_impl/replicated.py``) in ``replicas`` processes started by
    torch's own launcher, ``torch.distributed.run``, on this machine or across the machines the command announced
    (``nnparity/replica_topology.py``); rank 0 is the worker this process talks to."""
    import sys

    from nnparity.replica_topology import announced
    from reference.threads import SINGLE_THREAD

    top = announced(replicas)
    env = {**(dict(SINGLE_THREAD) if single_thread else {}), **top.environment(),
           "NNPARITY_REPLICA_TIMEOUT": str(int(timeout))}
    return Worker(name, target, env, timeout=timeout, launcher=[sys.executable, *top.launcher()])


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


def _replica_parts(name: str) -> tuple[str, int] | None:
    """``torch-x2`` -> ("torch", 2): a built-in's name over N > 1 replicas (``replicated_name``), else None."""
    import re

    m = re.fullmatch(r"(.+)-x(\d+)", name)
    return (m.group(1), int(m.group(2))) if m and m.group(1) in BUILTIN and int(m.group(2)) > 1 else None


def is_replicated(name: str) -> bool:
    return _replica_parts(name) is not None


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
    if is_replicated(name):
        return _replicated(name, timeout, single_thread)
    target = plugins().get(name, name)
    if not is_target(target):
        from reference.errors import UserError

        raise UserError(f"--impl {name}: unknown; known: {', '.join(known())}, or module.path:ClassName.")
    return Worker(name, target, dict(SINGLE_THREAD) if single_thread else {}, timeout=timeout)
