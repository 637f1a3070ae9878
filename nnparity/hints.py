"""Why a check failed, when the failure's pattern matches a known mistake or convention difference.

Each hint is a hypothesis tested against the implementation's own answers, never a guess from the
numbers' size alone: an optimizer step is recomputed with the other epsilon placement, without
Adam's bias correction, with the momentum's sign flipped and so on, and the hint is given only if
the implementation matches that variant within the check's tolerance. The conventions come from
the divergence catalog (research/divergences.md, ``nnparity divergences``).
"""
from __future__ import annotations


import numpy as np

from reference.checks import optimizer_spec
from reference.judge import Judge
from reference.compare import compare
from reference.optimizers import Adam, Optimizer, make_optimizer


class _NoBiasCorrection(Adam):
    """Adam with c1 = c2 = 1 (its first steps are then several times too large)."""

    def apply(self, w, g, slot, s, s2):
        t, self.t = self.t, 10**9  # beta^t underflows to 0: no correction
        try:
            super().apply(w, g, slot, s, s2)
        finally:
            self.t = t


class _ForgetsFirstState(Optimizer):
    """The reference optimizer whose state after the first step is thrown away (re-initialised)."""

    def __init__(self, inner: Optimizer):
        super().__init__(**inner.hyper)
        self.inner = inner

    def update(self, params, grads):
        self.inner.update(params, grads)
        if self.inner.t == 1:
            self.inner.slots = None


def _variants(name: str, params: dict) -> list[tuple[str, Optimizer]]:
    """(what differs, an optimizer that has that difference)."""
    out = []
    if "eps_mode" in params:
        other = "torch" if params["eps_mode"] == "keras" else "keras"
        out.append((f"epsilon placement: the update matches eps_mode '{other}', not '{params['eps_mode']}' "
                    f"({'sqrt(v) + eps' if other == 'torch' else 'sqrt(v + eps), or Keras epsilon-hat'})",
                    make_optimizer(name, {**params, "eps_mode": other})))
    if name in ("adam", "adamw"):
        out.append(("Adam without bias correction (the first steps 1/(1-beta1) too large)", _NoBiasCorrection(**params)))
    if "momentum" in params and params["momentum"] > 0:
        out.append(("the momentum's sign: the update matches momentum -mu", make_optimizer(name, {**params, "momentum": -params["momentum"]})))
        if name in ("momentum", "nesterov"):
            swapped = "nesterov" if name == "momentum" else "momentum"
            out.append((f"the update matches {swapped}, not {name}", make_optimizer(swapped, params)))
    if name == "adamw":
        out.append(("weight decay not decoupled: the update matches Adam without it",
                    make_optimizer("adam", {k: v for k, v in params.items() if k != "weight_decay"})))
    if name == "rmsprop":
        out.append((f"centered = {not params['centered']}", make_optimizer(name, {**params, "centered": not params["centered"]})))
    out.append(("optimizer state: the first step's state is not kept (step 2 starts afresh)", _ForgetsFirstState(make_optimizer(name, params))))
    return out


def _replay(optimizer: Optimizer, start, out: dict, n: int, steps: int) -> list[list[np.ndarray]]:
    weights = [np.asarray(w, dtype=np.float64).copy() for w in start]
    expected = []
    for s in range(steps):
        grads = [np.asarray(out[f"s{s}g{i}"], dtype=np.float64) for i in range(n)]
        optimizer.update(weights, grads)
        expected.append([w.copy() for w in weights])
        weights = [np.asarray(out[f"s{s}w{i}"], dtype=np.float64).copy() for i in range(n)]
    return expected


def _step_hints(judge: Judge, check: str, out: dict, tol: float) -> list[str]:
    opt = optimizer_spec(check[5:])
    n = len(judge.case.names)
    steps = sum(1 for s in range(4) if f"s{s}w0" in out)
    if steps == 0 or any(f"s{s}g{i}" not in out for s in range(steps) for i in range(n)):
        return []

    def worst(optimizer: Optimizer) -> float:
        expected = _replay(optimizer, judge.case.weights, out, n, steps)
        return max(compare("", out[f"s{s}w{i}"], e).max_rel for s in range(steps) for i, e in enumerate(expected[s]))

    if worst(make_optimizer(opt.name, opt.params)) <= tol:
        return []  # the updates follow from the implementation's own gradients: the step's rule is not the problem
    hints = []
    for what, variant in _variants(opt.name, opt.params):
        try:
            matches = worst(variant) <= tol
        except (ValueError, FloatingPointError):
            continue
        if matches:
            hints.append(what + "?")
    return hints


def _l2_hint(judge: Judge, name: str, actual, expected) -> str | None:
    """A kernel's gradient that differs from the reference by c * l2 * W: the L2 term's factor."""
    layer = int(name.split("[")[1].split("]")[0])
    l2 = judge.case.spec.layers[layer].l2
    if not l2 or not name.endswith("kernel"):
        return None
    names = judge.case.names
    w = np.asarray(judge.case.weights[names.index(name)], dtype=np.float64)
    d = np.asarray(actual, dtype=np.float64) - np.asarray(expected, dtype=np.float64)
    c = float(np.sum(d * w) / (l2 * np.sum(w * w)))
    if abs(c) < 0.25:  # no L2-shaped difference (an identical gradient has c = 0 and no residual either)
        return None
    residual = np.max(np.abs(d - c * l2 * w)) / max(np.max(np.abs(d)), 1e-300)
    if residual > 1e-3:
        return None
    meaning = {-2: "the L2 term is missing", -1: "the L2 gradient is l2 W, half of the penalty l2 sum W^2's 2 l2 W",
               2: "the L2 gradient is counted twice (4 l2 W)", 1: "the L2 gradient is 3 l2 W"}.get(round(c))
    return (f"{name}'s gradient differs from the reference by exactly {c:.3g} x l2 x W: "
            + (f"{meaning} (L2 factor?)" if meaning else "an L2 factor?"))


def for_failure(judge: Judge, check: str, out: dict, result, tol, forward_ok: bool | None = None) -> list[str]:
    """Hints for a failed check (``result`` is its CheckResult)."""
    hints: list[str] = []
    failure = result.first_failure(tol)
    if failure is None:
        return hints
    step, diff = failure
    problems = [d for diffs in result.steps for d in diffs if d.problem]
    if any("non-finite" in (d.problem or "") for d in problems) and check in ("large-logits", "forward", "loss", "grads"):
        hints.append("non-finite values where the reference is finite: exp() overflowing at large logits, a softmax "
                     "without its max shift, or a cross-entropy computed from probabilities (log 0)?")
    if any("transposed" in (d.problem or "") for d in problems):
        hints.append("a kernel crossed the protocol as (out, in): kernels are (in, out), torch's Linear.weight is their transpose")
    if check.startswith("step-") and not diff.problem:
        hints += _step_hints(judge, check, out, tol if not isinstance(tol, list) else max(tol))
    if check in ("grads", "large-logits") and not diff.problem:
        ref = judge.reference(check)
        names = judge.case.names
        for i, name in enumerate(names):
            a, r = out.get(f"g{i}"), ref[f"g{i}"]
            if a is None or np.shape(a) != r.shape:
                continue
            if name.endswith("bias") and not np.any(a) and np.any(r):
                hints.append(f"{name}'s gradient is all zeros: the bias gradient (BP3) is not computed?")
            l2 = _l2_hint(judge, name, a, r)
            if l2:
                hints.append(l2)
        if forward_ok and check == "grads":
            layer = int(diff.name.split("[")[1].split("]")[0])
            last = len(judge.case.spec.layers) - 1
            where = ("the output error delta^L (BP1: the loss gradient, or its fusion with the output activation)" if layer == last else
                     f"layers[{layer}]'s backward step: the derivative of its activation "
                     f"({judge.case.spec.layers[layer].activation.name}) in BP2, or BP3/BP4")
            if not any("L2" in h or "bias gradient" in h for h in hints):
                hints.append(f"the forward pass agrees and every layer above {layer} does too: the error enters at {where}?")
    if judge.case.dtype == "float64" and not diff.problem and 1e-10 < diff.max_rel < 1e-5:
        hints.append("float64 results off by about float32's rounding: something computes in float32 (a type promotion, "
                     "a float32 constant or learning-rate variable)?")
    return list(dict.fromkeys(hints))
