"""Gradient clipping: the spec's fields, the reference's three rules, torch's own functions against them, and the
oracle catching the two ways a Keras clipnorm is mis-ported to torch (the wrong norm, torch's epsilon)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nnparity import runner
from reference import clipping
from reference import spec as S
from reference.checks import make_case
from reference.checks.steps import ClipRecipe, clip_for
from reference.errors import SpecError
from reference.worker import InProcess
from torch_impl import optimizers as torch_optimizers
from torch_impl.implementation import TorchImplementation


def _with_optimizer(**fields) -> dict:
    d = S.to_dict(S.load("gates_xor"))
    d["optimizer"].update(fields)
    return d


def test_a_clipping_field_round_trips_through_the_canonical_form():
    spec = S.from_dict(_with_optimizer(global_clipnorm=0.5, clip_epsilon=1e-6))
    assert spec.optimizer.clip == S.Clip("global_clipnorm", 0.5, 1e-6)
    assert S.from_dict(S.to_dict(spec)) == spec
    assert S.load("gates_xor").optimizer.clip is None and "clipnorm" not in S.to_dict(S.load("gates_xor"))["optimizer"]


@pytest.mark.parametrize("fields, message", [
    ({"clipnorm": -1.0}, "optimizer.clipnorm: got -1.0; expected a number > 0"),
    ({"clipnorm": 1.0, "clipvalue": 0.5}, "clipnorm and clipvalue are both set"),
    ({"clipvalue": 0.5, "clip_epsilon": 1e-6}, "optimizer.clip_epsilon: got 1e-06; it is the norm's epsilon"),
    ({"clip_epsilon": -1.0, "clipnorm": 1.0}, "optimizer.clip_epsilon: got -1.0; expected a number >= 0"),
    ({"clip_norm": 1.0}, "optimizer.clip_norm: unknown clipping field; known: clipnorm, global_clipnorm, clipvalue"),
])
def test_a_bad_clipping_field_is_named_with_what_it_takes(fields, message):
    with pytest.raises(SpecError) as e:
        S.from_dict(_with_optimizer(**fields))
    assert message in str(e.value)


def _clip(rule, c, eps, grads):
    return clipping.clip(S.Clip(rule, c, eps), grads, [np.empty_like(g) for g in grads])


def test_the_three_rules_on_numbers_worked_by_hand():
    g = [np.array([3.0, 4.0]), np.array([0.0, 0.5])]  # norms 5 and 0.5; global norm sqrt(25.25)
    per = _clip("clipnorm", 1.0, 0.0, g)
    assert np.allclose(per[0], [0.6, 0.8], rtol=1e-15, atol=0) and np.array_equal(per[1], g[1])  # below: untouched
    total = math.sqrt(25.25)
    glob = _clip("global_clipnorm", 1.0, 0.0, g)
    assert np.allclose(glob[0], np.array([3.0, 4.0]) / total, rtol=1e-15) and np.allclose(glob[1], np.array([0, 0.5]) / total, rtol=1e-15)
    assert np.array_equal(_clip("clipvalue", 0.4, 0.0, g)[0], [0.4, 0.4])
    assert np.array_equal(_clip("clipvalue", 0.4, 0.0, g)[1], [0.0, 0.4])
    torchs = _clip("global_clipnorm", 1.0, 1e-6, g)
    assert np.allclose(torchs[0], np.array([3.0, 4.0]) / (total + 1e-6), rtol=1e-15)
    assert g[0].tolist() == [3.0, 4.0], "the caller's gradients are left as they were"


@pytest.mark.parametrize("rule, eps", [("clipnorm", 0.0), ("clipnorm", 1e-6), ("global_clipnorm", 0.0),
                                       ("global_clipnorm", 1e-6), ("global_clipnorm", 1e-3), ("clipvalue", 0.0)])
def test_torch_own_clipping_functions_give_the_reference_rule(rule, eps):
    """clip_grad_norm_ (its fixed 1e-6), clip_grads_with_norm_ for any other epsilon, clip_grad_value_: each within
    a few roundings of the reference, on gradients of which some are clipped and some are not."""
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(30, 20)), rng.normal(size=20) * 0.01, rng.normal(size=(20, 3))]
    c = 1.5 if rule != "clipvalue" else 0.8
    expected = _clip(rule, c, eps, grads)
    params = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.from_numpy(g.copy())
    torch_optimizers.clip_gradients(S.Clip(rule, c, eps), params)
    for p, e in zip(params, expected):
        assert np.abs(p.grad.numpy() - e).max() <= 8 * 2.0**-53 * np.abs(e).max()


def test_a_clipping_check_threshold_really_clips_and_is_the_same_wherever_it_is_derived():
    case = make_case(S.load("coverage_training"), "float32")
    between = clip_for(ClipRecipe("clipnorm", "between"), case)
    assert between == clip_for(ClipRecipe("clipnorm", "between"), case.as_float64())
    from reference.network import Network

    c64 = case.as_float64()
    _, grads = Network(c64.spec, c64.weights, dtype="float64", state=c64.state).loss_and_grads(c64.x, c64.y)
    norms, total = clipping.norms(grads)
    assert min(norms) < between.threshold < max(norms)  # some tensors clipped, some below the threshold
    assert clip_for(ClipRecipe("global_clipnorm", "half-global"), case).threshold < total


class _TorchClipsGlobally(TorchImplementation):
    """Keras's clipnorm ported to torch as clip_grad_norm_ over every parameter: one norm, not one per tensor."""

    name = "torch-clips-globally"

    def clip_gradients(self, h):
        if h.spec.optimizer.clip.rule != "clipnorm":
            return super().clip_gradients(h)
        torch.nn.utils.clip_grad_norm_(h.params, h.spec.optimizer.clip.threshold)


class _TorchKeepsItsEpsilon(TorchImplementation):
    """Keras's global_clipnorm ported as torch's clip_grad_norm_, whose 1e-6 the spec (clip_epsilon = 0) lacks."""

    name = "torch-keeps-its-epsilon"

    def clip_gradients(self, h):
        if h.spec.optimizer.clip.rule != "global_clipnorm":
            return super().clip_gradients(h)
        torch.nn.utils.clip_grad_norm_(h.params, h.spec.optimizer.clip.threshold)


@pytest.mark.parametrize("impl, check, hint", [
    (_TorchClipsGlobally(), "step-sgd-clipnorm", "clipnorm applied to one global norm"),
    (_TorchKeepsItsEpsilon(), "step-momentum-global-clipnorm", "the norm's epsilon: the update matches clip_epsilon = 1e-06"),
])
def test_a_mis_ported_keras_clipping_fails_its_step_check_with_the_hint_that_names_it(impl, check, hint):
    sel = runner.Selection(["coverage_training"], [impl.name], ["float64"], ["cpu"], [check, "step-adam-clipvalue"])
    out = {o.check: o for o in runner.run(sel, lambda name: InProcess(impl))}
    assert out[check].status == "fail" and out[check].failure["step"] == 0, out[check]
    assert any(hint in h for h in out[check].hints), out[check].hints
    assert out["step-adam-clipvalue"].status == "pass"  # clipvalue is torch's clip_grad_value_, untouched


def test_an_implementation_without_supports_is_not_asked_to_clip():
    class DenseOnly:
        name = "dense-only"

    from reference.checks.calls import declined

    spec = S.from_dict(_with_optimizer(clipvalue=0.5))
    assert "clips gradients (clipvalue)" in declined(DenseOnly(), spec)
    assert declined(DenseOnly(), S.load("gates_xor")) is None
