r"""Batch normalization, per feature over the N rows of the batch (Ioffe and Szegedy, 2015).

Training mode normalizes with the batch's own statistics and moves the state toward them:

.. math::
    \mu = \tfrac1N \textstyle\sum_n a_n, \quad \sigma^2 = \tfrac1N \sum_n (a_n - \mu)^2 \ \text{(biased)}, \quad
    r = (\sigma^2 + \epsilon)^{-1/2}, \quad \hat a = (a - \mu)\, r, \quad y = \gamma \hat a + \beta

    \bar\mu \leftarrow m \bar\mu + (1 - m)\mu, \qquad
    \bar\sigma^2 \leftarrow m \bar\sigma^2 + (1 - m)\, s^2, \quad
    s^2 = \sigma^2 \text{ (running_variance = "biased", Keras) or } \tfrac{N}{N-1}\sigma^2 \text{ ("unbiased", torch)}

with Keras's momentum convention (m = 0.99 by default; torch's ``momentum`` is 1 - m). Inference mode uses
the state: :math:`\hat a = (a - \bar\mu)(\bar\sigma^2 + \epsilon)^{-1/2}`.

Backward in training mode (the VJP through the batch statistics): with :math:`\hat g = g\gamma`,

.. math::
    \partial C/\partial\gamma = \textstyle\sum_n g_n \hat a_n, \quad \partial C/\partial\beta = \sum_n g_n, \quad
    \partial C/\partial a = \tfrac{r}{N}\Big(N \hat g - \sum_n \hat g_n - \hat a \sum_n \hat g_n \hat a_n\Big)

(differentiate :math:`\hat a_n = (a_n - \mu) r` through :math:`\mu` and :math:`r`: :math:`\partial\mu/\partial a_k = 1/N`,
:math:`\partial r/\partial a_k = -r^3 (a_k - \mu)/N`). In inference mode the statistics are constants:
:math:`\partial C/\partial a = \hat g\,\bar r`.
"""
from __future__ import annotations

import numpy as np

from reference.layers.base import LayerKind, TensorSpec
from reference.spec import Initializer


class BatchNorm(LayerKind):
    name = "batch_norm"
    mode_dependent = True

    def tensors(self, layer, width_in):
        shape = (width_in,)
        return [TensorSpec("gamma", shape, layer.gamma_init, l2=layer.l2), TensorSpec("beta", shape, layer.beta_init, l2=layer.l2),
                TensorSpec("moving_mean", shape, Initializer("zeros"), trainable=False),
                TensorSpec("moving_variance", shape, Initializer("ones"), trainable=False)]

    def forward(self, layer, p, a, *, training, mask=None, buffer=None):
        if training:
            mu = a.mean(axis=0)
            d = a - mu
            var = (d * d).mean(axis=0)
        else:
            mu, var = p["moving_mean"], p["moving_variance"]
            d = a - mu
        r = 1.0 / np.sqrt(var + layer.epsilon)
        x_hat = d * r
        return p["gamma"] * x_hat + p["beta"], (training, x_hat, r, mu, var, d)

    def state_update(self, layer, p, cache):
        training, _, _, mu, var, d = cache
        if not training:
            return {}
        n, m = len(d), layer.momentum
        s2 = var * (n / (n - 1)) if layer.running_variance == "unbiased" and n > 1 else var
        return {"moving_mean": p["moving_mean"] * m + mu * (1 - m), "moving_variance": p["moving_variance"] * m + s2 * (1 - m)}

    def backward(self, layer, p, cache, g):
        training, x_hat, r, _, _, _ = cache
        grads = {"gamma": (g * x_hat).sum(axis=0), "beta": g.sum(axis=0)}
        g_hat = g * p["gamma"]
        if not training:
            return g_hat * r, grads
        n = len(g)
        return (r / n) * (n * g_hat - g_hat.sum(axis=0) - x_hat * (g_hat * x_hat).sum(axis=0)), grads

    def forward_magnitude(self, layer, p, cache, m_in):
        _, x_hat, r, mu, _, d = cache
        # a - mu errs by its operands (a's error scale, and mu's); only what |a - mu| does not show is excess
        excess = np.maximum(m_in + np.abs(mu) - np.abs(d), 0)
        return np.abs(p["gamma"] * x_hat + p["beta"]) + np.abs(p["gamma"]) * r * excess

    def backward_magnitude(self, layer, p, cache, m_g, m_in):
        training, x_hat, r, _, _, _ = cache
        grads = {"gamma": np.sqrt(np.sum((m_g * x_hat) ** 2, axis=0)), "beta": np.sqrt(np.sum(m_g ** 2, axis=0))}
        m_hat = m_g * np.abs(p["gamma"])
        if not training:
            return m_hat * r, grads
        # the three terms of N g_hat - sum g_hat - x_hat sum(g_hat x_hat), each by its operands
        return r * (m_hat + m_hat.mean(axis=0) + np.abs(x_hat) * (m_hat * np.abs(x_hat)).mean(axis=0)), grads

    def reduction(self, layer, width_in, batch):
        return batch

    def flops(self, layer, width_in, batch, first):
        return 20 * batch * width_in
