import numpy as np
import pytest

from reference.activations import sigmoid, softmax
from reference.losses import LOSSES


def test_softmax_cross_entropy_gradient_is_p_minus_onehot(digits):
    x, labels = digits
    rng = np.random.default_rng(0)
    z = x @ rng.normal(size=(64, 10))  # logits from real digits
    y = np.eye(10)[labels]
    assert np.allclose(LOSSES["categorical_crossentropy"].gradient(z, y), softmax(z) - y, rtol=0, atol=1e-15)
    assert np.allclose(LOSSES["sparse_categorical_crossentropy"].gradient(z, labels), softmax(z) - y, rtol=0, atol=1e-15)
    cce = LOSSES["categorical_crossentropy"].per_sample(z, y)
    assert np.allclose(LOSSES["sparse_categorical_crossentropy"].per_sample(z, labels), cce, rtol=1e-14)
    assert np.allclose(cce, -np.log(softmax(z)[np.arange(64), labels]), rtol=1e-12)


def test_cross_entropies_from_logits_do_not_clip():
    # divergences.md 1b: logits (30, 0, -30), target class 3 -> 60 (TF backend, torch CE); Keras jax/torch clip to 16.118.
    z = np.array([[30.0, 0.0, -30.0]])
    assert LOSSES["categorical_crossentropy"].per_sample(z, np.array([[0.0, 0.0, 1.0]]))[0] == pytest.approx(60.0, rel=1e-15)
    # logit 40, y = 0 -> 40 (TF backend, BCEWithLogits), where Keras's clip gives 15.942 and BCELoss's clamp 100.
    assert LOSSES["binary_crossentropy"].per_sample(np.array([[40.0]]), np.array([[0.0]]))[0] == pytest.approx(40.0, rel=1e-15)


def test_binary_cross_entropy_value_and_gradient():
    z = np.array([[-2.0, 0.5], [3.0, -0.1]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    p = sigmoid(z)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p), axis=1)
    assert np.allclose(LOSSES["binary_crossentropy"].per_sample(z, y), expected, rtol=1e-14)
    assert np.allclose(LOSSES["binary_crossentropy"].gradient(z, y), (p - y) / 2, rtol=1e-14)


def test_squared_errors():
    a = np.array([[1.0, 2.0], [0.0, -1.0]])
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert LOSSES["mse"].per_sample(a, y).tolist() == [2.5, 2.5]
    assert LOSSES["half_sse"].per_sample(a, y).tolist() == [2.5, 2.5]
    assert LOSSES["mse"].gradient(a, y).tolist() == [[1.0, 2.0], [-1.0, -2.0]]
    assert LOSSES["half_sse"].gradient(a, y).tolist() == [[1.0, 2.0], [-1.0, -2.0]]
