r"""The spec's learning-rate schedule as Keras runs it (``reference/schedules.py``).

Per step, a ``keras.optimizers.schedules.LearningRateSchedule`` passed as the optimizer's ``learning_rate``:
Keras evaluates it at ``optimizer.iterations`` before every update. Per epoch, the ``LearningRateScheduler``
callback, which sets ``optimizer.learning_rate`` at each epoch's start from the epoch index; the handle
calls its ``on_epoch_begin`` at the boundaries the oracle gives (``end_epoch``), as ``fit`` would.

Every rule is Keras's own class: ``ExponentialDecay``, ``InverseTimeDecay``, ``PiecewiseConstantDecay``,
``CosineDecay`` (its ``warmup_target=None`` where the spec has no warm-up). The rates are given as numbers
of the model's dtype: each schedule computes in the dtype of its ``initial_learning_rate`` tensor, which a
Python float makes float32 on TensorFlow (so a float64 model's rate would be a float32 one).
"""
from __future__ import annotations

import keras
import numpy as np

S = keras.optimizers.schedules


def _num(v, dtype: str):
    return np.float64(v) if dtype == "float64" else float(v)


def _exponential(h, n):
    return S.ExponentialDecay(n(h["initial_learning_rate"]), n(h["decay_steps"]), n(h["decay_rate"]), staircase=h["staircase"])


def _inverse_time(h, n):
    return S.InverseTimeDecay(n(h["initial_learning_rate"]), n(h["decay_steps"]), n(h["decay_rate"]), staircase=h["staircase"])


def _piecewise(h, n):
    return S.PiecewiseConstantDecay(list(h["boundaries"]), [n(v) for v in h["values"]])


def _cosine(h, n):
    warm = {"warmup_target": n(h["warmup_target"]), "warmup_steps": h["warmup_steps"]} if h["warmup_steps"] else {}
    return S.CosineDecay(n(h["initial_learning_rate"]), h["decay_steps"], alpha=n(h["alpha"]), **warm)


# name -> (hyperparameters, number of the model's dtype) -> LearningRateSchedule
SCHEDULES = {"exponential_decay": _exponential, "inverse_time_decay": _inverse_time, "piecewise_constant": _piecewise,
             "cosine_decay": _cosine}


def make(s, dtype: str) -> keras.optimizers.schedules.LearningRateSchedule:
    return SCHEDULES[s.name](s.params, lambda v: _num(v, dtype))


class EpochSchedule:
    """A per-epoch schedule: Keras's ``LearningRateScheduler`` callback on the handle's model and optimizer."""

    def __init__(self, s, dtype: str, model: keras.Model, optimizer: keras.optimizers.Optimizer):
        schedule = make(s, dtype)
        self.callback = keras.callbacks.LearningRateScheduler(lambda epoch, lr: float(keras.ops.convert_to_numpy(schedule(epoch))))
        self.model, self.optimizer, self.epoch = model, optimizer, 0

    def end_epoch(self) -> None:
        """The next epoch begins: the callback sets the optimizer's rate for it."""
        self.epoch += 1
        self.model.optimizer = self.optimizer  # what compile() sets, and the callback reads
        self.callback.set_model(self.model)
        self.callback.on_epoch_begin(self.epoch)
