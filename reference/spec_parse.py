"""A spec dict (from TOML, JSON or ``to_dict``) -> a validated ``Spec``, or every problem at once.

Each problem names its field path and what is allowed, e.g.
``layers[2].activation: unknown 'relu6'; known: sigmoid, tanh, ...``. Unknown keys are errors,
so a misspelt field never silently falls back to a default.
"""
from __future__ import annotations

import re
from typing import Any

from reference import (
    activations,
    clipping,
    datasets,
    early_stopping,
    initializers,
    layers,
    losses,
    optimizers,
    schedules,
    weighting,
)
from reference.errors import SpecError, show
from reference.params import resolve
from reference.spec import (
    DTYPES,
    Activation,
    AnyLayer,
    BatchNorm,
    Clip,
    Dataset,
    Dropout,
    EarlyStopping,
    Initializer,
    Layer,
    LayerNorm,
    Loss,
    Optimizer,
    SampleWeight,
    Schedule,
    Source,
    Spec,
    Split,
    Training,
)
from reference.spec_tables import MISSING, Table, kind_ok, lookup, named_thing

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

LAYER_TYPES = ("dense", *layers.FIELDS)


def _layer(raw: Any, path: str, problems: list[str]) -> AnyLayer | None:
    """One ``[[layers]]`` table: its ``type`` ("dense" when absent) decides which fields it takes."""
    t = Table(raw, path, problems)
    kind = t.get("type", "str", "dense")
    if kind is not None and kind not in LAYER_TYPES:
        problems.append(f"{path}.type: unknown layer type {show(kind)}; known: {', '.join(LAYER_TYPES)}")
        t.rest()
        return None
    if kind != "dense":
        return _other_layer(t, kind, path, problems)
    units = t.get("units", "int")
    if units is not None and units < 1:
        problems.append(f"{path}.units: got {units}; a layer needs at least 1 unit")
    act_name, act_params = t.named("activation", activations.ACTIVATIONS, activations.ALIASES,
                                   {k: v.params for k, v in activations.ACTIVATIONS.items()}, "activation")
    inits = [t.named(key, initializers.INITIALIZERS, initializers.ALIASES, initializers.PARAMS, "initializer",
                     default=default)
             for key, default in (("kernel_init", MISSING), ("bias_init", "zeros"))]
    use_bias = t.get("use_bias", "bool", True)
    l2 = t.get("l2", "number", 0.0)
    if l2 is not None and l2 < 0:
        problems.append(f"{path}.l2: got {l2}; expected a number >= 0")
    t.close()
    if None in (units, act_name, inits[0][0], inits[1][0]):
        return None
    return Layer(units, Activation(act_name, act_params), Initializer(*inits[0]), Initializer(*inits[1]),
                 use_bias, float(l2))


_LAYER_CLASSES = {"batch_norm": BatchNorm, "dropout": Dropout, "layer_norm": LayerNorm}


def _other_layer(t: Table, kind: str, path: str, problems: list[str]) -> AnyLayer | None:
    """A batch_norm, dropout or layer_norm layer: its fields (reference/layers FIELDS) and initializers."""
    given = {k: v for k, v in t.raw.items() if k in layers.FIELDS[kind]}
    t.used.update(given)
    n_problems = len(problems)
    params = resolve(path, given, layers.FIELDS[kind], problems)
    inits = {key: t.named(key, initializers.INITIALIZERS, initializers.ALIASES, initializers.PARAMS, "initializer", default=default)
             for key, default in layers.INITIALIZER_FIELDS[kind].items()}
    t.close()
    if len(problems) > n_problems or any(name is None for name, _ in inits.values()):
        return None
    return _LAYER_CLASSES[kind](**params, **{k: Initializer(*v) for k, v in inits.items()})


def _structure(spec_layers: list, problems: list[str]) -> None:
    """The network ends with a dense layer: its activation is the output's, its logits the loss's input."""
    if spec_layers and spec_layers[-1] is not None and spec_layers[-1].type != "dense":
        problems.append(f"layers[{len(spec_layers) - 1}].type: the last layer is {spec_layers[-1].type}; the network "
                        "must end with a dense layer, whose activation is the output's")


def _training(raw: Any, problems: list[str]) -> Training | None:
    t = Table(raw, "training", problems)
    batch_size = t.get("batch_size", "int")
    epochs = t.get("epochs", "int")
    shuffle = t.get("shuffle", "bool", True)
    schedule_seed = t.get("schedule_seed", "int", 0)
    for key, value, low in (("batch_size", batch_size, 1), ("epochs", epochs, 1), ("schedule_seed", schedule_seed, 0)):
        if value is not None and value < low:
            problems.append(f"training.{key}: got {value}; expected an integer >= {low}")
    ds_name, ds_params = t.named("dataset", datasets.DATASETS, {},
                                 {k: {**datasets.COMMON_PARAMS, **v.params} for k, v in datasets.DATASETS.items()},
                                 "dataset")
    s = Table(t.raw.get("split", {}), "training.split", problems)
    t.used.add("split")
    method = s.get("method", "str", "random")
    test_fraction = s.get("test_fraction", "number", 0.2)
    split_seed = s.get("seed", "int", 0)
    s.close()
    if ds_name is not None and method is not None:
        allowed = datasets.DATASETS[ds_name].splits
        if method not in allowed:
            problems.append(f"training.split.method: {ds_name} allows {', '.join(repr(a) for a in allowed)}; got {show(method)}")
    if method == "random" and test_fraction is not None and not 0 < test_fraction < 1:
        problems.append(f"training.split.test_fraction: got {test_fraction}; expected a number in (0, 1)")
    class_weight = t.get("class_weight", "list", None)
    if class_weight is not None and (not class_weight or not all(kind_ok(w, "number") and w >= 0 for w in class_weight)):
        problems.append(f"training.class_weight: got {show(class_weight)}; expected one number >= 0 per class")
        class_weight = None
    sample_weight = None
    if "sample_weight" in t.raw:
        name, params = t.named("sample_weight", weighting.SAMPLE_WEIGHTS, {}, weighting.PARAMS, "sample-weight rule",
                               allow_string=False)
        sample_weight = None if name is None else SampleWeight(name, params)
        if sample_weight is not None and params["low"] > params["high"]:
            problems.append(f"training.sample_weight: low = {params['low']} > high = {params['high']}")
    stopping = _early_stopping(t.raw["early_stopping"], problems) if "early_stopping" in t.raw else None
    t.used.add("early_stopping")
    t.close()
    if class_weight is not None and sample_weight is not None:
        problems.append("training: class_weight and sample_weight are both set; state one (Keras's fit refuses both)")
    if class_weight is not None and ds_name is not None:
        n_classes = datasets.DATASETS[ds_name].n_classes(ds_params)
        if n_classes is None:
            problems.append(f"training.class_weight: {ds_name} is a regression target, it has no classes to weight")
        elif len(class_weight) != n_classes:
            problems.append(f"training.class_weight: {len(class_weight)} weights for the {n_classes} classes of {ds_name}; "
                            "give one per class, in label order")
    if None in (batch_size, epochs, ds_name, method):
        return None
    return Training(Dataset(ds_name, ds_params), Split(method, float(test_fraction), split_seed),
                    batch_size, epochs, shuffle, schedule_seed,
                    None if class_weight is None else tuple(float(w) for w in class_weight), sample_weight, stopping)


def _early_stopping(raw: Any, problems: list[str]) -> EarlyStopping | None:
    n = len(problems)
    given = raw if isinstance(raw, dict) else {}
    if not isinstance(raw, dict):
        problems.append(f"training.early_stopping: expected a table, got {show(raw)}")
    params = resolve("training.early_stopping", given, early_stopping.PARAMS, problems)
    return EarlyStopping(**params) if len(problems) == n else None


def _clip(raw: Any, problems: list[str]) -> tuple[Any, Clip | None]:
    """The optimizer table without its clipping fields, and the clipping they state (one rule at most)."""
    if not isinstance(raw, dict):
        return raw, None
    fields = (*clipping.CLIP_RULES, "clip_epsilon")
    given = [rule for rule in clipping.CLIP_RULES if rule in raw]
    rest = {k: v for k, v in raw.items() if k not in fields and "clip" not in str(k)}
    n_problems = len(problems)
    for key in [k for k in raw if k not in fields and "clip" in str(k)]:
        problems.append(f"optimizer.{str(key)[:60]}: unknown clipping field; known: {', '.join(fields)}")
    if len(given) > 1:
        problems.append(f"optimizer: {' and '.join(given)} are both set; state one clipping rule (Keras refuses more than "
                        "one too)")
    for rule in given:
        c = raw[rule]
        if not kind_ok(c, "number") or c <= 0:
            problems.append(f"optimizer.{rule}: got {show(c)}; expected a number > 0 (leave it out for no clipping)")
    eps = raw.get("clip_epsilon", 0.0)
    if not kind_ok(eps, "number") or eps < 0:
        problems.append(f"optimizer.clip_epsilon: got {show(eps)}; expected a number >= 0 (0: Keras's rule, 1e-6: torch's "
                        "clip_grad_norm_)")
    elif eps and not any(rule in clipping.NORM_RULES for rule in given):
        problems.append(f"optimizer.clip_epsilon: got {eps}; it is the norm's epsilon, so it needs clipnorm or global_clipnorm"
                        + (f", not {given[0]}" if given else ""))
    if len(problems) > n_problems or not given:
        return rest, None
    return rest, Clip(given[0], float(raw[given[0]]), float(eps))


def _schedule(raw: Any, problems: list[str]) -> tuple[Any, Schedule | None]:
    """A ``learning_rate = { name = "exponential_decay", ... }`` table: the schedule, and the optimizer table with the
    schedule's first rate where the table stood (what the optimizer starts with)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("learning_rate"), dict):
        return raw, None
    n_problems = len(problems)
    name, params = named_thing(raw["learning_rate"], "optimizer.learning_rate", schedules.SCHEDULES, {}, schedules.PARAMS,
                                "learning-rate schedule", problems, allow_string=False)
    if name is None or len(problems) > n_problems:
        return {**raw, "learning_rate": 1.0}, None  # reported; the placeholder keeps the optimizer's own problems apart
    schedule = Schedule(name, params)
    problems.extend(schedules.check(schedule, "optimizer.learning_rate"))
    if len(problems) > n_problems:
        return {**raw, "learning_rate": 1.0}, None
    # A warm-up from 0 starts at 0, which no optimizer takes as its rate: it is built with the warm-up's target.
    return {**raw, "learning_rate": schedules.initial(schedule) or params["warmup_target"]}, schedule


def _check_momentum_form(name: str, params: dict, problems: list[str]) -> None:
    """Under a schedule the two momentum forms differ: the spec must say which it means."""
    if params.get("momentum_form") == "either" and params.get("momentum", 0) > 0:
        problems.append(
            "optimizer.momentum_form: required under a learning-rate schedule: \"keras\" (v = mu v - lr_t g, w += v; for "
            "rmsprop the rate inside the momentum buffer) or \"torch\" (b = mu b + g, w -= lr_t b). The two agree for a "
            "constant rate only (README, divergence \"momentum under a learning-rate schedule\")")


def _check_output(spec: Spec, problems: list[str]) -> None:
    """The output layer, the loss and the dataset's targets must fit together."""
    last, where = spec.layers[-1], f"layers[{len(spec.layers) - 1}]"  # a dense layer (_structure)
    loss = losses.LOSSES[spec.loss.name]
    if loss.link is not None and last.activation.name != loss.link:
        other = "binary_crossentropy" if last.activation.name == "sigmoid" else (
            "categorical_crossentropy" if last.activation.name == "softmax" else "mse")
        problems.append(
            f"{where}.activation: {spec.loss.name} is computed from the logits of a {loss.link!r} output; "
            f"got {last.activation.name!r}. Make the output {loss.link!r}, or use {other} for this output.")
    ds = spec.training.dataset
    n_classes = datasets.DATASETS[ds.name].n_classes(ds.params)
    k = last.units
    if loss.targets in ("onehot", "labels"):
        if n_classes is None:
            problems.append(f"loss.name: {spec.loss.name} needs class labels; {ds.name} is a regression target")
        elif k != n_classes:
            problems.append(f"{where}.units: {spec.loss.name} on {ds.name} needs {n_classes} outputs (one per class); got {k}")
    elif spec.loss.name == "binary_crossentropy":
        if n_classes is None or (k != n_classes and not (n_classes == 2 and k == 1)):
            problems.append(f"{where}.units: binary_crossentropy needs one output on a two-class dataset, or one per "
                            f"class (one-hot targets, each output its own yes/no); got {k} output(s) on {ds.name}"
                            + ("" if n_classes is None else f" ({n_classes} classes)"))
    elif n_classes is None and k != 1:
        problems.append(f"{where}.units: {ds.name} has one target value; got {k} outputs")
    elif n_classes is not None and k not in (n_classes, 1 if n_classes == 2 else n_classes):
        problems.append(f"{where}.units: {spec.loss.name} on {ds.name} needs {n_classes} outputs (one-hot targets)"
                        + (" or 1 (0/1 targets)" if n_classes == 2 else "") + f"; got {k}")


def parse(d: Any, source: str) -> Spec:
    problems: list[str] = []
    t = Table(d, "", problems)
    name = t.get("name", "str")
    if name is not None and not _NAME.match(name):
        problems.append(f"name: got {show(name)}; use letters, digits, '_', '-' and '.'")
    description = t.get("description", "str", "")
    seed = t.get("seed", "int")
    if seed is not None and seed < 0:
        problems.append(f"seed: got {seed}; expected an integer >= 0")
    dtype = t.get("dtype", "str", "float64")
    if dtype is not None and dtype not in DTYPES:
        problems.append(f"dtype: got {show(dtype)}; expected one of {', '.join(DTYPES)}")
    shape = t.get("input_shape", "list")
    if shape is not None and (len(shape) != 1 or not kind_ok(shape[0], "int") or shape[0] < 1):
        problems.append(f"input_shape: got {show(shape)}; dense networks take flat inputs: [n_features] with n >= 1")
        shape = None
    s = Table(t.raw.get("source", {}), "source", problems)
    t.used.add("source")
    src = Source(s.get("document", "str", ""), s.get("section", "str", ""))
    s.close()

    raw_layers = t.get("layers", "list")
    spec_layers = []
    if raw_layers is not None and not raw_layers:
        problems.append("layers: the network has no layers; add at least one [[layers]] table")
    for i, raw_layer in enumerate(raw_layers or []):
        spec_layers.append(_layer(raw_layer, f"layers[{i}]", problems))
    _structure(spec_layers, problems)

    lt = Table(t.raw.get("loss"), "loss", problems)
    t.used.add("loss")
    loss_name = lt.get("name", "str")
    if loss_name is not None:
        loss_name = lookup("loss.name", loss_name, losses.LOSSES, {}, "loss", problems)
    reduction = lt.get("reduction", "str", "mean")
    if reduction not in losses.REDUCTIONS:
        problems.append(f"loss.reduction: got {show(reduction)}; expected one of {', '.join(losses.REDUCTIONS)}")
    weighted_reduction = lt.get("weighted_reduction", "str", "sum_over_batch_size")
    if weighted_reduction not in weighting.WEIGHTED_REDUCTIONS:
        problems.append(f"loss.weighted_reduction: got {show(weighted_reduction)}; expected one of "
                        f"{', '.join(weighting.WEIGHTED_REDUCTIONS)} (what a weighted mean divides by: the rows, Keras's "
                        "default, or the weights' sum, torch's)")
    lt.close()

    raw_optimizer, clip = _clip(t.raw.get("optimizer", MISSING), problems)
    raw_optimizer, schedule = _schedule(raw_optimizer, problems)
    opt_name, opt_params = Table({"optimizer": raw_optimizer} if raw_optimizer is not MISSING else {}, "", problems).named(
        "optimizer", optimizers.OPTIMIZERS, {}, optimizers.HYPERPARAMETERS, "optimizer", allow_string=False)
    t.used.add("optimizer")
    if schedule is not None and opt_name is not None:
        _check_momentum_form(opt_name, opt_params, problems)
    training = _training(t.raw.get("training"), problems)
    t.used.add("training")
    t.close()

    if problems:
        raise SpecError(source, problems)
    spec = Spec(name, description, src, seed, dtype, tuple(shape), tuple(spec_layers),
                Loss(loss_name, reduction, weighted_reduction), Optimizer(opt_name, opt_params, clip, schedule), training)
    ds = training.dataset
    expected = datasets.input_dim(ds.name, ds.params)
    if spec.n_inputs != expected:
        problems.append(f"input_shape: got [{spec.n_inputs}]; {ds.name} gives {expected} features"
                        + (" (including the prepended column of ones)" if ds.params["prepend_ones"] else ""))
    _check_output(spec, problems)
    if training.early_stopping is not None and (weighting.weighted(spec) or
                                                 any(layer.type == "dropout" for layer in spec.layers)):
        problems.append("training.early_stopping: not with dropout layers, sample weights or class weights yet (the "
                        "oracle gives masks and weights step by step, and Keras's validation loss leaves class weights "
                        "out; an early-stopped run trains in the implementation's own loop)")
    if problems:
        raise SpecError(source, problems)
    return spec
