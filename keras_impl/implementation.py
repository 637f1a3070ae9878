"""Keras 3 behind the implementation protocol, on this process's backend.

The model is ``keras_impl/model.py``'s (one builder per layer kind, each variable mapped to its canonical
name once, in ``LAYOUT``), the losses ``losses.py``'s, the optimizers ``optimizers.py``'s. A step is Keras's
own optimizer update, ``optimizer.apply(grads, variables)``; on jax the same update runs as one jitted
``optimizer.stateless_apply`` (what Keras's jax trainer does), because eager jax compiles each small op of it
separately. That function takes the optimizer's state as an argument, so one compiled update serves every
handle with the same model and optimizer configuration; each handle keeps its own state.

Handles of one spec and dtype share one Keras model and its compiled gradient function: building and
compiling them costs 10 ms to 1 s, a reset of the weights nothing. So one handle is live at a time: a new
``build`` of the same spec resets the shared model and retires the earlier handle, whose next use raises
rather than silently read or train another handle's weights.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_impl import compiled, losses, optimizers, schedules
from keras_impl import model as kmodel
from reference import spec as S
from reference.losses import LOSSES
from reference.native import Native
from reference.weights import init_state


@dataclass
class KerasHandle:
    spec: S.Spec
    built: kmodel.Built
    value_and_grad: Callable
    layer_outputs: Callable
    optimizer: keras.optimizers.Optimizer
    device: str
    key: tuple = ()  # the shared model's cache key
    generation: int = 0  # this handle is live while the shared model's generation is this one
    native: frozenset = frozenset()
    jax_apply: Any = None  # the compiled stateless update (jax, past EAGER_STEPS), shared by handles of one configuration
    jax_state: Any = None  # this handle's optimizer variables, once jax_apply carries them
    loss_fn: Callable | None = None  # (y, logits) -> C without the L2 term, for model.fit
    fitted: bool = False  # train() compiled the model
    steps: int = 0  # step()s taken
    tf_apply: Any = None  # this handle's update as a tf.function (tensorflow, after EAGER_STEPS steps)
    clip_sum: Any = None  # over replicas on TensorFlow: the clipping of the all-reduced gradient (replicated_tensorflow.py)
    epochs: Any = None  # a per-epoch schedule's LearningRateScheduler (schedules.EpochSchedule)

    @property
    def model(self) -> keras.Model:
        return self.built.model


# fit() runs this many steps per call into its compiled function where the backend allows it (not torch):
# per-call overhead (callbacks, iterator, state sync) cost Keras-on-TF 3.4 ms a step at batch 32 here,
# the same steps inside one tf.while_loop 1.7 ms. The steps themselves are unchanged.
STEPS_PER_EXECUTION = 64
# On torch, fit() runs each step eagerly unless jit_compile=True (torch.compile of the train step):
# 5.3 ms a step at batch 32 eagerly, 2.9 ms compiled, 2.2 ms with the whole update compiled (_one_name,
# _scalar_capture below), after a one-off compilation of a few seconds.
# ("auto" means no compilation on torch.) parity_tests/test_train.py checks fit against the reference.
JIT_COMPILE = {"torch": True}
# step() applies Keras's update eagerly for a handle's first steps, then compiled, as Keras's trainers run it
# (tensorflow: a tf.function; jax: the jitted stateless_apply). On tensorflow, eagerly, Adam's update of a
# 4-tensor model costs 16 ms a step (each Keras op converts and dispatches on its own), traced once 160 ms
# and 0.8 ms a step; on jax, jitting it costs 0.25 s, an eager step 5-10 ms once its small ops are compiled
# (they are shared by the optimizers of one spec). The parity checks' optimizer steps take 2 steps per
# handle (eager is cheaper), the trajectory 50 (compiled is): 40% of keras-tensorflow's time in the matrix
# went to eager trajectory updates. torch stays eager (its fit compiles its own way: JIT_COMPILE).
EAGER_STEPS = 2


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
    native_aspects = frozenset(Native)  # every aspect has Keras's own default to fall back to

    def __init__(self):
        self.backend = keras.backend.backend()
        self.name = f"keras-{self.backend}"
        self._models: dict[tuple, tuple[kmodel.Built, Callable, Callable, Callable]] = {}
        self._generation: dict[tuple, int] = {}
        self._jax_updates: dict[tuple, tuple[Callable, list]] = {}

    def available(self) -> str | None:
        return None

    def supports(self, spec) -> str | None:
        clip = spec.optimizer.clip
        if clip is not None and clip.epsilon:
            return (f"{clip.rule} with clip_epsilon = {clip.epsilon:g}: Keras's clipnorm and global_clipnorm put no epsilon "
                    "in the norm (torch's clip_grad_norm_ adds 1e-6); use clip_epsilon = 0")
        opt = spec.optimizer
        if opt.name == "rmsprop" and opt.params["momentum"] > 0 and opt.params["momentum_form"] == "torch":
            return ("rmsprop with momentum_form = 'torch' (the rate outside the momentum buffer): Keras's RMSprop, and "
                    "nnparity's torch-epsilon one after it, keep the rate inside")
        if opt.schedule is not None and opt.schedule.name == "cosine_decay" and self.backend == "jax" and spec.dtype == "float64":
            return ("cosine_decay in float64 on the jax backend: Keras's CosineDecay takes ops.cos, which on jax casts "
                    "float64 to float32 (keras/src/backend/jax/numpy.py, cos: dtypes.result_type(x.dtype, float)), so "
                    "the rate is a float32 one (measured: 1e-8 to 9e-8 relative)")
        if spec.training.early_stopping is not None and self.backend == "torch" and spec.dtype == "float64":
            return ("early stopping in float64 on the torch backend: model.fit's history (what EarlyStopping reads) "
                    "holds val_loss rounded to float32 (measured: 1.6e-8 from the model's own float64 loss at the same "
                    "weights, which agree with the reference's to 3e-16)")
        if clip is not None and clip.rule != "clipvalue" and self.backend == "torch" and spec.dtype == "float64":
            return (f"{clip.rule} in float64 on the torch backend: Keras computes the clipping factor through "
                    "ops.maximum/ops.minimum, whose result type it forces to float32 on every backend but TensorFlow "
                    "(keras/src/backend/common/dtypes.py, BIT64_TO_BIT32_DTYPE), so the clipped gradient is rounded to "
                    "float32 (measured: 1e-9 to 6e-9 relative in one step)")
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

    @staticmethod
    def _key(spec: S.Spec, dtype: str, native: frozenset) -> tuple:
        structure = S.to_dict(spec)
        structure.pop("optimizer")
        return json.dumps(structure, sort_keys=True), dtype, tuple(sorted(a.name for a in native))

    def _loss_parts(self, spec: S.Spec, dtype: str, native: frozenset, reduction: str | None = None) -> tuple:
        """(the loss ``(y, pred(z), sample_weight=None)``, ``pred``: what the loss is given of the logits z, the output
        activation), the loss reduced as ``reduction`` says (the spec's by default)."""
        exact = dtype == "float64" and self.backend != "tensorflow" and Native.FLOAT64_STOCK not in native
        from_logits = Native.PROBABILITIES not in native
        loss_fn = losses.make(spec.loss.name, reduction or spec.loss.reduction, dtype, exact, from_logits,
                              spec.loss.weighted_reduction)
        out_act = kmodel.output_activation(spec, native, dtype)
        pred = (lambda z: z) if LOSSES[spec.loss.name].link or not from_logits else out_act
        return loss_fn, pred, out_act

    def _model(self, spec: S.Spec, weights, dtype: str, native: frozenset) -> tuple:
        key = self._key(spec, dtype, native)
        if key not in self._models or Native.INIT_DEFAULTS in native:
            built = kmodel.build(spec, weights, init_state(spec), dtype, native)
            loss_fn, pred, out_act = self._loss_parts(spec, dtype, native)
            grad, outs = self._functions(built, native, loss_fn, pred, out_act)
            self._models[key] = (built, grad, outs, lambda y, z, loss_fn=loss_fn, pred=pred: loss_fn(y, pred(z)))
        else:
            self._models[key][0].set(weights, init_state(spec))
        self._generation[key] = self._generation.get(key, 0) + 1
        return key, self._models[key]

    def build(self, spec, weights, *, dtype, device, native: frozenset = frozenset()) -> KerasHandle:
        native = frozenset(native)
        with self._on(device):
            key, (built, grad_fn, outputs_fn, loss_fn) = self._model(spec, weights, dtype, native)
            h = KerasHandle(spec, built, grad_fn, outputs_fn, None, device, key, self._generation[key], native, loss_fn=loss_fn)
            h.optimizer = optimizers.make_native(spec.optimizer.name, spec.optimizer.params, dtype, native, spec.optimizer.clip,
                                                 spec.optimizer.schedule)
            if spec.optimizer.schedule is not None and spec.optimizer.schedule.per == "epoch":
                h.epochs = schedules.EpochSchedule(spec.optimizer.schedule, dtype, built.model, h.optimizer)
        return h

    def _on(self, device: str):
        """The scope the backend's work runs in: the device's (over replicas, ``replicated_tensorflow.py``: the
        strategy's)."""
        return keras.device(_device(device))

    def _functions(self, built, native: frozenset, loss_fn, pred, out_act) -> tuple[Callable, Callable]:
        """The model's gradient and layer-output functions (``compiled.functions``; over replicas, their
        distributed forms, whose loss depends on the ``native`` aspects)."""
        return compiled.functions(built, loss_fn, pred, out_act)

    def _live(self, h: KerasHandle) -> None:
        if self._generation.get(h.key) != h.generation:
            raise RuntimeError("this Keras handle was retired: a later build of the same spec and dtype reset the shared "
                               "model it used (one handle of a spec is live at a time)")

    def _jax_update(self, h: KerasHandle) -> Callable:
        """The jitted ``stateless_apply`` of the handle's optimizer configuration, shared by its handles."""
        import jax

        key = (*h.key, json.dumps(S.to_dict(h.spec)["optimizer"], sort_keys=True))
        if key not in self._jax_updates or Native.INIT_DEFAULTS in h.native:
            template = optimizers.make_native(h.spec.optimizer.name, h.spec.optimizer.params, h.key[1], h.native,
                                              h.spec.optimizer.clip, h.spec.optimizer.schedule)
            template.build(h.model.trainable_variables)
            self._jax_updates[key] = jax.jit(template.stateless_apply)
        return self._jax_updates[key]

    def _state(self, h: KerasHandle) -> list[np.ndarray]:
        return [np.array(ops.convert_to_numpy(v.value)) for v in h.built.state]

    def _restoring(self, h: KerasHandle):
        """Run a training-mode pass that must change nothing: TensorFlow and torch assign batch normalization's
        moving statistics as they go, so they are put back afterwards."""
        saved = self._state(h) if h.built.state and self.backend != "jax" else None

        class Restore:
            def __enter__(self_):
                return None

            def __exit__(self_, *exc):
                if saved is not None:
                    h.built.set([np.array(ops.convert_to_numpy(v.value)) for v in h.built.weights], saved)

        return Restore()

    def forward(self, h, x, training=False, masks=None):
        return self.layer_outputs(h, x, training, masks)[-1]

    def layer_outputs(self, h, x, training=False, masks=None):
        self._live(h)
        with self._on(h.device), self._restoring(h) if training else nullcontext():
            return [np.array(ops.convert_to_numpy(a)) for a in h.layer_outputs(self._place(h.built.inputs(x, masks, training)),
                                                                                training)]

    def _place(self, rows):
        """A batch's arrays as the backend's functions are given them: as they are in one process (over replicas,
        ``keras_impl/replicated_jax.py`` shards their rows over the devices)."""
        return rows

    def _row_weights(self, h, y, sample_weight):
        """The rows' weights: the sample weights given, or the class weights through Keras's own conversion (what
        ``fit(class_weight=...)`` does: ``class_weight_to_sample_weights``), in the model's dtype; or None."""
        dtype = keras.backend.standardize_dtype(h.built.weights[0].dtype)
        if sample_weight is not None:
            return np.asarray(sample_weight, dtype=dtype)
        cw = h.spec.training.class_weight
        if cw is None:
            return None
        from keras.src.trainers.data_adapters.data_adapter_utils import class_weight_to_sample_weights

        with optimizers.floatx(dtype):  # it builds the weights as floatx
            return np.asarray(class_weight_to_sample_weights(np.asarray(y), dict(enumerate(cw))), dtype=dtype)

    def _grads(self, h, x, y, masks, sample_weight=None):
        w = self._row_weights(h, y, sample_weight)
        loss, grads, new_state = h.value_and_grad(self._place(h.built.inputs(x, masks, True)), self._place(y), self._place(w),
                                                  **self._gradient_options(h))
        return loss, [grads[j] for j in h.built.trainable_order], new_state

    def _gradient_options(self, h) -> dict:
        """Keyword arguments for the handle's ``value_and_grad`` (an engine's own: ``replicated_tensorflow.py``)."""
        return {}

    def loss_and_grads(self, h, x, y, masks=None, sample_weight=None):
        self._live(h)
        with self._on(h.device), self._restoring(h):
            loss, grads, _ = self._grads(h, x, y, masks, sample_weight)
            return float(ops.convert_to_numpy(loss)), [np.array(ops.convert_to_numpy(g)) for g in grads]

    def step(self, h, x, y, masks=None, sample_weight=None):
        self._live(h)
        # Under floatx = the model's dtype, as fit() runs: Keras's clipping forms its constants (``1.0 / clipnorm``,
        # ``clipvalue``) as Python floats, which the torch backend converts to floatx tensors (float32 by
        # default), rounding a float64 model's clipped gradient to float32 (measured: 3e-9 from the reference).
        dtype = keras.backend.standardize_dtype(h.built.weights[0].dtype)
        with self._on(h.device), optimizers.floatx(dtype):
            _, grads, new_state = self._grads(h, x, y, masks, sample_weight)
            variables = h.model.trainable_variables
            ordered = [None] * len(variables)  # the model's order, as the optimizer is built on it
            for i, j in enumerate(h.built.trainable_order):
                ordered[j] = grads[i]
            if self.backend == "torch" or h.steps < EAGER_STEPS:
                h.optimizer.apply(ordered, variables)
            else:
                self._compiled_apply(h, ordered, variables)
            if new_state is not None:  # jax: the moving statistics come back from the stateless pass
                for v, value in zip(h.model.non_trainable_variables, new_state):
                    v.assign(value)
            h.steps += 1
        return self.weights(h)

    def _compiled_apply(self, h: KerasHandle, grads: list, variables: list) -> None:
        """The same ``optimizer.apply``, compiled: a tf.function of it (tensorflow), or the jitted ``stateless_apply``
        of its configuration with the optimizer's variables carried as this handle's state (jax)."""
        if self.backend == "tensorflow":
            if h.tf_apply is None:
                import tensorflow as tf

                h.tf_apply = tf.function(lambda g: h.optimizer.apply(g, variables))
            h.tf_apply(grads)
            return
        if h.jax_apply is None:
            if not h.optimizer.built:
                h.optimizer.build(variables)
            h.jax_apply, h.jax_state = self._jax_update(h), [v.value for v in h.optimizer.variables]
        new_vars, h.jax_state = h.jax_apply(h.jax_state, grads, [v.value for v in variables])
        for v, value in zip(variables, new_vars):
            v.assign(value)

    def fit(self, h, x, y, epochs, x_val, y_val):
        """Keras's own early stopping: ``model.fit`` with the ``EarlyStopping`` callback (and a per-epoch schedule's
        ``LearningRateScheduler``), ``validation_data`` in one batch, over a generator that yields each epoch's
        batches of the shared schedule. The monitored values are fit's own ``history["val_loss"]``; the weights are
        what the callback leaves (restored at the end of training where ``restore_best_weights``)."""
        self._live(h)
        rule = h.spec.training.early_stopping
        dtype = keras.backend.standardize_dtype(h.built.weights[0].dtype)

        def batches():  # a generator, which fit reads on across epochs (a PyDataset calls on_epoch_end out of step)
            for epoch in epochs:
                for idx in epoch:
                    yield x[idx], y[idx]

        restore = rule.restore_best_weights and Native.KERAS_EARLY_STOPPING not in h.native  # natively: the default
        stop = keras.callbacks.EarlyStopping(monitor=rule.monitor, min_delta=rule.min_delta, patience=rule.patience,
                                             restore_best_weights=restore, mode="min")
        callbacks = [stop] + ([h.epochs.callback] if h.epochs is not None else [])
        with self._on(h.device), optimizers.floatx(dtype):
            h.model.compile(optimizer=h.optimizer, loss=h.loss_fn, jit_compile=False, steps_per_execution=1)
            h.fitted = True
            history = h.model.fit(batches(), epochs=len(epochs), steps_per_epoch=len(epochs[0]), validation_data=(x_val, y_val),
                                  validation_batch_size=len(x_val), callbacks=callbacks, verbose=0, shuffle=False)
        return self.weights(h), [float(v) for v in history.history["val_loss"]]

    def end_epoch(self, h):
        """A per-epoch schedule's next rate, set by Keras's ``LearningRateScheduler`` (``schedules.EpochSchedule``)."""
        self._live(h)
        if h.epochs is None:
            return
        # floatx = the model's dtype, as around step(): the callback assigns a Python float, which the torch backend
        # converts through a floatx tensor (measured: a float64 rate rounded to float32, 1e-9 off after one epoch).
        dtype = keras.backend.standardize_dtype(h.built.weights[0].dtype)
        with self._on(h.device), optimizers.floatx(dtype):
            h.epochs.end_epoch()
        if h.jax_state is not None:  # the compiled update carries the optimizer's variables, the rate among them
            i = next(k for k, v in enumerate(h.optimizer.variables) if v is h.optimizer._learning_rate)
            h.jax_state[i] = h.optimizer._learning_rate.value

    def weights(self, h):
        self._live(h)
        return [np.array(ops.convert_to_numpy(v.value)) for v in h.built.weights]

    def state(self, h):
        self._live(h)
        return self._state(h)

    def train(self, h, x, y, batches):
        """Keras's own training loop: ``model.fit`` over the rows in schedule order, ``shuffle=False``.

        ``fit`` cuts consecutive batches of ``batch_size`` and keeps the last partial one, which is the
        shared schedule's epoch when the rows come in its order. Its compiled train step computes the
        same loss (the model's L2 losses added) and applies the handle's optimizer, as ``step`` does (on jax,
        after a few ``step``s the optimizer's state lives outside it: ``train`` refuses such a handle).
        A spec with dropout trains through ``step`` (its masks are inputs ``fit`` is not given).
        """
        self._live(h)
        if h.built.mask_layers:
            raise ValueError("train() takes no dropout masks; train a spec with dropout step by step")
        if h.spec.training.class_weight is not None or h.spec.training.sample_weight is not None:
            raise ValueError("train() compiles the unweighted loss; train a weighted spec step by step")
        sizes = {len(b) for b in batches[:-1]}
        if len(sizes) > 1 or (sizes and len(batches[-1]) > next(iter(sizes))):
            raise ValueError("train() takes batches of one size (the last may be smaller), as model.fit cuts them")
        batch_size = len(batches[0]) if len(batches) == 1 else next(iter(sizes))
        order = np.concatenate(batches)
        dtype = keras.backend.standardize_dtype(h.built.weights[0].dtype)
        # fit() sums the losses as a floatx tensor: a float64 model needs floatx = float64 around it.
        with self._on(h.device), optimizers.floatx(dtype), _scalar_capture(self.backend, dtype):
            if not h.fitted:
                if h.jax_apply is not None:
                    raise RuntimeError("this jax handle's optimizer state lives outside its optimizer after "
                                       f"{EAGER_STEPS} step()s; train() on a fresh handle")
                if self.backend == "torch":
                    _one_name(h.optimizer)
                h.model.compile(optimizer=h.optimizer, loss=h.loss_fn, jit_compile=JIT_COMPILE.get(self.backend, "auto"),
                                steps_per_execution=1 if self.backend == "torch" else STEPS_PER_EXECUTION)
                h.fitted = True
            h.model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        return self.weights(h)
