"""Keras 3 behind the implementation protocol, on this process's backend.

``model.trainable_variables`` is already in the canonical order (each Dense creates its kernel,
shape (in, out), then its bias), so weights and gradients cross without any layout change. A step
is Keras's own optimizer update, ``optimizer.apply(grads, model.trainable_variables)``; on jax the
same update runs as one jitted ``optimizer.stateless_apply`` (what Keras's jax trainer does),
because eager jax compiles each small op of it separately. That function takes the optimizer's
state as an argument, so one compiled update serves every handle with the same model and
optimizer configuration; each handle keeps its own state, starting from the template's.

Handles of one spec and dtype share one Keras model and its compiled gradient function: building
and compiling them costs 10 ms to 1 s, a reset of the weights nothing. A new ``build`` resets the
shared model's weights, so use one handle at a time (as the checks do).
"""
from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np
from keras import ops

from keras_impl import compiled, losses, model as kmodel, optimizers
from reference import spec as S
from reference.losses import LOSSES


@dataclass
class KerasHandle:
    spec: S.Spec
    model: keras.Model
    value_and_grad: Callable
    layer_outputs: Callable
    optimizer: keras.optimizers.Optimizer
    device: str
    jax_apply: Any = None  # the compiled stateless update (jax), shared by handles of one configuration
    jax_state: Any = None  # this handle's optimizer variables (jax)
    loss_fn: Callable | None = None  # (y, logits) -> C without the L2 term, for model.fit
    fitted: bool = False  # train() compiled the model


# fit() runs this many steps per call into its compiled function where the backend allows it (not torch):
# per-call overhead (callbacks, iterator, state sync) cost Keras-on-TF 3.4 ms a step at batch 32 here,
# the same steps inside one tf.while_loop 1.7 ms. The steps themselves are unchanged.
STEPS_PER_EXECUTION = 64
# On torch, fit() runs each step eagerly unless jit_compile=True (torch.compile of the train step):
# 5.3 ms a step at batch 32 eagerly, 2.9 ms compiled, 2.2 ms with the whole update compiled (_one_name,
# _scalar_capture below), after a one-off compilation of a few seconds.
# ("auto" means no compilation on torch.) parity_tests/test_train.py checks fit against the reference.
JIT_COMPILE = {"torch": True}


def _one_name(optimizer: keras.optimizers.Optimizer) -> None:
    """dynamo guards Keras's compiled torch update on ``optimizer.name`` (it runs in
    ``name_scope(self.name)``), and Keras names each new optimizer sgd, sgd_1, sgd_2, ...: every fresh
    handle recompiled the update, and after 8 (torch's recompile limit) fit ran it eagerly for the rest
    of the process. One name for all: a model's handles train one at a time."""
    optimizer.name = type(optimizer).__name__.lower()


def _scalar_capture(backend: str, dtype: str):
    """Keras's torch optimizers pass the learning rate, a tensor, as ``_foreach_add_(..., alpha=-lr)``,
    a Python float: dynamo breaks the graph at that ``.item()`` unless it may capture scalar outputs,
    and the update then runs as separate eager calls (measured at batch 32: 2.35 -> 2.15 ms a step
    with the capture). Float32 models only: torch 2.13's CPU code generator passes a captured scalar
    to its C++ kernel as ``float``, so a float64 learning rate would be rounded to float32 (measured:
    1.5e-8 from the reference after 30 float64 steps; exact for a float32 learning rate)."""
    if backend != "torch" or dtype != "float32":
        return nullcontext()
    import torch._dynamo

    return torch._dynamo.config.patch(capture_scalar_outputs=True)


def _device(device: str) -> str:
    # "cpu", not "cpu:0": under keras.device("cpu:0") the torch backend moves each new variable with
    # .to("cpu:0"), a copy that is no leaf tensor, so model.fit finds no .grad (measured here).
    return "gpu:0" if device == "cuda" else "cpu"


class KerasImplementation:
    def __init__(self):
        self.backend = keras.backend.backend()
        self.name = f"keras-{self.backend}"
        self.native: frozenset = frozenset()  # aspects left at Keras's defaults (reference/native.py); empty: aligned
        self._models: dict[tuple, tuple[keras.Model, Callable, Callable]] = {}
        self._jax_updates: dict[tuple, tuple[Callable, list]] = {}
        self._losses: dict[tuple, Callable] = {}

    def available(self) -> str | None:
        return None

    def devices(self) -> list[str]:
        if self.backend == "jax":
            import jax

            gpu = any(d.platform == "gpu" for d in jax.devices())
        elif self.backend == "torch":
            import torch

            gpu = torch.cuda.is_available()
        else:
            import tensorflow as tf

            gpu = bool(tf.config.list_physical_devices("GPU"))
        return ["cpu"] + (["cuda"] if gpu else [])

    def _model(self, spec: S.Spec, weights, dtype: str) -> tuple[keras.Model, Callable, Callable]:
        key = self._key(spec, dtype) + (tuple(sorted(self.native)),)
        if key not in self._models or "init-defaults" in self.native:
            native = self.native
            m = kmodel.build(spec, weights, dtype, native)
            exact = dtype == "float64" and self.backend != "tensorflow" and "float64-stock" not in native
            from_logits = "probabilities" not in native
            loss_fn = losses.make(spec.loss.name, spec.loss.reduction, dtype, exact, from_logits)
            out_act = kmodel.output_activation(spec, native, dtype)
            pred = (lambda z: z) if LOSSES[spec.loss.name].link or not from_logits else out_act
            self._models[key] = (m, *compiled.functions(m, loss_fn, pred, out_act))
            self._losses[key] = lambda y, z, loss_fn=loss_fn, pred=pred: loss_fn(y, pred(z))
            if "init-defaults" in native:
                return self._models[key]
        m, grad_fn, outputs_fn = self._models[key]
        m.set_weights([np.asarray(w, dtype=dtype) for w in weights])
        return m, grad_fn, outputs_fn

    @staticmethod
    def _key(spec: S.Spec, dtype: str) -> tuple:
        structure = S.to_dict(spec)
        structure.pop("optimizer")
        return json.dumps(structure, sort_keys=True), dtype

    def build(self, spec, weights, *, dtype, device) -> KerasHandle:
        with keras.device(_device(device)):
            m, grad_fn, outputs_fn = self._model(spec, weights, dtype)
            h = KerasHandle(spec, m, grad_fn, outputs_fn, None, device, loss_fn=self._losses[self._key(spec, dtype) + (tuple(sorted(self.native)),)])
            if self.backend == "jax":
                h.jax_apply, state = self._jax_update(spec, m, dtype)
                h.jax_state = list(state)
            else:
                h.optimizer = optimizers.make_native(spec.optimizer.name, spec.optimizer.params, dtype, self.native)
        return h

    def _jax_update(self, spec: S.Spec, m: keras.Model, dtype: str) -> tuple[Callable, list]:
        import jax

        key = (*self._key(spec, dtype), json.dumps(S.to_dict(spec)["optimizer"], sort_keys=True), tuple(sorted(self.native)))
        if key not in self._jax_updates or "init-defaults" in self.native:
            template = optimizers.make_native(spec.optimizer.name, spec.optimizer.params, dtype, self.native)
            template.build(m.trainable_variables)
            self._jax_updates[key] = (jax.jit(template.stateless_apply), [v.value for v in template.variables])
        return self._jax_updates[key]

    def forward(self, h, x):
        return self.layer_outputs(h, x)[-1]

    def layer_outputs(self, h, x):
        with keras.device(_device(h.device)):
            return [np.array(ops.convert_to_numpy(a)) for a in h.layer_outputs(x)]

    def loss_and_grads(self, h, x, y):
        with keras.device(_device(h.device)):
            loss, grads = h.value_and_grad(x, y)
            return float(ops.convert_to_numpy(loss)), [np.array(ops.convert_to_numpy(g)) for g in grads]

    def step(self, h, x, y):
        with keras.device(_device(h.device)):
            _, grads = h.value_and_grad(x, y)
            if self.backend == "jax":
                self._jax_apply(h, grads)
            else:
                h.optimizer.apply(grads, h.model.trainable_variables)
        return self.weights(h)

    def _jax_apply(self, h: KerasHandle, grads) -> None:
        variables = h.model.trainable_variables
        new_vars, h.jax_state = h.jax_apply(h.jax_state, list(grads), [v.value for v in variables])
        for v, value in zip(variables, new_vars):
            v.assign(value)

    def weights(self, h):
        return [np.array(ops.convert_to_numpy(v.value)) for v in h.model.trainable_variables]

    def train(self, h, x, y, batches):
        """Keras's own training loop: ``model.fit`` over the rows in schedule order, ``shuffle=False``.

        ``fit`` cuts consecutive batches of ``batch_size`` and keeps the last partial one, which is the
        shared schedule's epoch when the rows come in its order. Its compiled train step computes the
        same loss (the model's L2 losses added) and applies the same optimizer as ``step``. On jax the
        handle's optimizer for ``fit`` is a separate, stateful one: do not mix ``step`` and ``train`` there.
        """
        sizes = {len(b) for b in batches[:-1]}
        if len(sizes) > 1 or (sizes and len(batches[-1]) > next(iter(sizes))):
            raise ValueError("train() takes batches of one size (the last may be smaller), as model.fit cuts them")
        batch_size = len(batches[0]) if len(batches) == 1 else next(iter(sizes))
        order = np.concatenate(batches)
        dtype = keras.backend.standardize_dtype(h.model.trainable_variables[0].dtype)
        # fit() sums the losses as a floatx tensor: a float64 model needs floatx = float64 around it.
        with keras.device(_device(h.device)), optimizers.floatx(dtype), _scalar_capture(self.backend, dtype):
            if not h.fitted:
                if self.backend == "jax":
                    if h.jax_state is not None and int(np.asarray(h.jax_state[0])) > 0:
                        raise RuntimeError("this jax handle already took step()s; train() on a fresh handle")
                    h.optimizer = optimizers.make_native(h.spec.optimizer.name, h.spec.optimizer.params, dtype, self.native)
                if self.backend == "torch":
                    _one_name(h.optimizer)
                h.model.compile(optimizer=h.optimizer, loss=h.loss_fn, jit_compile=JIT_COMPILE.get(self.backend, "auto"),
                                steps_per_execution=1 if self.backend == "torch" else STEPS_PER_EXECUTION)
                h.fitted = True
            h.model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return self.weights(h)
