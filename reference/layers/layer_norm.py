r"""Layer normalization over the features of each row (Ba, Kiros and Hinton, 2016), the same in training and
inference:

.. math::
    \mu_n = \tfrac1W \textstyle\sum_j a_{nj}, \quad \sigma_n^2 = \tfrac1W \sum_j (a_{nj} - \mu_n)^2, \quad
    \hat a_n = (a_n - \mu_n)(\sigma_n^2 + \epsilon)^{-1/2}, \quad y_n = \gamma \odot \hat a_n + \beta

Backward, per row, the batch-normalization VJP with the roles of rows and features exchanged
(:math:`\hat g = g \odot \gamma`, :math:`r_n = (\sigma_n^2 + \epsilon)^{-1/2}`, W features):

.. math::
    \partial C/\partial a_n = \tfrac{r_n}{W}\Big(W \hat g_n - \textstyle\sum_j \hat g_{nj} - \hat a_n \sum_j \hat g_{nj} \hat a_{nj}\Big),
    \quad \partial C/\partial\gamma = \sum_n g_n \odot \hat a_n, \quad \partial C/\partial\beta = \sum_n g_n
"""
from __future__ import annotations

import numpy as np

from reference.layers.base import LayerKind, TensorSpec


class LayerNorm(LayerKind):
    name = "layer_norm"

    def tensors(self, layer, width_in):
        shape = (width_in,)
        return [TensorSpec("gamma", shape, layer.gamma_init, l2=layer.l2), TensorSpec("beta", shape, layer.beta_init, l2=layer.l2)]

    def forward(self, layer, p, a, *, training, mask=None, buffer=None):
        mu = a.mean(axis=1, keepdims=True)
        d = a - mu
        r = 1.0 / np.sqrt((d * d).mean(axis=1, keepdims=True) + layer.epsilon)
        x_hat = d * r
        return p["gamma"] * x_hat + p["beta"], (x_hat, r, mu, d)

    def backward(self, layer, p, cache, g):
        x_hat, r, _, _ = cache
        w = g.shape[1]
        g_hat = g * p["gamma"]
        grads = {"gamma": (g * x_hat).sum(axis=0), "beta": g.sum(axis=0)}
        return (r / w) * (w * g_hat - g_hat.sum(axis=1, keepdims=True) - x_hat * (g_hat * x_hat).sum(axis=1, keepdims=True)), grads

    def forward_magnitude(self, layer, p, cache, m_in):
        x_hat, r, mu, d = cache
        excess = np.maximum(m_in + np.abs(mu) - np.abs(d), 0)
        return np.abs(p["gamma"] * x_hat + p["beta"]) + np.abs(p["gamma"]) * r * excess

    def backward_magnitude(self, layer, p, cache, m_g, m_in):
        x_hat, r, _, _ = cache
        grads = {"gamma": np.sqrt(np.sum((m_g * x_hat) ** 2, axis=0)), "beta": np.sqrt(np.sum(m_g ** 2, axis=0))}
        m_hat = m_g * np.abs(p["gamma"])
        return r * (m_hat + m_hat.mean(axis=1, keepdims=True) + np.abs(x_hat) * (m_hat * np.abs(x_hat)).mean(axis=1, keepdims=True)), grads

    def reduction(self, layer, width_in, batch):
        return width_in

    def flops(self, layer, width_in, batch, first):
        return 20 * batch * width_in
