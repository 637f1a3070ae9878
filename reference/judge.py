"""How a parity check's answers are judged: in the main process, against the float64 reference.

``Judge`` computes the reference's answers for one case once (``checks.collect`` on the reference
implementation) and compares every implementation's answers with them, tensor by tensor, in
backprop's reporting order (last layer first), so the first failure named is the tensor nearest the
loss. The optimizer-step checks apply the reference optimizer to the implementation's own weights and
gradient (see ``checks``); the trajectory check also measures the reference's own sensitivity to one
rounding (``shadow``), which the tolerance policy uses for chaotic specs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from reference.checks import STEP_COUNT, Case, collect, optimizer_spec
from reference.compare import TensorDiff, compare, compare_scalar
from reference.magnitudes import network_magnitudes, step_scale, trajectory_scales
from reference.implementation import NumpyImplementation
from reference.optimizers import make_optimizer
from reference import tolerance as T
from reference.tolerance import UNIT_ROUNDOFF, relative_step


@dataclass
class CheckResult:
    """Every tensor comparison of one check; for the multi-step checks, one list per step."""

    check: str
    steps: list[list[TensorDiff]]  # one entry for single-shot checks; tensors in reporting order

    @property
    def curve(self) -> list[float]:
        """The max relative error after each step."""
        return [max((d.max_rel for d in diffs), default=0.0) for diffs in self.steps]

    @property
    def max_rel(self) -> float:
        return max(self.curve, default=0.0)

    @property
    def max_abs(self) -> float:
        return max((d.max_abs for diffs in self.steps for d in diffs), default=0.0)

    @property
    def operand_factor(self) -> float:
        """The largest ratio of a tensor's operand scale to its own max: 1 where nothing cancelled."""
        ratios = [d.scale / d.own_scale for diffs in self.steps for d in diffs
                  if d.scale is not None and d.own_scale and np.isfinite(d.scale)]
        return max(ratios, default=1.0)

    @property
    def worst(self) -> tuple[int, TensorDiff] | None:
        """(step, tensor) of the largest relative error."""
        pairs = [(s, d) for s, diffs in enumerate(self.steps) for d in diffs]
        return max(pairs, key=lambda p: p[1].max_rel, default=None)

    def first_failure(self, tol: float | list[float]) -> tuple[int, TensorDiff] | None:
        """The first step, and within it the first tensor in reporting order, outside ``tol`` (per step if a list)."""
        for s, diffs in enumerate(self.steps):
            t = tol[min(s, len(tol) - 1)] if isinstance(tol, list) else tol
            for d in diffs:
                if not d.within(t):
                    return s, d
        return None


def _backward(names: list[str], diffs: list[TensorDiff]) -> list[TensorDiff]:
    """Backprop's order: the last layer's tensors first, kernel before bias."""
    layer = lambda d: int(d.name.split("[")[1].split("]")[0])
    return sorted(diffs, key=lambda d: (-layer(d), 0 if "kernel" in d.name else 1))


def _arrays(out: dict, prefix: str, n: int) -> list:
    return [out.get(f"{prefix}{i}") for i in range(n)]


class Judge:
    """The reference's answers for one case, computed once and shared by every implementation."""

    def __init__(self, case: Case, label: str | None = None):
        self.case = case
        self.label = label or case.spec.name  # the name its cells carry (nnparity.selection)
        self.ref_case = case.as_float64()
        self.ref = NumpyImplementation()
        self._cache: dict[str, dict] = {}

    def prepare(self, checks: list[str]) -> "Judge":
        """Compute every reference answer ``checks`` need now, so judging afterwards only reads."""
        for check in checks:
            if not check.startswith("step-") and check != "weights":
                self.reference(check)
        if "trajectory" in checks:
            self.shadow()
        return self

    def reference(self, check: str) -> dict:
        """The reference's answers for ``check``; for forward, loss/grads and large-logits also the operand
        scale of each (``scale:<key>``, reference/magnitudes.py), which golden files carry too."""
        key = "loss" if check == "grads" else check
        if key not in self._cache:
            answers = collect(self.ref, self.ref_case, key)
            if key in ("forward", "loss", "large-logits"):
                rc = self.ref_case
                weights = rc.large_weights if key == "large-logits" else rc.weights
                answers.update({f"scale:{k}": np.asarray(np.max(m, initial=0.0))
                                for k, m in network_magnitudes(rc.spec, weights, rc.x, rc.y, UNIT_ROUNDOFF[self.case.dtype]).items()})
            self._cache[key] = answers
        return self._cache[key]

    def _compare(self, ref: dict, name: str, key: str, actual) -> TensorDiff:
        """``actual`` against the reference's ``key``, judged against that answer's operand scale."""
        if key == "loss":
            return compare_scalar(name, actual, float(ref["loss"]), ref.get("scale:loss"))
        return compare(name, actual, ref[key], self.case.dtype, ref.get(f"scale:{key}"))

    def tolerance(self, check: str) -> tuple[float, list[float]]:
        """(the check's tolerance, the per-step tolerances of the trajectory; see ``reference/tolerance.py``)."""
        case = self.case
        if check != "trajectory":
            opt = optimizer_spec(check[5:]) if check.startswith("step-") else None
            return T.tolerance(check, case.spec, case.dtype, len(case.x), opt), []
        tols = T.trajectory_tolerances(self._trajectory_bounds(), self.shadow())
        return tols[-1], tols

    def chaos(self) -> tuple[int | None, float | None]:
        """(the step from which rounding alone exceeds the trajectory formula, the growth per step)."""
        shadow = self.shadow()
        return T.chaos_horizon(self._trajectory_bounds(), shadow), T.growth_rate(shadow)

    def _trajectory_bounds(self) -> list[float]:
        case = self.case
        return T.trajectory_bounds(case.spec, case.dtype, max(len(b) for b in case.batches), case.spec.optimizer,
                                   self.relative_steps())

    def relative_steps(self) -> list[float]:
        """r_i: the largest relative change of any weight tensor in each step of the reference's trajectory
        (on the compared elements), the fraction of the weights through which gradient rounding enters."""
        ref, r = self.reference("trajectory"), []
        before = [np.asarray(w).reshape(-1)[s] for w, s in zip(self.ref_case.weights, self.case.samples)]
        for k in range(len(self.case.batches)):
            after = [ref[f"s{k}w{i}"] for i in range(len(before))]
            r.append(relative_step(after, before))
            before = after
        return r

    def shadow(self) -> list[float]:
        """The reference's own sensitivity: after each trajectory step, the max relative separation (against the
        trajectory's operand scales) of a reference run whose starting weights are one rounding away (relative u
        of the case's dtype). Exact zeros stay zero: a zero bias nudged to 5e-324 would flip a relu whose
        pre-activation is exactly 0 (an all-zero input row) and read as chaos in a network that has none."""
        if "shadow" not in self._cache:
            rng = np.random.default_rng(1)
            signs = [rng.choice([-1.0, 1.0], w.shape) for w in self.ref_case.weights]
            if self.case.dtype == "float64":
                start = [np.where(w == 0, w, np.nextafter(w, s * np.inf)) for w, s in zip(self.ref_case.weights, signs)]
            else:
                start = [w * (1 + UNIT_ROUNDOFF[self.case.dtype] * s) for w, s in zip(self.ref_case.weights, signs)]
            out = collect(self.ref, dataclasses.replace(self.ref_case, weights=start), "trajectory")
            ref, scales = self.reference("trajectory"), self.trajectory_scales()
            self._cache["shadow"] = [max(compare("", out[f"s{s}w{i}"], ref[f"s{s}w{i}"], scale=scales[i][s]).max_rel
                                         for i in range(len(start))) for s in range(len(self.case.batches))]
        return self._cache["shadow"]

    def judge(self, check: str, out: dict) -> CheckResult:
        c, names = self.case, self.case.names
        n = len(names)
        if check == "weights":
            return CheckResult(check, [[compare(nm, a, w, c.dtype) for nm, a, w in zip(names, _arrays(out, "w", n), c.weights)]])
        if check == "forward":
            ref = self.reference("forward")
            diffs = [self._compare(ref, f"layers[{i}].output", f"layer{i}", out[f"layer{i}"])
                     for i in range(len(c.spec.layers)) if f"layer{i}" in out]
            return CheckResult(check, [diffs + [self._compare(ref, "output", "output", out.get("output"))]])
        if check == "loss":
            return CheckResult(check, [[self._compare(self.reference("loss"), "loss", "loss", out.get("loss"))]])
        if check == "grads":
            ref = self.reference("grads")
            return CheckResult(check, [_backward(names, [self._compare(ref, nm, f"g{i}", out.get(f"g{i}")) for i, nm in enumerate(names)])])
        if check == "large-logits":
            ref = self.reference("large-logits")
            diffs = [self._compare(ref, "output", "output", out.get("output")), self._compare(ref, "loss", "loss", out.get("loss"))]
            grads = [self._compare(ref, nm, f"g{i}", out.get(f"g{i}")) for i, nm in enumerate(names)]
            return CheckResult(check, [diffs + _backward(names, grads)])
        if check.startswith("step-"):
            return self._judge_steps(check, out)
        if check == "trajectory":
            return self._judge_trajectory(out)
        raise ValueError(f"unknown check {check!r}")

    def _judge_steps(self, check: str, out: dict) -> CheckResult:
        c, names = self.case, self.case.names
        n = len(names)
        opt = optimizer_spec(check[5:])
        reference_optimizer = make_optimizer(opt.name, opt.params)
        weights = [w.astype(np.float64) for w in c.weights]
        steps = []
        for s in range(STEP_COUNT):
            grads, got = _arrays(out, f"s{s}g", n), _arrays(out, f"s{s}w", n)
            bad_grads = [compare(f"{nm} (its gradient)", g, w, c.dtype) for nm, g, w in zip(names, grads, weights)]
            if any(d.problem for d in bad_grads):  # no update can be judged from a malformed gradient
                steps.append(_backward(names, [d for d in bad_grads if d.problem]))
                break
            before = [w.copy() for w in weights]
            reference_optimizer.update(weights, [np.asarray(g, dtype=np.float64) for g in grads])
            diffs = _backward(names, [compare(nm, a, w, c.dtype, step_scale(b, w)) for nm, a, w, b in zip(names, got, weights, before)])
            steps.append(diffs)
            if any(d.problem for d in diffs):
                break
            weights = [np.asarray(a, dtype=np.float64).copy() for a in got]  # go on from the implementation's weights
        return CheckResult(check, steps)

    def trajectory_scales(self) -> list[list[float]]:
        """Per tensor, the operand scale after each trajectory step (``magnitudes.trajectory_scales``), from the
        reference's own run: the largest |w| the tensor has had so far, on the compared elements."""
        if "trajectory_scales" not in self._cache:
            c, ref = self.ref_case, self.reference("trajectory")
            self._cache["trajectory_scales"] = [
                trajectory_scales(np.asarray(w).reshape(-1)[sample], [ref[f"s{k}w{i}"] for k in range(len(c.batches))])
                for i, (w, sample) in enumerate(zip(c.weights, self.case.samples))]
        return self._cache["trajectory_scales"]

    def _judge_trajectory(self, out: dict) -> CheckResult:
        c, names = self.case, self.case.names
        ref, scales = self.reference("trajectory"), self.trajectory_scales()
        steps = [_backward(names, [compare(nm, out.get(f"s{s}w{i}"), ref[f"s{s}w{i}"], c.dtype, scales[i][s])
                                   for i, nm in enumerate(names)]) for s in range(len(c.batches))]
        final = _backward(names, [compare(f"{nm} (final, in full)", out.get(f"final{i}"), ref[f"final{i}"], c.dtype,
                                          max(scales[i][-1], float(np.max(np.abs(self.ref_case.weights[i]), initial=0.0))))
                                  for i, nm in enumerate(names)])
        steps[-1] = steps[-1] + final
        return CheckResult("trajectory", steps)
