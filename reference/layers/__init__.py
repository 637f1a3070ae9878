"""Layer kinds, as a name -> kind table beside ``ACTIVATIONS``: each declares its tensors (trainable or state),
its forward pass in training and inference mode, its backward pass (the VJP, derived in its docstring), and
what the tolerance policy, the operand scales and the flop count need from it (``base.LayerKind``).

A new kind is one module here and one entry below, one spec dataclass in ``reference/spec.py`` with its
fields in ``FIELDS``, and one builder per adapter (torch_impl/model.py, keras_impl/model.py).
"""
from __future__ import annotations

from reference.layers.base import LayerKind, TensorSpec
from reference.layers.batch_norm import BatchNorm
from reference.layers.dense import Dense
from reference.layers.dropout import Dropout
from reference.layers.layer_norm import LayerNorm
from reference.params import Param, choice, number

KINDS: dict[str, LayerKind] = {"dense": Dense(), "batch_norm": BatchNorm(), "dropout": Dropout(), "layer_norm": LayerNorm()}

# The spec fields of the kinds other than dense (whose fields reference/spec_parse.py reads itself); the
# initializers (gamma_init, beta_init) are read as named initializers, as a dense layer's kernel_init.
_EPSILON = number(1e-3, min=0, min_open=True)
FIELDS: dict[str, dict[str, Param]] = {
    "batch_norm": {"momentum": number(0.99, min=0, max=1, max_open=True), "epsilon": _EPSILON,
                   "running_variance": choice(("biased", "unbiased"), "biased"), "l2": number(0.0, min=0),
                   "replica_statistics": choice(("global", "per-replica"), "global")},
    "dropout": {"rate": number(min=0, max=1, max_open=True)},
    "layer_norm": {"epsilon": _EPSILON, "l2": number(0.0, min=0)},
}
INITIALIZER_FIELDS: dict[str, dict[str, str]] = {
    "batch_norm": {"gamma_init": "ones", "beta_init": "zeros"},
    "dropout": {},
    "layer_norm": {"gamma_init": "ones", "beta_init": "zeros"},
}


def kind(layer) -> LayerKind:
    return KINDS[layer.type]


__all__ = ["KINDS", "FIELDS", "INITIALIZER_FIELDS", "LayerKind", "TensorSpec", "kind"]
