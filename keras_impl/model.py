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
* activations (``EXACT_FLOAT64``; measured against the closed forms on float64 inputs): on
  tensorflow ``leaky_relu`` is off by 4e-9 (the ``LeakyRelu`` op keeps its slope in a C++ ``float``) and
  ``gelu`` by 5e-9 (``tf.nn.gelu`` casts its constants through float32); on jax ``tanh`` returns float32
  (``ops.tanh`` goes through the demoting type promotion). Each gets the same formula written with
  float64 constants, or the backend's own float64 function.
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


def _const(value, x):
    """``value`` as a 0-d tensor of x's dtype, without passing through float32."""
    return ops.convert_to_tensor(np.asarray(value, dtype=keras.backend.standardize_dtype(x.dtype)))


def _exact_leaky_relu(params):
    return lambda x: ops.where(x > 0, x, x * _const(params["alpha"], x))


def _exact_gelu(params):
    def gelu(x):
        c = lambda v: _const(v, x)
        if params["approximate"] == "tanh":
            inner = c(np.sqrt(2 / np.pi)) * (x + c(0.044715) * x * x * x)
            return c(0.5) * x * (c(1.0) + ops.tanh(inner))
        return c(0.5) * x * (c(1.0) + ops.erf(x / c(np.sqrt(2.0))))

    return gelu


def _jax_tanh(params):
    import jax.numpy as jnp

    return jnp.tanh


# (backend, activation) -> a float64-exact replacement, used in float64 unless native "float64-stock".
EXACT_FLOAT64 = {("tensorflow", "leaky_relu"): _exact_leaky_relu, ("tensorflow", "gelu"): _exact_gelu, ("jax", "tanh"): _jax_tanh}


def activation(name: str, params: dict, native: frozenset = frozenset(), dtype: str = "float32"):
    """The Keras activation function for a reference activation, with its parameters pinned."""
    acts = keras.activations
    exact = EXACT_FLOAT64.get((keras.backend.backend(), name))
    if exact and dtype == "float64" and "float64-stock" not in native and "leaky-relu-default" not in native:
        return exact(params)
    if name == "leaky_relu":
        if "leaky-relu-default" in native:
            return acts.leaky_relu  # Keras's default slope, 0.2
        return lambda x: acts.leaky_relu(x, negative_slope=params["alpha"])
    if name == "elu":
        return lambda x: acts.elu(x, alpha=params["alpha"])
    if name == "gelu":
        return lambda x: acts.gelu(x, approximate=params["approximate"] == "tanh")
    return {"sigmoid": acts.sigmoid, "tanh": acts.tanh, "relu": acts.relu, "silu": acts.silu,
            "softplus": acts.softplus, "linear": acts.linear, "softmax": acts.softmax}[name]


def build(spec: Spec, weights: list[np.ndarray], dtype: str, native: frozenset = frozenset()) -> keras.Sequential:
    """The model; in native mode (``reference/native.py``) some aspects keep Keras's own defaults:
    ``init-defaults`` its initialisers (seeded with the spec's seed) instead of ``weights``,
    ``probabilities`` the output activation inside the last Dense, ``float64-stock`` no fixes."""
    backend = keras.backend.backend()
    fixes = dtype == "float64" and "float64-stock" not in native
    dense = ExactDense if fixes and backend == "torch" else keras.layers.Dense
    l2 = ExactL2 if fixes and backend == "tensorflow" else keras.regularizers.L2
    own_init = "init-defaults" in native
    if own_init:
        keras.utils.set_random_seed(spec.seed)
    layers = [keras.Input(shape=(spec.n_inputs,), dtype=dtype)]
    for i, layer in enumerate(spec.layers):
        last = i == len(spec.layers) - 1
        act = None if last and "probabilities" not in native else activation(layer.activation.name, layer.activation.params, native, dtype)
        init = {} if own_init else {"kernel_initializer": "zeros", "bias_initializer": "zeros"}  # set_weights overwrites
        layers.append(dense(layer.units, activation=act, use_bias=layer.use_bias,
                            kernel_regularizer=l2(layer.l2) if layer.l2 else None, dtype=dtype, **init))
    m = keras.Sequential(layers)
    if not own_init:
        m.set_weights([np.asarray(w, dtype=dtype) for w in weights])
    return m


def output_activation(spec: Spec, native: frozenset = frozenset(), dtype: str = "float32"):
    """What turns the model's output into a^L: the output activation, or nothing if the model applies it."""
    if "probabilities" in native:
        return keras.activations.linear
    last = spec.layers[-1].activation
    return activation(last.name, last.params, native, dtype)
