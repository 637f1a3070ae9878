"""Dropout masks, drawn by the oracle and given to every implementation: framework generators cannot be aligned.

The keep-mask of dropout layer i at step s, for a batch of ``rows`` rows, is

    numpy.random.default_rng([spec.seed, MASK_STREAM, s, i]).random((rows, width)) >= rate

(True: the unit is kept and scaled by 1 / (1 - rate)). Step s is the step's number in the run: the
single-batch checks use step 0 (and 1 for the second optimizer step), a trajectory its own step. Masks are
passed as ``{"layers[i]": mask}`` to ``forward(training=True)``, ``loss_and_grads`` and ``step``.
"""
from __future__ import annotations

import numpy as np

from reference.spec import Spec

MASK_STREAM = 7_411  # keeps the masks' random numbers apart from the weights' stream (default_rng(seed))
Masks = dict[str, np.ndarray]


def dropout_masks(spec: Spec, step: int, rows: int) -> Masks:
    out = {}
    for i, ((width, _), layer) in enumerate(zip(spec.layer_sizes(), spec.layers)):
        if layer.type == "dropout":
            rng = np.random.default_rng([spec.seed, MASK_STREAM, step, i])
            out[f"layers[{i}]"] = rng.random((rows, width)) >= layer.rate
    return out


def has_dropout(spec: Spec) -> bool:
    return any(layer.type == "dropout" for layer in spec.layers)
