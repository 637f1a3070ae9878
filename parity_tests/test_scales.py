"""Judging a result by its operands: a correct implementation never fails because its result cancelled, and a
tensor that does not cancel is judged exactly as tightly as against its own size (tolerance.py, magnitudes.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnparity import registry, runner
from reference import spec as S
from reference.checks import check_names, collect, make_case
from reference.implementation import NumpyImplementation
from reference.judge import Judge
from reference.magnitudes import step_scale, trajectory_scales


def _variant(tmp_path, name: str, edit) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(edit(S.dumps(S.load("gates_xor")).replace('name = "gates_xor"', f'name = "{name}"')))
    return str(path)


def _run(spec: str, impls: list[str], checks: list[str], dtypes=("float64", "float32")) -> list[runner.Outcome]:
    made = {name: registry.make(name) for name in impls}
    try:
        return runner.run(runner.Selection([spec], impls, list(dtypes), ["cpu"], checks), lambda n: made[n])
    finally:
        for impl in made.values():
            impl.close()


def test_an_adam_step_that_cancels_a_bias_is_no_failure(tmp_path):
    """gates_xor with gate = "and": Adam's first step of about lr = 0.01 takes the output bias of 0.01 to about 1e-9;
    float32 rounding of that subtraction, divided by the 1e-9 left, read as relative errors of 3e-3 to 7."""
    spec = _variant(tmp_path, "gates_and", lambda t: t.replace('gate = "xor"', 'gate = "and"'))
    outcomes = _run(spec, ["numpy", "torch"], ["step-adam", "step-adam-torch-eps", "step-adamw-torch-eps", "trajectory"])
    assert all(o.status == "pass" for o in outcomes), [(o.id, o.failure) for o in outcomes if o.status != "pass"]
    adam = next(o for o in outcomes if o.id == "gates_and-torch-float32-step-adam-torch-eps")
    assert adam.operand_factor > 1e6  # the bias cancelled to a millionth of its operands
    assert adam.max_rel < adam.tol


def test_a_wrong_update_of_the_cancelling_bias_is_still_caught(tmp_path):
    from parity_tests.plugins.mistakes import AdamWithoutBiasCorrection

    spec = _variant(tmp_path, "gates_and", lambda t: t.replace('gate = "xor"', 'gate = "and"'))
    impl = AdamWithoutBiasCorrection()
    impl.name = "no-bias-correction"
    from reference.worker import InProcess

    outcomes = runner.run(runner.Selection([spec], [impl.name], ["float32"], ["cpu"], ["step-adam"]), lambda n: InProcess(impl))
    assert outcomes[0].status == "fail"


def test_gradients_that_cancel_across_the_batch_are_judged_by_their_terms(tmp_path):
    """A zero output kernel gives every XOR row the same output: the output layer's gradients sum terms of both signs
    to nearly nothing (before: torch failed in float64 at 2.3e-14 > 2.0e-14, numpy and torch in float32 at 7e-5)."""
    def edit(text):
        head, out = text.rsplit("[[layers]]", 1)
        out = out.replace('kernel_init = { name = "normal", mean = 0.0, std = 1.0 }', 'kernel_init = { name = "zeros" }')
        return head + "[[layers]]" + out.replace("value = 0.01", "value = 0.001")
    spec = _variant(tmp_path, "xor_zero_output", edit)
    outcomes = _run(spec, ["numpy", "torch"], ["grads", "step-adagrad-torch-eps"])
    assert all(o.status == "pass" for o in outcomes), [(o.id, o.failure) for o in outcomes if o.status != "pass"]


def test_an_mse_at_an_exact_fit_is_judged_by_its_operands():
    """A linear layer that interpolates 16 real digits exactly: the float64 loss is ~1e-31; a float32 computation
    of (a - y)^2 cannot come below (u |a|)^2 ~ 1e-15, which is rounding, not a mistake."""
    spec = S.validate(S.Spec(name="exact_fit", description="", source=S.Source(""), seed=0, dtype="float64", input_shape=(64,),
                             layers=(S.Layer(10, S.Activation("linear"), S.Initializer("zeros")),), loss=S.Loss("mse"),
                             optimizer=S.Optimizer("sgd", {"learning_rate": 0.1}),
                             training=S.Training(S.Dataset("digits", {"divide_by": 16.0}), batch_size=16, epochs=1)))
    for dtype in ("float64", "float32"):
        case = make_case(spec, dtype)
        x, y = case.x[:16].astype(np.float64), case.y[:16].astype(np.float64)
        solution = np.linalg.lstsq(np.hstack([x, np.ones((16, 1))]), y, rcond=None)[0]
        case = dataclasses.replace(case, weights=[solution[:-1].astype(dtype), solution[-1].astype(dtype)], x=case.x[:16], y=case.y[:16])
        judge = Judge(case)
        out = collect(NumpyImplementation(), case, "loss")
        loss = judge.judge("loss", out)
        assert loss.first_failure(judge.tolerance("loss")[0]) is None, loss.steps
        assert judge.judge("grads", out).first_failure(judge.tolerance("grads")[0]) is None
        if dtype == "float32":
            assert float(out["loss"]) > 10 * float(judge.reference("loss")["loss"])  # "wrong" by an order of magnitude, yet right


@pytest.mark.parametrize("spec", ["fashion_relu500_300_100", "digits_sigmoid100_50", "regression_sigmoid10"])
def test_where_nothing_cancels_the_bound_is_the_tensors_own(spec):
    """The loss of these networks, their SGD steps and their untrained outputs do not cancel: judged against
    exactly their own size, as before operand scales."""
    judge = Judge(make_case(S.load(spec), "float64")).prepare(check_names())
    ref = NumpyImplementation()
    for check in ("loss", "step-sgd"):
        result = judge.judge(check, collect(ref, judge.ref_case, check))
        assert result.operand_factor == pytest.approx(1.0), check


def test_step_and_trajectory_scales():
    before, after = np.array([0.01, -2.0]), np.array([1e-9, -1.99])
    assert step_scale(before, after) == pytest.approx(2.0, rel=1e-2)  # |w'| = 1.99 for the second, sqrt(w^2 + d^2) for the first
    assert step_scale(np.array([0.01]), np.array([1e-9])) == pytest.approx(np.hypot(0.01, 0.01), rel=1e-6)
    assert trajectory_scales(np.array([1.0, -0.5]), [np.array([0.1, 0.2]), np.array([3.0, 0.0])]) == [1.0, 3.0]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_relu_at_an_exact_zero_does_not_read_as_chaos(dtype):
    """coverage_relu_zero_mse feeds pre-activations of exactly 0 to two relu layers. The shadow run starts one
    rounding away but leaves exact zeros at zero, so no relu flips and the trajectory keeps the formula's bound."""
    from reference import tolerance as T

    judge = Judge(make_case(S.load("coverage_relu_zero_mse"), dtype)).prepare(["trajectory"])
    assert judge.chaos()[0] is None
    assert judge.tolerance("trajectory")[1] == T.trajectory_bounds(judge.case.spec, dtype, 4, judge.case.spec.optimizer,
                                                                   judge.relative_steps())
