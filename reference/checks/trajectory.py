"""``trajectory``: K steps (default 50) of the spec's own optimizer on the shared schedule over the pool, with
each step's dropout masks, compared end to end with the reference after every step — the weights and the
state. Tensors up to ``SAMPLE`` elements are compared in full at every step, larger ones on a fixed sample
(seeded); the final weights are compared in full.

``predictions`` is not a parity check: the output on the check batch before training, after the first step
and after the last (K) of the shared schedule, for ``nnparity divergences``.
"""
from __future__ import annotations

import numpy as np

from reference.checks import calls
from reference.checks import keys as K
from reference.checks.base import Check
from reference.checks.replicated import Spreads
from reference.checks.result import CheckResult, backward_order
from reference.compare import compare


def _masks(case, k):
    return case.batch_masks[k] if case.batch_masks else None


class Trajectory(Check):
    name = "trajectory"

    def ask(self, impl, case):
        spec = case.spec
        h = calls.build(impl, case)
        out, weights, spreads = {}, case.weights, Spreads(impl, case)  # over replicas, the replicas check's too
        spreads.after(h, -1)
        for k, idx in enumerate(case.batches):
            weights = calls.step(impl, h, spec, case.pool_x[idx], case.pool_y[idx], _masks(case, k), case.weights_of(idx))
            if (k + 1) % case.steps_per_epoch == 0:
                calls.end_epoch(impl, h, spec)
            spreads.after(h, k)
            out.update({K.at_step(k, K.weight(n)): np.asarray(w).reshape(-1)[case.samples[i]]
                        for i, (n, w) in enumerate(zip(case.names, weights))})
            out.update({K.at_step(k, K.state(n)): s for n, s in zip(case.state_names, calls.state(impl, h, spec))})
        out.update({K.final(K.weight(n)): w for n, w in zip(case.names, weights)})
        spreads.keep()
        return out

    def judge(self, judge, answers):
        c, names, state_names = judge.case, judge.case.names, judge.case.state_names
        ref, scales = judge.reference(self.name), judge.trajectory_scales()
        all_names = names + state_names
        steps = []
        for k in range(len(c.batches)):
            diffs = [compare(n, answers.get(K.at_step(k, K.weight(n))), ref[K.at_step(k, K.weight(n))], c.dtype, scales[n][k])
                     for n in names]
            diffs += [compare(n, answers.get(K.at_step(k, K.state(n))), ref[K.at_step(k, K.state(n))], c.dtype, scales[n][k])
                      for n in state_names]
            steps.append(backward_order(all_names, diffs))
        final = [compare(f"{n} (final, in full)", answers.get(K.final(K.weight(n))), ref[K.final(K.weight(n))], c.dtype,
                         max(scales[n][-1], float(np.max(np.abs(w), initial=0.0))))
                 for n, w in zip(names, judge.ref_case.weights)]
        steps[-1] = steps[-1] + backward_order(all_names, final)
        return CheckResult(self.name, steps)

    def tolerance(self, judge):
        tols = judge.trajectory_tolerances()
        return tols[-1], tols


class Predictions(Check):
    """Not a parity check: what ``nnparity divergences`` compares between two sides, before training (``p0``), after
    the first step and after the last (K) of the shared schedule (``p1``, ``pK``):

    * ``predictions``: the output on the check batch;
    * ``losses``: the loss on the check batch as the side reports it (L2 terms included): where the two sides
      agree on every output but not on what the loss of those outputs is (scikit-learn's clipped log loss);
    * ``epoch-predictions``: the output after the first epoch and after the spec's last, the case's batches
      being that many epochs of the schedule: two sides whose batch sizes differ compared where a user compares
      them, epoch for epoch, not step for step."""

    parity = False

    def __init__(self, name: str = "predictions"):
        self.name = name

    def _measure(self, impl, h, case):
        if self.name == "losses":
            loss, _ = calls.loss_and_grads(impl, h, case.spec, case.x, case.y, None, case.weights_of(slice(0, len(case.x))))
            return np.asarray([loss], dtype=np.float64)
        return calls.forward(impl, h, case.spec, case.x)

    def ask(self, impl, case):
        spec = case.spec
        h = calls.build(impl, case)
        first = case.steps_per_epoch if self.name == "epoch-predictions" else 1
        out = {"p0": self._measure(impl, h, case)}
        for k, idx in enumerate(case.batches):
            calls.step(impl, h, spec, case.pool_x[idx], case.pool_y[idx], _masks(case, k), case.weights_of(idx))
            if (k + 1) % case.steps_per_epoch == 0:
                calls.end_epoch(impl, h, spec)
            if k + 1 == first:
                out["p1"] = self._measure(impl, h, case)
        out["pK"] = self._measure(impl, h, case)
        return out
