"""A dense network written from scratch, as a user would write one for nnparity's protocol: it shares no
code with the reference. Its variants are the oracle's test subjects (parity_tests/test_hints.py):

* ``mistakes.py`` plants one mistake each — the oracle must FAIL it on the right check, tensor and step,
  and hint only what explains the numbers;
* ``CORRECT`` below are correct implementations that compute differently (other summation orders, the
  other momentum form, log-sum-exp losses, a rearranged Adam, extended-precision sums) — the oracle must
  pass them everywhere: a failure of one of those is a false positive.

Every piece a mistake may replace is one method, so each variant overrides one thing.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from scipy import special


class UserMLP:
    name = "user-mlp"

    def available(self):
        return None

    # ---- building and reading ----
    def build(self, spec, weights, *, dtype, device):
        dt = np.dtype(dtype)
        h = SimpleNamespace(spec=spec, dt=dt, layers=[], t=0, state=None, previous=None)
        i = 0
        for layer in spec.layers:
            kernel = np.array(weights[i], dtype=dt)
            bias = np.array(weights[i + 1], dtype=dt) if layer.use_bias else None
            i += 2 if layer.use_bias else 1
            h.layers.append(SimpleNamespace(W=kernel, b=bias, act=layer.activation.name, p=dict(layer.activation.params), l2=layer.l2))
        h.opt, h.hyper = spec.optimizer.name, dict(spec.optimizer.params)
        return h

    def params(self, h) -> list[np.ndarray]:
        out = []
        for L in h.layers:
            out.append(L.W)
            if L.b is not None:
                out.append(L.b)
        return out

    def weights(self, h):
        return [p.copy() for p in self.params(h)]

    # ---- pieces a mistake may replace ----
    def activation(self, name, p, z):
        if name == "sigmoid":
            return special.expit(z)
        if name == "tanh":
            return np.tanh(z)
        if name == "relu":
            return np.where(z > 0, z, 0.0).astype(z.dtype)
        if name == "leaky_relu":
            return np.where(z > 0, z, z * p["alpha"]).astype(z.dtype)
        if name == "elu":
            return np.where(z > 0, z, p["alpha"] * np.expm1(np.minimum(z, 0))).astype(z.dtype)
        if name == "silu":
            return z * special.expit(z)
        if name == "gelu":
            if p["approximate"] == "tanh":
                return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
            return 0.5 * z * (1 + special.erf(z / math.sqrt(2)))
        if name == "softplus":
            return np.logaddexp(z, 0).astype(z.dtype)
        if name == "linear":
            return z
        if name == "softmax":
            return self.softmax(z)
        raise ValueError(name)

    def softmax(self, z):
        e = np.exp(z - np.max(z, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)

    def activation_backward(self, name, p, z, a, g):
        """dC/dz from dC/da = g."""
        if name == "softmax":
            return a * (g - np.sum(a * g, axis=1, keepdims=True))
        return g * self.derivative(name, p, z, a)

    def derivative(self, name, p, z, a):
        if name == "sigmoid":
            return a * (1 - a)
        if name == "tanh":
            return 1 - a * a
        if name == "relu":
            return (z > 0).astype(z.dtype)
        if name == "leaky_relu":
            return np.where(z > 0, 1.0, p["alpha"]).astype(z.dtype)
        if name == "elu":
            return np.where(z > 0, 1.0, p["alpha"] * np.exp(np.minimum(z, 0))).astype(z.dtype)
        if name == "silu":
            s = special.expit(z)
            return s * (1 + z * (1 - s))
        if name == "gelu":
            if p["approximate"] == "tanh":
                c = math.sqrt(2 / math.pi)
                t = np.tanh(c * (z + 0.044715 * z ** 3))
                return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)
            return 0.5 * (1 + special.erf(z / math.sqrt(2))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        if name == "softplus":
            return special.expit(z)
        if name == "linear":
            return np.ones_like(z)
        raise ValueError(name)

    def per_row_loss(self, spec, z, a, y):
        name = spec.loss.name
        if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            y = self.onehot(y, z.shape[1])
            shifted = z - np.max(z, axis=1, keepdims=True)
            return -np.sum(y * (shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))), axis=1)
        if name == "binary_crossentropy":
            return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=1)
        if name == "mse":
            return np.mean((a - y) ** 2, axis=1)
        return 0.5 * np.sum((a - y) ** 2, axis=1)  # half_sse

    def loss_gradient(self, spec, z, a, y):
        """Per row: dl/dz for the cross-entropies (fused with their output), dl/da for the squared errors."""
        name = spec.loss.name
        if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            y = self.onehot(y, z.shape[1])
            return self.softmax(z) * np.sum(y, axis=1, keepdims=True) - y
        if name == "binary_crossentropy":
            return (special.expit(z) - y) / z.shape[1]
        if name == "mse":
            return 2 * (a - y) / a.shape[1]
        return a - y

    def divisor(self, spec, n):
        return n if spec.loss.reduction == "mean" else 1

    def penalty(self, L):
        return L.l2 * np.sum(L.W * L.W)

    def penalty_gradient(self, L):
        return 2 * L.l2 * L.W

    def batch_sum(self, m):
        return np.sum(m, axis=0)

    def kernel_gradient(self, a_prev, delta):
        return a_prev.T @ delta

    @staticmethod
    def onehot(y, k):
        return np.eye(k, dtype=np.float64)[y] if y.ndim == 1 else y

    # ---- forward, loss, backward ----
    def _forward(self, h, x):
        a, trace = np.asarray(x, dtype=h.dt), []
        for L in h.layers:
            z = a @ L.W + (L.b if L.b is not None else 0)
            a = self.activation(L.act, L.p, z)
            trace.append((z, a))
        return trace

    def forward(self, h, x):
        return self._forward(h, x)[-1][1]

    def layer_outputs(self, h, x):
        return [a for _, a in self._forward(h, x)]

    def loss(self, h, x, y, trace):
        spec = h.spec
        z, a = trace[-1]
        data = np.sum(self.per_row_loss(spec, z, a, y)) / self.divisor(spec, len(x))
        return float(data + sum(self.penalty(L) for L in h.layers if L.l2))

    def output_delta(self, h, trace, y, n):
        spec = h.spec
        z, a = trace[-1]
        g = self.loss_gradient(spec, z, a, y) / self.divisor(spec, n)
        if spec.loss.name in ("mse", "half_sse"):
            last = h.layers[-1]
            g = self.activation_backward(last.act, last.p, z, a, g)
        return g

    def loss_and_grads(self, h, x, y):
        x = np.asarray(x, dtype=h.dt)
        trace = self._forward(h, x)
        loss = self.loss(h, x, y, trace)
        delta = self.output_delta(h, trace, y, len(x)).astype(h.dt)
        grads = []
        for l in range(len(h.layers) - 1, -1, -1):
            L = h.layers[l]
            a_prev = x if l == 0 else trace[l - 1][1]
            gW = self.kernel_gradient(a_prev, delta)
            if L.l2:
                gW = gW + self.penalty_gradient(L)
            layer = [gW] + ([self.bias_gradient(L, delta)] if L.b is not None else [])
            grads = layer + grads
            if l > 0:
                below = h.layers[l - 1]
                z_prev, a_below = trace[l - 1]
                delta = self.activation_backward(below.act, below.p, z_prev, a_below, delta @ L.W.T)
        return loss, grads

    def bias_gradient(self, L, delta):
        return self.batch_sum(delta)

    # ---- optimizers ----
    def step(self, h, x, y):
        _, grads = self.loss_and_grads(h, x, y)
        self.apply(h, grads)
        return self.weights(h)

    def apply(self, h, grads):
        params = self.params(h)
        if h.state is None:
            h.state = [dict() for _ in params]
        h.t += 1
        for w, g, st in zip(params, grads, h.state):
            getattr(self, "update_" + h.opt)(h, w, g.astype(h.dt), st)

    def update_sgd(self, h, w, g, st):
        w -= h.hyper["learning_rate"] * g

    def update_momentum(self, h, w, g, st):
        b = st.setdefault("b", np.zeros_like(w))
        b *= h.hyper["momentum"]
        b += g
        w -= h.hyper["learning_rate"] * b

    def update_nesterov(self, h, w, g, st):
        mu = h.hyper["momentum"]
        b = st.setdefault("b", np.zeros_like(w))
        b *= mu
        b += g
        w -= h.hyper["learning_rate"] * (g + mu * b)

    def _denominator(self, h, v):
        eps = h.hyper["epsilon"]
        return np.sqrt(v) + eps if h.hyper["eps_mode"] == "torch" else np.sqrt(v + eps)

    def update_adagrad(self, h, w, g, st):
        acc = st.setdefault("acc", np.full_like(w, h.hyper["initial_accumulator"]))
        acc += g * g
        w -= h.hyper["learning_rate"] * g / self._denominator(h, acc)

    def update_rmsprop(self, h, w, g, st):
        hy = h.hyper
        v = st.setdefault("v", np.zeros_like(w))
        v *= hy["rho"]
        v += (1 - hy["rho"]) * g * g
        s = v
        if hy["centered"]:
            mg = st.setdefault("mg", np.zeros_like(w))
            mg *= hy["rho"]
            mg += (1 - hy["rho"]) * g
            s = v - mg * mg
        d = self._denominator(h, s)
        if hy["momentum"] > 0:
            b = st.setdefault("b", np.zeros_like(w))
            b *= hy["momentum"]
            b += g / d
            w -= hy["learning_rate"] * b
        else:
            w -= hy["learning_rate"] * g / d

    def update_adam(self, h, w, g, st):
        hy = h.hyper
        m = st.setdefault("m", np.zeros_like(w))
        v = st.setdefault("v", np.zeros_like(w))
        m *= hy["beta_1"]
        m += (1 - hy["beta_1"]) * g
        v *= hy["beta_2"]
        v += (1 - hy["beta_2"]) * g * g
        self.adam_step(h, w, m, v, self.bias_corrections(h))

    def bias_corrections(self, h):
        return 1 - h.hyper["beta_1"] ** h.t, 1 - h.hyper["beta_2"] ** h.t

    def adam_step(self, h, w, m, v, corrections):
        hy = h.hyper
        c1, c2 = corrections
        if hy["eps_mode"] == "torch":
            w -= hy["learning_rate"] / c1 * m / (np.sqrt(v) / math.sqrt(c2) + hy["epsilon"])
        else:
            w -= hy["learning_rate"] * math.sqrt(c2) / c1 * m / (np.sqrt(v) + hy["epsilon"])

    def update_adamw(self, h, w, g, st):
        w *= 1 - h.hyper["learning_rate"] * h.hyper["weight_decay"]
        self.update_adam(h, w, g, st)


# ---- correct, but computed differently: each must pass everywhere -----------------------------------

class KerasMomentum(UserMLP):
    """Keras's momentum form, v <- mu v - lr g; w <- w + v (Nesterov: w <- w + mu v - lr g): the same sequence
    as the reference's buffer form for a constant learning rate, rounded differently."""

    name = "keras-momentum"

    def update_momentum(self, h, w, g, st):
        v = st.setdefault("v", np.zeros_like(w))
        v *= h.hyper["momentum"]
        v -= h.hyper["learning_rate"] * g
        w += v

    def update_nesterov(self, h, w, g, st):
        mu, lr = h.hyper["momentum"], h.hyper["learning_rate"]
        v = st.setdefault("v", np.zeros_like(w))
        v *= mu
        v -= lr * g
        w += mu * v - lr * g


class ReversedSums(UserMLP):
    """Every batch sum and product accumulated in reverse row order, row by row: another summation order."""

    name = "reversed-sums"

    def batch_sum(self, m):
        total = np.zeros(m.shape[1:], dtype=m.dtype)
        for row in m[::-1]:
            total += row
        return total

    def kernel_gradient(self, a_prev, delta):
        return np.einsum("ni,no->io", a_prev[::-1], delta[::-1], optimize=False)


class LogSumExpLosses(UserMLP):
    """The cross-entropies through scipy's log_softmax and logaddexp, the softmax through scipy."""

    name = "logsumexp-losses"

    def softmax(self, z):
        return special.softmax(z, axis=1)

    def per_row_loss(self, spec, z, a, y):
        name = spec.loss.name
        if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            return -np.sum(self.onehot(y, z.shape[1]) * special.log_softmax(z, axis=1), axis=1)
        if name == "binary_crossentropy":
            return np.mean(np.logaddexp(0, z) - z * y, axis=1)
        return super().per_row_loss(spec, z, a, y)


class RearrangedAdam(UserMLP):
    """Adam's bias corrections applied to m and v before the step (m-hat, v-hat), epsilon-hat rescaled to match:
    algebraically the reference's rule in either epsilon mode, with other roundings."""

    name = "rearranged-adam"

    def adam_step(self, h, w, m, v, corrections):
        hy = h.hyper
        c1, c2 = corrections
        m_hat, v_hat = m / c1, v / c2
        eps = hy["epsilon"] if hy["eps_mode"] == "torch" else hy["epsilon"] / math.sqrt(c2)
        w -= hy["learning_rate"] * m_hat / (np.sqrt(v_hat) + eps)


class BlockedSums(UserMLP):
    """Batch sums exactly rounded (math.fsum per column) and kernel products accumulated over blocks of 16 rows:
    other summation orders, and more accurate than the reference's, never less."""

    name = "blocked-sums"

    def batch_sum(self, m):
        flat = m.reshape(len(m), -1)
        return np.array([math.fsum(col) for col in flat.T], dtype=m.dtype).reshape(m.shape[1:])

    def kernel_gradient(self, a_prev, delta):
        total = np.zeros((a_prev.shape[1], delta.shape[1]), dtype=delta.dtype)
        for start in range(0, len(delta), 16):
            total += a_prev[start:start + 16].T @ delta[start:start + 16]
        return total


class ExactSigmoidDerivative(UserMLP):
    """sigmoid'(z) from z, e^-|z| / (1 + e^-|z|)^2: exact where a (1 - a) loses digits in the saturated tail."""

    name = "exact-sigmoid-derivative"

    def derivative(self, name, p, z, a):
        if name == "sigmoid":
            e = np.exp(-np.abs(z))
            return e / (1 + e) ** 2
        return super().derivative(name, p, z, a)


CORRECT = [KerasMomentum, ReversedSums, LogSumExpLosses, RearrangedAdam, BlockedSums, ExactSigmoidDerivative]
