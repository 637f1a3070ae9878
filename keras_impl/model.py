"""Spec -> ``keras.Sequential`` with the canonical weights, computing every op in the run's dtype.

The output Dense has no activation: it emits the logits, and the output activation is applied
separately (``output_activation``), so the losses are computed from logits as the reference does.

Two float64 fixes are needed for aligned parity (research: measured here, see the divergence table):

* torch backend: ``ops.matmul`` of two float64 tensors runs in float32, because Keras's type
  promotion maps float64 to float32 on every backend but TensorFlow (keras-team/keras#23704,
  ``BIT64_TO_BIT32_DTYPE``). ``ExactDense`` computes the same product with ``ops.einsum``, which
  keeps float64. Used only for float64 on the torch backend.
* tensorflow backend: ``regularizers.L2`` multiplies by ``ops.cast(l2, dtype)``, and ``tf.cast`` of a
  Python float goes through a float32 constant (tensorflow/tensorflow#35938): l2 = 0.01 becomes
  0.0099999998. ``ExactL2`` converts the factor directly to the variable's dtype.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from reference.spec import Spec


class ExactDense(keras.layers.Dense):
    """``Dense`` whose product stays in float64 on the torch backend (keras-team/keras#23704)."""

    def call(self, inputs, training=None):
        x = ops.einsum("ni,io->no", inputs, self.kernel)
        if self.bias is not None:
            x = ops.add(x, self.bias)
        return self.activation(x) if self.activation is not None else x


class ExactL2(keras.regularizers.L2):
    """``L2`` whose factor is not rounded through float32 on TensorFlow (tensorflow/tensorflow#35938)."""

    def __call__(self, x):
        return ops.convert_to_tensor(np.asarray(self.l2, dtype=x.dtype), dtype=x.dtype) * ops.sum(ops.square(x))


def activation(name: str, params: dict):
    """The Keras activation function for a reference activation, with its parameters pinned."""
    acts = keras.activations
    if name == "leaky_relu":
        return lambda x: acts.leaky_relu(x, negative_slope=params["alpha"])
    if name == "elu":
        return lambda x: acts.elu(x, alpha=params["alpha"])
    if name == "gelu":
        return lambda x: acts.gelu(x, approximate=params["approximate"] == "tanh")
    return {"sigmoid": acts.sigmoid, "tanh": acts.tanh, "relu": acts.relu, "silu": acts.silu,
            "softplus": acts.softplus, "linear": acts.linear, "softmax": acts.softmax}[name]


def build(spec: Spec, weights: list[np.ndarray], dtype: str, aligned: bool = True) -> keras.Sequential:
    backend = keras.backend.backend()
    dense = ExactDense if aligned and dtype == "float64" and backend == "torch" else keras.layers.Dense
    l2 = ExactL2 if aligned and dtype == "float64" and backend == "tensorflow" else keras.regularizers.L2
    layers = [keras.Input(shape=(spec.n_inputs,), dtype=dtype)]
    for i, layer in enumerate(spec.layers):
        last = i == len(spec.layers) - 1
        layers.append(dense(
            layer.units,
            activation=None if last else activation(layer.activation.name, layer.activation.params),
            use_bias=layer.use_bias,
            kernel_initializer="zeros",  # overwritten by set_weights below; drawing random ones costs compiles
            bias_initializer="zeros",
            kernel_regularizer=l2(layer.l2) if layer.l2 else None,
            dtype=dtype,
        ))
    m = keras.Sequential(layers)
    m.set_weights([np.asarray(w, dtype=dtype) for w in weights])
    return m


def output_activation(spec: Spec):
    last = spec.layers[-1].activation
    return activation(last.name, last.params)
