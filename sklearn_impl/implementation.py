"""scikit-learn's MLP behind the implementation protocol (``reference/implementation.py``).

One ``MLPClassifier`` or ``MLPRegressor`` per handle (``mapping.task``), holding the canonical weights in its
``coefs_`` (the kernels, already in the canonical (fan_in, fan_out) layout) and ``intercepts_``. A step is
``partial_fit`` on the batch with ``batch_size`` = its rows and no shuffling: one iteration of scikit-learn's own
loop, its own backpropagation and its own optimizer object, whose state carries over between calls. The forward
pass is ``predict_proba`` (``predict`` for a regressor); the loss, the gradients and the per-layer outputs come
from the private methods ``private.py`` names. ``mapping.py`` holds every convention that differs from the
reference's and the factor that maps it: alpha is set per batch (it scales with the batch's rows), the squared
loss's half is undone on the loss and gradients and, for the optimizer, in its rate or epsilon.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reference import spec as S
from reference.native import Native
from sklearn_impl import mapping, private

# Natively, as a user writes MLPClassifier(learning_rate_init=...) and nothing else: its solver defaults.
DEFAULTS = {"sgd": {"momentum": 0.9, "nesterovs_momentum": True}, "adam": {"epsilon": 1e-8}}


@dataclass
class SklearnHandle:
    spec: S.Spec
    estimator: object
    task: mapping.Task
    dtype: np.dtype
    native: frozenset = frozenset()

    @property
    def loss_scale(self) -> float:
        """s (``mapping.py``), or 1 where the squared loss is left as scikit-learn has it."""
        return 1.0 if Native.SKLEARN_SQUARED_LOSS in self.native else self.task.loss_scale


class SklearnImplementation:
    name = "sklearn"
    native_aspects = frozenset({Native.OPTIMIZER_DEFAULTS, Native.INIT_DEFAULTS, Native.SKLEARN_ALPHA,
                                Native.SKLEARN_SQUARED_LOSS})

    def available(self) -> str | None:
        return None

    def supports(self, spec) -> str | None:
        return mapping.declines(spec)

    def supports_check(self, check: str, spec) -> str | None:
        """A check it cannot answer for a spec it otherwise expresses."""
        if check == "large-logits" and mapping.task(spec).kind != "regression":
            return mapping.LOG_LOSS_CLIP
        return None

    def devices(self) -> list[str]:
        return ["cpu"]

    def build(self, spec, weights, *, dtype, device, native: frozenset = frozenset()) -> SklearnHandle:
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        if device != "cpu":
            raise RuntimeError("scikit-learn computes on the CPU only")
        t, native = mapping.task(spec), frozenset(native)
        scale = 1.0 if Native.SKLEARN_SQUARED_LOSS in native else t.loss_scale
        hidden = spec.layers[:-1]
        kind = MLPRegressor if t.kind == "regression" else MLPClassifier
        est = kind(hidden_layer_sizes=tuple(layer.units for layer in hidden),
                   activation=mapping.ACTIVATIONS[hidden[0].activation.name] if hidden else "identity",
                   alpha=0.0, shuffle=False, tol=0.0, n_iter_no_change=np.inf,
                   **mapping.optimizer_arguments(spec.optimizer, scale))
        if Native.OPTIMIZER_DEFAULTS in native:
            est.set_params(**DEFAULTS[est.solver])
        units = [spec.n_inputs] + [layer.units for layer in spec.layers]
        classes = None if t.kind == "regression" else np.arange(units[-1] if t.kind == "multiclass" else 2)
        y0 = np.zeros((1, units[-1]), dtype=bool if classes is not None else dtype)
        private.initialize(est, y0, classes, spec.n_inputs, units, np.dtype(dtype))
        if Native.INIT_DEFAULTS not in native:  # natively, the weights _init_coef drew (random_state 0)
            for i in range(len(spec.layers)):
                est.coefs_[i][...] = weights[2 * i]
                est.intercepts_[i][...] = weights[2 * i + 1]
        return SklearnHandle(spec, est, t, np.dtype(dtype), native)

    # ---- the targets as scikit-learn takes them ----

    def _labels(self, h: SklearnHandle, y: np.ndarray) -> np.ndarray:
        """What ``partial_fit`` takes: class labels (one-hot rows read by their argmax), or a regressor's values."""
        if h.task.kind == "regression":
            return np.asarray(y, dtype=h.dtype)[:, 0]
        if y.ndim == 1:
            return y
        return y.argmax(axis=1) if h.task.kind == "multiclass" else y[:, 0].astype(np.int64)

    def _targets(self, h: SklearnHandle, y: np.ndarray) -> np.ndarray:
        """What ``_backprop`` takes: the label binarizer's indicator rows, or a regressor's (N, 1) values."""
        labels = self._labels(h, y)
        if h.task.kind == "regression":
            return labels.reshape(-1, 1)
        return h.estimator._label_binarizer.transform(labels).astype(bool)

    def _rows(self, h: SklearnHandle, x: np.ndarray) -> None:
        """alpha for a batch of these rows (``mapping.alpha``; natively, the spec's l2 itself)."""
        native = Native.SKLEARN_ALPHA in h.native
        h.estimator.alpha = h.spec.layers[0].l2 if native else mapping.alpha(h.spec, len(x), h.loss_scale)

    # ---- the protocol ----

    def forward(self, h, x):
        est, x = h.estimator, np.asarray(x, dtype=h.dtype)
        if h.task.kind == "regression":
            return est.predict(x).reshape(-1, 1)
        p = est.predict_proba(x)
        return p[:, 1:] if h.task.kind == "binary" else p

    def layer_outputs(self, h, x):
        return [a.copy() for a in private.forward_pass(h.estimator, np.asarray(x, dtype=h.dtype))]

    def loss_and_grads(self, h, x, y):
        x = np.asarray(x, dtype=h.dtype)
        self._rows(h, x)
        loss, coef_grads, intercept_grads = private.backprop(h.estimator, x, self._targets(h, y))
        s = h.loss_scale
        grads = [g * s for pair in zip(coef_grads, intercept_grads) for g in pair]
        return loss * s, grads

    def step(self, h, x, y):
        x = np.asarray(x, dtype=h.dtype)
        self._rows(h, x)
        h.estimator.batch_size = len(x)
        h.estimator.partial_fit(x, self._labels(h, y))
        return self.weights(h)

    def weights(self, h):
        est = h.estimator
        return [t.copy() for pair in zip(est.coefs_, est.intercepts_) for t in pair]
