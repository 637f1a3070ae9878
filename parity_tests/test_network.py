import numpy as np
import pytest

from reference import datasets
from reference import spec as S
from reference.network import Network


def test_forward_matches_the_documents_matrix_form():
    spec = S.load("digits_sigmoid50")
    net = Network(spec)
    data = datasets.for_spec(spec)
    x = data.x_train[:5]
    w1, b1, w2, b2 = net.params
    a1 = 1 / (1 + np.exp(-(x @ w1 + b1)))
    z2 = a1 @ w2 + b2
    p = np.exp(z2 - z2.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.allclose(net.predict(x), p, rtol=0, atol=1e-15)


def test_summed_gradients_with_lambda_w_match_the_digits_document():
    # The NeuralNetwork class: grads summed over the batch, dW += lmbd * W (lmbd = 2 * l2).
    spec = S.load("digits_sigmoid50")
    net = Network(spec)
    data = datasets.for_spec(spec)
    x, y = data.x_train[:100], data.y_train[:100]
    w1, b1, w2, b2 = net.params
    a_h = 1 / (1 + np.exp(-(x @ w1 + b1)))
    z_o = a_h @ w2 + b2
    prob = np.exp(z_o - z_o.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    err_o = prob - y
    err_h = err_o @ w2.T * a_h * (1 - a_h)
    lmbd = 0.01
    expected = [x.T @ err_h + lmbd * w1, err_h.sum(0), a_h.T @ err_o + lmbd * w2, err_o.sum(0)]
    _, grads = net.loss_and_grads(x, y)
    for g, e in zip(grads, expected):
        assert np.max(np.abs(g - e)) <= 1e-12 * np.max(np.abs(e))


def test_sgd_step_is_w_minus_lr_grad():
    spec = S.load("regression_sigmoid10")
    net = Network(spec)
    data = datasets.for_spec(spec)
    x, y = data.x_train[:10], data.y_train[:10]
    before = net.weights()
    loss, grads = net.loss_and_grads(x, y)
    assert net.step(x, y) == loss
    for w0, g, w1 in zip(before, grads, net.params):
        assert np.array_equal(w1, w0 - 0.05 * g)


def test_float32_network_stays_float32_and_tracks_float64():
    spec = S.load("breast_cancer_relu10")
    data = datasets.for_spec(spec)
    x, y = data.x_train[:32], data.y_train[:32]
    n64 = Network(spec, dtype="float64")
    n32 = Network(spec, weights=[w.astype(np.float32) for w in n64.params], dtype="float32")
    l32, g32 = n32.loss_and_grads(x.astype(np.float32), y.astype(np.float32))
    l64, g64 = Network(spec, weights=n32.params, dtype="float64").loss_and_grads(x.astype(np.float32).astype(np.float64), y)
    assert all(g.dtype == np.float32 for g in g32)
    assert l32 == pytest.approx(l64, rel=1e-5)
    for a, b in zip(g32, g64):
        assert np.max(np.abs(a - b)) <= 1e-4 * np.max(np.abs(b))


def test_l2_penalty_enters_loss_once_per_batch():
    spec = S.load("breast_cancer_relu10")
    net = Network(spec)
    data = datasets.for_spec(spec)
    x, y = data.x_train[:10], data.y_train[:10]
    trace = net.forward(x)
    a, (_, z, _) = trace[-1]
    data_loss = np.mean(net.loss_fn.per_sample(z if net.loss_fn.link else a, y))
    penalty = 0.01 * (np.sum(net.params[0] ** 2) + np.sum(net.params[2] ** 2))
    assert net.loss(x, y) == pytest.approx(data_loss + penalty, rel=1e-14)
