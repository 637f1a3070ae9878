"""The environment that pins a worker process to one CPU thread.

The parity checks multiply 64-row matrices, where a thread pool costs more than it saves, and the
matrix runs several worker processes side by side on a 2-core machine: one thread each keeps them
from fighting over the cores. Set before the worker imports its numerical libraries (BLAS, torch,
TensorFlow and XLA read these once, at start-up).
"""
from __future__ import annotations

SINGLE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    # Flags only: XLA stops reading XLA_FLAGS at the first token that is not one (an "intra_op_parallelism_threads=1"
    # here until this stop silently dropped every flag after it: keras-jax's fast compilation and its device count).
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
}
