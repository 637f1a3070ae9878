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

from reference.native import Native
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


# (backend, activation) -> a float64-exact replacement, used in float64 unless native FLOAT64_STOCK.
EXACT_FLOAT64 = {("tensorflow", "leaky_relu"): _exact_leaky_relu, ("tensorflow", "gelu"): _exact_gelu, ("jax", "tanh"): _jax_tanh}


def activation(name: str, params: dict, native: frozenset = frozenset(), dtype: str = "float32"):
    """The Keras activation function for a reference activation, with its parameters pinned."""
    exact = EXACT_FLOAT64.get((keras.backend.backend(), name))
    if exact and dtype == "float64" and Native.FLOAT64_STOCK not in native and Native.LEAKY_RELU_DEFAULT not in native:
        return exact(params)
    return ACTIVATIONS[name](params, native)


ACTIVATIONS = {
    "sigmoid": lambda p, native: keras.activations.sigmoid, "tanh": lambda p, native: keras.activations.tanh,
    "relu": lambda p, native: keras.activations.relu, "silu": lambda p, native: keras.activations.silu,
    "softplus": lambda p, native: keras.activations.softplus, "linear": lambda p, native: keras.activations.linear,
    "softmax": lambda p, native: keras.activations.softmax,
    # Keras's default slope is 0.2 (keras.activations.leaky_relu), what a port without one gets
    "leaky_relu": lambda p, native: (keras.activations.leaky_relu if Native.LEAKY_RELU_DEFAULT in native
                                     else lambda x: keras.activations.leaky_relu(x, negative_slope=p["alpha"])),
    "elu": lambda p, native: lambda x: keras.activations.elu(x, alpha=p["alpha"]),
    "gelu": lambda p, native: lambda x: keras.activations.gelu(x, approximate=p["approximate"] == "tanh"),
}


def _count(x, axes):
    """The number of elements ``axes`` reduce over, as a tensor of x's dtype (dynamic: a batch may be None in a graph)."""
    count = None
    for axis in axes:
        n = ops.cast(ops.shape(x)[axis], keras.backend.standardize_dtype(x.dtype))
        count = n if count is None else count * n
    return count


def _global_count(x):
    """The rows of x over every replica of a tf.distribute strategy (``synchronized`` batch normalization)."""
    import tensorflow as tf

    ctx = tf.distribute.get_replica_context()
    n = _count(x, [0])
    return n if ctx is None else ctx.all_reduce(tf.distribute.ReduceOp.SUM, n)


def _moments(x, axes, keepdims):
    """Mean and (biased) variance in x's dtype, two-pass: the mean squared deviation from the mean."""
    n = _count(x, axes)
    mean = ops.sum(x, axis=axes, keepdims=True) / n
    d = x - mean
    variance = ops.sum(d * d, axis=axes, keepdims=True) / n
    if not keepdims:
        mean, variance = ops.squeeze(mean, axes), ops.squeeze(variance, axes)
    return mean, variance


class BatchNormalization(keras.layers.BatchNormalization):
    """Keras's own BatchNormalization; where the spec says ``running_variance = "unbiased"`` (torch's convention),
    Keras's update of the moving variance is followed by the difference: (1 - momentum) var / (N - 1)."""

    def __init__(self, *args, unbiased: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.unbiased = unbiased

    def call(self, inputs, training=None, mask=None):
        out = super().call(inputs, training=training, mask=mask)
        if training and self.unbiased:
            self._unbias(inputs)
        return out

    def _unbias(self, inputs):
        dtype = keras.backend.standardize_dtype(self.moving_variance.dtype)
        if self.synchronized:  # over replicas (TensorFlow): the global batch's variance and count, as the layer used
            _, variance = ops.moments(ops.cast(inputs, dtype), [0], synchronized=True)
            n = _global_count(inputs)
        else:
            _, variance = _moments(ops.cast(inputs, dtype), [0], keepdims=False)
            n = _count(inputs, [0])
        one = ops.convert_to_tensor(np.asarray(1.0, dtype=dtype))
        self.moving_variance.assign(self.moving_variance + variance * (ops.convert_to_tensor(np.asarray(1.0 - self.momentum, dtype=dtype)) / (n - one)))


class ExactBatchNormalization(BatchNormalization):
    """Float64 on the jax and torch backends, where Keras's BatchNormalization computes in float32 (its
    ``result_type(inputs.dtype, "float32")`` maps float64 to float32 off TensorFlow, keras-team/keras#23704):
    the same normalization and moving-statistics update, written in the input's dtype."""

    def call(self, inputs, training=None, mask=None):
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        c = lambda v: ops.convert_to_tensor(np.asarray(v, dtype=dtype))
        if training:
            mean, variance = _moments(inputs, [0], keepdims=False)
            m = c(self.momentum)
            self.moving_mean.assign(self.moving_mean * m + mean * (c(1.0) - m))
            self.moving_variance.assign(self.moving_variance * m + variance * (c(1.0) - m))
            if self.unbiased:
                self._unbias(inputs)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return (inputs - mean) / ops.sqrt(variance + c(self.epsilon)) * self.gamma + self.beta


class ExactLayerNormalization(keras.layers.LayerNormalization):
    """Float64 on the jax and torch backends, where ``ops.layer_normalization`` computes in float32: the same
    (x - mean) / sqrt(var + eps) * gamma + beta in the input's dtype."""

    def call(self, inputs):
        mean, variance = _moments(inputs, [-1], keepdims=True)
        eps = ops.convert_to_tensor(np.asarray(self.epsilon, dtype=keras.backend.standardize_dtype(inputs.dtype)))
        return (inputs - mean) / ops.sqrt(variance + eps) * self.gamma + self.beta


class GivenMaskDropout(keras.layers.Layer):
    """Inverted dropout with the oracle's keep-mask as a second input: x * mask / (1 - rate) in training."""

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs, training=None):
        x, mask = inputs
        if not training:
            return x
        dtype = keras.backend.standardize_dtype(x.dtype)
        return x * (ops.cast(mask, dtype) * ops.convert_to_tensor(np.asarray(1.0 / (1.0 - self.rate), dtype=dtype)))


def _dense(layer, last, native, dtype, fixes):
    backend = keras.backend.backend()
    cls = ExactDense if fixes and backend == "torch" else keras.layers.Dense
    l2 = ExactL2 if fixes and backend == "tensorflow" else keras.regularizers.L2
    act = None if last and Native.PROBABILITIES not in native else activation(layer.activation.name, layer.activation.params, native, dtype)
    init = {} if Native.INIT_DEFAULTS in native else {"kernel_initializer": "zeros", "bias_initializer": "zeros"}  # overwritten
    return cls(layer.units, activation=act, use_bias=layer.use_bias, kernel_regularizer=l2(layer.l2) if layer.l2 else None,
               dtype=dtype, **init)


def _norm_regularizer(layer, fixes):
    l2 = ExactL2 if fixes and keras.backend.backend() == "tensorflow" else keras.regularizers.L2
    return l2(layer.l2) if layer.l2 else None


def _exact(fixes: bool) -> bool:
    return fixes and keras.backend.backend() in ("jax", "torch")


def _batch_norm(layer, last, native, dtype, fixes):
    reg = _norm_regularizer(layer, fixes)
    cls = ExactBatchNormalization if _exact(fixes) else BatchNormalization
    momentum = 0.99 if Native.BATCH_NORM_MOMENTUM in native else layer.momentum  # Keras's default
    eps = 1e-3 if Native.BATCH_NORM_EPSILON in native else layer.epsilon
    unbiased = layer.running_variance == "unbiased" and Native.BATCH_NORM_VARIANCE not in native
    return cls(momentum=np.float64(momentum) if fixes else momentum, epsilon=eps, unbiased=unbiased,
               gamma_regularizer=reg, beta_regularizer=reg, dtype=dtype)


def _dropout(layer, last, native, dtype, fixes):
    return keras.layers.Dropout(layer.rate, dtype=dtype) if Native.OWN_DROPOUT in native else GivenMaskDropout(layer.rate, dtype=dtype)


def _layer_norm(layer, last, native, dtype, fixes):
    reg = _norm_regularizer(layer, fixes)
    eps = 1e-3 if Native.LAYER_NORM_DEFAULTS in native else layer.epsilon  # Keras's default
    cls = ExactLayerNormalization if _exact(fixes) else keras.layers.LayerNormalization
    return cls(epsilon=eps, gamma_regularizer=reg, beta_regularizer=reg, dtype=dtype)


# kind -> builder(layer, is_output, native aspects, dtype, float64 fixes on) -> Keras layer
BUILDERS = {"dense": _dense, "batch_norm": _batch_norm, "dropout": _dropout, "layer_norm": _layer_norm}
# kind -> canonical tensor name -> the Keras layer's variable (no transposition: Keras's kernel is (in, out))
LAYOUT = {"dense": {"kernel": "kernel", "bias": "bias"}, "dropout": {}, "layer_norm": {"gamma": "gamma", "beta": "beta"},
          "batch_norm": {"gamma": "gamma", "beta": "beta", "moving_mean": "moving_mean", "moving_variance": "moving_variance"}}


class Built:
    """The Keras model of a spec and how its variables map onto the canonical names."""

    def __init__(self, spec: Spec, model: keras.Model, layers: list, mask_layers: list[str]):
        self.spec, self.model, self.layers, self.mask_layers = spec, model, layers, mask_layers
        from reference.weights import layer_tensors

        tensors = layer_tensors(spec)
        self.weights = [getattr(layers[i], LAYOUT[spec.layers[i].type][t.name]) for i, t in tensors if t.trainable]
        self.state = [getattr(layers[i], LAYOUT[spec.layers[i].type][t.name]) for i, t in tensors if not t.trainable]
        ids = {id(v): j for j, v in enumerate(model.trainable_variables)}
        self.trainable_order = [ids[id(v)] for v in self.weights]  # canonical i -> its place in trainable_variables

    def set(self, weights: list[np.ndarray], state: list[np.ndarray] | None = None) -> None:
        for v, w in zip(self.weights, weights):
            v.assign(np.asarray(w, dtype=keras.backend.standardize_dtype(v.dtype)))
        for v, s in zip(self.state, state or []):
            v.assign(np.asarray(s, dtype=keras.backend.standardize_dtype(v.dtype)))

    def inputs(self, x, masks: dict | None, training: bool):
        """The model's inputs: x, and each dropout layer's mask (all kept outside training)."""
        if not self.mask_layers:
            return x
        rows = x.shape[0]
        widths = dict(zip((f"layers[{i}]" for i in range(len(self.spec.layers))), (w for w, _ in self.spec.layer_sizes())))
        return [x] + [masks[k] if training and masks is not None else np.ones((rows, widths[k]), dtype=bool) for k in self.mask_layers]


def build(spec: Spec, weights: list[np.ndarray], state: list[np.ndarray], dtype: str, native: frozenset = frozenset()) -> Built:
    """The model; in native mode (``reference/native.py``) some aspects keep Keras's own defaults:
    ``INIT_DEFAULTS`` its initialisers (seeded with the spec's seed) instead of ``weights``, ``PROBABILITIES``
    the output activation inside the last Dense, ``FLOAT64_STOCK`` no fixes, ``OWN_DROPOUT`` Keras's Dropout."""
    fixes = dtype == "float64" and Native.FLOAT64_STOCK not in native
    own_init = Native.INIT_DEFAULTS in native
    if own_init:
        keras.utils.set_random_seed(spec.seed)
    x_in = keras.Input(shape=(spec.n_inputs,), dtype=dtype)
    inputs, layers, mask_layers, a = [x_in], [], [], x_in
    for i, ((width, _), layer) in enumerate(zip(spec.layer_sizes(), spec.layers)):
        keras_layer = BUILDERS[layer.type](layer, i == len(spec.layers) - 1, native, dtype, fixes)
        layers.append(keras_layer)
        if isinstance(keras_layer, GivenMaskDropout):
            mask_in = keras.Input(shape=(width,), dtype="bool")
            inputs.append(mask_in)
            mask_layers.append(f"layers[{i}]")
            a = keras_layer([a, mask_in])
        else:
            a = keras_layer(a)
    m = keras.Model(inputs=inputs if mask_layers else x_in, outputs=a)
    built = Built(spec, m, layers, mask_layers)
    if not own_init:
        built.set(weights, state)
    return built


def output_activation(spec: Spec, native: frozenset = frozenset(), dtype: str = "float32"):
    """What turns the model's output into a^L: the output activation, or nothing if the model applies it."""
    if Native.PROBABILITIES in native:
        return keras.activations.linear
    last = spec.output_layer.activation
    return activation(last.name, last.params, native, dtype)
