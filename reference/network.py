r"""The reference network: a loop over layer kinds (``reference/layers``), the loss, backpropagation, one step.

For dense layers :math:`l = 1..L` with kernel :math:`W^l` (fan_in x fan_out) and bias :math:`b^l`, over a
batch of N rows:

.. math::
    z^l = a^{l-1} W^l + b^l, \qquad a^l = f_l(z^l), \qquad a^0 = x

    C = \mathrm{reduce}_n\, \ell(z^L \text{ or } a^L,\ y_n) + \sum_t \lambda_t \lVert t \rVert^2

and the gradient, written as in the documents (Nielsen's BP1-BP4, with rows as samples):

* BP1  :math:`\delta^L = \nabla_a C \odot f_L'(z^L)`, or the loss's closed form in the logits
  (:math:`p - y` for softmax cross-entropy);
* BP2  :math:`\delta^l = (\delta^{l+1} W^{l+1\,T}) \odot f_l'(z^l)`;
* BP3  :math:`\partial C / \partial b^l = \sum_n \delta^l_n`;
* BP4  :math:`\partial C / \partial W^l = a^{l-1\,T} \delta^l + 2 \lambda_l W^l`.

Other kinds (batch and layer normalization, dropout) sit between dense layers; each passes
:math:`\partial C/\partial a` down through its own vector-Jacobian product (its module derives it). The
gradient is the training-mode one: batch statistics, the given dropout masks. ``loss_and_grads`` changes
nothing; ``step`` applies the optimizer to the weights and moves the state (batch normalization's moving
statistics) as training mode does.

Everything runs in the network's dtype (float64 by default, float32 supported), vectorised over the
batch. ``step`` writes its dense layers' gradients and pre-activations into preallocated buffers
(``out=``); the other methods return fresh arrays, which callers may keep.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference import weights as W
from reference.activations import ACTIVATIONS
from reference.buffers import Buffers
from reference.layers import KINDS, LayerKind
from reference.layers.dense import Dense
from reference.losses import LOSSES
from reference.masks import Masks
from reference.optimizers import make_optimizer
from reference.spec import Spec
from reference.weighting import reduce, reduction_scale, row_weights


@dataclass
class Slot:
    """One layer of the network: its kind, its spec, and where its tensors sit in ``params`` and ``state``."""

    index: int
    kind: LayerKind
    layer: object
    params: dict[str, int]  # tensor name -> index into Network.params
    state: dict[str, int]  # tensor name -> index into Network.state
    l2: dict[str, float]  # tensor name -> its L2 factor, where non-zero


Trace = list[tuple[np.ndarray, object]]  # per layer: (its output, what its backward needs)


class Network:
    """The spec's network. ``activations`` and ``losses`` are the name -> function tables it reads (the
    reference's by default): the hint engine builds networks with one mistake in them (nnparity/hints)."""

    def __init__(self, spec: Spec, weights: W.Weights | None = None, dtype: str | None = None,
                 activations: dict = ACTIVATIONS, losses: dict = LOSSES, state: W.Weights | None = None):
        self.spec = spec
        self.dtype = np.dtype(dtype or spec.dtype)
        self.params = W.cast(W.init_weights(spec) if weights is None else weights, self.dtype)
        self.state = W.cast(W.init_state(spec) if state is None else state, self.dtype)
        self.names, self.state_names = W.tensor_names(spec), W.state_names(spec)
        self.loss_fn = losses[spec.loss.name]
        self.optimizer = make_optimizer(spec.optimizer.name, spec.optimizer.params, spec.optimizer.clip, spec.optimizer.schedule)
        dense = Dense(activations)
        self.slots: list[Slot] = []
        width, p, s = spec.n_inputs, 0, 0
        for i, layer in enumerate(spec.layers):
            kind = dense if layer.type == "dense" else KINDS[layer.type]
            slot = Slot(i, kind, layer, {}, {}, {})
            for t in kind.tensors(layer, width):
                if t.trainable:
                    slot.params[t.name], p = p, p + 1
                    if t.l2:
                        slot.l2[t.name] = t.l2
                else:
                    slot.state[t.name], s = s, s + 1
            self.slots.append(slot)
            width = kind.width(layer, width)
        self._buffers = Buffers()

    def tensors(self, slot: Slot) -> dict[str, np.ndarray]:
        """The layer's tensors by name, weights and state."""
        return {**{n: self.params[j] for n, j in slot.params.items()}, **{n: self.state[j] for n, j in slot.state.items()}}

    def forward(self, x: np.ndarray, *, training: bool = False, masks: Masks | None = None,
                buffers: Buffers | None = None) -> Trace:
        """Every layer's output and cache, in inference mode or training mode (batch statistics, ``masks``)."""
        trace, a = [], np.asarray(x, dtype=self.dtype)
        masks = masks or {}
        for s in self.slots:
            p = self.tensors(s)
            buffer = None
            if buffers is not None and s.layer.type == "dense":
                buffer = buffers.get(("z", s.index), (len(a), s.layer.units), self.dtype)
            a, cache = s.kind.forward(s.layer, p, a, training=training, mask=masks.get(f"layers[{s.index}]"), buffer=buffer)
            trace.append((a, cache))
        return trace

    def predict(self, x: np.ndarray, *, training: bool = False, masks: Masks | None = None) -> np.ndarray:
        """The output activation a^L (probabilities for a softmax or sigmoid output)."""
        return self.forward(x, training=training, masks=masks)[-1][0]

    def loss(self, x: np.ndarray, y: np.ndarray, trace: Trace | None = None, *, masks: Masks | None = None,
             sample_weight: np.ndarray | None = None) -> float:
        """C on (x, y) in training mode (the loss training minimizes), weighted as the spec says."""
        trace = self.forward(x, training=True, masks=masks) if trace is None else trace
        a, (_, z, _) = trace[-1]
        per_sample = self.loss_fn.per_sample(z if self.loss_fn.link else a, y)
        loss = self.spec.loss
        data = reduce(per_sample, loss.reduction, self._row_weights(y, sample_weight), loss.weighted_reduction)
        return float(data + self._penalty())

    def val_loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """C on (x, y) in inference mode (the moving statistics, no dropout), L2 terms included, unweighted: Keras's
        ``val_loss`` (its ``class_weight`` weighs the training rows only)."""
        trace = self.forward(np.asarray(x, dtype=self.dtype), training=False)
        a, (_, z, _) = trace[-1]
        per_sample = self.loss_fn.per_sample(z if self.loss_fn.link else a, y)
        loss = self.spec.loss
        return float(reduce(per_sample, loss.reduction, None, loss.weighted_reduction) + self._penalty())

    def _row_weights(self, y, sample_weight) -> np.ndarray | None:
        """The rows' weights in the network's dtype (a float32 run weighs its rows in float32, as it computes)."""
        w = row_weights(self.spec, y, sample_weight)
        return None if w is None else w.astype(self.dtype)

    def _penalty(self):
        return sum(l2 * np.sum(self.params[s.params[n]] ** 2) for s in self.slots for n, l2 in s.l2.items())

    def output_delta(self, trace: Trace, y: np.ndarray, rows: int, *, sample_weight: np.ndarray | None = None) -> np.ndarray:
        """BP1: delta^L = dC/dz^L, in closed form where the loss is fused with its softmax/sigmoid output; each row
        scaled by dC/dl_n (1/N, 1, or its weight's share: ``reference/weighting.py``)."""
        a, (_, z, _) = trace[-1]
        loss = self.spec.loss
        scale = reduction_scale(rows, loss.reduction, self._row_weights(y, sample_weight), loss.weighted_reduction)
        if self.loss_fn.link:
            return self.loss_fn.gradient(z, y) * scale
        out = self.slots[-1]
        act, params = out.kind.act(out.layer)
        return act.backward(z, a, self.loss_fn.gradient(a, y) * scale, **params)

    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, buffers: Buffers | None = None, *,
                       masks: Masks | None = None, sample_weight: np.ndarray | None = None) -> tuple[float, W.Weights]:
        """C and dC/dparam for every weight, in the canonical order, in training mode; changes nothing (the
        gradients are written into ``buffers`` where given, valid until their next use)."""
        args = (masks, buffers) if sample_weight is None else (masks, buffers, sample_weight)
        return self._backprop(np.asarray(x, dtype=self.dtype), y, *args)[:2]

    def _backprop(self, x, y, masks, buffers, sample_weight=None) -> tuple[float, W.Weights, Trace]:
        trace = self.forward(x, training=True, masks=masks, buffers=buffers)
        # The weights go to loss and output_delta only when there are any: a subclass written before them keeps working.
        weights = {} if sample_weight is None else {"sample_weight": sample_weight}
        loss = self.loss(x, y, trace, **weights)
        grads: list[np.ndarray | None] = [None] * len(self.params)
        g = None
        for s in reversed(self.slots):
            p = self.tensors(s)
            first = s.index == 0  # the inputs need no gradient
            buf = None if buffers is None else (lambda key, like, s=s: buffers.get(("g", s.index, key), like.shape, self.dtype))
            if s is self.slots[-1]:  # BP1: the output layer's delta from the loss
                g, layer_grads = s.kind.backward_from_delta(s.layer, p, trace[s.index][1], self.output_delta(trace, y, len(x), **weights),
                                                            buf, need_input=not first)
            elif s.layer.type == "dense":  # BP2 through f', then BP3, BP4
                g, layer_grads = s.kind.backward(s.layer, p, trace[s.index][1], g, buf, need_input=not first)
            else:
                g, layer_grads = s.kind.backward(s.layer, p, trace[s.index][1], g)
            for name, grad in layer_grads.items():
                l2 = s.l2.get(name)
                if l2:
                    grad += np.multiply(p[name], 2 * l2, out=None if buffers is None else buffers.get(("l2", s.index, name), grad.shape, self.dtype))
                grads[s.params[name]] = grad
        return loss, grads, trace

    def step(self, x: np.ndarray, y: np.ndarray, *, masks: Masks | None = None, sample_weight: np.ndarray | None = None) -> float:
        """One optimizer step on this batch, and the state's training-mode update; the loss before the step."""
        args = (masks, self._buffers) if sample_weight is None else (masks, self._buffers, sample_weight)
        loss, grads, trace = self._backprop(np.asarray(x, dtype=self.dtype), y, *args)
        self.optimizer.update(self.params, grads)
        self._update_state(trace)
        return loss

    def end_epoch(self) -> None:
        """An epoch of the schedule ended: a per-epoch learning-rate schedule moves on."""
        self.optimizer.end_epoch()

    def _update_state(self, trace: Trace) -> None:
        for s in self.slots:
            if s.state:
                for name, value in s.kind.state_update(s.layer, self.tensors(s), trace[s.index][1]).items():
                    self.state[s.state[name]] = np.asarray(value, dtype=self.dtype)

    def weights(self) -> W.Weights:
        return [p.copy() for p in self.params]

    def state_values(self) -> W.Weights:
        return [s.copy() for s in self.state]
