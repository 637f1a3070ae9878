"""Spec -> ``torch.nn.Sequential`` holding the canonical weights.

The body ends with the output ``Linear`` (its logits); the output activation is a separate
``head``, so the cross-entropies can be computed from the logits as the reference does.
``Linear.weight`` is (out, in): the canonical kernel is copied in transposed.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from reference.spec import Spec
from reference.weights import by_layer

DTYPES = {"float32": torch.float32, "float64": torch.float64}

# torch's Softplus returns x itself above `threshold` (default 20). Above 40, log1p(exp(-x)) < 5e-18 is
# below half an ulp of x in float64 and float32, so threshold 40 computes log(1 + e^x) exactly as the
# reference's logaddexp does. Native mode keeps torch's default (the divergence table measures it).
SOFTPLUS_EXACT_THRESHOLD = 40.0


def activation_module(name: str, params: dict, native: frozenset = frozenset()) -> nn.Module:
    if name == "leaky_relu":
        return nn.LeakyReLU() if "leaky-relu-default" in native else nn.LeakyReLU(negative_slope=params["alpha"])
    if name == "elu":
        return nn.ELU(alpha=params["alpha"])
    if name == "gelu":
        return nn.GELU(approximate=params["approximate"])
    if name == "softplus":
        return nn.Softplus() if "softplus-default" in native else nn.Softplus(threshold=SOFTPLUS_EXACT_THRESHOLD)
    if name == "softmax":
        return nn.Softmax(dim=-1)
    return {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "silu": nn.SiLU, "linear": nn.Identity}[name]()


def build(spec: Spec, weights: list[np.ndarray], dtype: str, device: str, native: frozenset = frozenset()):
    """(body, head): body maps x to the output logits z^L, head maps z^L to a^L.

    Native ``init-defaults`` keeps torch's own initialisation (seeded with the spec's seed) instead of
    copying ``weights`` in.
    """
    to = dict(dtype=DTYPES[dtype], device=device)
    if "init-defaults" in native:
        torch.manual_seed(spec.seed)
    body = []
    for i, ((fan_in, fan_out), layer, (kernel, bias)) in enumerate(zip(spec.layer_sizes(), spec.layers, by_layer(spec, weights))):
        # Created in the run's dtype: copying float64 weights into a float32 Linear would round them.
        linear = nn.Linear(fan_in, fan_out, bias=layer.use_bias, **to)
        if "init-defaults" not in native:
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
                if bias is not None:
                    linear.bias.copy_(torch.from_numpy(bias))
        body.append(linear)
        if i < len(spec.layers) - 1:
            body.append(activation_module(layer.activation.name, layer.activation.params, native))
    last = spec.layers[-1].activation
    head = activation_module(last.name, last.params, native)
    return nn.Sequential(*body), head.to(**to)


def linears(body: nn.Sequential) -> list[nn.Linear]:
    return [m for m in body if isinstance(m, nn.Linear)]


def canonical(body: nn.Sequential, grads: bool = False) -> list[np.ndarray]:
    """Weights (or their .grad) in the canonical layout: kernel = weight.T."""
    out = []
    for lin in linears(body):
        w = lin.weight.grad if grads else lin.weight
        out.append(w.detach().T.contiguous().cpu().numpy().copy())
        if lin.bias is not None:
            b = lin.bias.grad if grads else lin.bias
            out.append(b.detach().cpu().numpy().copy())
    return out
