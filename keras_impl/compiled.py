"""The model's functions that need one small piece of backend code: gradients, and on jax the outputs.

Keras 3 has no backend-agnostic gradient API, so each backend gets one small function (a name ->
function table): TensorFlow's ``GradientTape``, jax's ``value_and_grad`` over ``stateless_call``,
torch's ``autograd.grad``. TensorFlow's and jax's are compiled (``tf.function`` without XLA,
``jax.jit``) once per model: eager dispatch costs 20 ms and more per gradient. On jax the layer
outputs are one jitted ``stateless_call`` as well, because eager jax compiles every small op of a
forward pass separately (measured: 15 compilations of about 0.1 s per model). Compiling reorders
nothing the tolerances care about (float64 gradients agree with the reference to 5e-15 either way).
"""
from __future__ import annotations

from typing import Callable

import keras
from keras import ops


def _total(loss_fn, pred_fn, y, z, reg_losses):
    loss = loss_fn(y, pred_fn(z))
    for r in reg_losses:
        loss = loss + r
    return loss


def _layer_outputs(model, x, out_act) -> list:
    outs = []
    for layer in model.layers:
        x = layer(x)
        outs.append(x)
    outs[-1] = out_act(x)
    return outs


def _tensorflow(model, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
    import tensorflow as tf

    @tf.function(jit_compile=False, reduce_retracing=True)
    def value_and_grad(x, y):
        with tf.GradientTape() as tape:
            z = model(x, training=True)
            loss = _total(loss_fn, pred, y, z, model.losses)
        return loss, tape.gradient(loss, model.trainable_variables)

    return value_and_grad, lambda x: _layer_outputs(model, x, out_act)


def _jax(model, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
    import jax

    def f(trainable, non_trainable, x, y):
        z, _, reg = model.stateless_call(trainable, non_trainable, x, training=True, return_losses=True)
        return _total(loss_fn, pred, y, z, reg)

    def outputs(trainable, non_trainable, x):
        with keras.StatelessScope(state_mapping=list(zip(model.trainable_variables, trainable))
                                  + list(zip(model.non_trainable_variables, non_trainable))):
            return _layer_outputs(model, x, out_act)

    grad, outs = jax.jit(jax.value_and_grad(f)), jax.jit(outputs)
    state = lambda: ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
    return (lambda x, y: grad(*state(), x, y)), (lambda x: outs(*state(), x))


def _torch(model, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
    import torch

    def value_and_grad(x, y):
        z = model(x, training=True)
        loss = _total(loss_fn, pred, y, z, model.losses)
        return loss.detach(), torch.autograd.grad(loss, [v.value for v in model.trainable_variables])

    def outputs(x):
        with torch.no_grad():
            return _layer_outputs(model, x, out_act)

    return value_and_grad, outputs


BACKENDS: dict[str, Callable] = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}


def functions(model, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
    """``(value_and_grad(x, y) -> (loss, grads), layer_outputs(x) -> [a^1, ..., a^L])`` for this backend;
    gradients in the order of ``model.trainable_variables``."""
    grad, outs = BACKENDS[keras.backend.backend()](model, loss_fn, pred, out_act)
    return (lambda x, y: grad(ops.convert_to_tensor(x), ops.convert_to_tensor(y))), (lambda x: outs(ops.convert_to_tensor(x)))
