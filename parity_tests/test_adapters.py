"""Every built-in adapter covers every reference layer kind, activation, loss, optimizer and learning-rate schedule
— or declines it
through ``supports()`` — so a gap is a failing test here, not an ERROR cell found later in the matrix.

"Covers" means a builder in the adapter's name -> builder table and, for a kind, a layout that maps
exactly the kind's canonical tensors (``layers[i].<name>``) onto the framework's. The Keras tables are
read in a subprocess, as a Keras backend is fixed per process and this one imports none.
"""
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from reference import spec as S
from reference.activations import ACTIVATIONS
from reference.layers import KINDS
from reference.losses import LOSSES
from reference.optimizers import OPTIMIZERS
from reference.schedules import SCHEDULES

BASE = "coverage_layer_kinds"  # a spec with every kind in it, which each variant below changes in one place
EXAMPLE = {
    "dense": S.Layer(8, S.Activation("tanh"), S.Initializer("glorot_uniform")),
    "batch_norm": S.BatchNorm(),
    "dropout": S.Dropout(0.5),
    "layer_norm": S.LayerNorm(),
}
SCHEDULE_EXAMPLE = {
    "exponential_decay": {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5},
    "inverse_time_decay": {"initial_learning_rate": 0.1, "decay_steps": 2, "decay_rate": 0.5},
    "piecewise_constant": {"boundaries": [2], "values": [0.1, 0.01]},
    "cosine_decay": {"initial_learning_rate": 0.1, "decay_steps": 4},
}
SINGULAR = {"kinds": "kind", "activations": "activation", "losses": "loss", "optimizers": "optimizer",
            "schedules": "schedule"}


def _variant(what: str, name: str, base: str = BASE) -> S.Spec:
    """The base spec using ``name`` as its ``what`` (a kind, activation, loss or optimizer)."""
    spec = S.load(base)
    layers = list(spec.layers)
    if what == "kinds":
        layers.insert(1, EXAMPLE[name])
        return dataclasses.replace(spec, layers=tuple(layers))
    if what == "activations":
        layers[0] = dataclasses.replace(layers[0], activation=S.Activation(name))
        return dataclasses.replace(spec, layers=tuple(layers))
    if what == "losses":
        return dataclasses.replace(spec, loss=S.Loss(name))
    if what == "schedules":
        d = S.to_dict(spec)
        d["optimizer"] = {"name": "sgd", "learning_rate": {"name": name, **SCHEDULE_EXAMPLE[name]}}
        return S.from_dict(d)
    return dataclasses.replace(spec, optimizer=S.Optimizer(name, {"learning_rate": 0.01}))


def gaps(impl, tables: dict, base: str = BASE) -> list[str]:
    """What ``impl`` neither builds (``tables``: what -> names it has; ``layout``: kind -> tensor names)
    nor declines with a reason, each varied from ``base`` (a spec the implementation expresses)."""
    reference = {"kinds": KINDS, "activations": ACTIVATIONS, "losses": LOSSES, "optimizers": OPTIMIZERS,
                 "schedules": SCHEDULES}
    found = []
    for what, names in reference.items():
        for name in sorted(set(names) - set(tables[what])):
            if not isinstance(impl.supports(_variant(what, name, base)), str):
                found.append(f"{impl.name}: {SINGULAR[what]} {name!r} has no builder and supports() does not decline it")
    for kind in sorted(set(KINDS) & set(tables["kinds"])):
        wanted = {t.name for t in KINDS[kind].tensors(EXAMPLE[kind], 8)}
        if set(tables["layout"].get(kind, ())) != wanted:
            found.append(f"{impl.name}: layout of {kind!r} maps {sorted(tables['layout'].get(kind, ()))}, "
                         f"the reference's tensors are {sorted(wanted)}")
    return found


def test_torch_covers_every_reference_kind_activation_loss_and_optimizer():
    pytest.importorskip("torch")
    from torch_impl import losses, model, optimizers, schedules
    from torch_impl.implementation import TorchImplementation

    tables = {"kinds": model.BUILDERS, "layout": model.LAYOUT, "activations": model.ACTIVATIONS,
              "losses": losses.LOSSES, "optimizers": optimizers.OPTIMIZERS, "schedules": schedules.SCHEDULERS}
    assert gaps(TorchImplementation(), tables) == []


KERAS_TABLES = """
import json
from keras_impl import losses, model, optimizers, schedules
from keras_impl.implementation import KerasImplementation
from parity_tests.test_adapters import gaps
tables = {"kinds": model.BUILDERS, "layout": model.LAYOUT, "activations": model.ACTIVATIONS,
          "losses": set(losses.KERAS_LOSSES) & set(losses.PER_SAMPLE), "optimizers": optimizers.OPTIMIZERS,
          "schedules": schedules.SCHEDULES}
impl = KerasImplementation()
found = gaps(impl, tables)
# Handles of one spec share a cached Keras model: a second build retires the first, which then refuses work
# instead of silently reading the second one's weights.
from reference import spec as S
from reference.weights import init_weights
spec = S.load("gates_xor")
first = impl.build(spec, init_weights(spec), dtype="float64", device="cpu")
second = impl.build(spec, init_weights(spec), dtype="float64", device="cpu")
impl.weights(second)
try:
    impl.weights(first)
    found.append("a retired handle still answered")
except RuntimeError as exc:
    assert "retired" in str(exc)
print(json.dumps(found))
"""


def test_keras_covers_every_reference_kind_activation_loss_and_optimizer_and_retires_stale_handles():
    pytest.importorskip("keras")
    from keras_impl import backends

    backend = next((b for b in ("jax", "tensorflow", "torch") if backends.missing(b) is None), None)
    if backend is None:
        pytest.skip("no Keras backend is installed")
    env = {**os.environ, **backends.environment(backend)}
    out = subprocess.run([sys.executable, "-c", KERAS_TABLES], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_sklearn_covers_or_declines_every_reference_kind_activation_loss_and_optimizer():
    """scikit-learn's tables are its mapping's, varied from a spec it expresses (the base above has batch
    normalization, which it declines whatever else the variant changes)."""
    from sklearn_impl import mapping
    from sklearn_impl.implementation import SklearnImplementation

    tables = {"kinds": {"dense"}, "layout": {"dense": ["kernel", "bias"]}, "activations": {*mapping.ACTIVATIONS, "softmax"},
              "losses": {"categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "mse",
                         "half_sse"}, "optimizers": set(mapping.SOLVERS), "schedules": set()}
    base = "digits_sigmoid50_sklearn"
    assert SklearnImplementation().supports(S.load(base)) is None
    assert gaps(SklearnImplementation(), tables, base) == []


def test_a_missing_builder_is_a_gap_and_a_declined_one_is_not():
    """The test above can fail: a table without a loss is a gap, unless supports() gives a reason."""

    class Partial:
        name = "partial"

        def __init__(self, declines: bool):
            self.declines = declines

        def supports(self, spec):
            return "no half_sse here" if self.declines and spec.loss.name == "half_sse" else None

    tables = {"kinds": KINDS, "activations": ACTIVATIONS, "losses": set(LOSSES) - {"half_sse"},
              "optimizers": OPTIMIZERS, "schedules": SCHEDULES,
              "layout": {k: [t.name for t in KINDS[k].tensors(EXAMPLE[k], 8)] for k in KINDS}}
    assert gaps(Partial(declines=False), tables) == [
        "partial: loss 'half_sse' has no builder and supports() does not decline it"]
    assert gaps(Partial(declines=True), tables) == []
    tables["layout"]["batch_norm"] = ["gamma", "beta", "moving_mean"]
    assert "moving_variance" in gaps(Partial(declines=True), tables)[0]
