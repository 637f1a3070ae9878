"""scikit-learn's adapter with one of its mapping's conventions left out each (sklearn_impl/mapping.py): what a
user porting a model to MLPClassifier writes when they miss it. parity_tests/test_sklearn.py runs each through
``nnparity check`` and asserts the FAIL and the hint that names the convention."""
from __future__ import annotations

from sklearn_impl.implementation import SklearnImplementation


class AlphaWithoutBatchSize(SklearnImplementation):
    """alpha = 2 l2, forgetting that scikit-learn divides its penalty by the batch's rows."""

    name = "sklearn-alpha-without-n"

    def _rows(self, h, x):
        h.estimator.alpha = 2.0 * h.spec.layers[0].l2 / h.loss_scale


class DefaultMomentum(SklearnImplementation):
    """solver="sgd" with scikit-learn's defaults left on: momentum=0.9, nesterovs_momentum=True."""

    name = "sklearn-default-momentum"

    def build(self, spec, weights, *, dtype, device):
        h = super().build(spec, weights, dtype=dtype, device=device)
        h.estimator.set_params(momentum=0.9, nesterovs_momentum=True)
        return h


class DefaultEpsilon(SklearnImplementation):
    """solver="adam" with scikit-learn's default epsilon, 1e-8, whatever the spec says."""

    name = "sklearn-default-epsilon"

    def build(self, spec, weights, *, dtype, device):
        h = super().build(spec, weights, dtype=dtype, device=device)
        h.estimator.set_params(epsilon=1e-8)
        return h
