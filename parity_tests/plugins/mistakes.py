"""The user's network (user_mlp.py) with one planted mistake each: the oracle's test subjects.

Each class overrides one piece of ``UserMLP``, the way the mistake happens in real code; none shares code
with the hint engine that must explain it (nnparity/hints). parity_tests/test_hints.py says, for each,
which check must fail, on which tensor and step, and which hint must (or must not) appear.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from parity_tests.plugins.user_mlp import UserMLP

# ---- activations -----------------------------------------------------------------------------------

class SigmoidDerivativeIsA(UserMLP):
    def derivative(self, name, p, z, a):
        return a if name == "sigmoid" else super().derivative(name, p, z, a)


class TanhDerivativeFromZ(UserMLP):
    def derivative(self, name, p, z, a):
        return 1 - z * z if name == "tanh" else super().derivative(name, p, z, a)


class ReluDerivativeOneAtZero(UserMLP):
    def derivative(self, name, p, z, a):
        return (z >= 0).astype(z.dtype) if name == "relu" else super().derivative(name, p, z, a)


class LeakySlopeKerasDefault(UserMLP):
    """leaky_relu written with keras.activations' default slope, whatever the spec says."""

    def activation(self, name, p, z):
        return super().activation(name, {**p, "alpha": 0.2} if name == "leaky_relu" else p, z)

    def derivative(self, name, p, z, a):
        return super().derivative(name, {**p, "alpha": 0.2} if name == "leaky_relu" else p, z, a)


class GeluAlwaysTanh(UserMLP):
    def activation(self, name, p, z):
        return super().activation(name, {**p, "approximate": "tanh"} if name == "gelu" else p, z)

    def derivative(self, name, p, z, a):
        return super().derivative(name, {**p, "approximate": "tanh"} if name == "gelu" else p, z, a)


class UnshiftedSoftmax(UserMLP):
    """softmax as exp(z) / sum exp(z), and the cross-entropy as -log of it."""

    def softmax(self, z):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(z)
            return e / np.sum(e, axis=1, keepdims=True)

    def per_row_loss(self, spec, z, a, y):
        if spec.loss.name.endswith("categorical_crossentropy"):
            with np.errstate(all="ignore"):
                return -np.sum(self.onehot(y, z.shape[1]) * np.log(self.softmax(z)), axis=1)
        return super().per_row_loss(spec, z, a, y)


class ClippedCrossEntropy(UserMLP):
    """The cross-entropy from probabilities clipped to [1e-7, 1 - 1e-7], as Keras computes it without from_logits."""

    def per_row_loss(self, spec, z, a, y):
        if spec.loss.name.endswith("categorical_crossentropy"):
            p = np.clip(special.softmax(z, axis=1), 1e-7, 1 - 1e-7)
            return -np.sum(self.onehot(y, z.shape[1]) * np.log(p), axis=1)
        return super().per_row_loss(spec, z, a, y)

    def loss_gradient(self, spec, z, a, y):
        if spec.loss.name.endswith("categorical_crossentropy"):
            p = special.softmax(z, axis=1)
            y = self.onehot(y, z.shape[1])
            inside = (p > 1e-7) & (p < 1 - 1e-7)
            g = -y * inside / np.clip(p, 1e-7, 1 - 1e-7)
            return p * (g - np.sum(g * p, axis=1, keepdims=True))
        return super().loss_gradient(spec, z, a, y)


# ---- gradients, reductions, the L2 term --------------------------------------------------------------

class NoBiasGradient(UserMLP):
    def bias_gradient(self, L, delta):
        return np.zeros_like(delta[0])


class L2GradientHalf(UserMLP):
    """d/dW l2 sum W^2 written as l2 W."""

    def penalty_gradient(self, L):
        return L.l2 * L.W


class L2OnBiases(UserMLP):
    def penalty(self, L):
        return L.l2 * (np.sum(L.W * L.W) + (np.sum(L.b * L.b) if L.b is not None else 0.0))

    def bias_gradient(self, L, delta):
        g = super().bias_gradient(L, delta)
        return g + 2 * L.l2 * L.b if L.l2 else g


class L2PerRow(UserMLP):
    """scikit-learn's scaling: the penalty divided by the batch size."""

    def __init__(self):
        self.rows = 1

    def loss_and_grads(self, h, x, y):
        self.rows = len(x)
        return super().loss_and_grads(h, x, y)

    def penalty(self, L):
        return super().penalty(L) / self.rows

    def penalty_gradient(self, L):
        return super().penalty_gradient(L) / self.rows


class L2Float32(UserMLP):
    """The L2 factor cast through a float32 constant before use."""

    def penalty(self, L):
        return float(np.float32(L.l2)) * np.sum(L.W * L.W)

    def penalty_gradient(self, L):
        return 2 * float(np.float32(L.l2)) * L.W


class LossWithoutPenalty(UserMLP):
    def loss(self, h, x, y, trace):
        z, a = trace[-1]
        return float(np.sum(self.per_row_loss(h.spec, z, a, y)) / self.divisor(h.spec, len(x)))


class SumInsteadOfMean(UserMLP):
    def divisor(self, spec, n):
        return 1


class MeanInsteadOfSum(UserMLP):
    def divisor(self, spec, n):
        return n


class MseSummedOverOutputs(UserMLP):
    def per_row_loss(self, spec, z, a, y):
        return np.sum((a - y) ** 2, axis=1) if spec.loss.name == "mse" else super().per_row_loss(spec, z, a, y)

    def loss_gradient(self, spec, z, a, y):
        return 2 * (a - y) if spec.loss.name == "mse" else super().loss_gradient(spec, z, a, y)


class BceSummedOverOutputs(UserMLP):
    """Binary cross-entropy summed over its outputs (torch's BCEWithLogitsLoss(reduction='sum') / batch)."""

    def per_row_loss(self, spec, z, a, y):
        if spec.loss.name == "binary_crossentropy":
            return np.sum(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=1)
        return super().per_row_loss(spec, z, a, y)

    def loss_gradient(self, spec, z, a, y):
        return special.expit(z) - y if spec.loss.name == "binary_crossentropy" else super().loss_gradient(spec, z, a, y)


class MseGradientWithoutTwo(UserMLP):
    def loss_gradient(self, spec, z, a, y):
        return (a - y) / a.shape[1] if spec.loss.name == "mse" else super().loss_gradient(spec, z, a, y)


class Float32Everywhere(UserMLP):
    """Computes in float32 whatever dtype it is asked for, and hands back the dtype it was asked for."""

    def build(self, spec, weights, *, dtype, device):
        h = super().build(spec, weights, dtype="float32", device=device)
        h.asked = np.dtype(dtype)
        return h

    def forward(self, h, x):
        return super().forward(h, np.asarray(x, dtype=np.float32)).astype(h.asked)

    def layer_outputs(self, h, x):
        return [a.astype(h.asked) for a in super().layer_outputs(h, np.asarray(x, dtype=np.float32))]

    def loss_and_grads(self, h, x, y):
        loss, grads = super().loss_and_grads(h, np.asarray(x, dtype=np.float32), y if y.dtype.kind == "i" else y.astype(np.float32))
        return loss, [g.astype(h.asked) for g in grads]


class OneUnexplainedFactor(UserMLP):
    """layers[1].kernel's gradient scaled by 1 + 1e-6: no known mistake explains it, so no model may claim it."""

    def loss_and_grads(self, h, x, y):
        loss, grads = super().loss_and_grads(h, x, y)
        grads[2] = grads[2] * (1 + 1e-6)
        return loss, grads


class TransposedKernels(UserMLP):
    def weights(self, h):
        return [w.T.copy() if w.ndim == 2 else w for w in super().weights(h)]


# ---- optimizer rules -----------------------------------------------------------------------------------

class AdamWithoutBiasCorrection(UserMLP):
    def bias_corrections(self, h):
        return 1.0, 1.0


class AdamStepOffByOne(UserMLP):
    def bias_corrections(self, h):
        t = h.t + 1
        return 1 - h.hyper["beta_1"] ** t, 1 - h.hyper["beta_2"] ** t


class AMSGrad(UserMLP):
    def update_adam(self, h, w, g, st):
        hy = h.hyper
        m = st.setdefault("m", np.zeros_like(w))
        v = st.setdefault("v", np.zeros_like(w))
        vmax = st.setdefault("vmax", np.zeros_like(w))
        m *= hy["beta_1"]
        m += (1 - hy["beta_1"]) * g
        v *= hy["beta_2"]
        v += (1 - hy["beta_2"]) * g * g
        np.maximum(vmax, v, out=vmax)
        self.adam_step(h, w, m, vmax, self.bias_corrections(h))


class CoupledWeightDecay(UserMLP):
    """AdamW's decay as an L2 term in the gradient (torch's Adam(weight_decay=...))."""

    def update_adamw(self, h, w, g, st):
        self.update_adam(h, w, g + h.hyper["weight_decay"] * w, st)


class MomentumSignFlipped(UserMLP):
    def update_momentum(self, h, w, g, st):
        b = st.setdefault("b", np.zeros_like(w))
        b *= -h.hyper["momentum"]
        b += g
        w -= h.hyper["learning_rate"] * b


class DampenedMomentum(UserMLP):
    """torch's SGD(momentum=mu, dampening=mu)."""

    def update_momentum(self, h, w, g, st):
        mu = h.hyper["momentum"]
        b = st.setdefault("b", np.zeros_like(w))
        b *= mu
        b += (1 - mu) * g
        w -= h.hyper["learning_rate"] * b


class MomentumForgetsFirstStep(UserMLP):
    def apply(self, h, grads):
        super().apply(h, grads)
        if h.t == 1 and h.opt in ("momentum", "nesterov"):
            h.state = None


class NesterovAsMomentum(UserMLP):
    def update_nesterov(self, h, w, g, st):
        self.update_momentum(h, w, g, st)


class EpsilonOutsideTheRoot(UserMLP):
    """sqrt(v) + eps whatever eps_mode says."""

    def _denominator(self, h, v):
        return np.sqrt(v) + h.hyper["epsilon"]


class LearningRateFloat32(UserMLP):
    def build(self, spec, weights, *, dtype, device):
        h = super().build(spec, weights, dtype=dtype, device=device)
        h.hyper["learning_rate"] = float(np.float32(h.hyper["learning_rate"]))
        return h


class StaleGradient(UserMLP):
    """Each step applies the gradient computed in the step before (the first step its own)."""

    def step(self, h, x, y):
        _, grads = self.loss_and_grads(h, x, y)
        self.apply(h, h.previous if h.previous is not None else grads)
        h.previous = grads
        return self.weights(h)


class UpdatesDuringBackward(UserMLP):
    """Updates each layer as soon as its gradient is known, so the layer below is reached through new weights."""

    def step(self, h, x, y):
        x = np.asarray(x, dtype=h.dt)
        trace = self._forward(h, x)
        if h.state is None:
            h.state = [dict() for _ in self.params(h)]
        h.t += 1
        index = {id(p): i for i, p in enumerate(self.params(h))}
        delta = self.output_delta(h, trace, y, len(x)).astype(h.dt)
        for l in range(len(h.layers) - 1, -1, -1):
            L = h.layers[l]
            a_prev = x if l == 0 else trace[l - 1][1]
            gW = self.kernel_gradient(a_prev, delta) + (self.penalty_gradient(L) if L.l2 else 0)
            gb = self.bias_gradient(L, delta) if L.b is not None else None
            getattr(self, "update_" + h.opt)(h, L.W, gW, h.state[index[id(L.W)]])
            if L.b is not None:
                getattr(self, "update_" + h.opt)(h, L.b, gb, h.state[index[id(L.b)]])
            if l > 0:
                below = h.layers[l - 1]
                z_prev, a_below = trace[l - 1]
                delta = self.activation_backward(below.act, below.p, z_prev, a_below, delta @ L.W.T)
        return self.weights(h)


__all__ = [name for name, obj in list(globals().items()) if isinstance(obj, type) and issubclass(obj, UserMLP) and obj is not UserMLP]
