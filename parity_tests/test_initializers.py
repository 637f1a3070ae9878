import math

import numpy as np
import pytest

from reference import spec as S
from reference.initializers import INITIALIZERS, TRUNCATION_STD
from reference.weights import init_weights, tensor_names, tensor_shapes


def draw(name, shape=(400, 600), **params):
    return INITIALIZERS[name](shape, shape[0], shape[1], np.random.default_rng(0), **params)


@pytest.mark.parametrize("name, limit", [("glorot_uniform", math.sqrt(6 / 1000)), ("he_uniform", math.sqrt(6 / 400)),
                                         ("lecun_uniform", math.sqrt(3 / 400)), ("torch_linear", 1 / math.sqrt(400))])
def test_uniform_limits(name, limit):
    w = draw(name)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.999 * limit


def test_keras_truncated_normal_variant():
    # divergences.md 1c: GlorotNormal(400 x 600): std ~0.0447, max |w| / sigma_raw = 2.0000.
    w = draw("glorot_normal", variant="keras")
    sigma = math.sqrt(2 / 1000)
    assert np.abs(w).max() <= 2 * sigma / TRUNCATION_STD
    assert w.std() == pytest.approx(sigma, rel=0.01)
    assert np.abs(w).max() / (sigma / TRUNCATION_STD) > 1.999


def test_torch_plain_normal_variant_is_not_truncated():
    w = draw("he_normal", variant="torch")
    assert w.std() == pytest.approx(math.sqrt(2 / 400), rel=0.01)
    assert np.abs(w).max() > 3 * math.sqrt(2 / 400)


def test_weights_are_reproducible_and_in_canonical_order():
    spec = S.load("digits_sigmoid50")
    a, b = init_weights(spec), init_weights(spec)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert tensor_names(spec) == ["layers[0].kernel", "layers[0].bias", "layers[1].kernel", "layers[1].bias"]
    assert [w.shape for w in a] == tensor_shapes(spec) == [(64, 50), (50,), (50, 10), (10,)]
    assert np.all(a[1] == 0.01) and np.all(a[3] == 0.01)
    # The kernels are the first two draws of the spec's generator: constant biases consume nothing.
    rng = np.random.default_rng(spec.seed)
    assert np.array_equal(a[0], rng.standard_normal((64, 50)))
    assert np.array_equal(a[2], rng.standard_normal((50, 10)))


def test_no_bias_layers_have_no_bias_tensor():
    spec = S.load("fashion_sigmoid400_numpy")
    assert tensor_names(spec) == ["layers[0].kernel", "layers[1].kernel"]
    assert [w.shape for w in init_weights(spec)] == [(785, 400), (400, 10)]
