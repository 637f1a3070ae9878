"""The reference's losses for Keras, from logits, reduced as the reference reduces.

``reduction = "mean"`` is Keras's ``sum_over_batch_size`` and ``"sum"`` is ``sum``; every loss is
created with the run's ``dtype`` (a Keras loss otherwise computes in ``floatx``, float32).
``half_sse`` has no Keras counterpart and is written with ``keras.ops``.

In float64 on the jax and torch backends Keras's loss classes are not float64: their mean over the
outputs (``ops.mean``) and the torch backend's batch mean (``ops.divide_no_nan``) compute in float32,
because Keras's type promotion maps float64 to float32 on every backend but TensorFlow
(keras-team/keras#23704, #23223; measured here: 9e-9 on a binary cross-entropy). There, ``exact``
composes the same elementwise backend ops (``ops.categorical_crossentropy``,
``ops.binary_crossentropy``, ...) with plain sums and divisions by the counts, which stay float64.
"""
from __future__ import annotations

import keras
from keras import ops

REDUCTIONS = {"mean": "sum_over_batch_size", "sum": "sum"}


def _half_sse(y_true, y_pred):
    return 0.5 * ops.sum(ops.square(y_pred - y_true), axis=-1)


class HalfSumSquaredError(keras.losses.Loss):
    """The documents' C = 1/2 sum_j (a_j - y_j)^2 per sample, reduced as any Keras loss."""

    def call(self, y_true, y_pred):
        return _half_sse(y_true, y_pred)


# Per-sample losses from the backend's elementwise ops, for ``exact``: means written as sum / count.
PER_SAMPLE = {
    "categorical_crossentropy": lambda y, z: ops.categorical_crossentropy(y, z, from_logits=True),
    "sparse_categorical_crossentropy": lambda y, z: ops.sparse_categorical_crossentropy(y, z, from_logits=True),
    "binary_crossentropy": lambda y, z: ops.sum(ops.binary_crossentropy(y, z, from_logits=True), axis=-1) / z.shape[-1],
    "mse": lambda y, a: ops.sum(ops.square(a - y), axis=-1) / a.shape[-1],
    "half_sse": _half_sse,
}


def make(name: str, reduction: str, dtype: str, exact: bool = False, from_logits: bool = True,
         weighted_reduction: str = "sum_over_batch_size"):
    """A callable ``(y_true, y_pred, sample_weight=None) -> loss``: Keras's loss object, or with ``exact`` its
    float64-exact form. A weighted mean divides by the rows or by the weights' sum as ``weighted_reduction`` says:
    Keras's own reductions of those names (``keras/src/losses/loss.py``, ``reduce_values``; without weights both
    divide by the rows). ``from_logits=False`` is native mode's ``probabilities``: Keras's own default, where the
    tensorflow backend quietly uses the logits and the jax and torch backends clip the probabilities at 1e-7."""
    r = weighted_reduction if reduction == "mean" else REDUCTIONS[reduction]
    if not from_logits:
        return _keras_loss(name, r, dtype, from_logits=False)
    if not exact:
        return _keras_loss(name, r, dtype)
    per_sample = PER_SAMPLE[name]

    def loss(y_true, y_pred, sample_weight=None):
        values = per_sample(y_true, y_pred)
        if sample_weight is None:
            total = ops.sum(values)
            return total / y_pred.shape[0] if reduction == "mean" else total
        total = ops.sum(values * sample_weight)
        if reduction == "sum":
            return total
        return total / (y_pred.shape[0] if weighted_reduction == "sum_over_batch_size" else ops.sum(sample_weight))

    return loss


# name -> (reduction, dtype, from_logits) -> Keras's loss object (mse and half_sse take the outputs, not logits)
KERAS_LOSSES = {
    "categorical_crossentropy": lambda r, d, fl: keras.losses.CategoricalCrossentropy(from_logits=fl, reduction=r, dtype=d),
    "sparse_categorical_crossentropy": lambda r, d, fl: keras.losses.SparseCategoricalCrossentropy(
        from_logits=fl, reduction=r, dtype=d),
    "binary_crossentropy": lambda r, d, fl: keras.losses.BinaryCrossentropy(from_logits=fl, reduction=r, dtype=d),
    "mse": lambda r, d, fl: keras.losses.MeanSquaredError(reduction=r, dtype=d),
    "half_sse": lambda r, d, fl: HalfSumSquaredError(reduction=r, dtype=d, name="half_sse"),
}


def _keras_loss(name: str, r: str, dtype: str, from_logits: bool = True) -> keras.losses.Loss:
    return KERAS_LOSSES[name](r, dtype, from_logits)
