"""``replicas``: the replicas of a data-parallel run agree with each other, bitwise, right after build and after
every one of the trajectory's K steps (``reference/replicas.py``). Every replica ends a step with the same
averaged gradient and applies the same optimizer to the same weights, so nothing but a bug (a replica that skipped
the all-reduce, a parameter missing from it, a buffer not synchronised) can set them apart. The implementation
reads every replica's weights (``replica_weights(handle)``, replica 0's first); the difference of each from
replica 0 is computed where they are, and only its largest element per tensor crosses back.

Run only over replicas (``nnparity parity --replicas N``); a run in one process has nothing to compare. The K
steps are the trajectory check's own: that check records the spreads as it runs (``Spreads``) and this one reads
them, so a data-parallel engine trains the schedule once, not twice (measured, the default ``make run``'s replica
cells: 2.9 s of Keras on TensorFlow's 21 s); asked alone, it runs the trajectory's steps itself.
"""
from __future__ import annotations

import numpy as np

from reference.checks import keys as K
from reference.checks.base import Check
from reference.checks.result import CheckResult, backward_order
from reference.compare import TensorDiff


def _spread(replicas: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per tensor, [max |w_r - w_0| over its elements] for each replica r > 0, and max |w_0| (the scale)."""
    first = replicas[0]
    return [np.array([float(np.max(np.abs(np.asarray(w[j]) - np.asarray(first[j])), initial=0.0)) for w in replicas[1:]]
                     + [float(np.max(np.abs(first[j]), initial=0.0))]) for j in range(len(first))]


class Spreads:
    """The replicas' spreads right after build and after every step of one run, for ``replicas`` to judge: kept per
    implementation object (the object itself held, so that its id is not reused) for the last case it ran, and read
    once. Nothing is recorded for an implementation in one process."""

    _kept: dict[int, tuple[object, int, dict]] = {}

    def __init__(self, impl, case):
        self.impl, self.case = impl, case
        self.out: dict | None = {} if hasattr(impl, "replica_weights") else None

    def after(self, h, k: int) -> None:
        """Record the spreads after step ``k`` (-1: right after build)."""
        if self.out is not None:
            self.out.update({K.at_step(k, K.weight(n)): s for n, s in zip(self.case.names, _spread(self.impl.replica_weights(h)))})

    def keep(self) -> None:
        """The run is complete: ``replicas`` may read it."""
        if self.out is not None:
            Spreads._kept[id(self.impl)] = (self.impl, self.case.uid, self.out)

    @staticmethod
    def kept(impl, case) -> dict | None:
        impl_kept, uid, out = Spreads._kept.pop(id(impl), (None, None, None))
        return out if impl_kept is impl and uid == case.uid else None


class ReplicaAgreement(Check):
    name = "replicas"
    needs_replicas = True

    def ask(self, impl, case):
        if not hasattr(impl, "replica_weights"):
            from reference.errors import Unsupported

            raise Unsupported("the implementation has no replica_weights(handle): it runs in one process")
        kept = Spreads.kept(impl, case)
        if kept is None:  # asked without the trajectory check: its run, for the spreads it records
            from reference.checks.trajectory import Trajectory

            Trajectory().ask(impl, case)
            kept = Spreads.kept(impl, case)
        return kept

    def reference(self, judge):
        return {}  # the replicas are compared with each other, not with the reference

    def judge(self, judge, answers):
        names, steps = judge.case.names, []
        for k in range(-1, len(judge.case.batches)):
            diffs = []
            for n in names:
                spread = np.asarray(answers.get(K.at_step(k, K.weight(n)), [np.inf, 1.0]), dtype=np.float64)
                worst, scale = float(np.max(spread[:-1], initial=0.0)), max(float(spread[-1]), 1e-300)
                where = "right after build" if k < 0 else f"after step {k + 1}"
                problem = None if worst == 0 else f"the replicas' {n} differ {where} (largest |w_r - w_0| {worst:.3g})"
                diffs.append(TensorDiff(f"{n} (replicas vs replica 0)", worst, worst / scale, None, problem))
            steps.append(backward_order(names, diffs))
        return CheckResult(self.name, steps)

    def tolerance(self, judge):
        return 0.0, [0.0] * (len(judge.case.batches) + 1)
