"""Spec -> a torch model holding the canonical weights and state: one builder per layer kind (``BUILDERS``).

Each spec layer is one module in ``TorchModel.layers``; the model returns the output logits z^L and applies
the output activation separately (``head``), so the cross-entropies are computed from the logits as the
reference does. Each builder writes its kind's layout transform once, in ``LAYOUT``: the canonical tensor
name -> the module's attribute, and whether it crosses transposed:

* dense: ``nn.Linear`` (``kernel`` = ``weight`` transposed, ``bias``), then the activation module;
* batch_norm: ``nn.BatchNorm1d`` (``gamma`` = ``weight``, ``beta`` = ``bias``, state ``moving_mean`` =
  ``running_mean``, ``moving_variance`` = ``running_var``), torch's momentum = 1 - the spec's (Keras's);
* dropout: ``GivenMaskDropout``, which multiplies by the oracle's mask (torch's own ``nn.Dropout`` only in
  native mode ``OWN_DROPOUT``);
* layer_norm: ``nn.LayerNorm`` (``gamma`` = ``weight``, ``beta`` = ``bias``).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from reference.native import Native
from reference.spec import Spec

DTYPES = {"float32": torch.float32, "float64": torch.float64}

# torch's Softplus returns x itself above `threshold` (default 20). Above 40, log1p(exp(-x)) < 5e-18 is
# below half an ulp of x in float64 and float32, so threshold 40 computes log(1 + e^x) exactly as the
# reference's logaddexp does. Native mode keeps torch's default (the divergence table measures it).
SOFTPLUS_EXACT_THRESHOLD = 40.0


def _simple(cls):
    return lambda params, native: cls()


ACTIVATIONS = {
    "sigmoid": _simple(nn.Sigmoid), "tanh": _simple(nn.Tanh), "relu": _simple(nn.ReLU), "silu": _simple(nn.SiLU),
    "linear": _simple(nn.Identity),
    "leaky_relu": lambda p, native: nn.LeakyReLU() if Native.LEAKY_RELU_DEFAULT in native else nn.LeakyReLU(negative_slope=p["alpha"]),
    "elu": lambda p, native: nn.ELU(alpha=p["alpha"]),
    "gelu": lambda p, native: nn.GELU(approximate=p["approximate"]),
    "softplus": lambda p, native: nn.Softplus() if Native.SOFTPLUS_DEFAULT in native else nn.Softplus(threshold=SOFTPLUS_EXACT_THRESHOLD),
    "softmax": lambda p, native: nn.Softmax(dim=-1),
}


def activation_module(name: str, params: dict, native: frozenset = frozenset()) -> nn.Module:
    return ACTIVATIONS[name](params, native)


class Dense(nn.Module):
    """A Linear and its activation; the output layer's activation is the model's ``head`` instead."""

    def __init__(self, linear: nn.Linear, activation: nn.Module | None):
        super().__init__()
        self.linear, self.activation = linear, activation

    def forward(self, x):
        z = self.linear(x)
        return z if self.activation is None else self.activation(z)


class BiasedBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose running variance follows the *biased* batch variance (Keras's convention).

    torch updates ``running_var <- (1 - mt) running_var + mt * var_unbiased``; this subtracts the difference,
    ``mt * var_unbiased / N`` = ``mt (var_unbiased - var_biased)``, after torch's own update."""

    def forward(self, x):
        out = super().forward(x)
        if self.training and self.track_running_stats:
            with torch.no_grad():  # new storage: autograd saved the old running_var for backward
                self.running_var.data = self.running_var - x.var(dim=0, unbiased=True) * (self.momentum / x.shape[0])
        return out


class GivenMaskDropout(nn.Module):
    """Inverted dropout with the oracle's keep-mask: ``x * mask / (1 - rate)`` in training, ``x`` in inference."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate, self.mask = rate, None

    def forward(self, x):
        if not self.training:
            return x
        if self.mask is None:
            raise RuntimeError("dropout in training mode needs the oracle's mask")
        return x * (self.mask.to(x.dtype) * (1.0 / (1.0 - self.rate)))


def _dense(layer, width, last, native, to):
    linear = nn.Linear(width, layer.units, bias=layer.use_bias, **to)
    act = None if last else activation_module(layer.activation.name, layer.activation.params, native)
    return Dense(linear, act)


def _batch_norm(layer, width, last, native, to):
    # torch's momentum weighs the batch statistic (moving = (1 - m) moving + m batch): Keras's 1 - momentum.
    momentum = 0.1 if Native.BATCH_NORM_MOMENTUM in native else 1.0 - layer.momentum
    eps = 1e-5 if Native.BATCH_NORM_EPSILON in native else layer.epsilon
    biased = layer.running_variance == "biased" and Native.BATCH_NORM_VARIANCE not in native
    return (BiasedBatchNorm1d if biased else nn.BatchNorm1d)(width, eps=eps, momentum=momentum, **to)


def _dropout(layer, width, last, native, to):
    return nn.Dropout(layer.rate) if Native.OWN_DROPOUT in native else GivenMaskDropout(layer.rate)


def _layer_norm(layer, width, last, native, to):
    eps = 1e-5 if Native.LAYER_NORM_DEFAULTS in native else layer.epsilon
    return nn.LayerNorm(width, eps=eps, **to)


# kind -> builder(layer, width_in, is_output, native aspects, dtype/device) -> module
BUILDERS = {"dense": _dense, "batch_norm": _batch_norm, "dropout": _dropout, "layer_norm": _layer_norm}
# kind -> canonical tensor name -> (the module's attribute, transposed?)
LAYOUT = {
    "dense": {"kernel": ("linear.weight", True), "bias": ("linear.bias", False)},
    "batch_norm": {"gamma": ("weight", False), "beta": ("bias", False), "moving_mean": ("running_mean", False),
                   "moving_variance": ("running_var", False)},
    "dropout": {},
    "layer_norm": {"gamma": ("weight", False), "beta": ("bias", False)},
}


class TorchModel(nn.Module):
    def __init__(self, spec: Spec, layers: list[nn.Module], head: nn.Module):
        super().__init__()
        self.spec, self.layers, self.head = spec, nn.ModuleList(layers), head

    def prepare(self, training: bool, masks: dict | None) -> None:
        """Training or inference mode, and each dropout layer's mask (tensors by ``layers[i]``)."""
        self.train(training)
        for i, module in enumerate(self.layers):
            if isinstance(module, GivenMaskDropout):
                module.mask = None if masks is None else masks.get(f"layers[{i}]")

    def logits(self, x, *, training: bool = False, masks: dict | None = None):
        """z^L, in training or inference mode, with the given dropout masks."""
        self.prepare(training, masks)
        return self(x)

    def forward(self, x):
        """z^L in the mode ``prepare`` set: what ``DistributedDataParallel`` calls (torch_impl/replicated.py)."""
        for module in self.layers:
            x = module(x)
        return x

    def tensor(self, layer: int, name: str) -> torch.Tensor:
        attr, _ = LAYOUT[self.spec.layers[layer].type][name]
        obj = self.layers[layer]
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj


def _tensors(spec: Spec, trainable: bool) -> list[tuple[int, str]]:
    from reference.weights import layer_tensors

    return [(i, t.name) for i, t in layer_tensors(spec) if t.trainable == trainable]


def build(spec: Spec, weights: list[np.ndarray], dtype: str, device: str, native: frozenset = frozenset()) -> TorchModel:
    """The model holding ``weights`` (and the starting state); native ``INIT_DEFAULTS`` keeps torch's own
    initialisation (seeded with the spec's seed) instead of copying ``weights`` in."""
    to = dict(dtype=DTYPES[dtype], device=device)
    if Native.INIT_DEFAULTS in native:
        torch.manual_seed(spec.seed)
    modules, width = [], spec.n_inputs
    for i, layer in enumerate(spec.layers):
        modules.append(BUILDERS[layer.type](layer, width, i == len(spec.layers) - 1, native, to))
        width = layer.units if layer.type == "dense" else width
    out = spec.output_layer.activation
    model = TorchModel(spec, modules, activation_module(out.name, out.params, native).to(**to))
    if Native.INIT_DEFAULTS not in native:
        set_weights(model, weights)
    return model


def set_weights(model: TorchModel, weights: list[np.ndarray]) -> None:
    with torch.no_grad():
        for (i, name), w in zip(_tensors(model.spec, True), weights):
            t = model.tensor(i, name)
            transposed = LAYOUT[model.spec.layers[i].type][name][1]
            t.copy_(torch.from_numpy(np.ascontiguousarray(w.T if transposed else w)))


def parameters(model: TorchModel) -> list[torch.Tensor]:
    """The trainable tensors, in the canonical order (what the optimizer gets)."""
    return [model.tensor(i, name) for i, name in _tensors(model.spec, True)]


def canonical(model: TorchModel, grads: bool = False, state: bool = False) -> list[np.ndarray]:
    """Weights (their .grad, or the state) in the canonical layout: a kernel is weight.T."""
    out = []
    for i, name in _tensors(model.spec, not state):
        t = model.tensor(i, name)
        t = t.grad if grads else t
        transposed = LAYOUT[model.spec.layers[i].type][name][1]
        out.append((t.detach().T if transposed else t.detach()).contiguous().cpu().numpy().copy())
    return out


def state_snapshot(model: TorchModel) -> list[torch.Tensor]:
    """The state and BatchNorm's step counter, to restore after a training-mode pass that must change nothing."""
    return [b.detach().clone() for b in model.buffers()]


def restore(model: TorchModel, snapshot: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for b, saved in zip(model.buffers(), snapshot):
            b.copy_(saved)
