"""The oracle's verdicts on implementations nobody here wrote: a user's network with one planted mistake
is caught on the right check, tensor and step, and hinted only with what explains its numbers; the same
network computed differently but correctly passes everywhere (a failure there is a false positive)."""
from __future__ import annotations

import dataclasses

import pytest

from nnparity import runner
from parity_tests.plugins import mistakes as M
from parity_tests.plugins import user_mlp as U
from reference import spec as S
from reference.checks import check_names
from reference.checks.calls import declined as declined_for
from reference.worker import InProcess

FLOAT32_HINT = "off by float32's rounding"


def run(impl, spec: str, checks: list[str], dtypes=("float64",)) -> dict[str, runner.Outcome]:
    impl.name = type(impl).__name__
    sel = runner.Selection([spec], [impl.name], list(dtypes), ["cpu"], checks)
    return {f"{o.dtype}:{o.check}": o for o in runner.run(sel, lambda name: InProcess(impl))}


# (planted mistake, spec, check that fails, first diverging tensor, step, the hint it must draw — None: no
#  mistake model may claim it). The forward pass (or another check the mistake leaves alone) runs first and
#  must pass, so the location hints see it.
PLANTED = [
    (M.SigmoidDerivativeIsA, "digits_sigmoid50", "grads", "layers[0].kernel", 0, "sigmoid'(z) computed as a instead of a (1 - a)"),
    (M.TanhDerivativeFromZ, "coverage_activations", "grads", "layers[0].kernel", 0, "tanh'(z) computed as 1 - z^2"),
    (M.ReluDerivativeOneAtZero, "coverage_relu_zero_mse", "grads", "layers[1].bias", 0, "relu'(0) = 1"),
    (M.LeakySlopeKerasDefault, "coverage_activations", "forward", "layers[1].output", 0, "leaky_relu with slope 0.2"),
    (M.GeluAlwaysTanh, "coverage_activations", "forward", "layers[4].output", 0, "gelu computed with the tanh approximation"),
    (M.UnshiftedSoftmax, "fashion_sigmoid400", "large-logits", "output", 0, "a softmax without its max shift"),
    (M.ClippedCrossEntropy, "fashion_sigmoid400", "large-logits", "loss", 0, "probabilities clipped to [1e-07"),
    (M.NoBiasGradient, "digits_sigmoid50", "grads", "layers[1].bias", 0, "the bias gradients all zero"),
    (M.L2GradientHalf, "digits_sigmoid50", "grads", "layers[1].kernel", 0, "its gradient l2 W instead of 2 l2 W"),
    (M.L2OnBiases, "digits_sigmoid50", "grads", "layers[1].bias", 0, "an L2 term on the biases too"),
    (M.L2PerRow, "breast_cancer_relu10", "grads", "layers[1].kernel", 0, "divided by the batch size N = 64"),
    (M.L2Float32, "digits_sigmoid50", "grads", "layers[1].kernel", 0, "the L2 factor rounded through float32 (0.005 ->"),
    (M.LossWithoutPenalty, "digits_sigmoid50", "loss", "loss", 0, "the loss reported without its L2 penalty"),
    (M.SumInsteadOfMean, "digits_even_odd", "grads", "layers[1].kernel", 0, "summed over the batch where the spec averages"),
    (M.MeanInsteadOfSum, "digits_sigmoid50", "grads", "layers[1].kernel", 0, "averaged over the batch where the spec sums"),
    (M.MseSummedOverOutputs, "coverage_relu_zero_mse", "grads", "layers[2].kernel", 0, "the loss summed over the 2 outputs"),
    (M.BceSummedOverOutputs, "coverage_bce_multilabel", "grads", "layers[1].kernel", 0, "summed over the 10 outputs"),
    (M.MseGradientWithoutTwo, "coverage_relu_zero_mse", "grads", "layers[2].kernel", 0, "the gradient of (a - y)^2 written as (a - y)"),
    (M.Float32Everywhere, "digits_sigmoid100_50", "forward", "layers[0].output", 0, FLOAT32_HINT),
    (M.OneUnexplainedFactor, "digits_sigmoid50", "grads", "layers[1].kernel", 0, None),
    (M.TransposedKernels, "digits_sigmoid50", "weights", "layers[0].kernel", 0, "crossed the protocol as (out, in)"),
    (M.AdamWithoutBiasCorrection, "digits_even_odd", "step-adam", "layers[1].kernel", 0, "Adam without bias correction"),
    (M.AdamStepOffByOne, "digits_even_odd", "step-adam", "layers[1].kernel", 0, "the step count off by one"),
    (M.AMSGrad, "gates_xor", "trajectory", "layers[0].kernel", 3, "AMSGrad"),
    (M.CoupledWeightDecay, "digits_even_odd", "step-adamw", "layers[1].kernel", 0, "weight decay coupled"),
    (M.MomentumSignFlipped, "digits_even_odd", "step-momentum", "layers[1].kernel", 1, "the momentum's sign"),
    (M.DampenedMomentum, "digits_even_odd", "step-momentum", "layers[1].kernel", 0, "the momentum buffer dampened"),
    (M.MomentumForgetsFirstStep, "digits_even_odd", "step-momentum", "layers[1].kernel", 1, "the first step's state is not kept"),
    (M.NesterovAsMomentum, "digits_even_odd", "step-nesterov", "layers[1].kernel", 0, "the update matches momentum, not nesterov"),
    (M.EpsilonOutsideTheRoot, "breast_cancer_relu10", "step-rmsprop", "layers[2].kernel", 0, "epsilon placement"),
    (M.LearningRateFloat32, "digits_even_odd", "step-sgd", "layers[1].kernel", 0, "the learning rate rounded to float32"),
    (M.StaleGradient, "digits_even_odd", "step-sgd", "layers[1].kernel", 1, "a stale gradient"),
    (M.UpdatesDuringBackward, "digits_even_odd", "step-sgd", "layers[0].kernel", 0, "updated during the backward pass"),
]


def _first(check: str) -> str:
    return "forward" if check not in ("forward", "weights") else "loss"


@pytest.mark.parametrize("cls, spec, check, tensor, step, hint", PLANTED, ids=[c[0].__name__ for c in PLANTED])
def test_a_planted_mistake_fails_where_it_is_and_draws_only_true_hints(cls, spec, check, tensor, step, hint):
    out = run(cls(), spec, [_first(check), check])
    o = out[f"float64:{check}"]
    assert o.status == "fail", o
    assert (o.failure["tensor"], o.failure["step"]) == (tensor, step), o.failure
    models = [h for h in o.hints if not h.startswith(("the forward pass", "only ", "layers["))]  # not the BP locations
    if hint is None:
        assert not models, o.hints
    else:
        assert any(hint in h for h in o.hints), o.hints
        assert len(models) == 1, f"one mistake, one explanation: {o.hints}"
    if hint != FLOAT32_HINT:  # the float32 hint never fires on a mistake of another kind
        assert not any(FLOAT32_HINT in h for h in o.hints), o.hints


def test_the_planted_mistakes_are_twenty_distinct_classes():
    assert len({c[0] for c in PLANTED}) >= 20


def test_the_relu_zero_mistake_gets_no_location_hint_that_blames_bp3():
    """relu'(0) changes delta only on the row whose input is all zeros, where the kernel's gradient cannot see it:
    the bias gradient alone differs, yet BP3 is not the cause, so no location hint may say it is."""
    o = run(M.ReluDerivativeOneAtZero(), "coverage_relu_zero_mse", ["forward", "grads"])["float64:grads"]
    assert not any("BP3" in h for h in o.hints), o.hints


def test_a_lone_wrong_bias_sum_is_located_at_bp3_where_the_kernel_would_have_seen_a_wrong_delta():
    """The digits network's 64 raw-pixel inputs span the column of ones on its 64 check rows, so its first layer's
    kernel gradient would show any error in delta: a bias gradient off alone is BP3's own."""
    class FirstBiasHalved(U.UserMLP):
        def loss_and_grads(self, h, x, y):
            loss, grads = super().loss_and_grads(h, x, y)
            grads[1] = grads[1] * 0.5
            return loss, grads

    o = run(FirstBiasHalved(), "fashion_relu32_so", ["forward", "grads"])["float64:grads"]
    assert o.status == "fail" and o.failure["tensor"] == "layers[0].bias"
    assert any("BP3" in h for h in o.hints), o.hints


def test_correct_but_different_implementations_pass_every_check_of_every_spec():
    """Six correct implementations that round differently from the reference — another summation order, exactly
    rounded sums, the Keras momentum form, log-sum-exp losses, a rearranged Adam, an exact sigmoid derivative —
    over every bundled spec, dtype and check: any failure is the oracle's false positive. They are written for
    dense layers and declare no ``supports``, so the specs with other kinds are declined for them, with the reason."""
    impls = {cls.name: InProcess(cls()) for cls in U.CORRECT}  # threads of this process: one case, six answers
    assert len(impls) >= 5
    sel = runner.Selection(S.bundled_names(), list(impls), ["float64", "float32"], ["cpu"], check_names())
    outcomes = runner.run(sel, lambda name: impls[name])
    assert len(outcomes) == sel.cells
    # Written for dense layers at a constant rate, unclipped, unweighted, for a fixed number of steps: the other specs
    # are declined for them (early stopping only for the check that stops early), with the reason.
    specs = {ls.label: ls.spec for ls in sel.labelled}

    def declines(o) -> bool:
        spec = specs[o.spec]
        if o.check != "early-stopping":
            spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, early_stopping=None))
        return declined_for(U.CORRECT[0](), spec) is not None

    bad = [(o.id, o.status, o.message, o.failure) for o in outcomes if o.status != "pass" and not declines(o)]
    assert not bad, bad[:5]
    declined = [o for o in outcomes if declines(o)]
    assert declined and all(o.status == "unsupported" and "declares no supports(spec)" in o.message for o in declined)
    assert sum(o.status == "pass" for o in outcomes) >= 12 * len(check_names()) * len(impls)
