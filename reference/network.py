r"""The reference network: forward pass, backpropagation (BP1-BP4) and one optimizer step.

For layers :math:`l = 1..L` with kernel :math:`W^l` (fan_in x fan_out) and bias :math:`b^l`, over a
batch of N rows:

.. math::
    z^l = a^{l-1} W^l + b^l, \qquad a^l = f_l(z^l), \qquad a^0 = x

    C = \mathrm{reduce}_n\, \ell(z^L \text{ or } a^L,\ y_n) + \sum_l \lambda_l \lVert W^l \rVert^2

and the gradient, written as in the documents (Nielsen's BP1-BP4, with rows as samples):

* BP1  :math:`\delta^L = \nabla_a C \odot f_L'(z^L)`, or the loss's closed form in the logits
  (:math:`p - y` for softmax cross-entropy);
* BP2  :math:`\delta^l = (\delta^{l+1} W^{l+1\,T}) \odot f_l'(z^l)`;
* BP3  :math:`\partial C / \partial b^l = \sum_n \delta^l_n`;
* BP4  :math:`\partial C / \partial W^l = a^{l-1\,T} \delta^l + 2 \lambda_l W^l`.

Everything runs in the network's dtype (float64 by default, float32 supported), vectorised over
the batch. ``step`` writes its gradients and pre-activations into preallocated buffers (``out=``);
the other methods return fresh arrays, which callers may keep.
"""
from __future__ import annotations

import numpy as np

from reference import weights as W
from reference.activations import ACTIVATIONS
from reference.buffers import Buffers
from reference.losses import LOSSES, reduce, reduction_scale
from reference.optimizers import make_optimizer
from reference.spec import Spec

Trace = list[tuple[np.ndarray, np.ndarray]]  # (z^l, a^l) for l = 1..L


class Network:
    """The spec's network. ``activations`` and ``losses`` are the name -> function tables it reads (the
    reference's by default): the hint engine builds networks with one mistake in them (nnparity/hints)."""

    def __init__(self, spec: Spec, weights: W.Weights | None = None, dtype: str | None = None,
                 activations: dict = ACTIVATIONS, losses: dict = LOSSES):
        self.spec = spec
        self.dtype = np.dtype(dtype or spec.dtype)
        self.params = W.cast(W.init_weights(spec) if weights is None else weights, self.dtype)
        self.names = W.tensor_names(spec)
        self.loss_fn = losses[spec.loss.name]
        self.optimizer = make_optimizer(spec.optimizer.name, spec.optimizer.params)
        # Per layer: (kernel index, bias index or None, activation entry, its parameters, L2 factor).
        self._layers, i = [], 0
        for layer in spec.layers:
            bias = i + 1 if layer.use_bias else None
            act = layer.activation
            self._layers.append((i, bias, activations[act.name], act.params, layer.l2))
            i += 2 if layer.use_bias else 1
        self._buffers = Buffers()

    def forward(self, x: np.ndarray, buffers: Buffers | None = None) -> Trace:
        """z^l and a^l for every layer (each z^l written into ``buffers`` where given)."""
        trace, a = [], np.asarray(x, dtype=self.dtype)
        for l, (k, b, act, params, _) in enumerate(self._layers):
            out = None if buffers is None else buffers.get(("z", l), (len(a), self.params[k].shape[1]), self.dtype)
            z = np.matmul(a, self.params[k], out=out)
            if b is not None:
                z += self.params[b]
            a = act.forward(z, **params)
            trace.append((z, a))
        return trace

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The output activation a^L (probabilities for a softmax or sigmoid output)."""
        return self.forward(x)[-1][1]

    def loss(self, x: np.ndarray, y: np.ndarray, trace: Trace | None = None) -> float:
        trace = self.forward(x) if trace is None else trace
        z, a = trace[-1]
        data = reduce(self.loss_fn.per_sample(z if self.loss_fn.link else a, y), self.spec.loss.reduction)
        return float(data + self._penalty())

    def _penalty(self):
        return sum(l2 * np.sum(self.params[k] * self.params[k]) for k, _, _, _, l2 in self._layers if l2)

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, buffers: Buffers | None = None) -> tuple[float, W.Weights]:
        """C and dC/dparam for every parameter, in the canonical order (written into ``buffers`` where given,
        valid until their next use)."""
        x = np.asarray(x, dtype=self.dtype)
        buf = (lambda key, like: None) if buffers is None else (lambda key, like: buffers.get(key, like.shape, self.dtype))
        trace = self.forward(x, buffers)
        loss = self.loss(x, y, trace)
        grads: list[np.ndarray | None] = [None] * len(self.params)

        delta = self.output_delta(trace, y, len(x))
        for l in range(len(self._layers) - 1, -1, -1):
            k, b, _, _, l2 = self._layers[l]
            a_prev = x if l == 0 else trace[l - 1][1]
            grads[k] = np.matmul(a_prev.T, delta, out=buf(("g", k), self.params[k]))  # BP4
            if l2:
                grads[k] += np.multiply(self.params[k], 2 * l2, out=buf(("l2", k), self.params[k]))
            if b is not None:
                grads[b] = delta.sum(axis=0, out=buf(("g", b), self.params[b]))  # BP3
            if l > 0:  # BP2
                _, _, act, params, _ = self._layers[l - 1]
                z_prev, a_prev_act = trace[l - 1]
                upstream = np.matmul(delta, self.params[k].T, out=buf(("da", l - 1), a_prev_act))
                delta = act.backward(z_prev, a_prev_act, upstream, **params)
        return loss, grads

    def output_delta(self, trace: Trace, y: np.ndarray, rows: int) -> np.ndarray:
        """BP1: delta^L = dC/dz^L, in closed form where the loss is fused with its softmax/sigmoid output."""
        z, a = trace[-1]
        scale = reduction_scale(rows, self.spec.loss.reduction)
        if self.loss_fn.link:
            return self.loss_fn.gradient(z, y) * scale
        _, _, out_act, out_params, _ = self._layers[-1]
        return out_act.backward(z, a, self.loss_fn.gradient(a, y) * scale, **out_params)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One optimizer step on this batch; returns the loss before the update."""
        loss, grads = self.loss_and_grads(x, y, self._buffers)
        self.optimizer.update(self.params, grads)
        return loss

    def weights(self) -> W.Weights:
        return [p.copy() for p in self.params]
