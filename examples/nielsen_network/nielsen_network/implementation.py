"""Michael Nielsen's ``network.py`` (quoted in document 002), behind nnparity's protocol, as written.

It is a *partial* implementation, as most hand-written networks are: sigmoid neurons in every layer, the
quadratic cost C = 1/2 ||a - y||^2 per example, averaged over the mini-batch (``eta / len(mini_batch)``),
plain SGD, no L2, float64, and backpropagation one example at a time on column vectors. ``supports``
says which of those a spec asks for differently, so nnparity marks those cells *unsupported* with the
reason instead of failing them — and a run in which nothing was supported checks nothing and says so.

Nothing here imports nnparity: the spec is read as an object with the documented fields. Nielsen stores
``weights[l]`` as (out, in), so the layout transform (the canonical kernel is (in, out)) happens once,
in ``build`` and ``weights``.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Nielsen:
    name = "nielsen"

    def available(self) -> str | None:
        return None

    def supports(self, spec) -> str | None:
        """Why network.py cannot express ``spec`` (its ``dtype`` is the run's), or None."""
        if spec.dtype != "float64":
            return f"network.py computes in float64 only (asked for {spec.dtype})"
        for i, layer in enumerate(spec.layers):
            if layer.activation.name != "sigmoid":
                return f"layers[{i}] is {layer.activation.name}; network.py has sigmoid neurons only"
            if not layer.use_bias:
                return f"layers[{i}] has no bias; every network.py neuron has one"
            if layer.l2:
                return f"layers[{i}] has l2 = {layer.l2}; network.py has no regularisation"
        if spec.loss.name != "half_sse" or spec.loss.reduction != "mean":
            return (f"loss {spec.loss.name} ({spec.loss.reduction}); network.py's cost is 1/2 ||a - y||^2 averaged "
                    "over the mini-batch (half_sse, reduction 'mean')")
        if spec.optimizer.name != "sgd":
            return f"optimizer {spec.optimizer.name}; network.py has plain SGD only"
        if spec.optimizer.clip is not None:
            return f"{spec.optimizer.clip.rule}: network.py does not clip gradients"
        return None

    def build(self, spec, weights, *, dtype, device):
        kernels, biases, i = [], [], 0
        for _ in spec.layers:
            kernels.append(np.array(weights[i], dtype=np.float64).T.copy())  # Nielsen's w is (out, in)
            biases.append(np.array(weights[i + 1], dtype=np.float64).reshape(-1, 1))
            i += 2
        return SimpleNamespace(weights=kernels, biases=biases, eta=spec.optimizer.params["learning_rate"])

    # ---- network.py, with its loops over examples ----
    def _feedforward(self, h, a):
        for b, w in zip(h.biases, h.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def backprop(self, h, x, y):
        nabla_b = [np.zeros(b.shape) for b in h.biases]
        nabla_w = [np.zeros(w.shape) for w in h.weights]
        activation, activations, zs = x, [x], []
        for b, w in zip(h.biases, h.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])  # BP1 with cost_derivative a - y
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, len(h.weights) + 1):
            delta = np.dot(h.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])  # BP2
            nabla_b[-l] = delta  # BP3
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())  # BP4
        return nabla_b, nabla_w

    def _mini_batch_gradient(self, h, x, y):
        nabla_b = [np.zeros(b.shape) for b in h.biases]
        nabla_w = [np.zeros(w.shape) for w in h.weights]
        for xi, yi in zip(x, y):
            db, dw = self.backprop(h, xi.reshape(-1, 1), np.asarray(yi, dtype=np.float64).reshape(-1, 1))
            nabla_b = [nb + d for nb, d in zip(nabla_b, db)]
            nabla_w = [nw + d for nw, d in zip(nabla_w, dw)]
        return [nw / len(x) for nw in nabla_w], [nb / len(x) for nb in nabla_b]

    # ---- the protocol ----
    def forward(self, h, x):
        return self._feedforward(h, np.asarray(x, dtype=np.float64).T).T.copy()

    def loss_and_grads(self, h, x, y):
        a = self.forward(h, x)
        loss = float(np.sum(0.5 * np.sum((a - y) ** 2, axis=1)) / len(x))
        nabla_w, nabla_b = self._mini_batch_gradient(h, x, y)
        grads = []
        for nw, nb in zip(nabla_w, nabla_b):
            grads += [nw.T.copy(), nb.reshape(-1)]
        return loss, grads

    def step(self, h, x, y):
        nabla_w, nabla_b = self._mini_batch_gradient(h, x, y)  # update_mini_batch: eta / len(mini_batch)
        h.weights = [w - h.eta * nw for w, nw in zip(h.weights, nabla_w)]
        h.biases = [b - h.eta * nb for b, nb in zip(h.biases, nabla_b)]
        return self.weights(h)

    def weights(self, h):
        out = []
        for w, b in zip(h.weights, h.biases):
            out += [w.T.copy(), b.reshape(-1).copy()]
        return out
