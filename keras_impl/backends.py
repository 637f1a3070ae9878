"""Which Keras backends exist, and the environment a process needs before it imports keras.

Set before ``import keras``:
* ``KERAS_BACKEND``: the backend, fixed for the process's life.
* ``JAX_ENABLE_X64=1``: without it jax silently computes float64 layers in float32.
* ``TF_ENABLE_ONEDNN_OPTS=0``: TensorFlow's oneDNN kernels reorder float sums ("slightly different
  numerical results", TF's own start-up warning); off, as parity wants the plain kernels.
* ``TF_CPP_MIN_LOG_LEVEL=3``, so TensorFlow's start-up chatter does not bury the report.
* ``NVIDIA_TF32_OVERRIDE=0`` and ``JAX_DEFAULT_MATMUL_PRECISION=highest``: no TF32 on a GPU
  (TensorFlow and jax turn it on by default on Ampere and Hopper; research/divergences.md 1e).
* one CPU thread per process (``reference.threads.SINGLE_THREAD``), as for every parity worker.
* jax's persistent compilation cache (``~/.cache/nnparity/jax-<version>``, or under
  ``$NNPARITY_CACHE_DIR``): keras-jax compiles every new shape and optimizer, about 0.1 s each and
  700 times in the default matrix; a second run loads them (measured: 33 s -> 8 s for four specs).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

from reference.threads import SINGLE_THREAD

BACKENDS = ("tensorflow", "jax", "torch")
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
TF_REPLICAS = "NNPARITY_TF_REPLICAS"  # Keras on TensorFlow over replicas: how many logical CPU devices to make


# jax compiles every new shape and optimizer: cheaper compilation of these tiny programs (no IEEE
# change: fast-math stays off) cuts keras-jax's parity time by a tenth.
FAST_COMPILE = " --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def environment(backend: str, single_thread: bool = True) -> dict[str, str]:
    threads = dict(SINGLE_THREAD) if single_thread else {}
    if single_thread and backend == "jax":
        threads["XLA_FLAGS"] += FAST_COMPILE
    if backend == "jax":
        threads.update(jax_cache())
    return {
        **threads,
        "KERAS_BACKEND": backend,
        "JAX_ENABLE_X64": "1",
        "JAX_DEFAULT_MATMUL_PRECISION": "highest",
        "NVIDIA_TF32_OVERRIDE": "0",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONWARNINGS": "ignore",
    }


def jax_cache() -> dict[str, str]:
    try:
        version = importlib.metadata.version("jax")
    except importlib.metadata.PackageNotFoundError:
        return {}
    root = Path(os.environ.get("NNPARITY_CACHE_DIR") or Path.home() / ".cache" / "nnparity")
    return {
        "JAX_COMPILATION_CACHE_DIR": str(root / f"jax-{version}"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def missing(backend: str) -> str | None:
    """Why this backend cannot run here, or None."""
    for package in ("keras", PACKAGES[backend]):
        if importlib.util.find_spec(package) is None:
            return f"{package} is not installed"
    return None


def current() -> str | None:
    """The backend of the keras already imported in this process, or None."""
    if "keras" not in sys.modules:
        return None
    return sys.modules["keras"].backend.backend()
