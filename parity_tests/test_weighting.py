"""Sample and class weights: the weighted means on numbers worked by hand, torch's weighted losses (its weight= where it
means the spec's mean, reduction="none" where it cannot) against the reference, the spec's fields, and the oracle
catching weights dropped or divided by the wrong count."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnparity import runner
from reference import spec as S
from reference import weighting
from reference.errors import SpecError
from reference.worker import InProcess
from torch_impl import losses as torch_losses
from torch_impl.implementation import TorchImplementation


def test_the_weighted_means_on_numbers_worked_by_hand():
    losses, w = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.5, 0.25])  # sum w l = 3, sum w = 1.75
    assert weighting.reduce(losses, "sum", w, "sum_over_batch_size") == 3.0
    assert weighting.reduce(losses, "mean", w, "sum_over_batch_size") == 1.0
    assert weighting.reduce(losses, "mean", w, "mean_with_sample_weight") == pytest.approx(3 / 1.75, rel=1e-15)
    assert weighting.reduce(losses, "mean", None, "mean_with_sample_weight") == pytest.approx(7 / 3, rel=1e-15)
    assert np.allclose(weighting.reduction_scale(3, "mean", w, "mean_with_sample_weight").ravel(), w / 1.75, rtol=1e-15)


def _spec(loss: str, weighted_reduction: str, reduction: str = "mean") -> S.Spec:
    d = S.to_dict(S.load("coverage_class_weights"))
    d["loss"].update(name=loss, reduction=reduction, weighted_reduction=weighted_reduction)
    return S.from_dict(d)


@pytest.mark.parametrize("loss, weighted_reduction, reduction, by_sample", [
    ("categorical_crossentropy", "sum_over_batch_size", "mean", False),  # torch's weight= with one-hot targets
    ("sparse_categorical_crossentropy", "mean_with_sample_weight", "mean", False),  # weight= with class indices
    ("categorical_crossentropy", "mean_with_sample_weight", "mean", False),  # weight= cannot: reduction="none"
    ("sparse_categorical_crossentropy", "sum_over_batch_size", "sum", False),
    ("categorical_crossentropy", "sum_over_batch_size", "mean", True),
    ("sparse_categorical_crossentropy", "mean_with_sample_weight", "mean", True),
])
def test_torch_weighted_losses_give_the_reference_loss(loss, weighted_reduction, reduction, by_sample):
    spec = _spec(loss, weighted_reduction, reduction)
    rng = np.random.default_rng(0)
    z, labels = rng.normal(size=(12, 10)), rng.integers(0, 10, 12)
    y = labels if loss.startswith("sparse") else np.eye(10)[labels]
    sw = rng.uniform(0.25, 2.0, 12) if by_sample else None
    w = weighting.row_weights(spec, y, sw)
    from reference.losses import LOSSES

    expected = weighting.reduce(LOSSES[loss].per_sample(z, y), reduction, w, weighted_reduction)
    t = torch.from_numpy
    cw = t(np.asarray(spec.training.class_weight))
    got = torch_losses.weighted_loss(spec.loss, t(z), None, t(y), None if by_sample else cw,
                                     None if sw is None else t(sw), t(labels))
    assert abs(float(got) - expected) <= 16 * 2.0**-53 * abs(expected)


def test_a_class_weighted_spec_round_trips_and_bad_weights_are_named():
    spec = S.load("coverage_class_weights")
    assert spec.training.class_weight[9] == 4.0 and S.from_dict(S.to_dict(spec)) == spec
    d = S.to_dict(spec)
    d["training"]["class_weight"] = [1.0] * 11
    with pytest.raises(SpecError, match="training.class_weight: 11 weights for the 10 classes of digits"):
        S.from_dict(d)
    d = S.to_dict(S.load("regression_sigmoid10"))
    d["training"]["class_weight"] = [1.0]
    with pytest.raises(SpecError, match="regression target, it has no classes to weight"):
        S.from_dict(d)


class _IgnoresSampleWeights(TorchImplementation):
    name = "torch-ignores-sample-weights"

    def loss_and_grads(self, h, x, y, masks=None, sample_weight=None):
        return super().loss_and_grads(h, x, y, masks)

    def step(self, h, x, y, masks=None, sample_weight=None):
        return super().step(h, x, y, masks)


class _DividesByRows(TorchImplementation):
    """Class weights applied as (w * l).sum() / N, where the spec (torch's weight= on labels) divides by sum(w)."""

    name = "torch-divides-by-rows"

    def _loss_on(self, h, x, y, masks=None, sample_weight=None):
        import dataclasses

        spec = h.spec
        h.spec = dataclasses.replace(spec, loss=dataclasses.replace(spec.loss, weighted_reduction="sum_over_batch_size"))
        try:
            return super()._loss_on(h, x, y, masks, sample_weight)
        finally:
            h.spec = spec


@pytest.mark.parametrize("impl, spec, hint", [
    (_IgnoresSampleWeights(), "coverage_training", "the rows unweighted"),
    (_DividesByRows(), "coverage_class_weights", "the weighted sum divided by the number of rows"),
])
def test_weights_dropped_or_divided_by_the_wrong_count_fail_the_gradients_with_the_hint_that_names_it(impl, spec, hint):
    sel = runner.Selection([spec], [impl.name], ["float64"], ["cpu"], ["forward", "grads"])
    out = {o.check: o for o in runner.run(sel, lambda name: InProcess(impl))}
    assert out["forward"].status == "pass" and out["grads"].status == "fail", out["grads"]
    assert any(hint in h for h in out["grads"].hints), out["grads"].hints


def test_an_implementation_without_supports_is_not_given_weights():
    class DenseOnly:
        name = "dense-only"

    from reference.checks.calls import declined

    assert "weights its rows" in declined(DenseOnly(), S.load("coverage_class_weights"))
