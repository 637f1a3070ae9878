"""The single-shot checks: weights, forward (inference and training mode), loss, grads, large-logits, state.

``weights``         ``weights(build(w))`` returns ``w`` bit for bit (and ``state`` its starting state): the copy
                    into the framework and back.
``forward``         the output activation on the check batch in inference mode (and, where offered, every
                    layer's output); ``forward-training`` the same in training mode (batch statistics, the
                    given dropout masks), for specs whose layers tell the modes apart.
``loss``            the loss on the check batch in training mode, L2 term included; ``grads`` every gradient.
``large-logits``    forward, loss and gradients with the output layer scaled until the largest logit reaches
                    1000 (float64) or 150 (float32), past where exp() overflows (709.8, 88.7): an implementation
                    that forgot the max shift of softmax, or the stable form of the cross-entropies, returns inf
                    or NaN here.
``state``           batch normalization's moving statistics after one training step on the check batch.
"""
from __future__ import annotations

import numpy as np

from reference import tolerance as T
from reference.checks import calls
from reference.checks import keys as K
from reference.checks.base import Check, compared
from reference.checks.result import CheckResult, backward_order
from reference.compare import compare
from reference.layers import KINDS
from reference.magnitudes import network_magnitudes
from reference.tolerance import UNIT_ROUNDOFF


def _scales(judge, answers: dict, weights, *, training: bool, masks) -> dict:
    rc = judge.ref_case
    magnitudes = network_magnitudes(rc.spec, weights, rc.state, rc.x, rc.y, UNIT_ROUNDOFF[judge.case.dtype],
                                    training=training, masks=masks, sample_weight=_rows(rc))
    return {**answers, **{K.scale(k): np.asarray(np.max(m, initial=0.0)) for k, m in magnitudes.items()}}


def _masks(case, step: int = 0):
    return case.check_masks[step] if case.check_masks else None


def _rows(case):
    """The check batch's sample weights (its rows are the pool's first), or None."""
    return case.weights_of(slice(0, len(case.x)))


class Weights(Check):
    name = "weights"

    def ask(self, impl, case):
        h = calls.build(impl, case)
        out = {K.weight(n): w for n, w in zip(case.names, impl.weights(h))}
        out.update({K.state(n): s for n, s in zip(case.state_names, calls.state(impl, h, case.spec))})
        return out

    def reference(self, judge):
        c = judge.case
        return {**{K.weight(n): w for n, w in zip(c.names, c.weights)}, **{K.state(n): s for n, s in zip(c.state_names, c.state)}}

    def judge(self, judge, answers):
        c, ref = judge.case, judge.reference(self.name)
        keys = [(n, K.weight(n)) for n in c.names] + [(n, K.state(n)) for n in c.state_names]
        return CheckResult(self.name, [[compare(n, answers.get(k), ref[k], c.dtype) for n, k in keys]])

    def tolerance(self, judge):
        return 0.0, []


class Forward(Check):
    def __init__(self, training: bool):
        self.training = training
        self.name = "forward-training" if training else "forward"

    def applies(self, spec):
        return not self.training or any(KINDS[layer.type].mode_dependent for layer in spec.layers)

    def ask(self, impl, case):
        h = calls.build(impl, case)
        kw = dict(training=self.training, masks=_masks(case))
        out = {K.OUTPUT: calls.forward(impl, h, case.spec, case.x, **kw)}
        if hasattr(impl, "layer_outputs"):
            out.update({K.layer_output(i): a for i, a in enumerate(calls.layer_outputs(impl, h, case.spec, case.x, **kw))})
        return out

    def reference(self, judge):
        return _scales(judge, super().reference(judge), judge.ref_case.weights, training=self.training, masks=_masks(judge.ref_case))

    def judge(self, judge, answers):
        ref = judge.reference(self.name)
        layers = [compared(judge, ref, f"layers[{i}].output", K.layer_output(i), answers)
                  for i in range(len(judge.case.spec.layers)) if K.layer_output(i) in answers]
        return CheckResult(self.name, [layers + [compared(judge, ref, "output", K.OUTPUT, answers)]])

    def tolerance(self, judge):
        return T.tolerance("forward", judge.case.spec, judge.case.dtype, len(judge.case.x), replicas=judge.case.replicas), []


class LossAndGrads(Check):
    """``loss`` judges the loss, ``grads`` the gradients; they share one reference answer."""

    def __init__(self, name: str):
        self.name = name
        self.shares = None if name == "loss" else "loss"

    def ask(self, impl, case):
        h = calls.build(impl, case)
        loss, grads = calls.loss_and_grads(impl, h, case.spec, case.x, case.y, _masks(case), _rows(case))
        return {K.LOSS: np.asarray(loss, dtype=np.float64), **{K.grad(n): g for n, g in zip(case.names, grads)}}

    def reference(self, judge):
        return _scales(judge, super().reference(judge), judge.ref_case.weights, training=True, masks=_masks(judge.ref_case))

    def judge(self, judge, answers):
        ref, names = judge.reference(self.name), judge.case.names
        if self.name == "loss":
            return CheckResult(self.name, [[compared(judge, ref, "loss", K.LOSS, answers)]])
        return CheckResult(self.name, [backward_order(names, [compared(judge, ref, n, K.grad(n), answers) for n in names])])

    def tolerance(self, judge):
        return T.tolerance(self.name, judge.case.spec, judge.case.dtype, len(judge.case.x), replicas=judge.case.replicas), []


class LargeLogits(Check):
    name = "large-logits"

    def ask(self, impl, case):
        h = calls.build(impl, case, weights=case.large_weights)
        out = {K.OUTPUT: calls.forward(impl, h, case.spec, case.x)}
        loss, grads = calls.loss_and_grads(impl, h, case.spec, case.x, case.y, _masks(case), _rows(case))
        return {**out, K.LOSS: np.asarray(loss, dtype=np.float64), **{K.grad(n): g for n, g in zip(case.names, grads)}}

    def reference(self, judge):
        rc = judge.ref_case
        answers = super().reference(judge)
        inference = _scales(judge, {}, rc.large_weights, training=False, masks=None)
        training = _scales(judge, {}, rc.large_weights, training=True, masks=_masks(rc))
        return {**answers, K.scale(K.OUTPUT): inference[K.scale(K.OUTPUT)],
                **{k: v for k, v in training.items() if k != K.scale(K.OUTPUT)}}

    def judge(self, judge, answers):
        ref, names = judge.reference(self.name), judge.case.names
        head = [compared(judge, ref, "output", K.OUTPUT, answers), compared(judge, ref, "loss", K.LOSS, answers)]
        return CheckResult(self.name, [head + backward_order(names, [compared(judge, ref, n, K.grad(n), answers) for n in names])])

    def tolerance(self, judge):
        return T.tolerance(self.name, judge.case.spec, judge.case.dtype, len(judge.case.x), replicas=judge.case.replicas), []


class State(Check):
    """Batch normalization's moving statistics after one step of the spec's own optimizer on the check batch,
    from the starting weights and state: the update rule (momentum, running-variance convention) alone, since
    the batch statistics it moves toward are the starting weights' for every implementation."""

    name = "state"

    def applies(self, spec):
        return calls.has_state(spec)

    def ask(self, impl, case):
        h = calls.build(impl, case)
        calls.step(impl, h, case.spec, case.x, case.y, _masks(case), _rows(case))
        return {K.state(n): s for n, s in zip(case.state_names, calls.state(impl, h, case.spec))}

    def reference(self, judge):
        from reference.magnitudes import step_scale

        answers = super().reference(judge)
        rc = judge.ref_case
        return {**answers, **{K.scale(K.state(n)): np.asarray(step_scale(before, answers[K.state(n)]))
                              for n, before in zip(rc.state_names, rc.state)}}

    def judge(self, judge, answers):
        ref, names = judge.reference(self.name), judge.case.state_names
        return CheckResult(self.name, [backward_order(names, [compared(judge, ref, n, K.state(n), answers) for n in names])])

    def tolerance(self, judge):
        return T.tolerance("state", judge.case.spec, judge.case.dtype, len(judge.case.x), replicas=judge.case.replicas), []
