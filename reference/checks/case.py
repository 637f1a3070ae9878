"""A parity case: one spec at one dtype and device, with everything an implementation is given.

The canonical weights (drawn from the spec's seed, rounded to the dtype) and the state they start with, a
check batch (the first 64 training rows) and a pool (the first 256) with the first K batches of the shared
schedule, the pool rows' sample weights where the spec draws them (``reference/weighting.py``), the dropout
masks of every step (drawn by the oracle, ``reference/masks.py``), the weights of
the large-logits check, and the elements of each tensor a trajectory compares at every step.

``to_arrays`` / ``from_arrays`` are the one serialization of a case: a worker process receives it that way,
and a golden folder stores it that way (``inputs.npz`` and the manifest).
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

import numpy as np

from reference import datasets, weighting
from reference import native as N
from reference import spec as S
from reference.batches import BatchSchedule
from reference.checks import keys as K
from reference.masks import Masks, dropout_masks
from reference.weights import init_state, init_weights, state_names, tensor_names

CHECK_ROWS = 64
POOL_ROWS = 256
TRAJECTORY_STEPS = 50
STEP_COUNT = 2
SAMPLE = 4096
LARGE_LOGIT = {"float64": 1000.0, "float32": 150.0}  # beyond exp()'s overflow at 709.8 and 88.7

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
    native: frozenset = frozenset()  # native-mode aspects (reference/native.py); empty for the parity checks
    large_weights: list[np.ndarray] = field(default_factory=list)  # the weights of the large-logits check
    state: list[np.ndarray] = field(default_factory=list)  # the state the weights start with (moving statistics)
    check_masks: list[Masks] = field(default_factory=list)  # dropout masks of the check batch, steps 0..STEP_COUNT-1
    batch_masks: list[Masks] = field(default_factory=list)  # dropout masks of each trajectory step
    sample_weight: np.ndarray | None = None  # the pool rows' sample weights (reference/weighting.py), if the spec has them
    replicas: int = 1  # data-parallel replicas the implementation trains over (reference/replicas.py); 1: one process
    # Identifies the case to a worker process. Not id(case): CPython reuses the ids of freed objects.
    uid: int = field(default_factory=lambda: next(_CASE_UIDS), init=False)

    @property
    def names(self) -> list[str]:
        return tensor_names(self.spec)

    @property
    def state_names(self) -> list[str]:
        return state_names(self.spec)

    @property
    def steps_per_epoch(self) -> int:
        """Steps in one epoch of the pool (where a per-epoch schedule's epochs end in ``batches``)."""
        return BatchSchedule(len(self.pool_x), min(self.spec.training.batch_size, len(self.pool_x)), 1, 0).steps_per_epoch

    def as_float64(self) -> Case:
        """The same numbers in float64: what the reference computes a float32 case from."""
        return self.as_dtype("float64")

    def as_dtype(self, dtype: str) -> Case:
        """The same numbers in ``dtype`` (rounded, for float32), on the cpu."""
        cast = lambda a: a if a.dtype.kind != "f" else a.astype(dtype)
        return dataclasses.replace(self, dtype=dtype, device="cpu", weights=[cast(w) for w in self.weights],
                                   x=cast(self.x), y=cast(self.y), pool_x=cast(self.pool_x), pool_y=cast(self.pool_y),
                                   large_weights=[cast(w) for w in self.large_weights], state=[cast(s) for s in self.state],
                                   sample_weight=None if self.sample_weight is None else cast(self.sample_weight))

    def weights_of(self, rows) -> np.ndarray | None:
        """The sample weights of the pool rows ``rows`` (the check batch is the first ``len(x)``), or None."""
        return None if self.sample_weight is None else self.sample_weight[rows]

    # ---- the one serialization: JSON metadata and arrays --------------------------------------------

    def to_arrays(self) -> tuple[dict, dict]:
        names = self.names
        arrays = {"x": self.x, "y": self.y, "pool_x": self.pool_x, "pool_y": self.pool_y}
        arrays.update({K.weight(n): w for n, w in zip(names, self.weights)})
        arrays.update({K.large(K.weight(n)): w for n, w in zip(names, self.large_weights)})
        arrays.update({K.sample(n): s for n, s in zip(names, self.samples)})
        arrays.update({K.state(n): s for n, s in zip(self.state_names, self.state)})
        arrays.update({K.batch(k): b for k, b in enumerate(self.batches)})
        if self.sample_weight is not None:
            arrays["sample_weight"] = self.sample_weight
        for key, masks in ((K.check_mask, self.check_masks), (K.batch_mask, self.batch_masks)):
            for s, by_layer in enumerate(masks):
                arrays.update({key(s, layer): m for layer, m in by_layer.items()})
        meta = {"spec": S.to_dict(self.spec), "dtype": self.dtype, "device": self.device, "n_batches": len(self.batches),
                "native": N.keys(self.native), "mask_layers": sorted({layer for m in self.check_masks for layer in m}),
                "replicas": self.replicas}
        return meta, arrays

    @classmethod
    def from_arrays(cls, meta: dict, arrays: dict, spec: S.Spec | None = None) -> Case:
        spec = spec or S.from_dict(meta["spec"], "case")
        names, b = tensor_names(spec), meta["n_batches"]
        layers = meta.get("mask_layers", [])

        def masks(key, steps: int) -> list[Masks]:
            return [{layer: arrays[key(s, layer)] for layer in layers} for s in range(steps)] if layers else []

        large = [arrays[K.large(K.weight(n))] for n in names if K.large(K.weight(n)) in arrays]
        return cls(spec, meta["dtype"], meta["device"], [arrays[K.weight(n)] for n in names], arrays["x"], arrays["y"],
                   arrays["pool_x"], arrays["pool_y"], [arrays[K.batch(k)] for k in range(b)],
                   [arrays[K.sample(n)] for n in names if K.sample(n) in arrays], N.from_keys(meta.get("native", ())),
                   large, [arrays[K.state(n)] for n in state_names(spec)],
                   masks(K.check_mask, STEP_COUNT), masks(K.batch_mask, b), arrays.get("sample_weight"),
                   int(meta.get("replicas", 1)))


def large_logit_weights(spec: S.Spec, weights: list[np.ndarray], state: list[np.ndarray], x: np.ndarray, masks: Masks,
                        dtype: str) -> list[np.ndarray]:
    """The weights with the output layer's kernel and bias (the last dense layer's, found by kind) scaled so that
    max |z^L| on x, in inference and training mode alike, is LARGE_LOGIT[dtype]."""
    from reference.network import Network

    net = Network(spec, weights, dtype="float64", state=state)
    x64 = np.asarray(x, dtype=np.float64)
    z = max(float(np.abs(net.forward(x64, training=t, masks=masks)[-1][1][1]).max()) for t in (False, True))
    factor = LARGE_LOGIT[dtype] / max(z, 1e-300)
    output = len(spec.layers) - 1
    names = tensor_names(spec)
    scaled = [np.array(w, copy=True) for w in weights]
    for i, name in enumerate(names):
        if name.startswith(f"layers[{output}]."):
            scaled[i] = (scaled[i].astype(np.float64) * factor).astype(dtype)
    return scaled


def make_case(spec: S.Spec, dtype: str, device: str = "cpu", steps: int = TRAJECTORY_STEPS,
              native: frozenset = frozenset(), replicas: int = 1) -> Case:
    data = datasets.for_spec(spec, dtype=np.float64, train_rows=POOL_ROWS)
    cast = lambda a: a.astype(dtype) if a.dtype.kind == "f" else a
    pool_x, pool_y = cast(data.x_train), cast(data.y_train)
    sched = BatchSchedule(len(pool_x), min(spec.training.batch_size, len(pool_x)), spec.training.epochs,
                          spec.training.schedule_seed, spec.training.shuffle)
    weights = [w.astype(dtype) for w in init_weights(spec)]
    state = [s.astype(dtype) for s in init_state(spec)]
    rng = np.random.default_rng(0)
    samples = [np.arange(w.size) if w.size <= SAMPLE else np.sort(rng.choice(w.size, SAMPLE, replace=False)) for w in weights]
    x, y = pool_x[:CHECK_ROWS], pool_y[:CHECK_ROWS]
    batches = sched.first(steps)
    check_masks = [dropout_masks(spec, s, len(x)) for s in range(STEP_COUNT)] if _has_dropout(spec) else []
    batch_masks = [dropout_masks(spec, s, len(b)) for s, b in enumerate(batches)] if _has_dropout(spec) else []
    large = large_logit_weights(spec, weights, state, x, check_masks[0] if check_masks else {}, dtype)
    sample_weight = weighting.sample_weights(spec, len(pool_x))
    return Case(spec, dtype, device, weights, x, y, pool_x, pool_y, batches, samples, frozenset(native), large, state,
                check_masks, batch_masks, None if sample_weight is None else sample_weight.astype(dtype), replicas)


def _has_dropout(spec: S.Spec) -> bool:
    return any(layer.type == "dropout" for layer in spec.layers)
