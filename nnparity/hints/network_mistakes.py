"""Networks with one mistake each: what an implementation with that mistake answers for a check.

Each ``Mistake`` is the reference with one thing changed — an activation's parameter, approximation or
derivative, the loss's reduction or scaling, the L2 term, clipped probabilities, a constant rounded
through float32 — and computes, on the case's own float64 inputs, the answers (forward, loss,
gradients) that such an implementation gives. The engine (``hints/__init__.py``) offers a mistake's
text only when those answers explain the implementation's within the check's tolerance, where the
correct reference's do not. ``mistakes(spec, dtype)`` lists the ones that can differ on that spec.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reference import activations as A
from reference import losses as Lo
from reference import spec as S
from reference import weighting
from reference.checks import Case, collect
from reference.checks import keys as K
from reference.implementation import NumpyImplementation
from reference.network import Network
from reference.weights import layer_of

NETWORK_CHECKS = frozenset({"forward", "loss", "grads", "large-logits"})
KERAS_CLIP = 1e-7  # keras.backend.epsilon(): Keras clips probabilities to [eps, 1 - eps] when not from logits


@dataclass(frozen=True)
class Mistake:
    key: str
    text: str
    checks: frozenset[str]
    answers: Callable[[Case, str], dict]  # the mistaken network's answers to a check on the (float64) case
    nonfinite: bool = False  # judged by where it overflows (its answers are NaN/inf where the impl's are)


class _Mistaken(NumpyImplementation):
    """The reference network built from an edited spec and edited function tables."""

    def __init__(self, edit: Callable[[S.Spec], S.Spec] = lambda s: s, activations: dict = A.ACTIVATIONS,
                 losses: dict = Lo.LOSSES):
        self.edit, self.activations, self.losses = edit, activations, losses

    def build(self, spec, weights, *, dtype, device):
        return Network(self.edit(spec), weights, dtype=dtype, activations=self.activations, losses=self.losses)


def _net(**kw) -> Callable[[Case, str], dict]:
    impl = _Mistaken(**kw)
    return lambda case, check: collect(impl, case, check)


def _layers(spec: S.Spec, f: Callable[[S.Layer], S.Layer]) -> S.Spec:
    """``spec`` with ``f`` applied to each dense layer."""
    return dataclasses.replace(spec, layers=tuple(f(layer) if layer.type == "dense" else layer for layer in spec.layers))


def _dense(spec: S.Spec) -> list[S.Layer]:
    return [layer for layer in spec.layers if layer.type == "dense"]


def _l2s(spec: S.Spec) -> list[float]:
    """Every layer's L2 factor (dense kernels, normalization gamma and beta)."""
    return [getattr(layer, "l2", 0.0) for layer in spec.layers]


def _with_l2(spec: S.Spec, f: Callable[[float], float]) -> S.Spec:
    return dataclasses.replace(spec, layers=tuple(dataclasses.replace(layer, l2=f(layer.l2)) if hasattr(layer, "l2") else layer
                                                  for layer in spec.layers))


def _with_activation_params(name: str, **params) -> Callable[[S.Spec], S.Spec]:
    def edit(spec):
        return _layers(spec, lambda l: dataclasses.replace(l, activation=S.Activation(name, {**l.activation.params, **params}))
                       if l.activation.name == name else l)
    return edit


def _differs(spec: S.Spec, name: str, param: str, value) -> bool:
    """Whether setting ``param`` to ``value`` in every ``name`` layer changes the spec."""
    return any(l.activation.name == name and l.activation.params.get(param) != value for l in _dense(spec))


def _stated(spec: S.Spec, name: str, param: str) -> str:
    return " and ".join(str(v) for v in dict.fromkeys(l.activation.params[param] for l in _dense(spec) if l.activation.name == name))


def _table(name: str, **fields) -> dict:
    return {**A.ACTIVATIONS, name: dataclasses.replace(A.ACTIVATIONS[name], **fields)}


# ---- the data term and the penalty, scaled apart ------------------------------------------------

_NO_L2 = _Mistaken(edit=lambda spec: _with_l2(spec, lambda l2: 0.0))
_REFERENCE = NumpyImplementation()


def _scaled(data: float, penalty: float) -> Callable[[Case, str], dict]:
    """Loss and gradients as ``data`` x the data term + ``penalty`` x the L2 term."""
    def answers(case, check):
        full, bare = collect(_REFERENCE, case, check), collect(_NO_L2, case, check)
        out = dict(full)
        for key in full:
            if key == K.LOSS or key.startswith(K.grad("")):
                out[key] = data * np.asarray(bare[key]) + penalty * (np.asarray(full[key]) - np.asarray(bare[key]))
        return out
    return answers


def _bias_terms(zero: bool) -> Callable[[Case, str], dict]:
    """Bias gradients all zero (BP3 missing), or with an L2 term l2 * sum(b^2) of their layer's l2."""
    def answers(case, check):
        out = dict(collect(_REFERENCE, case, check))
        weights = case.large_weights if check == "large-logits" else case.weights
        for name, w in zip(case.names, weights):
            layer = case.spec.layers[layer_of(name)]
            if not name.endswith(".bias"):
                continue
            b = np.asarray(w, dtype=np.float64)
            if zero:
                out[K.grad(name)] = np.zeros_like(b)
            elif layer.l2:
                out[K.grad(name)] = out[K.grad(name)] + 2 * layer.l2 * b
                out[K.LOSS] = np.asarray(float(out[K.LOSS]) + layer.l2 * float(np.sum(b * b)))
        return out
    return answers


def _scaling_mistakes(spec: S.Spec, rows: int) -> list[Mistake]:
    out, n, d = [], rows, spec.outputs
    checks = frozenset({"loss", "grads", "large-logits"})
    if spec.loss.reduction == "mean":
        out.append(Mistake("batch-sum", f"the data loss summed over the batch where the spec averages it (reduction "
                           f"'mean'): every data term N = {n} times too large", checks, _scaled(n, 1)))
    else:
        out.append(Mistake("batch-mean", f"the data loss averaged over the batch where the spec sums it (reduction "
                           f"'sum'): every data term 1/N = 1/{n} of the reference's", checks, _scaled(1 / n, 1)))
    averages_outputs = d > 1 and spec.loss.name in ("mse", "binary_crossentropy")
    sums_outputs = d > 1 and spec.loss.name == "half_sse"
    half = ["the gradient of (a - y)^2 written as (a - y)", "a 1/2 C = 1/2 sum (a - y)^2 where the loss has none"]
    double = ["2 (a - y) where the loss is 1/2 (a - y)^2", "a gradient counted twice"]
    # A factor equal to the number of outputs is one mistake with several readings: one hint lists them all.
    if averages_outputs:
        (double if d == 2 else []).append(f"the loss summed over the {d} outputs, where {spec.loss.name} averages over them")
        if d != 2:
            out.append(Mistake("outputs-sum", f"the loss summed over the {d} outputs where {spec.loss.name} (Keras, the "
                               f"reference) averages over them: a factor {d}", checks, _scaled(d, 1)))
    if sums_outputs:
        (half if d == 2 else []).append(f"the half sum of squares averaged over the {d} outputs, where it sums them")
        if d != 2:
            out.append(Mistake("outputs-mean", f"the half sum of squares averaged over the {d} outputs where it sums "
                               f"them: a factor 1/{d}", checks, _scaled(1 / d, 1)))
    out.append(Mistake("half", "the data term half the reference's: a factor 1/2 (" + "; or ".join(half) + ")",
                       checks, _scaled(0.5, 1)))
    out.append(Mistake("double", "the data term twice the reference's: a factor 2 (" + "; or ".join(double) + ")",
                       checks, _scaled(2, 1)))
    if any(_l2s(spec)):
        out += [
            Mistake("l2-missing", "the L2 term missing (the data loss alone)", frozenset({"grads", "large-logits"}),
                    _scaled(1, 0)),
            Mistake("l2-half", "the L2 term half the reference's: its gradient l2 W instead of 2 l2 W (the derivative "
                    "of l2 sum W^2), or a penalty l2/2 sum W^2 (L2 factor?)", checks, _scaled(1, 0.5)),
            Mistake("l2-double", "the L2 term twice the reference's (its gradient 4 l2 W: counted twice; L2 factor?)",
                    checks, _scaled(1, 2)),
            Mistake("l2-per-row", f"the L2 term divided by the batch size N = {n} (scikit-learn's alpha / n_samples): "
                    "the spec's l2 is per batch", checks, _scaled(1, 1 / n)),
            Mistake("l2-on-bias", "an L2 term on the biases too (the spec puts l2 on the kernels only)", checks,
                    _bias_terms(zero=False)),
        ]
    if any(layer.use_bias for layer in _dense(spec)):
        out.append(Mistake("no-bias-gradient", "the bias gradients all zero: BP3 (dC/db = sum_n delta_n) not computed",
                           frozenset({"grads", "large-logits"}), _bias_terms(zero=True)))
    return out


def _loss_penalty_missing(spec: S.Spec) -> list[Mistake]:
    if not any(_l2s(spec)):
        return []
    return [Mistake("loss-without-penalty", "the loss reported without its L2 penalty (the gradients include it)",
                    frozenset({"loss"}), _scaled(1, 0))]


# ---- activations: parameters, approximations, derivatives -----------------------------------------

def _relu_derivative_at_zero(value: float):
    return lambda z, a: np.where(z > 0, 1.0, np.where(z == 0, value, 0.0)).astype(z.dtype)


def _softplus_threshold(threshold: float):
    def forward(z):
        return np.where(z > threshold, z, np.logaddexp(0, np.minimum(z, threshold))).astype(z.dtype, copy=False)

    def derivative(z, a):
        return np.where(z > threshold, 1.0, A.sigmoid(z)).astype(z.dtype)

    return forward, derivative


def _activation_mistakes(spec: S.Spec, dtype: str) -> list[Mistake]:
    used = {layer.activation.name: layer.activation.params for layer in _dense(spec)}
    out: list[Mistake] = []
    grads = frozenset({"grads", "large-logits"})
    network = NETWORK_CHECKS
    if "sigmoid" in used:
        out.append(Mistake("sigmoid-derivative", "sigmoid'(z) computed as a instead of a (1 - a)", grads,
                           _net(activations=_table("sigmoid", derivative=lambda z, a: a))))
    if "tanh" in used:
        out.append(Mistake("tanh-derivative", "tanh'(z) computed as 1 - z^2 instead of 1 - a^2", grads,
                           _net(activations=_table("tanh", derivative=lambda z, a: 1 - z * z))))
    if "relu" in used:
        for value, why in ((1.0, "z >= 0"), (0.5, "jnp.maximum's subgradient")):
            out.append(Mistake(f"relu-zero-{value}", f"relu'(0) = {value:g} ({why}) where the reference, torch and "
                               "TensorFlow take 0: a pre-activation exactly 0 passes gradient", grads,
                               _net(activations=_table("relu", derivative=_relu_derivative_at_zero(value)))))
    if "leaky_relu" in used:
        for other, who in ((0.01, "torch's default"), (0.2, "keras.activations' default"), (0.3, "keras.layers.LeakyReLU's default")):
            if _differs(spec, "leaky_relu", "alpha", other):
                out.append(Mistake(f"leaky-{other}", f"leaky_relu with slope {other} ({who}) where the spec says "
                                   f"{_stated(spec, 'leaky_relu', 'alpha')}", network,
                                   _net(edit=_with_activation_params("leaky_relu", alpha=other))))
        alphas = {layer.activation.params["alpha"] for layer in _dense(spec) if layer.activation.name == "leaky_relu"}
        if dtype == "float64" and any(float(np.float32(a)) != a for a in alphas):
            out.append(Mistake("leaky-float32", "leaky_relu's slope rounded through float32 (TensorFlow's LeakyRelu op "
                               "keeps it in a C++ float)", network, _net(edit=lambda s: _layers(s, lambda l: dataclasses.replace(
                                   l, activation=S.Activation("leaky_relu", {"alpha": float(np.float32(l.activation.params["alpha"]))}))
                                   if l.activation.name == "leaky_relu" else l))))
    if "elu" in used and _differs(spec, "elu", "alpha", 1.0):
        out.append(Mistake("elu-default", f"elu with alpha 1 (the frameworks' default) where the spec says "
                           f"{_stated(spec, 'elu', 'alpha')}", network, _net(edit=_with_activation_params("elu", alpha=1.0))))
    if "gelu" in used:
        what = {"tanh": "the tanh approximation", "none": "the exact erf form"}
        for form in ("tanh", "none"):
            if _differs(spec, "gelu", "approximate", form):
                out.append(Mistake(f"gelu-{form}", f"gelu computed with {what[form]} in every gelu layer, where the spec "
                                   f"says {_stated(spec, 'gelu', 'approximate')}", network,
                                   _net(edit=_with_activation_params("gelu", approximate=form))))
    if "softplus" in used:
        forward, derivative = _softplus_threshold(20.0)
        out.append(Mistake("softplus-threshold", "softplus returning z itself above 20 (torch's nn.Softplus default "
                           "threshold) where the reference computes log(1 + e^z) everywhere", network,
                           _net(activations=_table("softplus", forward=forward, derivative=derivative))))
    return out


# ---- the loss on probabilities: clipping and overflow ------------------------------------------------

def _clipped_cce(eps: float, sparse: bool) -> Lo.LossFn:
    def probabilities(z, y):
        p = A.softmax(z)
        y = np.eye(z.shape[-1])[y] if sparse else y
        return np.clip(p, eps, 1 - eps), y, p

    def per_sample(z, y):
        pc, y, _ = probabilities(z, y)
        return -np.sum(y * np.log(pc), axis=-1)

    def gradient(z, y):
        pc, y, p = probabilities(z, y)
        inside = (p > eps) & (p < 1 - eps)  # the clip passes no gradient where it bites
        g = -y * inside / pc  # dC/dp
        return p * (g - np.sum(g * p, axis=-1, keepdims=True))

    return Lo.LossFn(per_sample, gradient, "softmax", "labels" if sparse else "onehot")


def _clipped_bce(eps: float) -> Lo.LossFn:
    def per_sample(z, y):
        p = np.clip(A.sigmoid(z), eps, 1 - eps)
        return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=-1)

    def gradient(z, y):
        s = A.sigmoid(z)
        p = np.clip(s, eps, 1 - eps)
        inside = (s > eps) & (s < 1 - eps)
        return inside * (-(y / p) + (1 - y) / (1 - p)) * s * (1 - s) / z.shape[-1]

    return Lo.LossFn(per_sample, gradient, "sigmoid", "values")


def _naive_softmax(z):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)


def _log_of_probabilities(name: str) -> Lo.LossFn:
    """The cross-entropy as -log of unshifted, unclipped probabilities (overflows where the reference's does not)."""
    def per_sample(z, y):
        with np.errstate(all="ignore"):
            if name == "binary_crossentropy":
                p = 1 / (1 + np.exp(-z))
                return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=-1)
            p = _naive_softmax(z)
            y = np.eye(z.shape[-1])[y] if y.ndim == 1 else y
            return -np.sum(y * np.log(p), axis=-1)

    def gradient(z, y):
        with np.errstate(all="ignore"):
            if name == "binary_crossentropy":
                return (1 / (1 + np.exp(-z)) - y) / z.shape[-1]
            p = _naive_softmax(z)
            y = np.eye(z.shape[-1])[y] if y.ndim == 1 else y
            return p * y.sum(-1, keepdims=True) - y

    base = Lo.LOSSES[name]
    return Lo.LossFn(per_sample, gradient, base.link, base.targets)


def _loss_mistakes(spec: S.Spec) -> list[Mistake]:
    name, out = spec.loss.name, []
    large = frozenset({"large-logits"})
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        loss = _clipped_cce(KERAS_CLIP, name.startswith("sparse"))
        out.append(Mistake("clip-probabilities", f"the cross-entropy computed from probabilities clipped to "
                           f"[{KERAS_CLIP:g}, 1 - {KERAS_CLIP:g}] (Keras without from_logits=True, on jax and torch), not "
                           "from the logits", large, _net(losses={**Lo.LOSSES, name: loss})))
    if name == "binary_crossentropy":
        out.append(Mistake("clip-probabilities", f"binary cross-entropy computed from probabilities clipped to "
                           f"[{KERAS_CLIP:g}, 1 - {KERAS_CLIP:g}] (Keras without from_logits=True), not from the logits",
                           large, _net(losses={**Lo.LOSSES, name: _clipped_bce(KERAS_CLIP)})))
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy"):
        out.append(Mistake("unshifted", "non-finite values where the reference is finite, exactly where exp() "
                           "overflows: a softmax without its max shift, or a cross-entropy taken as log of probabilities",
                           NETWORK_CHECKS, _net(activations=_table("softmax", forward=_naive_softmax),
                                                losses={**Lo.LOSSES, name: _log_of_probabilities(name)}), nonfinite=True))
    elif spec.output_layer.activation.name == "softmax":
        out.append(Mistake("unshifted", "non-finite values where the reference is finite, exactly where exp() overflows: "
                           "a softmax without its max shift", NETWORK_CHECKS,
                           _net(activations=_table("softmax", forward=_naive_softmax)), nonfinite=True))
    return out


# ---- constants rounded through float32 in a float64 run ---------------------------------------------

def _gelu_float32(z, approximate):
    c = lambda v: float(np.float32(v))
    if approximate == "tanh":
        return c(0.5) * z * (1 + np.tanh(c(math.sqrt(2 / math.pi)) * (z + c(0.044715) * z**3)))
    from scipy import special

    return c(0.5) * z * (1 + special.erf(z * c(1 / math.sqrt(2))))


def _float32_constant_mistakes(spec: S.Spec, dtype: str) -> list[Mistake]:
    if dtype != "float64":
        return []
    out = []
    l2s = [v for v in _l2s(spec) if v]
    if any(float(np.float32(v)) != v for v in l2s):
        out.append(Mistake("l2-float32", "the L2 factor rounded through float32 (" + ", ".join(
            f"{v:g} -> {float(np.float32(v))!r}" for v in dict.fromkeys(l2s)) + "): a Python float cast to the dtype "
            "through a float32 constant (TensorFlow, tensorflow#35938)?", frozenset({"loss", "grads", "large-logits"}),
            _net(edit=lambda s: _with_l2(s, lambda v: float(np.float32(v))))))
    if any(layer.activation.name == "gelu" for layer in _dense(spec)):
        out.append(Mistake("gelu-float32", "gelu's constants (sqrt(2/pi), 0.044715, 1/sqrt(2)) in float32 (tf.nn.gelu "
                           "casts them so)", NETWORK_CHECKS, _net(activations=_table("gelu", forward=_gelu_float32))))
    return out


class _Unweighted(_Mistaken):
    """The weights dropped: no class weights, and the sample weights given are ignored."""

    def __init__(self):
        super().__init__(edit=lambda spec: dataclasses.replace(spec, training=dataclasses.replace(spec.training, class_weight=None)))

    def loss_and_grads(self, net, x, y, masks=None, sample_weight=None):
        return super().loss_and_grads(net, x, y, masks=masks)

    def step(self, net, x, y, masks=None, sample_weight=None):
        return super().step(net, x, y, masks=masks)


def _weighting_mistakes(spec: S.Spec) -> list[Mistake]:
    """Under sample or class weights: the other weighted mean (what torch's weighted loss and Keras's default divide
    by are not the same), or no weights at all."""
    if not weighting.weighted(spec):
        return []
    checks = frozenset({"loss", "grads", "large-logits"})
    out = [Mistake("weights-ignored", "the rows unweighted: the sample or class weights not applied", checks, _net_of(_Unweighted()))]
    if spec.loss.reduction == "mean":
        other = "mean_with_sample_weight" if spec.loss.weighted_reduction == "sum_over_batch_size" else "sum_over_batch_size"
        meaning = {"sum_over_batch_size": "divided by the number of rows (Keras's sum_over_batch_size)",
                   "mean_with_sample_weight": "divided by the sum of the weights (torch's weighted CrossEntropyLoss, "
                                              "Keras's mean_with_sample_weight)"}
        edit = lambda spec: dataclasses.replace(spec, loss=dataclasses.replace(spec.loss, weighted_reduction=other))
        out.append(Mistake("weighted-mean", f"the weighted sum {meaning[other]}, where the spec's weighted_reduction is "
                           f"{spec.loss.weighted_reduction!r}", checks, _net(edit=edit)))
    return out


def _net_of(impl) -> Callable[[Case, str], dict]:
    return lambda case, check: collect(impl, case, check)


def mistakes(spec: S.Spec, dtype: str, rows: int) -> list[Mistake]:
    """Every network mistake that can show on ``spec`` in a ``dtype`` run with ``rows`` rows in the check batch."""
    return (_scaling_mistakes(spec, rows) + _loss_penalty_missing(spec) + _activation_mistakes(spec, dtype)
            + _loss_mistakes(spec) + _float32_constant_mistakes(spec, dtype) + _weighting_mistakes(spec))
