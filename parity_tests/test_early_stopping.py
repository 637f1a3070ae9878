"""Early stopping: Keras's rule on sequences worked by hand, the spec's fields, and the oracle catching a loop that
stops an epoch late or forgets to restore the best weights."""
from __future__ import annotations

import dataclasses

import pytest

from nnparity import runner
from reference import spec as S
from reference.checks.calls import declined
from reference.early_stopping import Stopper, split
from reference.errors import SpecError
from reference.worker import InProcess
from torch_impl.implementation import TorchImplementation


def _stops(values, **rule) -> tuple[int | None, int | None]:
    s = Stopper(S.EarlyStopping(validation_split=0.2, **rule))
    for e, v in enumerate(values):
        if s.after_epoch(e, v, lambda e=e: e):
            break
    return s.stopped_epoch, s.best_epoch


def test_keras_rule_on_sequences_worked_by_hand():
    assert _stops([1.0, 1.0]) == (1, 0)  # patience 0: the first epoch without improvement stops, never epoch 0
    assert _stops([1.0, 0.9, 0.95, 0.96, 0.8], patience=2) == (3, 1)  # two epochs without beating 0.9
    assert _stops([1.0, 0.9995, 0.9990], min_delta=0.001, patience=1) == (1, 0)  # 0.0005 is no improvement
    s = Stopper(S.EarlyStopping(validation_split=0.2, restore_best_weights=True))
    for e, v in enumerate([3.0, 2.0, 2.5]):
        if s.after_epoch(e, v, lambda e=e: f"weights of epoch {e}"):
            break
    assert s.kept == "weights of epoch 1"
    assert split(256, S.EarlyStopping(validation_split=0.25)) == 192 and split(10, S.EarlyStopping(validation_split=0.33)) == 6


def test_the_spec_field_round_trips_and_its_errors_are_named():
    spec = S.load("coverage_softmax_half_sse")
    assert spec.training.early_stopping.patience == 2 and S.from_dict(S.to_dict(spec)) == spec
    d = S.to_dict(spec)
    d["training"]["early_stopping"]["validation_split"] = 1.5
    with pytest.raises(SpecError, match="training.early_stopping.validation_split: got 1.5"):
        S.from_dict(d)
    d = S.to_dict(spec)
    d["training"]["class_weight"] = [1.0] * 10
    with pytest.raises(SpecError, match="training.early_stopping: not with dropout layers, sample weights or class weights"):
        S.from_dict(d)


class _StopsLate(TorchImplementation):
    """patience counted from 0 after the reset: one epoch more than Keras's rule waits."""

    name = "torch-stops-late"

    def fit(self, h, x, y, epochs, x_val, y_val):
        spec = h.spec
        late = dataclasses.replace(spec.training.early_stopping, patience=spec.training.early_stopping.patience + 1)
        h.spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, early_stopping=late))
        try:
            return super().fit(h, x, y, epochs, x_val, y_val)
        finally:
            h.spec = spec


class _ForgetsToRestore(TorchImplementation):
    """The best state_dict kept but never loaded back: the last epoch's weights."""

    name = "torch-forgets-to-restore"

    def fit(self, h, x, y, epochs, x_val, y_val):
        original = h.model.load_state_dict
        h.model.load_state_dict = lambda state: None
        try:
            return super().fit(h, x, y, epochs, x_val, y_val)
        finally:
            h.model.load_state_dict = original


@pytest.mark.parametrize("impl, what", [
    (_StopsLate(), "the early-stopping rule on its own val_loss stops after epoch 4"),
    (_ForgetsToRestore(), "(final, in full)"),
])
def test_a_loop_that_stops_late_or_forgets_the_best_weights_fails(impl, what):
    sel = runner.Selection(["coverage_softmax_half_sse"], [impl.name], ["float64"], ["cpu"], ["early-stopping", "trajectory"])
    out = {o.check: o for o in runner.run(sel, lambda name: InProcess(impl))}
    assert out["trajectory"].status == "pass"
    o = out["early-stopping"]
    assert o.status == "fail", o
    assert what in (o.failure["problem"] or "") or what in o.failure["tensor"], o.failure


def test_an_implementation_without_fit_is_declined_for_that_check_only():
    class NoFit:
        name = "no-fit"

        def supports(self, spec):
            return None

    spec = S.load("coverage_softmax_half_sse")
    assert "has no fit(handle" in declined(NoFit(), spec)
    assert "stops early" in declined(type("Plain", (), {"name": "plain"})(), spec)
