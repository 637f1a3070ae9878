r"""Keras on TensorFlow over N data-parallel replicas: ``tf.distribute.MirroredStrategy`` over N logical CPU devices
of one process, against the single-process reference on the global batch (``reference/replicas.py``: the split).

The model and its optimizer are built under the strategy's scope, so every variable is a ``MirroredVariable``, one
copy per device. Each batch's rows go to the replicas in ``replicas.shards``' contiguous parts (uneven ones included:
a replica may get fewer rows, or none); each replica runs the model on its rows inside ``strategy.run`` and computes
its gradient, and the step is Keras's own ``optimizer.apply`` in the replica's context, which all-reduces the
replicas' gradients by **summing** them (``keras/src/backend/tensorflow/optimizer.py``, ``_all_reduce_sum_gradients``)
and then updates every copy alike. So what a replica back-propagates must sum, over the replicas, to the global loss:

.. math:: C_r = \frac{1}{B} \sum_{i \in r} \ell_i + \frac{1}{N}\,\lambda \sum \lVert W \rVert^2

(a summed loss: :math:`\sum_{i \in r} \ell_i`; a weighted mean over the weights' sum: divided by the global batch's
weight sum), the L2 term divided by N as Keras's own ``fit`` does (``scale_loss_for_distribution`` on the model's
losses). Keras's own loss object instead divides each replica's *local* mean by N (``KERAS_LOCAL_MEAN``): the mean of
the replicas' means, the global mean only when the shards are equal; a custom loop that adds ``model.losses`` as it
is sums N L2 terms (``KERAS_REPLICA_L2``). Both are native aspects, measured by ``nnparity divergences --topic
data-parallel``. The gradients ``loss_and_grads`` reports are the same all-reduce's, of the same compiled
per-replica gradients the step applies.

Batch normalization is synchronised: ``BatchNormalization(synchronized=True)``, whose statistics are all-reduced
sums, sums of squares and counts (``keras/src/backend/tensorflow/nn.py``, ``_compute_moments_sync``: the variance as
E[x^2] - E[x]^2), so every replica normalizes by the global batch's mean and variance, as the reference does. Keras's
default, each replica's own statistics, is the native aspect ``KERAS_REPLICA_BATCH_STATS``.

The unbiased running variance (torch's convention, ``model.BatchNormalization._unbias``) takes the same all-reduced
variance and the global count.

Gradient clipping: Keras's ``optimizer.apply`` clips each replica's own gradient *before* its all-reduce
(``base_optimizer.apply``: ``_clip_gradients``, then ``_backend_update_step``), a clip of a part of the global
gradient (``KERAS_REPLICA_CLIP``, the native aspect). Aligned, each replica all-reduces its gradient first, clips
that sum with the optimizer's own ``_clip_gradients`` (the same numbers on every replica) and hands ``apply`` its
1/N share with the optimizer's clipping off, which the all-reduce sums back to the clipped gradient (bitwise for N
a power of two, within N roundings otherwise). Keras 3 offers no cross-replica apply (``maybe_merge_call`` needs a
replica context) and no switch for its all-reduce.

Early stopping (``fit``) is the engine's own loop around Keras's ``EarlyStopping`` callback, the validation loss
all-reduced from the replicas' shards (``model.fit`` under the strategy does not take the shared schedule's batches
one step each: measured, in ``fit``'s docstring).
"""
from __future__ import annotations

import os
import types

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from tensorflow.python.distribute.values import PerReplica, PerReplicaSpec  # no public name for the spec

from keras_impl import backends, optimizers
from keras_impl.compiled import run_layers
from keras_impl.implementation import EAGER_STEPS
from keras_impl.replicated_base import ReplicatedKeras
from reference import replicas
from reference.native import Native
from reference.replica_network import per_replica

SUM = tf.distribute.ReduceOp.SUM


class ReplicatedKerasTensorflow(ReplicatedKeras):
    """``KerasImplementation`` with every batch split over the N replicas of a ``MirroredStrategy`` (module docstring)."""

    native_aspects = frozenset({Native.KERAS_LOCAL_MEAN, Native.KERAS_REPLICA_L2, Native.KERAS_REPLICA_BATCH_STATS,
                                Native.KERAS_REPLICA_CLIP})

    def __init__(self):
        self.world = int(os.environ.get(backends.TF_REPLICAS, "1"))
        cpu = tf.config.list_physical_devices("CPU")[0]
        # Before TensorFlow's runtime starts (the first op): N logical devices on the one CPU, one replica each.
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * self.world)
        super().__init__()
        if self.backend != "tensorflow":
            raise RuntimeError(f"keras-tensorflow replicas need KERAS_BACKEND=tensorflow, not {self.backend}")
        self.name = f"keras-tensorflow-x{self.world}"
        self.strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(self.world)])

    def supports(self, spec) -> str | None:
        why = super().supports(spec)
        if why is None and per_replica(spec):
            why = ("batch normalization with per-replica statistics: Keras's BatchNormalization(synchronized=False) "
                   "under MirroredStrategy moves each replica's copy of the moving statistics by its own rows (measured: "
                   "the copies 1.0 and 10.0 after one step on shards of means 2 and 20), so the mirrored copies part "
                   "and inference differs by replica; replica_statistics = 'global' is synchronized=True")
        return why

    def _on(self, device: str):
        return self.strategy.scope()

    def build(self, spec, weights, *, dtype, device, native: frozenset = frozenset()):
        unknown = frozenset(native) - self.native_aspects
        if unknown:
            raise ValueError(f"replicas run aligned, or with {sorted(a.key for a in self.native_aspects)} natively; "
                             f"not {sorted(a.key for a in unknown)}")
        h = super().build(spec, weights, dtype=dtype, device=device, native=native)
        with self.strategy.scope():  # its variables mirrored now: inside strategy.run they cannot be created
            h.optimizer.build(h.model.trainable_variables)
        if spec.optimizer.clip is not None and Native.KERAS_REPLICA_CLIP not in h.native:
            h.clip_sum = ClipOfTheSum(h.optimizer)
        return h

    # ---- each replica's part ----

    def _shard(self, a: np.ndarray):
        """``a``'s rows over the replicas (``replicas.shards``), as the strategy's per-replica values."""
        parts = replicas.shards(len(a), self.world)
        return self.strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(a[parts[ctx.replica_id_in_sync_group]]))

    def _functions(self, built, native, loss_fn, pred, out_act):
        """The distributed gradient (each replica's ``replica_loss``, its gradient, the all-reduced sums) and the
        layer outputs (each replica's rows, concatenated in replica order)."""
        model, strategy = built.model, self.strategy
        spec = built.spec
        for layer in built.layers:  # read at each call (keras/src/layers/normalization/batch_normalization.py)
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.synchronized = Native.KERAS_REPLICA_BATCH_STATS not in native
        dtype = str(built.weights[0].dtype).replace("tf.", "")
        summed, _, _ = self._loss_parts(spec, dtype, native, reduction="sum")
        l2 = (lambda r: r) if Native.KERAS_REPLICA_L2 in native else (lambda r: r / self.world)

        def replica_loss(inputs, y, w, training=True):
            """C_r (module docstring), in the replica's context; natively Keras's own loss object's."""
            z = model(inputs, training=training)
            ctx = tf.distribute.get_replica_context()
            if Native.KERAS_LOCAL_MEAN in native:
                data = loss_fn(y, pred(z)) if w is None else loss_fn(y, pred(z), sample_weight=w)
            elif spec.loss.reduction == "sum":
                data = summed(y, pred(z)) if w is None else summed(y, pred(z), sample_weight=w)
            else:
                by_weights = w is not None and spec.loss.weighted_reduction == "mean_with_sample_weight"
                count = tf.reduce_sum(w) if by_weights else tf.cast(tf.shape(z)[0], z.dtype)
                data = (summed(y, pred(z)) if w is None else summed(y, pred(z), sample_weight=w)) / ctx.all_reduce(SUM, count)
            for r in model.losses:
                data = data + l2(r)
            return data

        def gradients(inputs, y, w):
            with tf.GradientTape() as tape:
                loss = replica_loss(inputs, y, w)
            return loss, tape.gradient(loss, model.trainable_variables)

        def all_reduced(loss, grads):
            ctx = tf.distribute.get_replica_context()
            return ctx.all_reduce(SUM, loss), ctx.all_reduce(SUM, grads)  # as the optimizer's own all-reduce

        # Each replica's own gradient is one compiled function, which the step uses too: the gradient reported and
        # the gradient applied are the same numbers (two graphs of the same loss may be rewritten apart, and with
        # N > 2 the all-reduce's order then moves them apart by a rounding, which an adaptive optimizer amplifies
        # where a component is near zero).
        traced = tf.function(lambda inputs, y, w: strategy.run(gradients, args=(inputs, y, w)), reduce_retracing=True)

        def local(inputs, y, w):
            # Traced once for any number of rows: the check batch, then the schedule's batches of other sizes, traced
            # it twice otherwise (the second time with the rows generalized; 0.3 s a case).
            if not traced.experimental_get_tracing_count():
                traced.get_concrete_function(*tf.nest.map_structure(_rows_free, (inputs, y, w)))
            return traced(inputs, y, w)
        # The all-reduce as the step will run it: eagerly while the step's update is eager (EAGER_STEPS), compiled
        # after (an eager and a compiled sum of three replicas' values can differ by a rounding: measured, three step
        # checks of breast_cancer_relu10_bn over 3 replicas failed at their first step until the two agreed).
        # Eagerly, the replica context's all_reduce is a merge_call into the strategy's batch_reduce_to, each value
        # reduced to its own devices (distribute_lib.ReplicaContext.all_reduce); called from the cross-replica
        # context, the same reduction skips the replica threads an eager strategy.run starts (21 ms a call, a third
        # of a step check's time here). The same numbers: measured bitwise over 3 replicas on every check.
        def eager(loss, grads):
            summed = strategy.extended.batch_reduce_to(SUM, [(v, v) for v in (loss, *grads)])
            return summed[0], summed[1:]

        compiled = tf.function(lambda loss, grads: strategy.run(all_reduced, args=(loss, grads)), reduce_retracing=True)

        def value_and_grad(inputs, y, w=None, compiled_step: bool = False):
            loss, grads = (compiled if compiled_step else eager)(*local(inputs, y, w))
            return self._first(loss), [self._first(g) for g in grads], None

        value_and_grad.local = local
        # The validation loss (``fit``): C_r in inference mode on unweighted rows (Keras's fit weights only the
        # training rows), all-reduced, the same on every replica.
        value_and_grad.validation = tf.function(lambda inputs, y: strategy.run(
            lambda i, t: tf.distribute.get_replica_context().all_reduce(SUM, replica_loss(i, t, None, training=False)),
            args=(inputs, y)), reduce_retracing=True)
        outs = {t: tf.function(lambda inputs, t=t: strategy.run(lambda i: run_layers(built, i, out_act, t), args=(inputs,)),
                               reduce_retracing=True) for t in (False, True)}

        def layer_outputs(inputs, training):
            return [tf.concat(strategy.experimental_local_results(o), 0) for o in outs[bool(training)](inputs)]

        return value_and_grad, layer_outputs

    def _gradient_options(self, h) -> dict:
        """The reported gradient's all-reduce run as the step's update runs (eager, then compiled: ``_functions``)."""
        return {"compiled_step": h.steps >= EAGER_STEPS}

    def _first(self, value):
        """Replica 0's copy of a value the all-reduce made the same on every replica."""
        return self.strategy.experimental_local_results(value)[0]

    # ---- the step: Keras's own update on every replica ----

    def step(self, h, x, y, masks=None, sample_weight=None):
        """One ``optimizer.apply`` in every replica's context, on its own gradient: Keras all-reduces them and updates
        every copy of the weights (module docstring)."""
        self._live(h)
        model, optimizer = h.model, h.optimizer
        clip = h.clip_sum

        def on_replica(grads):
            if clip is not None:  # the all-reduced gradient clipped, each replica's 1/N share summed back (module docstring)
                grads = [g / self.world for g in clip(tf.distribute.get_replica_context().all_reduce(SUM, grads))]
            return optimizer.apply(grads, model.trainable_variables)

        apply = lambda grads: self.strategy.run(on_replica, args=(grads,))
        # Eagerly for a handle's first steps, then compiled, as the one-process step (EAGER_STEPS): tracing the
        # update under the strategy costs 70-190 ms a handle, an eager update 12-37 ms, a compiled one 3 ms.
        if h.tf_apply is None and h.steps >= EAGER_STEPS:
            h.tf_apply = tf.function(apply, reduce_retracing=True)
        w = self._row_weights(h, y, sample_weight)
        # In the strategy's scope, as loss_and_grads calls the same compiled gradient: a tf.function keys its traces on
        # the distribution context, and one call outside it traced the gradient a second time (0.3 s a case).
        with self.strategy.scope(), optimizers.floatx(keras.backend.standardize_dtype(h.built.weights[0].dtype)):
            _, grads = h.value_and_grad.local(self._place(h.built.inputs(x, masks, True)), self._place(y), self._place(w))
            (h.tf_apply or apply)(grads)
        h.steps += 1
        return self.weights(h)

    def fit(self, h, x, y, epochs, x_val, y_val):
        """Early stopping in the engine's own loop, Keras's ``EarlyStopping`` callback driven by hand: each epoch's
        data-parallel ``step``s, then the validation loss all-reduced from the replicas' shards, the callback's
        ``on_epoch_end`` on it (its best weights kept and restored by ``get_weights``/``set_weights``, every copy).
        Not ``model.fit``: under the strategy, fed the shared schedule's batches from a generator as in one process,
        it does not take them one step each (measured on coverage_softmax_half_sse over 2 replicas: its input ran out
        within the first epoch, the weights 31 % off the reference after it)."""
        self._live(h)
        rule = h.spec.training.early_stopping
        stop = keras.callbacks.EarlyStopping(monitor=rule.monitor, min_delta=rule.min_delta, patience=rule.patience,
                                             restore_best_weights=rule.restore_best_weights, mode="min")
        stop.set_model(h.model)
        h.model.stop_training = False
        stop.on_train_begin()
        inputs, targets = self._place(h.built.inputs(x_val, None, False)), self._place(y_val)
        monitored = []
        for e, batches in enumerate(epochs):
            for idx in batches:
                self.step(h, x[idx], y[idx])
            self.end_epoch(h)
            monitored.append(float(ops.convert_to_numpy(self._first(h.value_and_grad.validation(inputs, targets)))))
            stop.on_epoch_end(e, {rule.monitor: monitored[-1]})
            if h.model.stop_training:
                break
        with self.strategy.scope():
            stop.on_train_end()
        return self.weights(h), monitored

    def replica_weights(self, h) -> list[list[np.ndarray]]:
        """Each replica's copy of every weight, replica 0's first."""
        self._live(h)
        copies = [self.strategy.experimental_local_results(v.value) for v in h.built.weights]
        return [[np.array(ops.convert_to_numpy(c[r])) for c in copies] for r in range(self.world)]


def _rows_free(value):
    """The type of a per-replica batch with its rows left open (a tf.function traced on it serves any batch size)."""
    if isinstance(value, PerReplica):
        return PerReplicaSpec(*[tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in value.values])
    return value


class ClipOfTheSum:
    """Keras's own clipping (the optimizer class's ``_clip_gradients`` and ``_clip_by_norm``, with its settings), taken
    off the optimizer, whose ``apply`` then clips nothing, to clip the all-reduced gradient instead. (Turning the
    settings off around each ``apply`` races: eager ``strategy.run`` calls each replica's function in a thread.)"""

    RULES = ("clipnorm", "global_clipnorm", "clipvalue")

    def __init__(self, optimizer):
        self.settings = types.SimpleNamespace(**{rule: getattr(optimizer, rule) for rule in self.RULES})
        cls = type(optimizer)
        self.settings._clip_by_norm = lambda values, axes=None: cls._clip_by_norm(self.settings, values, axes)
        self._clip = lambda grads: cls._clip_gradients(self.settings, grads)
        for rule in self.RULES:
            setattr(optimizer, rule, None)

    def __call__(self, grads):
        return self._clip(grads)
