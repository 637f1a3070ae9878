"""A dense network in plain JAX: parameters are a list of arrays, gradients come from ``jax.grad``.

It implements nnparity's protocol (``reference/implementation.py``): it receives a spec and canonical
weights (kernels (in, out), biases (out,)) and returns NumPy arrays. Nothing here imports nnparity:
the spec is read as an object with the documented fields, so the same code could read the spec
from a golden file's manifest.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)  # float64 is float32 in jax without it

ACTIVATIONS: dict[str, Callable] = {
    "sigmoid": lambda z, p: jax.nn.sigmoid(z),
    "tanh": lambda z, p: jnp.tanh(z),
    "relu": lambda z, p: jax.nn.relu(z),  # its custom derivative is 0 at 0 (jnp.maximum's would be 0.5)
    "leaky_relu": lambda z, p: jnp.where(z > 0, z, p["alpha"] * z),
    "elu": lambda z, p: jnp.where(z > 0, z, p["alpha"] * jnp.expm1(jnp.minimum(z, 0))),
    "silu": lambda z, p: jax.nn.silu(z),
    "gelu": lambda z, p: jax.nn.gelu(z, approximate=p["approximate"] == "tanh"),
    "softplus": lambda z, p: jnp.logaddexp(z, 0.0),
    "linear": lambda z, p: z,
    "softmax": lambda z, p: jax.nn.softmax(z, axis=-1),
}


def _per_sample(name: str, z, a, y):
    """The per-sample loss, from the logits z (cross-entropies) or the output a (squared errors)."""
    if name == "categorical_crossentropy":
        return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1), axis=-1)
    if name == "sparse_categorical_crossentropy":
        return -jnp.take_along_axis(jax.nn.log_softmax(z, axis=-1), y[:, None], axis=-1)[:, 0]
    if name == "binary_crossentropy":
        return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))), axis=-1)
    if name == "mse":
        return jnp.mean((a - y) ** 2, axis=-1)
    if name == "half_sse":
        return 0.5 * jnp.sum((a - y) ** 2, axis=-1)
    raise ValueError(name)


# ---- optimizers: (init(params) -> state, update(params, grads, state, t) -> (params, state)) ----

def _sgd(h):
    return (lambda ps: None), (lambda ps, gs, st, t: ([w - h["learning_rate"] * g for w, g in zip(ps, gs)], st))


def _momentum(h, nesterov=False):
    mu, lr = h["momentum"], h["learning_rate"]

    def update(ps, gs, bs, t):
        bs = [mu * b + g for b, g in zip(bs, gs)]
        step = [g + mu * b for g, b in zip(gs, bs)] if nesterov else bs
        return [w - lr * s for w, s in zip(ps, step)], bs

    return (lambda ps: [jnp.zeros_like(w) for w in ps]), update


def _adagrad(h):
    torch_eps = h["eps_mode"] == "torch"

    def update(ps, gs, accs, t):
        accs = [a + g * g for a, g in zip(accs, gs)]
        d = [(jnp.sqrt(a) + h["epsilon"]) if torch_eps else jnp.sqrt(a + h["epsilon"]) for a in accs]
        return [w - h["learning_rate"] * g / dd for w, g, dd in zip(ps, gs, d)], accs

    return (lambda ps: [jnp.full_like(w, h["initial_accumulator"]) for w in ps]), update


def _rmsprop(h):
    rho, lr, mu = h["rho"], h["learning_rate"], h["momentum"]
    torch_eps = h["eps_mode"] == "torch"

    def update(ps, gs, st, t):
        out = []
        for w, g, (v, mg, b) in zip(ps, gs, st):
            v = rho * v + (1 - rho) * g * g
            s = v
            if h["centered"]:
                mg = rho * mg + (1 - rho) * g
                s = v - mg * mg
            d = jnp.sqrt(s) + h["epsilon"] if torch_eps else jnp.sqrt(s + h["epsilon"])
            if mu > 0:
                b = mu * b + g / d
                w = w - lr * b
            else:
                w = w - lr * g / d
            out.append((w, (v, mg, b)))
        return [o[0] for o in out], [o[1] for o in out]

    return (lambda ps: [(jnp.zeros_like(w), jnp.zeros_like(w), jnp.zeros_like(w)) for w in ps]), update


def _adam(h, decoupled=False):
    b1, b2, lr, eps = h["beta_1"], h["beta_2"], h["learning_rate"], h["epsilon"]
    torch_eps = h["eps_mode"] == "torch"

    def update(ps, gs, st, t):
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        out = []
        for w, g, (m, v) in zip(ps, gs, st):
            if decoupled:
                w = w * (1 - lr * h["weight_decay"])
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            if torch_eps:
                w = w - (lr / c1) * m / (jnp.sqrt(v) / math.sqrt(c2) + eps)
            else:
                w = w - (lr * math.sqrt(c2) / c1) * m / (jnp.sqrt(v) + eps)
            out.append((w, (m, v)))
        return [o[0] for o in out], [o[1] for o in out]

    return (lambda ps: [(jnp.zeros_like(w), jnp.zeros_like(w)) for w in ps]), update


OPTIMIZERS = {"sgd": _sgd, "momentum": _momentum, "nesterov": lambda h: _momentum(h, nesterov=True),
              "adagrad": _adagrad, "rmsprop": _rmsprop, "adam": _adam, "adamw": lambda h: _adam(h, decoupled=True)}


@dataclass
class Handle:
    spec: Any
    params: list
    dtype: Any
    loss_and_grad: Callable
    outputs: Callable
    update: Callable
    state: Any
    t: int = 0


class JaxMLP:
    name = "jax-mlp"

    def available(self) -> str | None:
        return None

    def devices(self) -> list[str]:
        return ["cpu"] + (["cuda"] if any(d.platform == "gpu" for d in jax.devices()) else [])

    def build(self, spec, weights, *, dtype, device):
        layers = [(l.units, l.use_bias, l.l2, ACTIVATIONS[l.activation.name], dict(l.activation.params)) for l in spec.layers]
        loss_name, reduction = spec.loss.name, spec.loss.reduction

        def outputs(params, x):
            outs, a, i = [], x, 0
            for units, use_bias, l2, act, p in layers:
                z = a @ params[i] + (params[i + 1] if use_bias else 0)
                i += 2 if use_bias else 1
                a = act(z, p)
                outs.append((z, a))
            return outs

        def loss(params, x, y):
            z, a = outputs(params, x)[-1]
            per = _per_sample(loss_name, z, a, y)
            total = jnp.sum(per) / (x.shape[0] if reduction == "mean" else 1)
            i = 0
            for units, use_bias, l2, act, p in layers:
                if l2:
                    total = total + l2 * jnp.sum(params[i] * params[i])
                i += 2 if use_bias else 1
            return total

        cpu = jax.devices("gpu" if device == "cuda" else "cpu")[0]
        params = [jax.device_put(jnp.asarray(np.asarray(w, dtype=dtype)), cpu) for w in weights]
        init, update = OPTIMIZERS[spec.optimizer.name](dict(spec.optimizer.params))
        return Handle(spec, params, np.dtype(dtype), jax.jit(jax.value_and_grad(loss)), jax.jit(outputs), update, init(params))

    def _x(self, h, x):
        return jnp.asarray(np.asarray(x, dtype=h.dtype))

    def _y(self, h, y):
        return jnp.asarray(y if np.asarray(y).dtype.kind in "iu" else np.asarray(y, dtype=h.dtype))

    def forward(self, h, x):
        return np.asarray(h.outputs(h.params, self._x(h, x))[-1][1])

    def layer_outputs(self, h, x):
        return [np.asarray(a) for _, a in h.outputs(h.params, self._x(h, x))]

    def loss_and_grads(self, h, x, y):
        loss, grads = h.loss_and_grad(h.params, self._x(h, x), self._y(h, y))
        return float(loss), [np.asarray(g) for g in grads]

    def step(self, h, x, y):
        _, grads = h.loss_and_grad(h.params, self._x(h, x), self._y(h, y))
        h.t += 1
        h.params, h.state = h.update(h.params, grads, h.state, h.t)
        return self.weights(h)

    def weights(self, h):
        return [np.asarray(w) for w in h.params]
