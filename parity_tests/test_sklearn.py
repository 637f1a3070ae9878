"""scikit-learn as the fourth framework: the private parts its adapter uses still behave as assumed, the mapping's
factors are the ones scikit-learn's code implies, what it cannot express is declined with the reason, and a port
that misses one convention fails with a hint that names it."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import log_loss

from nnparity import runner
from parity_tests.plugins import sklearn_mistakes as SM
from reference import spec as S
from reference.checks import make_case
from reference.implementation import NumpyImplementation
from reference.network import Network
from reference.worker import InProcess
from sklearn_impl import mapping, private
from sklearn_impl.implementation import SklearnImplementation

ROOT = Path(__file__).resolve().parents[1]
SPEC = "digits_sigmoid50_sklearn"  # document 004's MLPClassifier: logistic, adam, one alpha on every kernel


@pytest.fixture(scope="module")
def case():
    return make_case(S.load(SPEC), "float64", steps=2)


def _handle(case, spec=None, **params):
    spec = spec or case.spec
    h = SklearnImplementation().build(spec, case.weights, dtype="float64", device="cpu")
    h.estimator.set_params(**params)
    return h


def test_initialize_then_the_weights_written_in_place_are_what_predict_proba_uses(case):
    h = _handle(case)
    est = h.estimator
    assert est.n_layers_ == 3 and est.out_activation_ == "softmax" and list(est.classes_) == list(range(10))
    assert [c.shape for c in est.coefs_] == [(64, 50), (50, 10)] and not hasattr(est, "_optimizer")
    expected = Network(case.spec, case.weights, dtype="float64").predict(case.x)
    np.testing.assert_allclose(est.predict_proba(case.x), expected, rtol=0, atol=1e-15)
    hidden, out = private.forward_pass(est, case.x)
    np.testing.assert_array_equal(out, est.predict_proba(case.x))
    np.testing.assert_allclose(hidden, 1 / (1 + np.exp(-(case.x @ case.weights[0] + case.weights[1]))), rtol=1e-14)


def test_backprop_is_the_mean_log_loss_plus_half_alpha_w_squared_over_n_and_its_gradient(case):
    """What ``mapping.alpha`` rests on: loss + 0.5 alpha sum W^2 / n, kernel gradient (a^T (p - y) + alpha W) / n."""
    h = _handle(case, alpha=0.3)
    est, n = h.estimator, len(case.x)
    labels = case.y.argmax(axis=1)
    loss, coef_grads, intercept_grads = private.backprop(est, case.x, est._label_binarizer.transform(labels).astype(bool))
    hidden, p = private.forward_pass(est, case.x)
    penalty = 0.5 * 0.3 * sum(float(np.sum(w * w)) for w in est.coefs_) / n
    assert loss == pytest.approx(log_loss(labels, p, labels=range(10)) + penalty, rel=1e-14)
    np.testing.assert_allclose(coef_grads[1], (hidden.T @ (p - case.y) + 0.3 * est.coefs_[1]) / n, rtol=1e-12)
    np.testing.assert_allclose(intercept_grads[1], (p - case.y).sum(axis=0) / n, rtol=1e-12)


def test_partial_fit_over_one_batch_is_one_step_of_its_own_optimizer(case):
    spec = dataclasses.replace(case.spec, optimizer=S.Optimizer("sgd", {"learning_rate": 0.1}))
    impl = SklearnImplementation()
    h = impl.build(spec, case.weights, dtype="float64", device="cpu")
    _, grads = impl.loss_and_grads(h, case.x, case.y)
    after = impl.step(h, case.x, case.y)
    first = private.optimizer(h.estimator)
    assert type(first).__name__ == "SGDOptimizer" and first.momentum == 0.0
    for w0, g, w1 in zip(case.weights, grads, after):
        np.testing.assert_array_equal(w1, w0 + (-(0.1 * g)))  # update = 0 * v - lr g; param += update
    impl.step(h, case.x, case.y)
    assert private.optimizer(h.estimator) is first  # its state carries over


@pytest.mark.parametrize("rows", [64, 37])
def test_alpha_scales_with_each_batch_and_the_loss_is_the_reference_s(case, rows):
    impl, ref = SklearnImplementation(), NumpyImplementation()
    h = impl.build(case.spec, case.weights, dtype="float64", device="cpu")
    loss, grads = impl.loss_and_grads(h, case.x[:rows], case.y[:rows])
    assert h.estimator.alpha == 2 * 2.5e-4 * rows
    ref_loss, ref_grads = ref.loss_and_grads(ref.build(case.spec, case.weights, dtype="float64", device="cpu"),
                                             case.x[:rows], case.y[:rows])
    assert loss == pytest.approx(ref_loss, rel=1e-14)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-16)


def test_the_squared_loss_is_half_the_spec_s_mse_and_the_mapping_doubles_it_back():
    spec = S.load("regression_sigmoid10")
    c = make_case(spec, "float64", steps=2)
    t = mapping.task(spec)
    assert t == mapping.Task("regression", 2.0)
    h = SklearnImplementation().build(spec, c.weights, dtype="float64", device="cpu")
    raw, _, _ = private.backprop(h.estimator, c.x, c.y)
    mse = float(np.mean((Network(spec, c.weights, dtype="float64").predict(c.x) - c.y) ** 2))
    assert raw == pytest.approx(mse / 2, rel=1e-14)
    assert SklearnImplementation().loss_and_grads(h, c.x, c.y)[0] == pytest.approx(mse, rel=1e-14)
    assert mapping.optimizer_arguments(spec.optimizer, t.loss_scale)["learning_rate_init"] == 2 * spec.optimizer.params["learning_rate"]


def _with(base: str, **changes) -> S.Spec:
    d = S.to_dict(S.load(base))
    for path, value in changes.items():
        *head, last = path.split("__")
        node = d
        for key in head:
            node = node[int(key)] if key.isdigit() else node[key]
        node[last] = value
    return S.from_dict(d)


@pytest.mark.parametrize("spec, reason", [
    (S.load("breast_cancer_relu10_bn"), "batch_norm layers: scikit-learn's MLP has dense layers only"),
    (S.load("breast_cancer_relu10"), "scikit-learn models two classes with one logistic unit"),
    (_with(SPEC, layers__0__l2=0.0), "per-layer L2 (0, 0.00025)"),
    (_with(SPEC, layers__0__use_bias=False), "every scikit-learn layer has an intercept"),
    (S.load("coverage_activations"), "different hidden activations"),
    (_with(SPEC, loss__reduction="sum"), "reduction = 'sum'"),
    (_with(SPEC, optimizer={"name": "rmsprop", "learning_rate": 0.01}), "the rmsprop optimizer"),
    (_with(SPEC, optimizer__eps_mode="torch"), "Adam with eps_mode = 'torch'"),
    (S.load("coverage_bce_multilabel"), "binary log loss sums over the outputs"),
    (S.load("coverage_relu_zero_mse"), "differ by the number of outputs"),
    (S.load("coverage_training"), "dense layers only"),
    (_with(SPEC, optimizer__clipvalue=1.0), "gradient clipping (clipvalue)"),
    (_with(SPEC, training__class_weight=[1.0] * 10), "weighted rows"),
    (_with(SPEC, training__early_stopping={"validation_split": 0.2}), "not Keras's rule"),
])
def test_what_it_cannot_express_is_declined_with_the_reason(spec, reason):
    why = SklearnImplementation().supports(spec)
    assert why is not None and reason in why, why


def _check(impl, spec: str, checks: list[str]) -> dict[str, runner.Outcome]:
    sel = runner.Selection([spec], [impl.name], ["float64"], ["cpu"], checks)
    return {o.check: o for o in runner.run(sel, lambda name: InProcess(impl))}


# (the port with one convention missed, spec, the check it fails, the hint naming the convention)
MISSED = [
    (SM.AlphaWithoutBatchSize, SPEC, "grads", "scikit-learn's alpha / n_samples"),
    (SM.DefaultMomentum, "digits_even_odd", "step-sgd", "scikit-learn's default for solver='sgd'"),
    (SM.DefaultEpsilon, "gates_xor", "step-adam", "Adam's epsilon 1e-08 (scikit-learn's and torch's default)"),
]


@pytest.mark.parametrize("cls, spec, check, hint", MISSED[1:], ids=[m[0].name for m in MISSED[1:]])
def test_a_missed_convention_fails_with_the_hint_that_names_it(cls, spec, check, hint):
    out = _check(cls(), spec, ["forward", check])
    assert out["forward"].status == "pass"
    o = out[check]
    assert o.status == "fail", o
    assert any(hint in h for h in o.hints), o.hints


def test_nnparity_check_names_the_alpha_convention_a_port_missed(tmp_path):
    """The same through the command a user runs: `nnparity check --impl module:Class`."""
    cls, spec, check, hint = MISSED[0]
    report = tmp_path / "check.json"
    cmd = [sys.executable, "-m", "nnparity.cli", "check", "--impl", f"{cls.__module__}:{cls.__name__}", "--spec", spec,
           "--dtype", "float64", "--json", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    cells = {o["check"]: o for o in json.loads(report.read_text())["outcomes"]}
    assert cells["forward"]["status"] == "pass" and cells[check]["status"] == "fail"
    assert any(hint in h for h in cells[check]["hints"]), cells[check]["hints"]
