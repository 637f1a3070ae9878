"""How a check's answers are judged: in the main process, against the float64 reference.

``Judge`` computes the reference's answers for one case once (each check's ``reference``, the reference
implementation asked the same on the float64 case) and compares every implementation's answers with them
through the check's own ``judge``, tensor by tensor in backprop's reporting order (last layer first), so
the first failure named is the tensor nearest the loss. The trajectory check also measures the reference's
own sensitivity to one rounding (``shadow``), which the tolerance policy uses for chaotic specs.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from reference import tolerance as T
from reference.checks import CHECKS, Case, CheckResult
from reference.checks import keys as K
from reference.compare import compare
from reference.implementation import NumpyImplementation
from reference.magnitudes import trajectory_scales
from reference.tolerance import relative_step


class Judge:
    """The reference's answers for one case, computed once and shared by every implementation."""

    def __init__(self, case: Case, label: str | None = None):
        self.case = case
        self.label = label or case.spec.name  # the name its cells carry (nnparity.selection)
        self.ref_case = case.as_float64()
        self.ref = NumpyImplementation(case.replicas)
        self._cache: dict = {}

    def prepare(self, checks: list[str]) -> Judge:
        """Compute every reference answer ``checks`` need now, so judging afterwards only reads."""
        for check in checks:
            if CHECKS[check].applies(self.case.spec) and not check.startswith("step-"):
                self.reference(check)
        if "trajectory" in checks:
            self.shadow()
        return self

    def cached(self, key, compute):
        """``compute()``, once per case: what the reference answers, and what is derived from them, is shared by every
        implementation judged on the case."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def shadow_case(self) -> Case:
        """The case a correct run that rounds differently starts from. In float64, the reference's case with its
        starting weights one rounding away (exact zeros stay zero: a zero bias nudged to 5e-324 would flip a relu
        whose pre-activation is exactly 0, an all-zero input row, and read as chaos in a network that has none). In
        float32, the float32 case itself, which the reference then computes in float32: a correct float32
        implementation's own rounding, gradients included."""
        if self.case.dtype != "float64":
            return self.case
        rng = np.random.default_rng(1)
        signs = [rng.choice([-1.0, 1.0], w.shape) for w in self.ref_case.weights]
        start = [np.where(w == 0, w, np.nextafter(w, s * np.inf)) for w, s in zip(self.ref_case.weights, signs)]
        return dataclasses.replace(self.ref_case, weights=start)

    def reference(self, check: str) -> dict:
        """The reference's answers for ``check`` (a check that shares another's reads that one's), with the operand
        scale of each where it has one (``scale/<key>``, reference/magnitudes.py), which golden files carry too."""
        key = CHECKS[check].shares or check
        if key not in self._cache:
            self._cache[key] = CHECKS[key].reference(self)
        return self._cache[key]

    def judge(self, check: str, answers: dict) -> CheckResult:
        return CHECKS[check].judge(self, answers)

    def tolerance(self, check: str) -> tuple[float, list[float]]:
        """(the check's tolerance, the per-step tolerances of the trajectory; see ``reference/tolerance.py``)."""
        return CHECKS[check].tolerance(self)

    # ---- the trajectory: scales, its formula's bounds, the reference's own sensitivity ----

    def trajectory_tolerances(self) -> list[float]:
        return T.trajectory_tolerances(self._trajectory_bounds(), self.shadow())

    def chaos(self) -> tuple[int | None, float | None]:
        """(the step from which rounding alone exceeds the trajectory formula, the growth per step)."""
        shadow = self.shadow()
        return T.chaos_horizon(self._trajectory_bounds(), shadow), T.growth_rate(shadow)

    def _trajectory_bounds(self) -> list[float]:
        case = self.case
        return self.cached("trajectory_bounds", lambda: T.trajectory_bounds(
            case.spec, case.dtype, max(len(b) for b in case.batches), case.spec.optimizer, self.relative_steps(),
            case.steps_per_epoch, case.replicas))

    def relative_steps(self) -> list[float]:
        """r_i: the largest relative change of any weight tensor in each step of the reference's trajectory
        (on the compared elements), the fraction of the weights through which gradient rounding enters."""
        ref, r, names = self.reference("trajectory"), [], self.case.names
        before = [np.asarray(w).reshape(-1)[s] for w, s in zip(self.ref_case.weights, self.case.samples)]
        for k in range(len(self.case.batches)):
            after = [ref[K.at_step(k, K.weight(n))] for n in names]
            r.append(relative_step(after, before))
            before = after
        return r

    def trajectory_scales(self) -> dict[str, list[float]]:
        """Per tensor (weights and state), the operand scale after each trajectory step (``magnitudes.trajectory_scales``),
        from the reference's own run: the largest |value| the tensor has had so far, on the compared elements."""
        if "trajectory_scales" not in self._cache:
            c, ref = self.ref_case, self.reference("trajectory")
            steps = range(len(c.batches))
            out = {n: trajectory_scales(np.asarray(w).reshape(-1)[sample], [ref[K.at_step(k, K.weight(n))] for k in steps])
                   for n, w, sample in zip(c.names, c.weights, self.case.samples)}
            out.update({n: trajectory_scales(s, [ref[K.at_step(k, K.state(n))] for k in steps]) for n, s in zip(c.state_names, c.state)})
            self._cache["trajectory_scales"] = out
        return self._cache["trajectory_scales"]

    def shadow(self) -> list[float]:
        """The reference's own sensitivity: after each trajectory step, the max relative separation (against the
        trajectory's operand scales) from the reference of a correct run that rounds differently (``shadow_case``;
        in float32 this is what Adam, for one, makes of the rounding of a gradient that is exactly zero, a bias
        feeding batch normalization: a full step of either sign)."""
        def separation():
            out = CHECKS["trajectory"].ask(self.ref, self.shadow_case())
            ref, scales, names = self.reference("trajectory"), self.trajectory_scales(), self.case.names
            return [max(compare("", out[K.at_step(k, K.weight(n))], ref[K.at_step(k, K.weight(n))],
                                scale=scales[n][k]).max_rel for n in names)
                    for k in range(len(self.case.batches))]
        return self.cached("shadow", separation)
