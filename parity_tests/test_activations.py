import math

import numpy as np
import pytest

from reference.activations import ACTIVATIONS, sigmoid, softmax


def deriv(name, z, **params):
    act = ACTIVATIONS[name]
    a = act.forward(z, **params)
    return act.backward(z, a, np.ones_like(z), **params)


def test_closed_forms_at_zero():
    z = np.zeros(1)
    assert deriv("sigmoid", z)[0] == 0.25
    assert deriv("tanh", z)[0] == 1.0
    assert deriv("relu", z)[0] == 0.0  # relu'(0) = 0, as torch, TF and jax.nn.relu
    assert deriv("leaky_relu", z, alpha=0.2)[0] == 0.2  # slope at 0, as torch and TF
    assert deriv("elu", z, alpha=0.5)[0] == 0.5
    assert deriv("silu", z)[0] == 0.5
    assert deriv("gelu", z, approximate="none")[0] == 0.5
    assert deriv("softplus", z)[0] == 0.5
    assert deriv("linear", z)[0] == 1.0


def test_gelu_values_match_the_frameworks():
    # torch F.gelu / keras.activations.gelu (exact) and keras.ops.gelu (tanh), from divergences.md 1d.
    one = np.ones(1)
    assert ACTIVATIONS["gelu"].forward(one, approximate="none")[0] == pytest.approx(0.8413447460685429, abs=1e-15)
    assert ACTIVATIONS["gelu"].forward(one, approximate="tanh")[0] == pytest.approx(0.8411919906082768, abs=1e-15)


def test_sigmoid_and_softplus_are_stable_in_the_tails():
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    s = sigmoid(z)
    assert np.all(np.isfinite(s)) and s[0] == 0.0 and s[-1] == 1.0
    assert s[1] == pytest.approx(math.exp(-40), rel=1e-15)
    sp = ACTIVATIONS["softplus"].forward(z)
    assert sp[-1] == 1000.0 and sp[0] == 0.0 and sp[3] == pytest.approx(40 + math.log1p(math.exp(-40)), rel=1e-16)


def test_softmax_rows_sum_to_one_and_ignore_shifts(digits):
    x, _ = digits
    z = x[:8] * 50.0  # logits up to 50: exp would overflow float32 without the max shift
    p = softmax(z)
    assert np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    assert np.array_equal(softmax(z + 1000.0), p) or np.allclose(softmax(z + 1000.0), p, rtol=1e-13)
    assert np.all(np.isfinite(softmax(np.array([[1e4, 0.0, -1e4]]))))


ELEMENTWISE = [(n, {}) for n in ACTIVATIONS if n not in ("softmax", "leaky_relu", "elu", "gelu")] + [
    ("leaky_relu", {"alpha": 0.1}), ("elu", {"alpha": 0.5}), ("elu", {"alpha": 1.0}),
    ("gelu", {"approximate": "none"}), ("gelu", {"approximate": "tanh"})]


@pytest.mark.parametrize("name, params", ELEMENTWISE)
def test_elementwise_derivative_matches_central_difference(name, params):
    z = np.linspace(-3, 3, 61) + 0.013  # avoids the kink at exactly 0
    h = 1e-6
    act = ACTIVATIONS[name]
    fd = (act.forward(z + h, **params) - act.forward(z - h, **params)) / (2 * h)
    assert np.max(np.abs(fd - deriv(name, z, **params))) < 1e-8


def test_softmax_vjp_is_the_jacobian_product():
    rng = np.random.default_rng(0)
    z, g = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    a = softmax(z)
    jac = np.stack([np.diag(r) - np.outer(r, r) for r in a])
    expected = np.einsum("nj,njk->nk", g, jac)
    assert np.allclose(ACTIVATIONS["softmax"].backward(z, a, g), expected, rtol=0, atol=1e-15)
