"""Implementations with one classic mistake each: ``nnparity check`` must catch every one, naming the
right check and tensor and, where it applies, giving the right hint. Each is the reference with the
mistake inside its own network (its layer table or its optimizer); the reference itself is untouched.
"""
from __future__ import annotations

import numpy as np

from reference import activations
from reference.implementation import NumpyImplementation
from reference.layers.dense import Dense
from reference.network import Network
from reference.optimizers import Adam, Momentum, Nesterov


class _Broken(NumpyImplementation):
    def build(self, spec, weights, *, dtype, device):
        net = super().build(spec, weights, dtype=dtype, device=device)
        self.break_(net)
        return net

    def break_(self, net: Network) -> None:
        raise NotImplementedError


def _replace_optimizer(net: Network, kind: type, broken: type) -> None:
    """Where ``net``'s optimizer is exactly ``kind``, it becomes ``broken`` with the same hyperparameters."""
    if type(net.optimizer) is kind:
        net.optimizer = broken(**net.optimizer.hyper)


def _corrupt_gradients(net: Network, corrupt) -> None:
    """Every gradient backprop computes (``loss_and_grads`` and ``step`` both) passes through ``corrupt(grads)``."""
    original = net._backprop

    def backprop(*args):
        loss, grads, trace = original(*args)
        return loss, corrupt(grads), trace

    net._backprop = backprop


def _with_activations(net: Network, table: dict) -> None:
    """Every dense layer of ``net`` reads its activations from ``table``."""
    dense = Dense(table)
    for slot in net.slots:
        if slot.layer.type == "dense":
            slot.kind = dense


class WrongActivationDerivative(_Broken):
    """sigmoid'(z) written as a instead of a (1 - a)."""

    name = "wrong-derivative"

    def break_(self, net):
        good = activations.ACTIVATIONS["sigmoid"]
        _with_activations(net, {**activations.ACTIVATIONS, "sigmoid": activations.ActivationFn(good.forward, lambda z, a: a)})


class MissingBiasGradient(_Broken):
    """BP3 forgotten: the bias gradients come back as zeros (and the biases never move)."""

    name = "no-bias-gradient"

    def break_(self, net):
        _corrupt_gradients(net, lambda grads: [np.zeros_like(g) if name.endswith("bias") else g for name, g in zip(net.names, grads)])


class TransposedKernel(NumpyImplementation):
    """Hands its kernels back in torch's (out, in) layout."""

    name = "transposed-kernel"

    def weights(self, net):
        return [w.T.copy() if w.ndim == 2 else w for w in net.weights()]


class L2FactorOff(_Broken):
    """The L2 gradient as l2 W instead of 2 l2 W (the penalty's factor 2 dropped)."""

    name = "l2-factor"

    def break_(self, net):
        def drop_half(grads):
            for slot in net.slots:
                for name, l2 in slot.l2.items():
                    j = slot.params[name]
                    grads[j] = grads[j] - l2 * net.params[j]
            return grads

        _corrupt_gradients(net, drop_half)


class _NoBiasCorrectionAdam(Adam):
    def apply(self, w, g, slot, s, s2):
        h = self.hyper
        m, v = slot["m"], slot["v"]
        m *= h["beta_1"]
        m += (1 - h["beta_1"]) * g
        v *= h["beta_2"]
        v += (1 - h["beta_2"]) * g * g
        w -= h["learning_rate"] * m / (np.sqrt(v) + h["epsilon"])


class AdamWithoutBiasCorrection(_Broken):
    name = "adam-no-bias-correction"

    def break_(self, net):
        _replace_optimizer(net, Adam, _NoBiasCorrectionAdam)


class _SignFlippedMomentum(Momentum):
    def apply(self, w, g, slot, s, s2):
        b = slot["b"]
        b *= -self.hyper["momentum"]  # should be +momentum
        b += g
        w -= self.hyper["learning_rate"] * b


class MomentumSignError(_Broken):
    name = "momentum-sign"

    def break_(self, net):
        _replace_optimizer(net, Momentum, _SignFlippedMomentum)


class UnshiftedSoftmax(_Broken):
    """softmax as exp(z) / sum exp(z), and the cross-entropy as -log of it: overflows for large logits."""

    name = "unshifted-softmax"

    def break_(self, net):
        out = net.slots[-1]
        if out.layer.type == "dense" and out.layer.activation.name == "softmax":
            good = activations.ACTIVATIONS["softmax"]

            def naive(z):
                with np.errstate(over="ignore", invalid="ignore"):  # inf / inf = NaN is the mistake shown
                    e = np.exp(z)
                    return e / e.sum(axis=-1, keepdims=True)

            _with_activations(net, {**activations.ACTIVATIONS, "softmax": activations.ActivationFn(naive, None, vjp=good.vjp)})

            def loss(x, y, trace=None, *, masks=None):
                trace = net.forward(x, training=True, masks=masks) if trace is None else trace
                probabilities = trace[-1][0]
                if y.ndim == 1:  # sparse labels
                    y = np.eye(probabilities.shape[-1])[y.astype(int)]
                with np.errstate(all="ignore"):
                    data = -np.sum(y * np.log(probabilities))
                    data = data / len(x) if net.spec.loss.reduction == "mean" else data
                return float(data + net._penalty())

            net.loss = loss


class SkipsFirstStateInit(_Broken):
    """Momentum and Nesterov that do not keep the first step's buffer: step 2 starts from zero again."""

    name = "skips-first-state"

    def break_(self, net):
        if type(net.optimizer) in (Momentum, Nesterov):
            opt = net.optimizer
            update = opt.update

            def forgetful(params, grads):
                update(params, grads)
                if opt.t == 1:
                    opt.slots = None

            opt.update = forgetful
