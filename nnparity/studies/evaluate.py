"""The one evaluation every framework's weights get: the reference's forward pass, in float64.

Loss is what Keras's ``evaluate`` reports for the spec: the data loss with the spec's reduction plus
the kernels' L2 term. A network with batch normalization is evaluated in inference mode, with the moving
statistics ``state`` its framework trained (``None``: the starting state). Accuracy is the argmax (softmax outputs) or the 0.5 threshold (one sigmoid
output); a regression has none.
"""
from __future__ import annotations

import numpy as np

from reference.network import Network
from reference.spec import Spec


def predictions(spec: Spec, weights, x: np.ndarray, state=None) -> np.ndarray:
    return Network(spec, weights, dtype="float64", state=state).predict(np.asarray(x, dtype=np.float64))


def evaluate(spec: Spec, weights, x: np.ndarray, y: np.ndarray, labels: np.ndarray, state=None) -> dict:
    net = Network(spec, weights, dtype="float64", state=state)
    x = np.asarray(x, dtype=np.float64)
    y = y if y.dtype.kind in "iu" else np.asarray(y, dtype=np.float64)
    trace = net.forward(x)
    out = {"loss": net.loss(x, y, trace)}
    a = trace[-1][0]
    if spec.training.dataset.name != "regression":
        predicted = (a[:, 0] > 0.5).astype(int) if a.shape[1] == 1 else a.argmax(axis=1)
        out["accuracy"] = float(np.mean(predicted == labels))
    return out
