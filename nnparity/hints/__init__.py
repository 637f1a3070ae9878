"""Why a check failed: hypotheses of one mistake each, recomputed and tested against the implementation's numbers.

A hint is never a guess from the numbers' size. Each is a model of one mistake — a network with one
thing changed (``network_mistakes``), an update rule with one thing changed (``optimizer_mistakes``), a
learning-rate schedule followed wrongly (``schedule_mistakes``), float32 arithmetic in a float64 run — whose
answers the reference recomputes on the case's own inputs. The hint is offered only when

1. the correct reference does not explain the implementation's answers (the check failed),
2. the mistake's answers do, every compared tensor within the check's own tolerance, and
3. the mistake makes a difference here: its answers and the reference's differ beyond that tolerance.

A missing hint is acceptable; a misleading one is a defect. Beside the models, two deductions that
follow from which tensors agree: a transposed shape (the layout), and where a gradient error enters
backprop when the forward pass agrees (BP1-BP4, from which of a layer's kernel and bias gradients fail).
"""
from __future__ import annotations

import copy
import dataclasses

import numpy as np

from nnparity.hints import network_mistakes as N
from nnparity.hints import optimizer_mistakes as O
from reference.checks import STEP_COUNT, collect, optimizer_spec
from reference.checks import keys as K
from reference.compare import compare
from reference.implementation import NumpyImplementation
from reference.judge import CheckResult, Judge
from reference.magnitudes import step_scale
from reference.network import Network
from reference.optimizers import make_optimizer
from reference.weights import layer_of


def for_failure(judge: Judge, check: str, out: dict, result: CheckResult, tol, earlier: dict | None = None) -> list[str]:
    """Hints for a failed check (``result`` its CheckResult, ``tol`` its tolerance or per-step tolerances, ``earlier``
    the outcomes of this case's checks that ran before it)."""
    if result.first_failure(tol) is None:
        return []
    earlier = earlier or {}
    hints = _layout(result)
    if check in N.NETWORK_CHECKS:
        hints += _network(judge, check, out, tol)
        if judge.case.dtype == "float64":
            hints += _float32_arithmetic(judge, check, out, result, tol)
    if check == "grads":
        hints += _location(judge, result, tol, earlier)
    if check.startswith("step-"):
        hints += _steps(judge, check, out, tol)
    if check.startswith("schedule-"):
        from nnparity.hints import schedule_mistakes
        from reference.checks import CHECKS

        hints += schedule_mistakes.hints(judge, CHECKS[check], out, max(tol) if isinstance(tol, list) else tol)
    if check == "trajectory":
        hints += _trajectory(judge, out, tol, earlier)
    return list(dict.fromkeys(hints))


def _cached(judge: Judge, key: tuple, compute):
    if key not in judge._cache:
        judge._cache[key] = compute()
    return judge._cache[key]


def _with_reference(judge: Judge, key: str, answers: dict) -> Judge:
    """A copy of ``judge`` whose reference answers for ``key`` are ``answers`` (the operand scales stay the true ones)."""
    if key == "trajectory":
        judge.trajectory_scales()  # from the true trajectory, before the copy swaps it
    other = copy.copy(judge)
    other._cache = dict(judge._cache)
    true = judge.reference(key)
    other._cache[key] = {**true, **{k: v for k, v in answers.items() if not K.is_scale(k)}}
    return other


def _layout(result: CheckResult) -> list[str]:
    problems = [d for diffs in result.steps for d in diffs if d.problem]
    if any("transposed" in d.problem for d in problems):
        return ["a kernel crossed the protocol as (out, in): kernels are (in, out), torch's Linear.weight is their transpose"]
    return []


# ---- the network checks: forward, loss, grads, large-logits ------------------------------------------

def _network(judge: Judge, check: str, out: dict, tol: float) -> list[str]:
    case = judge.ref_case
    key = "loss" if check == "grads" else check
    hints = []
    for m in N.mistakes(case.spec, judge.case.dtype, len(case.x)):
        if check not in m.checks:
            continue
        # Overflow is the dtype's own: exp(150) is finite in float64, infinite in float32.
        on = judge.case if m.nonfinite else case
        predicted = _cached(judge, ("mistake", m.key, key), lambda m=m, on=on: m.answers(on, key))
        if m.nonfinite:
            if _same_overflow(out, predicted, check):
                hints.append(m.text)
        elif _explains(judge, key, check, out, predicted, tol):
            hints.append(m.text + ("" if m.text.endswith("?") else "?"))
    return hints


def _explains(judge: Judge, key: str, check: str, out: dict, predicted: dict, tol) -> bool:
    """The implementation's answers within ``tol`` of ``predicted``, and ``predicted`` beyond it from the reference."""
    hypothesis = _with_reference(judge, key, predicted)
    if hypothesis.judge(check, out).first_failure(tol) is not None:
        return False
    ref = judge.reference(key)
    own = {k: v for k, v in ref.items() if not K.is_scale(k)}
    return hypothesis.judge(check, own).first_failure(tol) is not None


def _same_overflow(out: dict, predicted: dict, check: str) -> bool:
    """Every answer of the implementation that holds a NaN or an infinity holds them exactly where the mistaken
    network's overflows (and at least one does)."""
    seen = False
    for k, value in out.items():
        try:
            mine = ~np.isfinite(np.asarray(value, dtype=np.float64))
        except (TypeError, ValueError):
            return False
        if not mine.any():
            continue
        if k not in predicted:
            return False
        theirs = ~np.isfinite(np.asarray(predicted[k], dtype=np.float64))
        if mine.shape != theirs.shape or not np.array_equal(mine, theirs):
            return False
        seen = True
    return seen


def _float32_arithmetic(judge: Judge, check: str, out: dict, result: CheckResult, tol: float) -> list[str]:
    """A float64 run that deviates as the reference computed in float32 deviates: every tensor's deviation of the
    same order as the float32 reference's own (within a factor ``FLOAT32_RATIO`` either way), spread over most of
    its elements. Rounding is everywhere and of float32's size; a systematic mistake — an epsilon, a slope, an
    approximation, an extra term — is somewhere, or larger, or smaller."""
    if any(d.problem for diffs in result.steps for d in diffs):
        return []
    key = "loss" if check == "grads" else check
    case32 = judge.ref_case.as_dtype("float32")
    ref32 = _cached(judge, ("float32", key), lambda: {k: np.asarray(v, dtype=np.float64)
                                                       for k, v in collect(NumpyImplementation(), case32, key).items()})
    ref = judge.reference(key)
    compared = [k for k in out if k in ref and k in ref32 and not K.is_scale(k)
                and (check != "grads" or k != K.LOSS) and (check != "loss" or k == K.LOSS)]
    if not compared:
        return []
    for k in compared:
        r = np.asarray(ref[k], dtype=np.float64)
        mine = np.abs(np.asarray(out[k], dtype=np.float64) - r)
        theirs = np.abs(ref32[k] - r)
        if not (theirs.max() / FLOAT32_RATIO <= mine.max() <= theirs.max() * FLOAT32_RATIO):
            return []
        if r.size >= 4 and (mine > tol * max(np.max(np.abs(r)), 1e-300)).mean() < 0.5:
            return []
    return ["float64 results off by float32's rounding, as much as the reference computed in float32 and in most "
            "elements of every tensor: something computes in float32 (a type promotion, float32 constants, a float32 "
            "variable)?"]


FLOAT32_RATIO = 8.0  # how far from the float32 reference's own deviation a float32 computation's may lie


# ---- where a gradient error enters backprop ---------------------------------------------------------------

def _location(judge: Judge, result: CheckResult, tol: float, earlier: dict) -> list[str]:
    """Where the disagreement first shows in backprop, when the forward pass agrees, from the top: a statement of
    which tensors agree, never a guess. A layer whose kernel and bias gradients both differ, below layers that
    agree, is where the error shows (its delta: BP1 at the output, BP2 below). A layer whose bias gradient alone
    differs points at BP3 only where a wrong delta could not hide from its kernel's gradient: if the column of
    ones lies in the span of the layer's input A, then A^T E = 0 forces 1^T E = 0, so a delta error E that the
    kernel's gradient does not see cannot move the bias's either (a relu row of exact zeros breaks this)."""
    forward = earlier.get("forward")
    if forward is None or forward.status != "pass" or any(d.problem for d in result.steps[0]):
        return []
    bad = {d.name for d in result.steps[0] if not d.within(tol)}
    spec = judge.case.spec
    top = max(layer_of(n) for n in bad)
    if spec.layers[top].type != "dense":
        return []
    kernel, bias = f"layers[{top}].kernel", f"layers[{top}].bias"
    if kernel in bad and (bias in bad or not spec.layers[top].use_bias):
        if top == len(spec.layers) - 1:
            where = "in delta^L (BP1: the loss gradient, or its fusion with the output activation)"
        else:
            where = (f"in layers[{top}]'s delta (BP2: the derivative of its activation, {spec.layers[top].activation.name}, "
                     f"or the product with layers[{top + 1}].kernel transposed)")
        agree = ("the forward pass agrees" if top == len(spec.layers) - 1 else
                 f"the forward pass and every gradient above layers[{top}] agree")
        return [f"{agree}, and layers[{top}]'s kernel and bias gradients both differ: the error shows {where}"]
    if kernel not in bad and _ones_in_span(judge, top):
        return [f"{bias}'s gradient differs while {kernel}'s agrees, and a wrong delta could not hide from the kernel's "
                f"gradient there: the error is in BP3 (dC/db = sum_n delta_n), or a term added to it?"]
    return []


def _ones_in_span(judge: Judge, layer: int) -> bool:
    """Whether the column of ones is a combination of the columns of the layer's input (the reference's a^(l-1))."""
    a = judge.ref_case.x if layer == 0 else judge.reference("forward")[K.layer_output(layer - 1)]
    a = np.asarray(a, dtype=np.float64)
    ones = np.ones(len(a))
    v, *_ = np.linalg.lstsq(a, ones, rcond=None)
    return float(np.linalg.norm(a @ v - ones)) < 1e-8 * np.sqrt(len(a))


# ---- optimizer steps and trajectories ----------------------------------------------------------------------

def _steps(judge: Judge, check: str, out: dict, tol) -> list[str]:
    tol = tol if not isinstance(tol, list) else max(tol)
    opt = optimizer_spec(check[5:], judge.case)
    names, n = judge.case.names, len(judge.case.names)
    steps = sum(1 for s in range(STEP_COUNT) if all(K.at_step(s, K.weight(m)) in out and K.at_step(s, K.grad(m)) in out for m in names))
    if steps == 0:
        return []
    start = judge.ref_case.weights
    grads = [[out[K.at_step(s, K.grad(m))] for m in names] for s in range(steps)]
    weights = [[out[K.at_step(s, K.weight(m))] for m in names] for s in range(steps)]
    spec = judge.ref_case.spec
    step_spec = dataclasses.replace(spec, optimizer=opt)
    x, y = judge.ref_case.x, judge.ref_case.y

    def layerwise(optimizer, before):
        return O.layerwise_step(Network(step_spec, before, dtype="float64", state=judge.ref_case.state), optimizer, before, x, y,
                                judge.ref_case.check_masks[0] if judge.ref_case.check_masks else None,
                                judge.ref_case.weights_of(slice(0, len(x))))

    def error(expected: list[list[np.ndarray]]) -> float:
        worst, before = 0.0, start
        for s in range(steps):
            for i in range(n):
                d = compare(names[i], weights[s][i], expected[s][i], scale=step_scale(before[i], expected[s][i]))
                if d.problem:
                    return np.inf
                worst = max(worst, d.max_rel)
            before = weights[s]
        return worst

    correct = O.replay(O.UpdateMistake("correct", "", lambda: make_optimizer(opt.name, opt.params, opt.clip, opt.schedule)), start, grads, weights)
    if error(correct) <= tol:
        return []  # the updates follow from the implementation's own gradients: the rule is not the problem
    hints = []
    for m in O.update_mistakes(opt.name, opt.params, judge.case.dtype, opt.clip, opt.schedule):
        try:
            with np.errstate(all="ignore"):
                expected = O.replay(m, start, grads, weights, layerwise)
        except (ValueError, FloatingPointError, ZeroDivisionError):
            continue
        if error(expected) <= tol and _distinct(expected, correct, start, weights, tol, names):
            hints.append(m.text + "?")
    return hints


def _distinct(expected, correct, start, weights, tol, names) -> bool:
    """The mistake's steps differ from the correct rule's beyond ``tol``, each from the same weights and gradient."""
    befores = [start] + weights[:-1]
    return any(not compare(nm, a, b, scale=step_scale(w, b)).within(tol)
               for e, c, before in zip(expected, correct, befores) for nm, a, b, w in zip(names, e, c, before))


def _trajectory(judge: Judge, out: dict, tols: list[float], earlier: dict) -> list[str]:
    hints = []
    grads = earlier.get("grads")
    if grads is not None and grads.status == "fail":
        hints.append("the gradients differ already (the grads check fails): the trajectory inherits that")
        return hints
    opt = judge.case.spec.optimizer
    for m in O.update_mistakes(opt.name, opt.params, judge.case.dtype, opt.clip, opt.schedule):
        with np.errstate(all="ignore"):  # a mistaken trajectory may diverge: then it explains nothing
            predicted = _cached(judge, ("trajectory-mistake", m.key),
                                lambda m=m: collect(O.trainer_factory(m), judge.ref_case, "trajectory"))
        if _explains(judge, "trajectory", "trajectory", out, predicted, tols):
            hints.append(m.text + "?")
    return hints
