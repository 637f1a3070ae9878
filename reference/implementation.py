"""The implementation protocol: what every implementation receives and returns.

Everything that crosses it is NumPy, so an implementation can live in another process (the Keras
backends do), behind golden files, or in another language.

**Weights** are canonical: a flat list ``[kernel_0, bias_0, kernel_1, bias_1, ...]`` with each kernel
of shape (fan_in, fan_out), as in ``z = x @ kernel + bias`` and in Keras; a layer with
``use_bias = false`` has no bias entry (``reference.weights.tensor_names`` names them). torch's
``Linear.weight`` is the transpose of the kernel. Arrays are C-contiguous, of the run's dtype.

**Inputs**: ``x`` has shape (N, n_inputs) and the run's dtype. ``y`` is encoded as the spec's loss
expects: one-hot rows (``categorical_crossentropy``), int64 labels (``sparse_categorical_crossentropy``),
or values of shape (N, outputs) (``binary_crossentropy``, ``mse``, ``half_sse``).

**dtype** is ``"float32"`` or ``"float64"``: every computation runs in it (no TF32, no mixed
precision). **device** is ``"cpu"`` or ``"cuda"``.

The methods:

``build(spec, weights, *, dtype, device) -> handle``
    A model of ``spec`` holding exactly ``weights`` (copied), and a fresh optimizer for
    ``spec.optimizer`` with empty state and step counter 0.
``forward(handle, x) -> a``
    The output activation :math:`a^L` (probabilities for a softmax or sigmoid output), shape (N, outputs).
``loss_and_grads(handle, x, y) -> (loss, grads)``
    The loss C as the reference defines it (the data loss reduced by ``spec.loss.reduction``, plus
    ``l2 * sum(kernel**2)`` per layer) and dC/dparam for every parameter, canonical layout. Changes nothing.
``step(handle, x, y) -> weights``
    One optimizer step: the gradient of C at the current weights on (x, y), applied once by the
    handle's optimizer (whose state carries over to the next step). Returns the new weights.
``weights(handle) -> weights``
    The current weights, canonical.
``layer_outputs(handle, x) -> [a^1, ..., a^L]`` *(optional)*
    Every layer's activation; when present, a forward mismatch is located to its first layer.
``train(handle, x, y, batches) -> weights`` *(optional)*
    One ``step`` per batch, in order (``batches`` are index arrays into x and y), in the
    implementation's own training loop; the weights after the last. Used by the reproductions, which
    train for tens of thousands of steps; without it, ``step`` is called once per batch.
``available() -> str | None``
    ``None``, or why this implementation cannot run here (a missing package, no CUDA). A user who names an
    implementation that says no here gets a usage error (exit 2) and nothing runs.
``supports(spec) -> str | None`` *(optional; absent: everything)*
    ``None``, or why this implementation cannot express ``spec`` (an activation, loss or optimizer it lacks,
    a dtype it does not compute in: ``spec.dtype`` is the run's; for a step check ``spec.optimizer`` is the
    optimizer that check steps with). A declined cell is *unsupported*, with the reason: not an error, not a
    pass, and a run in which every cell was declined checked nothing and says so.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from reference.network import Network
from reference.spec import Spec

Weights = list[np.ndarray]


@runtime_checkable
class Implementation(Protocol):
    name: str

    def available(self) -> str | None: ...

    def build(self, spec: Spec, weights: Weights, *, dtype: str, device: str) -> Any: ...

    def forward(self, handle: Any, x: np.ndarray) -> np.ndarray: ...

    def loss_and_grads(self, handle: Any, x: np.ndarray, y: np.ndarray) -> tuple[float, Weights]: ...

    def step(self, handle: Any, x: np.ndarray, y: np.ndarray) -> Weights: ...

    def weights(self, handle: Any) -> Weights: ...


class NumpyImplementation:
    """The reference itself, behind the protocol (so the matrix has a numpy column and golden files a producer)."""

    name = "numpy"

    def available(self) -> str | None:
        return None

    def build(self, spec, weights, *, dtype, device):
        if device != "cpu":
            raise ValueError("the NumPy reference runs on the cpu only")
        return Network(spec, weights, dtype=dtype)

    def forward(self, net, x):
        return net.predict(x)

    def layer_outputs(self, net, x):
        return [a for _, a in net.forward(x)]

    def loss_and_grads(self, net, x, y):
        return net.loss_and_grads(x, y)

    def step(self, net, x, y):
        net.step(x, y)
        return net.weights()

    def weights(self, net):
        return net.weights()

    def train(self, net, x, y, batches):
        for idx in batches:
            net.step(x[idx], y[idx])
        return net.weights()


def train(impl, handle, x, y, batches) -> Weights:
    """``impl.train`` where the implementation has one, else one ``step`` per batch."""
    if hasattr(impl, "train"):
        return impl.train(handle, x, y, batches)
    weights = impl.weights(handle)
    for idx in batches:
        weights = impl.step(handle, x[idx], y[idx])
    return weights
