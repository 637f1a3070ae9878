"""The model's functions that need one small piece of backend code: gradients, and on jax the outputs.

Keras 3 has no backend-agnostic gradient API, so each backend gets one small function (a name ->
function table): TensorFlow's ``GradientTape``, jax's ``value_and_grad`` over ``stateless_call``,
torch's ``autograd.grad``. TensorFlow's and jax's are compiled (``tf.function`` without XLA,
``jax.jit``) once per model: eager dispatch costs 20 ms and more per gradient. On jax the layer
outputs are one jitted stateless pass as well, because eager jax compiles every small op of a
forward pass separately (measured: 15 compilations of about 0.1 s per model). Compiling reorders
nothing the tolerances care about (float64 gradients agree with the reference to 5e-15 either way).

Gradients are taken in training mode: batch normalization uses the batch's statistics and, on
TensorFlow and torch, assigns its moving statistics as it runs (the implementation restores them where
the protocol says nothing changes); jax's stateless call returns them instead (``value_and_grad``'s third
value), for ``step`` to assign.
"""
from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops

from keras_impl.model import Built, GivenMaskDropout


def _total(loss_fn, pred_fn, y, z, reg_losses, w=None):
    loss = loss_fn(y, pred_fn(z)) if w is None else loss_fn(y, pred_fn(z), sample_weight=w)
    for r in reg_losses:
        loss = loss + r
    return loss


def run_layers(built: Built, inputs, out_act, training: bool) -> list:
    """Every layer's output on ``inputs`` (x, then each dropout layer's mask), the last through ``out_act``."""
    x, masks = (inputs[0], inputs[1:]) if isinstance(inputs, (list, tuple)) else (inputs, [])
    outs, k = [], 0
    for layer in built.layers:
        if isinstance(layer, GivenMaskDropout):
            x = layer([x, masks[k]], training=training)
            k += 1
        else:
            x = layer(x, training=training)
        outs.append(x)
    outs[-1] = out_act(x)
    return outs


def _tensorflow(built: Built, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
    import tensorflow as tf

    model = built.model

    def value_and_grad(inputs, y, w=None):
        with tf.GradientTape() as tape:
            z = model(inputs, training=True)
            loss = _total(loss_fn, pred, y, z, model.losses, w)
        return loss, tape.gradient(loss, model.trainable_variables), None

    compiled: dict = {}

    def call(inputs, y, w=None):
        # Traced once (with weights, once more), for any number of rows: the check batch (64), the schedule's
        # batches and its last, shorter one each retraced it otherwise (0.2 s each, per case).
        weighted = w is not None
        if weighted not in compiled:
            rows_free = lambda t: tf.TensorSpec((None, *t.shape[1:]), t.dtype)
            signature = list(tf.nest.map_structure(rows_free, (inputs, y, w) if weighted else (inputs, y)))
            compiled[weighted] = tf.function(value_and_grad, input_signature=signature, jit_compile=False)
        return compiled[weighted](inputs, y, w) if weighted else compiled[weighted](inputs, y)

    return call, lambda inputs, training: run_layers(built, inputs, out_act, training)


def _jax(built: Built, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
    import jax

    model = built.model

    def f(trainable, non_trainable, inputs, y, w):
        z, new_state, reg = model.stateless_call(trainable, non_trainable, inputs, training=True, return_losses=True)
        return _total(loss_fn, pred, y, z, reg, w), new_state

    def outputs(trainable, non_trainable, inputs, training):
        with keras.StatelessScope(state_mapping=list(zip(model.trainable_variables, trainable))
                                  + list(zip(model.non_trainable_variables, non_trainable))):
            return run_layers(built, inputs, out_act, training)

    grad = jax.jit(jax.value_and_grad(f, has_aux=True))
    outs = jax.jit(outputs, static_argnums=3)
    state = lambda: ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])

    def value_and_grad(inputs, y, w=None):
        (loss, new_state), grads = grad(*state(), inputs, y, w)
        return loss, grads, new_state

    return value_and_grad, (lambda inputs, training: outs(*state(), inputs, training))


def _torch(built: Built, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
    import torch

    model = built.model

    def value_and_grad(inputs, y, w=None):
        z = model(inputs, training=True)
        loss = _total(loss_fn, pred, y, z, model.losses, w)
        return loss.detach(), torch.autograd.grad(loss, [v.value for v in model.trainable_variables]), None

    def outputs(inputs, training):
        with torch.no_grad():
            return run_layers(built, inputs, out_act, training)

    return value_and_grad, outputs


BACKENDS: dict[str, Callable] = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


def functions(built: Built, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
    """``(value_and_grad(inputs, y, w=None) -> (loss, grads, new state or None), layer_outputs(inputs, training) ->
    [a^1, ...])`` for this backend; gradients in the order of ``model.trainable_variables``; ``w`` the rows' weights."""
    grad, outs = BACKENDS[keras.backend.backend()](built, loss_fn, pred, out_act)

    def tensors(inputs):
        return [ops.convert_to_tensor(i) for i in inputs] if isinstance(inputs, list) else ops.convert_to_tensor(inputs)

    def value_and_grad(inputs, y, w=None):
        return grad(tensors(inputs), ops.convert_to_tensor(y), None if w is None else ops.convert_to_tensor(w))

    return value_and_grad, (lambda inputs, training: outs(tensors(inputs), training))
