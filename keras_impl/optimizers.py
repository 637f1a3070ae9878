r"""The spec's optimizer as a Keras optimizer, aligned with the reference's conventions.

Keras's own optimizers express the Keras conventions (``eps_mode = "keras"``). For PyTorch's epsilon
placement Keras has no switch, so ``TorchEpsAdam``, ``TorchEpsRMSprop`` and ``TorchEpsAdagrad``
implement it with ``keras.ops`` (backend-agnostic, like Keras's own ``update_step``).

Two float64 details (measured here; both make float64 parity fail at 1e-8 otherwise):

* the learning rate lives in a Keras variable of dtype ``floatx`` (float32 unless changed), so the
  optimizer is created under ``floatx = dtype``;
* Keras casts hyperparameters with ``ops.cast(python_float, dtype)``, which on TensorFlow goes
  through a float32 constant (tensorflow/tensorflow#35938: beta_2 = 0.999 becomes 0.99900001):
  in float64 they are passed as ``numpy.float64``, which converts exactly.

The subclasses below build every scalar with ``_const``, a 0-d array of the variable's dtype: on the
torch backend ``convert_to_tensor`` sends a Python float, and ``numpy.float64`` (a subclass of
``float``), to a ``floatx`` (float32) tensor, which silently rounds it inside float64 arithmetic.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext

import keras
import numpy as np
from keras import ops


@contextmanager
def floatx(dtype: str):
    old = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(old)


def _const(value, variable):
    """``value`` as a tensor of the variable's dtype, exactly (see the module docstring)."""
    return ops.convert_to_tensor(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype)))


class _TorchEps(keras.optimizers.Optimizer):
    """Shared plumbing: the slot variables a subclass names, created on the first apply."""

    slots: tuple[str, ...] = ()

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._slots = dict(zip(self.slots, self.add_optimizer_variables(var_list, list(self.slots))))

    def slot(self, name, variable):
        return self._slots[name][self._get_variable_index(variable)]


class TorchEpsAdam(_TorchEps):
    r"""Adam with PyTorch's epsilon: :math:`w \leftarrow w - \frac{\eta}{c_1} \frac{m}{\sqrt{v}/\sqrt{c_2} + \epsilon}`.
    Keras's Adam uses epsilon-hat, :math:`\sqrt v + \hat\epsilon`; no constant maps one onto the other.
    With ``weight_decay`` it is AdamW (Keras's base class applies the decoupled decay first)."""

    slots = ("momentum", "velocity")

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, weight_decay=None, **clip):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, name="torch_eps_adam", **clip)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype
        lr, g = ops.cast(learning_rate, dt), ops.cast(gradient, dt)
        one, b1, b2 = _const(1, variable), _const(self.beta_1, variable), _const(self.beta_2, variable)
        t = ops.cast(self.iterations + 1, dt)
        c1 = ops.subtract(one, ops.power(b1, t))
        c2 = ops.subtract(one, ops.power(b2, t))
        m, v = self.slot("momentum", variable), self.slot("velocity", variable)
        self.assign_add(m, ops.multiply(ops.subtract(g, m), ops.subtract(one, b1)))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(g), v), ops.subtract(one, b2)))
        denom = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(c2)), _const(self.epsilon, variable))
        self.assign_sub(variable, ops.divide(ops.multiply(m, ops.divide(lr, c1)), denom))


class TorchEpsRMSprop(_TorchEps):
    r"""RMSprop with epsilon outside the root, :math:`d = \sqrt{s} + \epsilon` (PyTorch); Keras uses
    :math:`\sqrt{s + \epsilon}`. Centered and momentum (PyTorch's buffer form) as the reference."""

    slots = ("velocity", "average_gradient", "momentum")

    def __init__(self, learning_rate, rho, epsilon, centered, momentum, **clip):
        super().__init__(learning_rate=learning_rate, name="torch_eps_rmsprop", **clip)
        self.rho, self.epsilon, self.centered, self.momentum = rho, epsilon, centered, momentum

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype
        lr, g = ops.cast(learning_rate, dt), ops.cast(gradient, dt)
        rho, one_minus_rho = _const(self.rho, variable), _const(1 - self.rho, variable)
        v = self.slot("velocity", variable)
        self.assign(v, ops.add(ops.multiply(v, rho), ops.multiply(ops.square(g), one_minus_rho)))
        s = v
        if self.centered:
            mg = self.slot("average_gradient", variable)
            self.assign(mg, ops.add(ops.multiply(mg, rho), ops.multiply(g, one_minus_rho)))
            s = ops.subtract(v, ops.square(mg))
        d = ops.add(ops.sqrt(s), _const(self.epsilon, variable))
        if self.momentum > 0:
            b = self.slot("momentum", variable)
            self.assign(b, ops.add(ops.multiply(b, _const(self.momentum, variable)), ops.divide(g, d)))
            self.assign_sub(variable, ops.multiply(b, lr))
        else:
            self.assign_sub(variable, ops.divide(ops.multiply(g, lr), d))


class TorchEpsAdagrad(_TorchEps):
    r"""Adagrad with epsilon outside the root, :math:`w \leftarrow w - \eta g / (\sqrt{A} + \epsilon)` (PyTorch);
    Keras's Adagrad uses :math:`\sqrt{A + \epsilon}`."""

    slots = ("accumulator",)

    def __init__(self, learning_rate, initial_accumulator, epsilon, **clip):
        super().__init__(learning_rate=learning_rate, name="torch_eps_adagrad", **clip)
        self.initial_accumulator, self.epsilon = initial_accumulator, epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for acc in self._slots["accumulator"]:
            acc.assign(ops.multiply(ops.ones(acc.shape, dtype=acc.dtype), _const(self.initial_accumulator, acc)))

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype
        lr, g = ops.cast(learning_rate, dt), ops.cast(gradient, dt)
        acc = self.slot("accumulator", variable)
        self.assign_add(acc, ops.square(g))
        self.assign_sub(variable, ops.divide(ops.multiply(g, lr), ops.add(ops.sqrt(acc), _const(self.epsilon, variable))))


class TorchMomentum(_TorchEps):
    r"""Momentum in torch's buffer form, the rate outside it: :math:`b \leftarrow \mu b + g`,
    :math:`w \leftarrow w - \eta b` (Nesterov: :math:`w \leftarrow w - \eta (g + \mu b)`). Keras's SGD keeps the rate
    inside its velocity (:math:`v \leftarrow \mu v - \eta g`): the same steps for a constant rate, different ones
    under a schedule (``momentum_form = "torch"``)."""

    slots = ("momentum",)

    def __init__(self, learning_rate, momentum, nesterov, **clip):
        super().__init__(learning_rate=learning_rate, name="torch_momentum", **clip)
        self.momentum, self.nesterov = momentum, nesterov

    def update_step(self, gradient, variable, learning_rate):
        dt = variable.dtype
        lr, g = ops.cast(learning_rate, dt), ops.cast(gradient, dt)
        mu = _const(self.momentum, variable)
        b = self.slot("momentum", variable)
        self.assign(b, ops.add(ops.multiply(b, mu), g))
        step = ops.add(g, ops.multiply(b, mu)) if self.nesterov else b
        self.assign_sub(variable, ops.multiply(step, lr))


def _sgd(h, **clip):
    return keras.optimizers.SGD(learning_rate=h["learning_rate"], **clip)


def _momentum(nesterov: bool):
    def make_momentum(h, **clip):
        if h["momentum_form"] == "torch":
            return TorchMomentum(h["learning_rate"], h["momentum"], nesterov, **clip)
        return keras.optimizers.SGD(learning_rate=h["learning_rate"], momentum=h["momentum"], nesterov=nesterov, **clip)
    return make_momentum


def _adagrad(h, **clip):
    if h["eps_mode"] == "torch":
        return TorchEpsAdagrad(h["learning_rate"], h["initial_accumulator"], h["epsilon"], **clip)
    return keras.optimizers.Adagrad(learning_rate=h["learning_rate"], initial_accumulator_value=h["initial_accumulator"],
                                    epsilon=h["epsilon"], **clip)


def _rmsprop(h, **clip):
    if h["eps_mode"] == "torch":
        return TorchEpsRMSprop(h["learning_rate"], h["rho"], h["epsilon"], h["centered"], h["momentum"], **clip)
    return keras.optimizers.RMSprop(learning_rate=h["learning_rate"], rho=h["rho"], momentum=h["momentum"], epsilon=h["epsilon"],
                                    centered=h["centered"], **clip)


def _adam(decoupled: bool):
    def make_adam(h, **clip):
        decay = {"weight_decay": h["weight_decay"]} if decoupled else {}
        if h["eps_mode"] == "torch":
            return TorchEpsAdam(h["learning_rate"], h["beta_1"], h["beta_2"], h["epsilon"], **decay, **clip)
        cls = keras.optimizers.AdamW if decoupled else keras.optimizers.Adam
        return cls(learning_rate=h["learning_rate"], beta_1=h["beta_1"], beta_2=h["beta_2"], epsilon=h["epsilon"], **decay, **clip)
    return make_adam


def clip_arguments(clip, dtype: str) -> dict:
    """The spec's clipping as the optimizer's own argument (``clipnorm``, ``global_clipnorm`` or ``clipvalue``, the
    spec's rule names). Keras has no epsilon in its norms (``supports`` declines ``clip_epsilon`` > 0)."""
    if clip is None:
        return {}
    return {clip.rule: float(clip.threshold)}


# name -> (hyperparameters, clipping arguments) -> the optimizer: Keras's own wherever it expresses the convention
OPTIMIZERS = {"sgd": _sgd, "momentum": _momentum(False), "nesterov": _momentum(True), "adagrad": _adagrad,
              "rmsprop": _rmsprop, "adam": _adam(False), "adamw": _adam(True)}


def make(name: str, h: dict, dtype: str, clip=None, schedule=None) -> keras.optimizers.Optimizer:
    """The optimizer for ``spec.optimizer``, built under ``floatx = dtype`` with hyperparameters that convert exactly;
    a per-step ``schedule`` as its learning rate (a per-epoch one is the handle's callback: ``schedules.py``)."""
    from keras_impl import schedules

    num = (lambda v: np.float64(v)) if dtype == "float64" else float
    h = {k: num(v) if isinstance(v, float) else v for k, v in h.items()}
    with floatx(dtype):
        if schedule is not None and schedule.per == "step":
            h["learning_rate"] = schedules.make(schedule, dtype)
        return OPTIMIZERS[name](h, **clip_arguments(clip, dtype))


def make_native(name: str, h: dict, dtype: str, native: frozenset, clip=None, schedule=None) -> keras.optimizers.Optimizer:
    """Native mode: the optimizer as a user porting a model writes it (``reference/native.py``).
    Every aspect but ``FLOAT64_STOCK`` keeps the float64 care of ``make``, so a topic measures one thing."""
    from reference.native import LR_DECAY, WEIGHT_DECAY, Native

    aspects = {Native.OPTIMIZER_DEFAULTS, Native.SGD_DEFAULT_LR, Native.WEIGHT_DECAY, Native.LR_SCHEDULE, Native.FLOAT64_STOCK}
    if not native & aspects:
        return make(name, h, dtype, clip, schedule)
    stock = Native.FLOAT64_STOCK in native
    if not stock and dtype == "float64":
        h = {k: np.float64(v) if isinstance(v, float) else v for k, v in h.items()}
    with nullcontext() if stock else floatx(dtype):
        if Native.SGD_DEFAULT_LR in native:
            # the string the documents pass to compile(): SGD(0.01)
            return keras.optimizers.SGD(**clip_arguments(clip, dtype)) if clip else keras.optimizers.get("sgd")
        kw = {"weight_decay": WEIGHT_DECAY} if Native.WEIGHT_DECAY in native else {}
        kw.update(clip_arguments(clip, dtype))
        lr = h["learning_rate"]
        if Native.LR_SCHEDULE in native:
            lr = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=1, decay_rate=LR_DECAY)
        if Native.OPTIMIZER_DEFAULTS in native and name not in ("momentum", "nesterov"):
            cls = {"sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad, "rmsprop": keras.optimizers.RMSprop,
                   "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW}[name]
            return cls(learning_rate=lr, **kw)
        return _stock(name, {**h, "learning_rate": lr}, **kw)


def _stock(name: str, h: dict, **kw) -> keras.optimizers.Optimizer:
    """Keras's own optimizer with these hyperparameters, Keras's epsilon placement whatever eps_mode says."""
    O = keras.optimizers
    lr = h["learning_rate"]
    if name == "sgd":
        return O.SGD(learning_rate=lr, **kw)
    if name in ("momentum", "nesterov"):
        return O.SGD(learning_rate=lr, momentum=h["momentum"], nesterov=name == "nesterov", **kw)
    if name == "adagrad":
        return O.Adagrad(learning_rate=lr, initial_accumulator_value=h["initial_accumulator"], epsilon=h["epsilon"], **kw)
    if name == "rmsprop":
        return O.RMSprop(learning_rate=lr, rho=h["rho"], momentum=h["momentum"], epsilon=h["epsilon"], centered=h["centered"], **kw)
    if name == "adam":
        return O.Adam(learning_rate=lr, beta_1=h["beta_1"], beta_2=h["beta_2"], epsilon=h["epsilon"], **kw)
    kw.pop("weight_decay", None)  # AdamW has its own
    return O.AdamW(learning_rate=lr, weight_decay=h["weight_decay"], beta_1=h["beta_1"], beta_2=h["beta_2"], epsilon=h["epsilon"], **kw)
