"""The architecture spec: frozen dataclasses, with the same shape as the TOML and JSON files.

A spec fixes everything a run depends on: the layers (units, activation and its parameters, kernel
and bias initializers, L2 on the kernel), the loss and its reduction, the optimizer with every
hyperparameter, and the training schedule (dataset, split, batch size, epochs, shuffling seed).
``load`` reads a file or a bundled spec by name; ``validate`` checks a spec built in Python and
returns it with defaults filled in; ``to_dict`` / ``dumps`` write the canonical form back.

Example (reference/specs/gates_xor.toml)::

    name = "gates_xor"
    seed = 0
    dtype = "float64"
    input_shape = [2]

    [[layers]]
    units = 2
    activation = "sigmoid"
    kernel_init = { name = "normal", std = 1.0 }
    bias_init = { name = "constant", value = 0.01 }

    [loss]
    name = "binary_crossentropy"
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import tomli_w

from reference import strict_json
from reference.errors import SpecError, UserError

SPECS_DIR = Path(__file__).parent / "specs"
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Source:
    document: str  # file name under ../shared/seeds/
    section: str = ""


@dataclass(frozen=True)
class Activation:
    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Initializer:
    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Layer:
    """A dense layer: z = a_prev @ kernel + bias (kernel shape (in, units)), a = activation(z)."""

    units: int
    activation: Activation
    kernel_init: Initializer
    bias_init: Initializer = Initializer("zeros")
    use_bias: bool = True
    l2: float = 0.0  # adds l2 * sum(kernel**2) to the loss (Keras regularizers.L2)
    type: ClassVar[str] = "dense"


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalization over the batch, per feature (reference/layers/batch_norm.py has the math)."""

    momentum: float = 0.99  # Keras's convention: moving = momentum * moving + (1 - momentum) * batch (torch's is 1 - this)
    epsilon: float = 1e-3  # Keras's default; torch's is 1e-5
    running_variance: str = "biased"  # the batch variance the moving variance follows: "biased" (Keras) or "unbiased" (torch)
    gamma_init: Initializer = Initializer("ones")
    beta_init: Initializer = Initializer("zeros")
    l2: float = 0.0  # adds l2 * (sum(gamma**2) + sum(beta**2)) to the loss; 0: none, as Keras's default
    # Over N data-parallel replicas (reference/replica_network.py): "global", the global batch's statistics (a
    # synchronised BatchNorm), or "per-replica", each replica's own rows' (torch DDP's default). One process: the same.
    replica_statistics: str = "global"
    type: ClassVar[str] = "batch_norm"


@dataclass(frozen=True)
class Dropout:
    """Inverted dropout: kept units scaled by 1 / (1 - rate) in training, the identity in inference."""

    rate: float
    type: ClassVar[str] = "dropout"


@dataclass(frozen=True)
class LayerNorm:
    """Layer normalization over the features of each row (reference/layers/layer_norm.py has the math)."""

    epsilon: float = 1e-3  # Keras's default; torch's is 1e-5
    gamma_init: Initializer = Initializer("ones")
    beta_init: Initializer = Initializer("zeros")
    l2: float = 0.0  # on gamma and beta, as BatchNorm's
    type: ClassVar[str] = "layer_norm"


AnyLayer = Layer | BatchNorm | Dropout | LayerNorm


@dataclass(frozen=True)
class Loss:
    name: str
    reduction: str = "mean"  # "mean" over the batch, or "sum"
    # Under sample or class weights, what "mean" divides the weighted sum by (reference/weighting.py):
    # the rows (Keras's "sum_over_batch_size") or the weights' sum (Keras's "mean_with_sample_weight", torch's).
    weighted_reduction: str = "sum_over_batch_size"


@dataclass(frozen=True)
class Clip:
    """Gradient clipping (``reference/clipping.py``): ``rule`` is clipnorm, global_clipnorm or clipvalue."""

    rule: str
    threshold: float
    epsilon: float = 0.0  # in the norm's denominator: 0 in Keras, 1e-6 in torch's clip_grad_norm_


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule (``reference/schedules.py``): its rule's parameters, ``per`` among them."""

    name: str
    params: dict = field(default_factory=dict)

    @property
    def per(self) -> str:
        return self.params["per"]


@dataclass(frozen=True)
class Optimizer:
    """``params["learning_rate"]`` is the rate of the first step (a warm-up from 0: its target); under a ``schedule``
    the schedule sets every step's."""

    name: str
    params: dict = field(default_factory=dict)
    clip: Clip | None = None
    schedule: Schedule | None = None


@dataclass(frozen=True)
class Dataset:
    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Split:
    method: str = "random"  # "random", "official" or "none"
    test_fraction: float = 0.2
    seed: int = 0


@dataclass(frozen=True)
class SampleWeight:
    """Per-row weights of the training rows, drawn by the oracle (``reference/weighting.py``)."""

    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when the validation loss stops improving (``reference/early_stopping.py``, Keras's ``EarlyStopping``)."""

    validation_split: float  # the last fraction of the training rows, as Keras's fit(validation_split=...)
    patience: int = 0
    min_delta: float = 0.0
    restore_best_weights: bool = False
    monitor: str = "val_loss"


@dataclass(frozen=True)
class Training:
    dataset: Dataset
    split: Split = Split()
    batch_size: int = 32
    epochs: int = 1
    shuffle: bool = True
    schedule_seed: int = 0
    class_weight: tuple[float, ...] | None = None  # one weight per class (Keras's class_weight, torch's weight=)
    sample_weight: SampleWeight | None = None
    early_stopping: EarlyStopping | None = None


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    source: Source
    seed: int  # seeds the one numpy Generator that draws every weight
    dtype: str
    input_shape: tuple[int, ...]
    layers: tuple[AnyLayer, ...]
    loss: Loss
    optimizer: Optimizer
    training: Training

    @property
    def n_inputs(self) -> int:
        return self.input_shape[0]

    def layer_sizes(self) -> list[tuple[int, int]]:
        """(width in, width out) of each layer: a dense layer's (fan_in, units); the others keep their width."""
        sizes, width = [], self.n_inputs
        for layer in self.layers:
            out = layer.units if layer.type == "dense" else width
            sizes.append((width, out))
            width = out
        return sizes

    @property
    def outputs(self) -> int:
        return self.layer_sizes()[-1][1]

    @property
    def output_layer(self) -> Layer:
        """The last dense layer: its activation is the output activation, its logits the loss's input."""
        return next(layer for layer in reversed(self.layers) if layer.type == "dense")

    def dense_only(self) -> bool:
        return all(layer.type == "dense" for layer in self.layers)

    def parameter_count(self) -> int:
        """Trainable parameters (kernels, biases, gamma and beta)."""
        total = 0
        for (fan_in, width), layer in zip(self.layer_sizes(), self.layers):
            if layer.type == "dense":
                total += fan_in * width + (width if layer.use_bias else 0)
            elif layer.type in ("batch_norm", "layer_norm"):
                total += 2 * width
        return total


def _named(name: str, params: dict) -> dict:
    return {"name": name, **params}


def _layer_dict(layer: AnyLayer) -> dict:
    if layer.type == "dense":
        act = layer.activation
        return {"type": "dense", "units": layer.units,
                "activation": act.name if not act.params else _named(act.name, act.params),
                "kernel_init": _named(layer.kernel_init.name, layer.kernel_init.params),
                "bias_init": _named(layer.bias_init.name, layer.bias_init.params),
                "use_bias": layer.use_bias, "l2": layer.l2}
    out = {"type": layer.type}
    for f in fields(layer):
        value = getattr(layer, f.name)
        out[f.name] = _named(value.name, value.params) if isinstance(value, Initializer) else value
    return out


def _optimizer_dict(opt: Optimizer) -> dict:
    out = _named(opt.name, opt.params)
    if opt.schedule is not None:  # the table stands where the number would
        out["learning_rate"] = _named(opt.schedule.name, opt.schedule.params)
    if opt.clip is not None:  # absent means no clipping (TOML has no null)
        out[opt.clip.rule] = opt.clip.threshold
        out["clip_epsilon"] = opt.clip.epsilon
    return out


def to_dict(spec: Spec) -> dict:
    """The canonical, fully explicit form: what ``dumps`` writes and ``from_dict`` reads."""
    layers = [_layer_dict(layer) for layer in spec.layers]
    t = spec.training
    return {
        "name": spec.name,
        "description": spec.description,
        "seed": spec.seed,
        "dtype": spec.dtype,
        "input_shape": list(spec.input_shape),
        "source": {"document": spec.source.document, "section": spec.source.section},
        "layers": layers,
        "loss": {"name": spec.loss.name, "reduction": spec.loss.reduction, "weighted_reduction": spec.loss.weighted_reduction},
        "optimizer": _optimizer_dict(spec.optimizer),
        "training": {
            "batch_size": t.batch_size,
            "epochs": t.epochs,
            "shuffle": t.shuffle,
            "schedule_seed": t.schedule_seed,
            "dataset": _named(t.dataset.name, t.dataset.params),
            "split": {"method": t.split.method, "test_fraction": t.split.test_fraction, "seed": t.split.seed},
            **({} if t.class_weight is None else {"class_weight": list(t.class_weight)}),  # absent: unweighted
            **({} if t.sample_weight is None else {"sample_weight": _named(t.sample_weight.name, t.sample_weight.params)}),
            **({} if t.early_stopping is None else {"early_stopping": {f.name: getattr(t.early_stopping, f.name)
                                                                       for f in fields(t.early_stopping)}}),
        },
    }


def dumps(spec: Spec, fmt: str = "toml") -> str:
    d = to_dict(spec)
    return json.dumps(d, indent=2) + "\n" if fmt == "json" else tomli_w.dumps(d)


def from_dict(d: dict, source: str = "<dict>") -> Spec:
    from reference.spec_parse import parse

    return parse(d, source)


def validate(spec: Spec) -> Spec:
    """Check a spec built in Python; return it with aliases resolved and defaults filled in."""
    return from_dict(to_dict(spec), source=f"spec {spec.name!r}")


def _bundled_paths() -> dict[str, Path]:
    """The documents' networks (specs/*.toml), then the coverage specs (specs/coverage/*.toml)."""
    return {p.stem: p for p in sorted(SPECS_DIR.glob("*.toml")) + sorted((SPECS_DIR / "coverage").glob("*.toml"))}


def bundled_names() -> list[str]:
    return list(_bundled_paths())


MAX_SPEC_BYTES = 1 << 20  # a spec is a few kilobytes


def read_file(path: Path) -> Spec:
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise UserError(f"{path}: {size:,} bytes; a spec is a few kilobytes (at most {MAX_SPEC_BYTES:,} bytes read). "
                            "Is this the right file?")
        text = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read the spec file ({exc.strerror}).") from None
    kind = "JSON" if path.suffix == ".json" else "TOML"
    try:
        d = strict_json.loads(text) if path.suffix == ".json" else tomllib.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), [f"not valid {kind}: {str(exc)[:300]}"]) from None
    except RecursionError:
        raise SpecError(str(path), [f"not valid {kind}: nested too deeply (a spec nests a few levels)"]) from None
    if not isinstance(d, dict):
        raise SpecError(str(path), ["the file must hold one table (a JSON object)"])
    return from_dict(d, source=str(path))


def load(name_or_path: str | Path) -> Spec:
    """A spec from a .toml or .json file, or a bundled spec by name (``nnparity specs`` lists them)."""
    path = Path(name_or_path)
    if path.is_file():
        return read_file(path)
    bundled = _bundled_paths()
    if str(name_or_path) in bundled:
        return read_file(bundled[str(name_or_path)])
    raise UserError(
        f"{name_or_path}: no such spec file, and no bundled spec of that name. "
        f"Bundled: {', '.join(bundled_names())}. Give a path to a .toml or .json spec, or one of those names."
    )
