"""The reference checks itself: finite differences for every activation x loss and every bundled spec."""
import numpy as np
import pytest

from reference import activations
from reference import spec as S
from reference.gradcheck import THRESHOLD
from reference.gradcheck_suite import GRID_COLUMNS, bundled, check_spec, grid, grid_spec


def test_every_activation_and_loss_passes():
    cells = grid()
    assert len(cells) == len(activations.ACTIVATIONS) * len(GRID_COLUMNS)
    worst = max(c.result.worst.rel_err for c in cells)
    assert worst < 1e-7, worst  # measured 1.6e-8 (softmax hidden layer); threshold 1e-6


@pytest.mark.parametrize("name", S.bundled_names())
def test_bundled_spec_passes(name):
    (result,) = bundled([name])
    assert result.passed, result.worst
    assert sum(t.checked for t in result.tensors) > 0


def test_a_wrong_derivative_is_caught(monkeypatch):
    good = activations.ACTIVATIONS["tanh"]
    broken = activations.ActivationFn(good.forward, lambda z, a: 1 - a)  # forgot to square
    monkeypatch.setitem(activations.ACTIVATIONS, "tanh", broken)
    result = check_spec(grid_spec("tanh", "cce/softmax"), 16)
    assert not result.passed
    assert result.worst.rel_err > 1e-2


def test_kink_crossings_are_skipped_not_miscounted():
    spec = grid_spec("relu", "mse/linear")
    result = check_spec(spec, 16)
    assert result.passed
    assert all(t.checked + t.skipped_kinks > 0 for t in result.tensors)
    assert THRESHOLD == 1e-6
    assert np.isfinite(result.worst.rel_err)
