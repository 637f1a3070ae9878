r"""The spec in scikit-learn's terms: every convention of its MLP (``sklearn/neural_network/``, 1.9) that differs
from the reference's, and the factor that maps it, written once. ``declines`` says what no mapping reaches.

**The task** fixes the output layer, as scikit-learn infers it from the targets: several classes, a softmax and
the log loss (the spec's softmax with categorical or sparse cross-entropy, three outputs or more: two classes are
one logistic unit there); one binary target, a logistic unit and the binary log loss (sigmoid with binary
cross-entropy, one output); a regression, the identity and the squared loss (a linear output, one value).

**The loss scale** :math:`s`: the spec's loss is :math:`s` times scikit-learn's. Its log losses are the mean
over the batch of the reference's per-row cross-entropy (:math:`s = 1`). Its squared loss is
:math:`\tfrac12\,\mathrm{mean}_{n,d}(y - a)^2` with the gradient :math:`(a - y)/N`: the spec's ``half_sse``
(:math:`\tfrac12 \sum_d`) for one output (:math:`s = 1`), half the spec's ``mse`` (:math:`s = 2`). With
:math:`D > 1` outputs the squared loss and its own gradient differ by the factor :math:`D`, and the binary log
loss sums over outputs where the spec means: declined.

**L2** (``_backprop``): scikit-learn adds :math:`\tfrac12 \alpha \sum \lVert W\rVert^2 / N` to its loss (N the
batch's rows) and :math:`\alpha W / N` to each kernel's gradient, never to an intercept, one :math:`\alpha` for
every layer. The spec's :math:`\lambda \sum \lVert W\rVert^2` on the spec's loss scale is
:math:`\alpha = 2 \lambda N / s`: set for each batch, since N changes with the last, short batch. The same
:math:`\alpha` at another batch size regularises differently.

**The optimizer** (``_stochastic_optimizers.py``) steps on scikit-learn's own gradient, :math:`1/s` of the
spec's: its rate is :math:`s \eta` (SGD, momentum, Nesterov) and Adam's epsilon :math:`\hat\epsilon / s`
(Adam is invariant to the gradient's scale but for its epsilon). Both factors are powers of two, so the steps are
the spec's to the last bit. SGD is ``momentum = 0`` (scikit-learn's default is 0.9 with Nesterov);
momentum is :math:`v \leftarrow \mu v - \eta g,\ w \leftarrow w + v` (Keras's form) and Nesterov
:math:`w \leftarrow w + \mu v - \eta g`; Adam is Keras's epsilon-hat form,
:math:`w \leftarrow w - \eta \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t} \frac{m}{\sqrt v + \hat\epsilon}`
(its default epsilon is 1e-8, Keras's 1e-7).
"""
from __future__ import annotations

from dataclasses import dataclass

from reference import spec as S
from reference import weighting

ACTIVATIONS = {"sigmoid": "logistic", "tanh": "tanh", "relu": "relu", "linear": "identity"}
SOLVERS = {"sgd": "sgd", "momentum": "sgd", "nesterov": "sgd", "adam": "adam"}  # the spec's optimizer -> solver
LOG_LOSS_CLIP = ("scikit-learn's log loss clips probabilities to [eps, 1 - eps] (the dtype's machine epsilon; "
                 "sklearn/neural_network/_base.py, log_loss), so beyond exp()'s range its loss is -log(eps) by design, "
                 "not the cross-entropy from the logits this check computes (its gradient, p - y, is unclipped)")


@dataclass(frozen=True)
class Task:
    kind: str  # "multiclass", "binary" or "regression"
    loss_scale: float  # s: the spec's loss is s times scikit-learn's


def task(spec: S.Spec) -> Task | str:
    """The scikit-learn task the spec's output layer and loss are, or why there is none."""
    out, loss = spec.layers[-1], spec.loss.name
    act = out.activation.name
    if act == "softmax" and loss in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if out.units < 3:
            return "a softmax over two outputs: scikit-learn models two classes with one logistic unit"
        return Task("multiclass", 1.0)
    if act == "sigmoid" and loss == "binary_crossentropy":
        if out.units != 1:
            return (f"binary cross-entropy over {out.units} outputs: scikit-learn's binary log loss sums over the "
                    "outputs, the spec's means over them")
        return Task("binary", 1.0)
    if act == "linear" and loss in ("mse", "half_sse"):
        if out.units != 1:
            return (f"{loss} over {out.units} outputs: scikit-learn's squared loss (half the mean over rows and outputs) "
                    "and its gradient ((a - y) / N) differ by the number of outputs, so no factor maps both")
        return Task("regression", 2.0 if loss == "mse" else 1.0)
    return (f"a {act} output with {loss}: scikit-learn's MLP pairs softmax with the log loss (several classes), a "
            "logistic unit with the binary log loss (one binary target) and the identity with the squared loss")


def alpha(spec: S.Spec, rows: int, loss_scale: float) -> float:
    """scikit-learn's alpha for the spec's L2 on a batch of ``rows``: 2 * l2 * N / s."""
    return 2.0 * spec.layers[0].l2 * rows / loss_scale


def optimizer_arguments(opt: S.Optimizer, loss_scale: float) -> dict:
    """The estimator's solver arguments for the spec's optimizer (``declines`` has ruled out the rest)."""
    h = opt.params
    if SOLVERS[opt.name] == "adam":
        return {"solver": "adam", "learning_rate_init": h["learning_rate"], "beta_1": h["beta_1"], "beta_2": h["beta_2"],
                "epsilon": h["epsilon"] / loss_scale}
    return {"solver": "sgd", "learning_rate_init": h["learning_rate"] * loss_scale, "learning_rate": "constant",
            "momentum": h.get("momentum", 0.0) if opt.name != "sgd" else 0.0, "nesterovs_momentum": opt.name == "nesterov"}


def declines(spec: S.Spec) -> str | None:
    """Why scikit-learn's MLP cannot express ``spec``, or None."""
    kinds = sorted({layer.type for layer in spec.layers if layer.type != "dense"})
    if kinds:
        return f"{', '.join(kinds)} layers: scikit-learn's MLP has dense layers only"
    if any(not layer.use_bias for layer in spec.layers):
        return "a layer without a bias: every scikit-learn layer has an intercept"
    hidden = spec.layers[:-1]
    names = {layer.activation.name for layer in hidden}
    if len(names) > 1:
        return f"different hidden activations ({', '.join(sorted(names))}): scikit-learn's MLP takes one for every hidden layer"
    for layer in hidden:
        if layer.activation.name not in ACTIVATIONS or layer.activation.params:
            return (f"the {layer.activation.name} activation: scikit-learn's MLP has "
                    f"{', '.join(f'{v} ({k})' for k, v in ACTIVATIONS.items())} only")
    t = task(spec)
    if isinstance(t, str):
        return t
    if spec.loss.reduction != "mean":
        return f"reduction = '{spec.loss.reduction}': scikit-learn's losses are means over the batch"
    l2s = {layer.l2 for layer in spec.layers}
    if len(l2s) > 1:
        return (f"per-layer L2 ({', '.join(f'{v:g}' for v in sorted(l2s))}): scikit-learn's MLP has one alpha for "
                "every kernel")
    return _optimizer_declines(spec) or _training_declines(spec)


def _optimizer_declines(spec: S.Spec) -> str | None:
    opt = spec.optimizer
    if opt.name not in SOLVERS:
        return f"the {opt.name} optimizer: scikit-learn's MLP steps with SGD (with momentum or Nesterov's) or Adam only"
    if opt.name == "adam" and opt.params["eps_mode"] != "keras":
        return ("Adam with eps_mode = 'torch': scikit-learn adds epsilon to sqrt(v) and puts the bias correction in the "
                "rate, Keras's epsilon-hat form")
    if opt.clip is not None:
        return f"gradient clipping ({opt.clip.rule}): scikit-learn's MLP has none"
    if opt.schedule is not None:
        return (f"the {opt.schedule.name} learning-rate schedule: scikit-learn's MLP has 'constant', 'invscaling' "
                "(per sample seen, once per epoch) and 'adaptive' only")
    return None


def _training_declines(spec: S.Spec) -> str | None:
    if weighting.weighted(spec):
        return ("weighted rows: scikit-learn's weighted mean divides by the weights' sum and scales L2 by it too; "
                "not mapped yet")
    if spec.training.early_stopping is not None:
        return ("early stopping: scikit-learn's early_stopping watches the validation accuracy on a stratified random "
                "split, with tol and n_iter_no_change, and always restores the best weights: not Keras's rule")
    return None
