"""The implementation protocol: what every implementation receives and returns.

Everything that crosses it is NumPy, so an implementation can live in another process (the Keras
backends do), behind golden files, or in another language.

**Weights** are canonical (``reference/weights.py``): the trainable tensors in one flat list, named
``layers[i].<name>`` by ``reference.weights.tensor_names(spec)`` — per dense layer a kernel of shape
(fan_in, fan_out), as in ``z = x @ kernel + bias`` and in Keras (torch's ``Linear.weight`` is its transpose),
and a bias unless ``use_bias = false``; per batch or layer normalization ``gamma`` and ``beta``. **State**
is the tensors training mode updates by rule (batch normalization's ``moving_mean`` and
``moving_variance``, torch's ``running_mean`` and ``running_var``), named by ``state_names(spec)``; it starts
at zeros and ones. Arrays are C-contiguous, of the run's dtype.

**Inputs**: ``x`` has shape (N, n_inputs) and the run's dtype. ``y`` is encoded as the spec's loss
expects: one-hot rows (``categorical_crossentropy``), int64 labels (``sparse_categorical_crossentropy``),
or values of shape (N, outputs) (``binary_crossentropy``, ``mse``, ``half_sse``). **masks** (specs with
dropout) are ``{"layers[i]": keep}``, a boolean (N, width) array per dropout layer, drawn by the oracle
(``reference/masks.py``): every implementation drops the same units, scaling the kept ones by 1 / (1 - rate).
**sample_weight** (specs with ``training.sample_weight``) is one weight per row of x, drawn by the oracle;
class weights are the spec's own (``spec.training.class_weight``), for the implementation to apply with its
framework's mechanism (``reference/weighting.py`` says what each weighted mean divides by).

**dtype** is ``"float32"`` or ``"float64"``: every computation runs in it (no TF32, no mixed
precision). **device** is ``"cpu"`` or ``"cuda"``.

The methods (the keyword arguments in brackets are passed only when the spec needs them, so an
implementation written for dense layers alone keeps working unchanged):

``build(spec, weights, *, dtype, device) -> handle``
    A model of ``spec`` holding exactly ``weights`` (copied) and the starting state, and a fresh optimizer for
    ``spec.optimizer`` with empty state and step counter 0.
``forward(handle, x[, training=False][, masks]) -> a``
    The output activation :math:`a^L` (probabilities for a softmax or sigmoid output), shape (N, outputs), in
    inference mode or, with ``training=True`` (specs with batch normalization or dropout), training mode:
    batch statistics and the given masks. Changes nothing, state included.
``loss_and_grads(handle, x, y[, masks][, sample_weight]) -> (loss, grads)``
    The loss C as the reference defines it (the data loss reduced by ``spec.loss.reduction``, each row weighted
    by ``sample_weight`` or by its class's ``spec.training.class_weight`` as ``reference/weighting.py`` says, plus
    ``l2 * sum(t**2)`` for every tensor with an l2) and dC/dweight for every weight, canonical layout, in
    training mode. Changes nothing, state included.
``step(handle, x, y[, masks][, sample_weight]) -> weights``
    One optimizer step: the gradient of C at the current weights on (x, y), clipped as ``spec.optimizer.clip``
    says (``reference/clipping.py``; ``None``: not clipped), applied once by the handle's optimizer at the rate
    ``spec.optimizer.schedule`` gives this step (``reference/schedules.py``; ``None``: the constant
    ``learning_rate``; a per-step schedule's index is the number of steps taken) (whose state carries over to the next step), and the state's training-mode update. Returns the
    new weights; ``state`` reads the new state.
``weights(handle) -> weights``
    The current weights, canonical.
``state(handle) -> state`` *(specs with batch normalization)*
    The current state, canonical (``state_names``).
``layer_outputs(handle, x[, training][, masks]) -> [a^1, ..., a^L]`` *(optional)*
    Every layer's output; when present, a forward mismatch is located to its first layer.
``end_epoch(handle)`` *(specs whose learning-rate schedule advances per epoch)*
    An epoch of the shared schedule ended (called after its last ``step``): the schedule moves on, as torch's
    ``scheduler.step()`` once per epoch, or Keras's ``LearningRateScheduler`` at the next epoch's start.
``fit(handle, x, y, epochs, x_val, y_val) -> (weights, monitored)`` *(specs with early stopping)*
    Train on (x, y) epoch by epoch (``epochs``: each a list of batch index arrays) in the framework's own loop,
    with ``spec.training.early_stopping`` (``reference/early_stopping.py``: Keras's rule) watching the validation
    loss on (x_val, y_val) after every epoch. Returns the final weights (the best epoch's where the rule restores
    them) and the validation loss of every epoch run.
``train(handle, x, y, batches) -> weights`` *(optional)*
    One ``step`` per batch, in order (``batches`` are index arrays into x and y), in the
    implementation's own training loop; the weights after the last. Used by the reproductions, which
    train for tens of thousands of steps; without it, ``step`` is called once per batch.
``available() -> str | None``
    ``None``, or why this implementation cannot run here (a missing package, no CUDA). A user who names an
    implementation that says no here gets a usage error (exit 2) and nothing runs.
``supports(spec) -> str | None`` *(optional)*
    ``None``, or why this implementation cannot express ``spec`` (a layer kind, activation, loss or optimizer
    it lacks, a dtype it does not compute in: ``spec.dtype`` is the run's; for a step check ``spec.optimizer``
    is the optimizer that check steps with). A declined cell is *unsupported*, with the reason: not an error,
    not a pass, and a run in which every cell was declined checked nothing and says so. An implementation
    without ``supports`` is taken to implement dense layers only, without gradient clipping: a spec with other
    kinds, or one whose ``spec.optimizer.clip`` is set, is declined for it.
``supports_check(check, spec) -> str | None`` *(optional)*
    ``None``, or why a spec it supports cannot be judged by one check (``check`` its name): scikit-learn's log
    loss clips probabilities at the dtype's epsilon, so the large-logits check's loss is not its to give.
``native_aspects`` *(optional, the built-in adapters)*
    The native-mode aspects (``reference/native.py``) it can run; a case with any of them passes them to
    ``build`` as ``native=frozenset(...)``.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from reference.network import Network
from reference.replica_network import PerReplicaNetwork, per_replica
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

    def __init__(self, replicas: int = 1):
        self.replicas = replicas  # what the judged implementation runs over: the per-replica statistics' shards

    def available(self) -> str | None:
        return None

    def supports(self, spec) -> str | None:
        return None

    def build(self, spec, weights, *, dtype, device):
        if device != "cpu":
            raise ValueError("the NumPy reference runs on the cpu only")
        if self.replicas > 1 and per_replica(spec):
            return PerReplicaNetwork(spec, weights, dtype=dtype, replicas_n=self.replicas)
        return Network(spec, weights, dtype=dtype)

    def forward(self, net, x, training=False, masks=None):
        return net.predict(x, training=training, masks=masks)

    def layer_outputs(self, net, x, training=False, masks=None):
        return [a for a, _ in net.forward(x, training=training, masks=masks)]

    def loss_and_grads(self, net, x, y, masks=None, sample_weight=None):
        return net.loss_and_grads(x, y, masks=masks, **_weights(sample_weight))

    def step(self, net, x, y, masks=None, sample_weight=None):
        net.step(x, y, masks=masks, **_weights(sample_weight))
        return net.weights()

    def weights(self, net):
        return net.weights()

    def state(self, net):
        return net.state_values()

    def end_epoch(self, net):
        net.end_epoch()

    def fit(self, net, x, y, epochs, x_val, y_val):
        """The epochs (each a list of batch index arrays), Keras's early-stopping rule after each
        (``reference/early_stopping.py``)."""
        from reference.early_stopping import Stopper

        stopper, monitored = Stopper(net.spec.training.early_stopping), []
        snapshot = lambda: ([p.copy() for p in net.params], [s.copy() for s in net.state])
        for e, batches in enumerate(epochs):
            for idx in batches:
                net.step(x[idx], y[idx])
            net.end_epoch()
            monitored.append(net.val_loss(x_val, y_val))
            if stopper.after_epoch(e, monitored[-1], snapshot):
                break
        if stopper.kept is not None:
            params, state = stopper.kept
            for p, k in zip(net.params, params):
                p[...] = k
            for s, k in zip(net.state, state):
                s[...] = k
        return net.weights(), monitored

    def train(self, net, x, y, batches):
        for idx in batches:
            net.step(x[idx], y[idx])
        return net.weights()


def _weights(sample_weight) -> dict:
    # Passed only when there are weights, so a Network subclass written before them keeps working.
    return {} if sample_weight is None else {"sample_weight": sample_weight}


def train(impl, handle, x, y, batches, spec: Spec | None = None, steps_per_epoch: int | None = None) -> Weights:
    """``impl.train`` where the implementation has one, else one ``step`` per batch. Under a per-epoch schedule
    (``spec``), the batches are trained an epoch (``steps_per_epoch``) at a time, each followed by ``end_epoch``.
    A weighted spec trains step by step: ``train`` takes no weights (class weights through ``fit`` are for later)."""
    if spec is not None and spec.training.sample_weight is not None:
        raise ValueError("train() takes no sample weights; a spec with training.sample_weight trains through step()")
    if spec is not None and spec.training.class_weight is not None:
        weights = impl.weights(handle)
        for i, idx in enumerate(batches):
            weights = impl.step(handle, x[idx], y[idx])
            if steps_per_epoch and (i + 1) % steps_per_epoch == 0 and spec.optimizer.schedule is not None:
                impl.end_epoch(handle)
        return weights
    schedule = spec.optimizer.schedule if spec is not None else None
    if schedule is not None and schedule.per == "epoch":
        if not steps_per_epoch:
            raise ValueError("a per-epoch schedule needs steps_per_epoch to know where each epoch ends")
        weights = impl.weights(handle)
        for start in range(0, len(batches), steps_per_epoch):
            weights = train(impl, handle, x, y, batches[start:start + steps_per_epoch])
            if start + steps_per_epoch <= len(batches):
                impl.end_epoch(handle)
        return weights
    if hasattr(impl, "train"):
        return impl.train(handle, x, y, batches)
    weights = impl.weights(handle)
    for idx in batches:
        weights = impl.step(handle, x[idx], y[idx])
    return weights
