"""Closed-form steps, and the divergence catalog's tiny-gradient numbers for the epsilon conventions."""
import math

import numpy as np
import pytest

from reference.optimizers import HYPERPARAMETERS, make_optimizer
from reference.params import resolve


def opt(name, **given):
    problems = []
    hyper = resolve("optimizer", given, HYPERPARAMETERS[name], problems)
    assert not problems
    return make_optimizer(name, hyper)


def one_step(name, g, w=0.0, **hyper):
    o = opt(name, **hyper)
    p = [np.array([w])]
    o.update(p, [np.array([g])])
    return p[0][0] - w


def test_sgd_and_momentum_closed_forms():
    assert one_step("sgd", 2.0, learning_rate=0.1) == pytest.approx(-0.2)
    o = opt("momentum", learning_rate=0.1, momentum=0.9)
    p = [np.zeros(1)]
    for _ in range(2):
        o.update(p, [np.ones(1)])
    assert p[0][0] == pytest.approx(-(0.1 * 1 + 0.1 * 1.9))  # b1 = 1, b2 = 1.9
    o = opt("nesterov", learning_rate=0.1, momentum=0.9)
    p = [np.zeros(1)]
    o.update(p, [np.ones(1)])
    assert p[0][0] == pytest.approx(-0.1 * (1 + 0.9))


@pytest.mark.parametrize("mode, expected", [("keras", -2.4025e-4), ("torch", -9.0909e-4)])
def test_adam_epsilon_modes_on_a_tiny_gradient(mode, expected):
    # divergences.md 1a: g = 1e-6, one step, lr 1e-3, eps 1e-7 -> Keras -2.4025e-4, torch -9.09e-4.
    step = one_step("adam", 1e-6, learning_rate=1e-3, epsilon=1e-7, eps_mode=mode)
    assert step == pytest.approx(expected, rel=1e-4)


def test_adam_modes_agree_when_epsilon_hat_is_scaled():
    # eps_keras = eps_torch * sqrt(1 - beta2^t): exact at t = 1.
    eps = 1e-7
    torch_step = one_step("adam", 1e-6, learning_rate=1e-3, epsilon=eps, eps_mode="torch")
    keras_step = one_step("adam", 1e-6, learning_rate=1e-3, epsilon=eps * math.sqrt(1 - 0.999), eps_mode="keras")
    assert keras_step == pytest.approx(torch_step, rel=1e-12)


def test_rmsprop_and_adagrad_epsilon_placement():
    # RMSprop, g = 1e-6, rho 0.9, lr 1e-3, eps 1e-7: keras lr g / sqrt(0.1 g^2 + eps), torch lr g / (sqrt(0.1 g^2) + eps).
    g = 1e-6
    assert one_step("rmsprop", g, learning_rate=1e-3, epsilon=1e-7, eps_mode="keras") == pytest.approx(-1e-3 * g / math.sqrt(0.1 * g * g + 1e-7))
    assert one_step("rmsprop", g, learning_rate=1e-3, epsilon=1e-7, eps_mode="torch") == pytest.approx(-1e-3 * g / (math.sqrt(0.1) * g + 1e-7))
    # Adagrad with Keras's defaults (acc0 0.1, eps 1e-7): -3.16e-9 for g = 1e-6 (divergences.md 1a).
    assert one_step("adagrad", g) == pytest.approx(-3.1623e-9, rel=1e-4)
    # torch's defaults (acc0 0, eps 1e-10, lr 1e-2): -1e-2.
    assert one_step("adagrad", g, learning_rate=1e-2, initial_accumulator=0.0, epsilon=1e-10, eps_mode="torch") == pytest.approx(-1e-2, rel=1e-3)


def test_centered_rmsprop_with_momentum_two_steps():
    rho, lr, mu, eps = 0.9, 0.01, 0.5, 1e-7
    o = opt("rmsprop", learning_rate=lr, rho=rho, epsilon=eps, centered=True, momentum=mu)
    p, w, v, mg, b = [np.zeros(1)], 0.0, 0.0, 0.0, 0.0
    for g in (1.0, -2.0):
        o.update(p, [np.array([g])])
        v = rho * v + (1 - rho) * g * g
        mg = rho * mg + (1 - rho) * g
        b = mu * b + g / math.sqrt(v - mg * mg + eps)
        w -= lr * b
    assert p[0][0] == pytest.approx(w, rel=1e-14)


def test_adamw_decays_before_the_step():
    o = opt("adamw", learning_rate=0.1, weight_decay=0.5)
    p = [np.array([2.0])]
    o.update(p, [np.array([0.0])])  # zero gradient: only the decay moves w
    assert p[0][0] == pytest.approx(2.0 * (1 - 0.1 * 0.5))
