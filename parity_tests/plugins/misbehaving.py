"""Implementations that misbehave in the ways a plugin can: for the runner's robustness tests.

Each is the reference itself with one thing wrong, importable by a worker as ``module:Class``.
"""
from __future__ import annotations

import os
import time

import numpy as np

from reference.implementation import NumpyImplementation


class Raises(NumpyImplementation):
    name = "raises"

    def loss_and_grads(self, h, x, y):
        raise RuntimeError("this plugin has no gradients yet")


class Dies(NumpyImplementation):
    name = "dies"

    def forward(self, h, x):
        print("about to crash", flush=True)  # lands in the worker's stderr log, quoted in the error
        os._exit(3)


class Hangs(NumpyImplementation):
    name = "hangs"

    def forward(self, h, x):
        time.sleep(3600)


class WrongShape(NumpyImplementation):
    name = "wrong-shape"

    def forward(self, h, x):
        return super().forward(h, x)[:, :-1]


class WrongDtype(NumpyImplementation):
    name = "wrong-dtype"

    def forward(self, h, x):
        return super().forward(h, x).astype(np.float64)


class ReturnsNaN(NumpyImplementation):
    name = "returns-nan"

    def loss_and_grads(self, h, x, y):
        loss, grads = super().loss_and_grads(h, x, y)
        grads[-1][0] = np.nan
        return loss, grads


class ReturnsInf(NumpyImplementation):
    name = "returns-inf"

    def forward(self, h, x):
        out = super().forward(h, x)
        out[2, -1] = np.inf
        return out


class Unavailable(NumpyImplementation):
    name = "unavailable"

    def available(self):
        return "this plugin needs a GPU driver this machine lacks"


class DeclinesEverything(NumpyImplementation):
    name = "declines-everything"

    def supports(self, spec):
        return f"{spec.name}: this implementation does no {spec.dtype} arithmetic at all"


class SupportsFloat64Only(NumpyImplementation):
    name = "float64-only"

    def supports(self, spec):
        return None if spec.dtype == "float64" else f"computes in float64 only (asked for {spec.dtype})"


MARKER = "nnparity-test-child"


class SpawnsChildren(NumpyImplementation):
    """Starts two long-lived processes on every forward pass, one of which leaves the process group (setsid), then
    hangs: whatever ends the worker must end them too. Their command lines carry ``MARKER`` and the marker in
    $NNPARITY_TEST_MARKER, so a test can look for survivors."""

    name = "spawns-children"

    def forward(self, h, x):
        import subprocess
        import sys

        tag = os.environ.get("NNPARITY_TEST_MARKER", MARKER)
        code = f"import time; time.sleep(3600)  # {tag}"
        subprocess.Popen([sys.executable, "-c", code])
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        time.sleep(3600)


class HangsInAvailable(NumpyImplementation):
    name = "hangs-in-available"

    def available(self):
        time.sleep(3600)


class LeavesChildren(NumpyImplementation):
    """Starts two long-lived processes (one in its own session) and returns normally: a correct plugin that
    forgets its children, which must not outlive the command."""

    name = "leaves-children"

    def forward(self, h, x):
        import subprocess
        import sys

        code = f"import time; time.sleep(3600)  # {os.environ.get('NNPARITY_TEST_MARKER', MARKER)}"
        subprocess.Popen([sys.executable, "-c", code])
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        return super().forward(h, x)
