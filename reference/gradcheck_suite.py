"""What ``nnparity gradcheck`` checks: every bundled spec, and every activation x loss pair.

The grid builds, for each activation f, a network 64 -> 8 f -> 8 f -> K on the first 16 real
digits (pixels / 16), with l2 = 0.01 on every kernel and non-zero biases (so BP2 runs through f
twice and BP3, BP4 and the L2 term all enter), and closes it with each loss and its output layer:

* categorical / sparse categorical cross-entropy with a softmax output (K = 10);
* binary cross-entropy with a sigmoid output (K = 1, target: even digit);
* mse with a linear output, half_sse with a sigmoid output (one-hot targets, K = 10);
* mse with f itself as the output activation (softmax included: its Jacobian-vector product).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference import datasets
from reference import spec as S
from reference.activations import ACTIVATIONS
from reference.gradcheck import GradcheckResult, gradcheck
from reference.masks import dropout_masks
from reference.network import Network

GRID_ROWS = 16
# The parameters an activation needs in the grid (leaky_relu has no default slope; an elu with
# alpha != 1 has a kink the check must handle).
GRID_ACTIVATION_PARAMS = {"leaky_relu": {"alpha": 0.1}, "elu": {"alpha": 0.5}}
# column label -> (loss, output activation or None for "the row's activation", outputs, reduction, target)
GRID_COLUMNS = {
    "cce/softmax": ("categorical_crossentropy", "softmax", 10, "mean", "digit"),
    "sparse/softmax": ("sparse_categorical_crossentropy", "softmax", 10, "sum", "digit"),
    "bce/sigmoid": ("binary_crossentropy", "sigmoid", 1, "mean", "even"),
    "mse/linear": ("mse", "linear", 10, "mean", "digit"),
    "half_sse/sigmoid": ("half_sse", "sigmoid", 10, "sum", "digit"),
    "mse/same": ("mse", None, 10, "mean", "digit"),
}


@dataclass(frozen=True)
class GridCell:
    activation: str
    column: str
    result: GradcheckResult


def grid_spec(activation: str, column: str) -> S.Spec:
    loss, out_act, outputs, reduction, target = GRID_COLUMNS[column]
    act = S.Activation(activation, GRID_ACTIVATION_PARAMS.get(activation, {}))
    out = act if out_act is None else S.Activation(out_act)
    hidden = dict(kernel_init=S.Initializer("glorot_uniform"), bias_init=S.Initializer("normal", {"std": 0.1}), l2=0.01)
    return S.validate(S.Spec(
        name=f"grid-{activation}-{column.replace('/', '-')}", description="gradcheck grid", source=S.Source(""),
        seed=1, dtype="float64", input_shape=(64,),
        layers=(S.Layer(8, act, **hidden), S.Layer(8, act, **hidden), S.Layer(outputs, out, **hidden)),
        loss=S.Loss(loss, reduction), optimizer=S.Optimizer("sgd", {"learning_rate": 0.1}),
        training=S.Training(S.Dataset("digits", {"target": target, "divide_by": 16.0}), batch_size=GRID_ROWS),
    ))


def check_spec(spec: S.Spec, rows: int, label: str | None = None) -> GradcheckResult:
    """Finite differences on the spec's first ``rows`` training rows, in training mode (the masks of step 0)."""
    data = datasets.for_spec(spec, dtype=np.float64)
    net = Network(spec, dtype="float64")
    return gradcheck(net, data.x_train[:rows], data.y_train[:rows], label=label or spec.name,
                     masks=dropout_masks(spec, 0, rows))


def grid() -> list[GridCell]:
    return [GridCell(a, c, check_spec(grid_spec(a, c), GRID_ROWS)) for a in ACTIVATIONS for c in GRID_COLUMNS]


def bundled(names: list[str] | None = None, rows: int = 8) -> list[GradcheckResult]:
    return [check_spec(S.load(n), rows) for n in (names or S.bundled_names())]
