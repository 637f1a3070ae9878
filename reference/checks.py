"""The parity checks: what each one asks of an implementation (``collect``, run in its process).

A *case* is one spec at one dtype and device, with everything an implementation needs: the
canonical weights (drawn from the spec's seed, rounded to the dtype), a check batch (the first 64
training rows), and a pool (the first 256 rows) with the first K batches of the shared schedule.

The checks, for every case:

``weights``     ``weights(build(w))`` returns ``w`` bit for bit: the copy into the framework and back.
``forward``     the output activation on the check batch (and, where offered, every layer's output).
``loss``        the loss on the check batch, L2 term included.
``grads``       every gradient tensor on the check batch.
``step-<opt>``  two consecutive steps of each optimizer in ``STEP_OPTIMIZERS`` on the check batch,
                state carried over. Before each step the implementation's own gradient is read
                (``loss_and_grads`` changes nothing); the expected weights are the reference
                optimizer applied to the implementation's weights and that gradient. This isolates
                the optimizer: an adaptive optimizer divides each gradient component by its own
                RMS, so comparing it end to end would measure the rounding of near-zero gradient
                components (whose elementwise error can be 1e-9 in float64), not the update rule.
                Gradients are compared end to end by ``grads``, and steps by ``trajectory``.
``large-logits``  forward, loss and gradients with the output layer scaled until the largest logit
                reaches 1000 (float64) or 150 (float32), past where exp() overflows (709.8, 88.7):
                an implementation that forgot the max shift of softmax, or the stable form of the
                cross-entropies, returns inf or NaN here.
``trajectory``  K steps (default 50) of the spec's own optimizer on the shared schedule over the
                pool, compared end to end with the reference after every step. Tensors up to 4096
                elements are compared in full at every step, larger ones on a fixed sample of
                4096 elements (seeded); the final weights are compared in full.

A float32 case is judged against the float64 reference computed from the same float32-rounded
weights and inputs: what remains is the float32 implementation's own rounding. The judging is
``reference/judge.py``.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np

from reference import datasets, spec as S
from reference.batches import BatchSchedule
from reference.errors import Unsupported
from reference.network import Network
from reference.optimizers import HYPERPARAMETERS
from reference.params import resolve
from reference.weights import init_weights, tensor_names

CHECK_ROWS = 64
POOL_ROWS = 256
TRAJECTORY_STEPS = 50
STEP_COUNT = 2
SAMPLE = 4096

# The "one step of every optimizer" suite: name -> (optimizer, hyperparameters beyond the defaults).
STEP_OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "sgd": ("sgd", {"learning_rate": 0.05}),
    "momentum": ("momentum", {"learning_rate": 0.05, "momentum": 0.9}),
    "nesterov": ("nesterov", {"learning_rate": 0.05, "momentum": 0.9}),
    "adagrad": ("adagrad", {"learning_rate": 0.05}),
    "adagrad-torch-eps": ("adagrad", {"learning_rate": 0.05, "initial_accumulator": 0.0, "epsilon": 1e-10, "eps_mode": "torch"}),
    "rmsprop": ("rmsprop", {"learning_rate": 0.01}),
    "rmsprop-centered": ("rmsprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5, "epsilon": 1e-8, "eps_mode": "torch"}),
    "adam": ("adam", {"learning_rate": 0.01}),
    "adam-torch-eps": ("adam", {"learning_rate": 0.01, "epsilon": 1e-8, "eps_mode": "torch"}),
    "adamw": ("adamw", {"learning_rate": 0.01, "weight_decay": 0.01}),
    "adamw-torch-eps": ("adamw", {"learning_rate": 0.01, "weight_decay": 0.01, "epsilon": 1e-8, "eps_mode": "torch"}),
}


def optimizer_spec(key: str) -> S.Optimizer:
    name, given = STEP_OPTIMIZERS[key]
    problems: list[str] = []
    params = resolve(f"STEP_OPTIMIZERS[{key}]", given, HYPERPARAMETERS[name], problems)
    assert not problems, problems
    return S.Optimizer(name, params)


LARGE_LOGIT = {"float64": 1000.0, "float32": 150.0}  # beyond exp()'s overflow at 709.8 and 88.7


def check_names() -> list[str]:
    return ["weights", "forward", "loss", "grads", "large-logits", *(f"step-{k}" for k in STEP_OPTIMIZERS), "trajectory"]


def large_logit_weights(spec: S.Spec, weights: list[np.ndarray], x: np.ndarray, dtype: str) -> list[np.ndarray]:
    """The weights with the output layer's kernel and bias scaled so that max |z^L| on x is LARGE_LOGIT[dtype]."""
    z = Network(spec, weights, dtype="float64").forward(np.asarray(x, dtype=np.float64))[-1][0]
    factor = LARGE_LOGIT[dtype] / max(float(np.abs(z).max()), 1e-300)
    scaled = [np.array(w, copy=True) for w in weights]
    last = len(weights) - (2 if spec.layers[-1].use_bias else 1)
    for i in range(last, len(weights)):
        scaled[i] = (scaled[i].astype(np.float64) * factor).astype(dtype)
    return scaled


_CASE_UIDS = itertools.count()


@dataclass
class Case:
    spec: S.Spec
    dtype: str
    device: str
    weights: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray
    pool_x: np.ndarray
    pool_y: np.ndarray
    batches: list[np.ndarray]
    samples: list[np.ndarray] = field(default_factory=list)  # flat indices compared at every trajectory step
    native: tuple[str, ...] = ()  # native-mode aspects (reference/native.py); empty for the parity checks
    large_weights: list[np.ndarray] = field(default_factory=list)  # the weights of the large-logits check
    # Identifies the case to a worker process. Not id(case): CPython reuses the ids of freed objects.
    uid: int = field(default_factory=lambda: next(_CASE_UIDS), init=False)

    @property
    def names(self) -> list[str]:
        return tensor_names(self.spec)

    def as_float64(self) -> "Case":
        """The same numbers in float64: what the reference computes a float32 case from."""
        return self.as_dtype("float64")

    def as_dtype(self, dtype: str) -> "Case":
        """The same numbers in ``dtype`` (rounded, for float32), on the cpu."""
        cast = lambda a: a if a.dtype.kind != "f" else a.astype(dtype)
        return dataclasses.replace(self, dtype=dtype, device="cpu", weights=[cast(w) for w in self.weights],
                                   x=cast(self.x), y=cast(self.y), pool_x=cast(self.pool_x), pool_y=cast(self.pool_y),
                                   large_weights=[cast(w) for w in self.large_weights])


def make_case(spec: S.Spec, dtype: str, device: str = "cpu", steps: int = TRAJECTORY_STEPS,
              native: tuple[str, ...] = ()) -> Case:
    data = datasets.for_spec(spec, dtype=np.float64, train_rows=POOL_ROWS)
    cast = lambda a: a.astype(dtype) if a.dtype.kind == "f" else a
    pool_x, pool_y = cast(data.x_train), cast(data.y_train)
    sched = BatchSchedule(len(pool_x), min(spec.training.batch_size, len(pool_x)), spec.training.epochs,
                          spec.training.schedule_seed, spec.training.shuffle)
    weights = [w.astype(dtype) for w in init_weights(spec)]
    rng = np.random.default_rng(0)
    samples = [np.arange(w.size) if w.size <= SAMPLE else np.sort(rng.choice(w.size, SAMPLE, replace=False)) for w in weights]
    return Case(spec, dtype, device, weights, pool_x[:CHECK_ROWS], pool_y[:CHECK_ROWS], pool_x, pool_y,
                sched.first(steps), samples, tuple(native), large_logit_weights(spec, weights, pool_x[:CHECK_ROWS], dtype))


# ---- what an implementation is asked (runs wherever the implementation lives) ----

def spec_for(case: Case, check: str) -> S.Spec:
    """The spec a check builds, as ``supports`` sees it: ``dtype`` is the run's, and a step check's optimizer is
    the one it steps with."""
    spec = dataclasses.replace(case.spec, dtype=case.dtype)
    return dataclasses.replace(spec, optimizer=optimizer_spec(check[5:])) if check.startswith("step-") else spec


def unsupported(impl, spec: S.Spec) -> str | None:
    """Why ``impl`` declines ``spec`` (its optional ``supports``), or None: absent, it supports everything."""
    supports = getattr(impl, "supports", None)
    if supports is None:
        return None
    why = supports(spec)
    return None if why is None else str(why)


def collect(impl, case: Case, check: str) -> dict[str, np.ndarray]:
    """The raw answers of ``impl`` for one check, as a flat dict of arrays (it crosses processes as .npz).

    ``predictions`` is not a parity check: the output on the check batch before training, after the
    first step and after the last (K) of the shared schedule, for ``nnparity divergences``.
    """
    spec = case.spec
    kw = dict(dtype=case.dtype, device=case.device)
    if hasattr(impl, "native"):
        impl.native = frozenset(case.native)
    declined = unsupported(impl, spec_for(case, check))
    if declined:
        raise Unsupported(declined)
    if check == "weights":
        h = impl.build(spec, [w.copy() for w in case.weights], **kw)
        return {f"w{i}": w for i, w in enumerate(impl.weights(h))}
    if check == "forward":
        h = impl.build(spec, case.weights, **kw)
        out = {"output": impl.forward(h, case.x)}
        if hasattr(impl, "layer_outputs"):
            out.update({f"layer{i}": a for i, a in enumerate(impl.layer_outputs(h, case.x))})
        return out
    if check in ("loss", "grads"):
        h = impl.build(spec, case.weights, **kw)
        loss, grads = impl.loss_and_grads(h, case.x, case.y)
        return {"loss": np.asarray(loss, dtype=np.float64), **{f"g{i}": g for i, g in enumerate(grads)}}
    if check == "large-logits":
        h = impl.build(spec, case.large_weights, **kw)
        out = {"output": impl.forward(h, case.x)}
        loss, grads = impl.loss_and_grads(h, case.x, case.y)
        return {**out, "loss": np.asarray(loss, dtype=np.float64), **{f"g{i}": g for i, g in enumerate(grads)}}
    if check.startswith("step-"):
        h = impl.build(dataclasses.replace(spec, optimizer=optimizer_spec(check[5:])), case.weights, **kw)
        out = {}
        for s in range(STEP_COUNT):
            _, grads = impl.loss_and_grads(h, case.x, case.y)
            out.update({f"s{s}g{i}": g for i, g in enumerate(grads)})
            out.update({f"s{s}w{i}": w for i, w in enumerate(impl.step(h, case.x, case.y))})
        return out
    if check == "predictions":
        h = impl.build(spec, case.weights, **kw)
        out = {"p0": impl.forward(h, case.x)}
        for s, idx in enumerate(case.batches):
            impl.step(h, case.pool_x[idx], case.pool_y[idx])
            if s == 0:
                out["p1"] = impl.forward(h, case.x)
        out["pK"] = impl.forward(h, case.x)
        return out
    if check == "trajectory":
        h = impl.build(spec, case.weights, **kw)
        out, weights = {}, case.weights
        for s, idx in enumerate(case.batches):
            weights = impl.step(h, case.pool_x[idx], case.pool_y[idx])
            out.update({f"s{s}w{i}": np.asarray(w).reshape(-1)[case.samples[i]] for i, w in enumerate(weights)})
        out.update({f"final{i}": w for i, w in enumerate(weights)})
        return out
    raise ValueError(f"unknown check {check!r}")
