"""The documents' datasets: a registry of what each one is, loaders, splits and target encoding.

Static facts (input width, number of classes, allowed splits, parameters) live in the registry so
that a spec can be validated without loading any data. ``load`` does the rest:

1. the raw arrays (cached per process): scikit-learn's digits and breast cancer, Fashion-MNIST's
   IDX files, or the generated gates and regression function;
2. the split: ``random`` (scikit-learn ``train_test_split`` with ``random_state = seed``, which is
   what the breast-cancer document's ``np.random.seed(0)`` + ``train_test_split`` amounts to),
   ``official`` (Fashion-MNIST's 60,000 / 10,000) or ``none`` (train and test are the whole set);
3. subsets (the first N of each part), then optionally ``x > 0`` (binarize), ``x / divide_by`` and a
   leading column of ones;
4. the targets, encoded for the loss: one-hot, integer labels, or values of shape (N, outputs).
"""
from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reference import fashion_mnist
from reference.losses import LOSSES
from reference.params import Param, choice, flag, int_list, integer, number
from reference.spec import Spec


@dataclass(frozen=True)
class Raw:
    """Features and integer labels (or float values, for regression) before any split."""

    x: np.ndarray
    labels: np.ndarray
    x_test: np.ndarray | None = None  # set only for datasets with an official test set
    labels_test: np.ndarray | None = None


@dataclass(frozen=True)
class Data:
    """A prepared dataset: features in the run's dtype and targets encoded for the loss."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels_train: np.ndarray  # integer classes, or the regression values
    labels_test: np.ndarray
    n_classes: int | None


def _digits(params) -> Raw:
    from sklearn.datasets import load_digits

    d = load_digits()
    labels = d.target if params["target"] == "digit" else (d.target % 2 == 0).astype(np.int64)
    return Raw(d.data, labels.astype(np.int64))


def _breast_cancer(params) -> Raw:
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    cols = list(range(30)) if params["features"] == "all" else params["features"]
    return Raw(d.data[:, cols], d.target.astype(np.int64))


def _fashion_mnist(params) -> Raw:
    f = fashion_mnist.load()
    return Raw(f.x_train, f.y_train.astype(np.int64), f.x_test, f.y_test.astype(np.int64))


GATES = {"xor": [0, 1, 1, 0], "and": [0, 0, 0, 1], "or": [0, 1, 1, 1]}
GATE_INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)


def _gates(params) -> Raw:
    return Raw(GATE_INPUTS.copy(), np.array(GATES[params["gate"]], dtype=np.int64))


def regression_function(x: np.ndarray) -> np.ndarray:
    """The document's f(x0, x1) = x0^2 + 3 x0 x1 + x1^2 + 5."""
    x0, x1 = x[:, 0], x[:, 1]
    return x0**2 + 3 * x0 * x1 + x1**2 + 5


def _regression(params) -> Raw:
    rng = np.random.default_rng(params["seed"])
    x = rng.uniform(params["low"], params["high"], (params["n_samples"], 2))
    y = regression_function(x) + params["noise"] * rng.standard_normal(params["n_samples"])
    return Raw(x, y)


def _feature_list(default="all") -> Param:
    inner = int_list(min=0)

    def check(v):
        if v == "all":
            return None
        why = inner.check(v)
        if why is None and max(v) >= 30:
            return "'all' or column indices in 0..29"
        return None if why is None else "'all' or a list of column indices in 0..29"

    return Param(default, check, "'all' or a list of column indices")


@dataclass(frozen=True)
class DatasetInfo:
    loader: Callable[[dict], Raw]
    params: dict[str, Param]
    input_dim: Callable[[dict], int]
    n_classes: Callable[[dict], int | None]  # None: a regression target
    splits: tuple[str, ...]
    source: str


COMMON_PARAMS = {
    "binarize": flag(False),  # x -> (x > 0), the Stack Overflow listing's x.astype(bool)
    "divide_by": number(1.0, min=0, min_open=True),
    "prepend_ones": flag(False),
    "train_subset": integer(0, min=0),  # 0: all; else the first N training samples
    "test_subset": integer(0, min=0),
}

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        _digits, {"target": choice(("digit", "even"), "digit")}, lambda p: 64,
        lambda p: 10 if p["target"] == "digit" else 2, ("random", "none"),
        "scikit-learn load_digits (1797 8x8 images, pixels 0..16); target 'even' is document 000's even/odd",
    ),
    "breast_cancer": DatasetInfo(
        _breast_cancer, {"features": _feature_list()},
        lambda p: 30 if p["features"] == "all" else len(p["features"]), lambda p: 2, ("random", "none"),
        "scikit-learn load_breast_cancer (569 x 30); document 004 keeps columns 1, 2, 5, 8",
    ),
    "fashion_mnist": DatasetInfo(
        _fashion_mnist, {}, lambda p: 784, lambda p: 10, ("official",),
        "Zalando's Fashion-MNIST IDX files (60000 + 10000 28x28 images, pixels 0..255)",
    ),
    "gates": DatasetInfo(
        _gates, {"gate": choice(tuple(GATES))}, lambda p: 2, lambda p: 2, ("none",),
        "the four rows of a two-input truth table: XOR, AND or OR",
    ),
    "regression": DatasetInfo(
        _regression,
        {"n_samples": integer(100, min=2), "low": number(0.0), "high": number(1.0), "noise": number(0.0, min=0), "seed": integer(0, min=0)},
        lambda p: 2, lambda p: None, ("random", "none"),
        "f(x0, x1) = x0^2 + 3 x0 x1 + x1^2 + 5 on uniform inputs (document 004)",
    ),
}


def input_dim(name: str, params: dict) -> int:
    return DATASETS[name].input_dim(params) + (1 if params["prepend_ones"] else 0)


@functools.lru_cache(maxsize=16)
def _raw_cached(name: str, params_json: str) -> Raw:
    return DATASETS[name].loader(json.loads(params_json))


def raw(name: str, params: dict) -> Raw:
    """The raw arrays, cached per process on the loader's own parameters (not subsets or scaling)."""
    own = {k: v for k, v in params.items() if k in DATASETS[name].params}
    return _raw_cached(name, json.dumps(own, sort_keys=True))


def split(raw_data: Raw, method: str, test_fraction: float, seed: int):
    """(x_train, labels_train, x_test, labels_test) for the split method."""
    if method == "official":
        return raw_data.x, raw_data.labels, raw_data.x_test, raw_data.labels_test
    if method == "none":
        return raw_data.x, raw_data.labels, raw_data.x, raw_data.labels
    from sklearn.model_selection import train_test_split

    x_tr, x_te, l_tr, l_te = train_test_split(raw_data.x, raw_data.labels, test_size=test_fraction, random_state=seed)
    return x_tr, l_tr, x_te, l_te


def encode_targets(labels: np.ndarray, encoding: str, outputs: int, n_classes: int | None, dtype) -> np.ndarray:
    """Targets as the loss expects them: 'onehot', 'labels' (int64) or 'values' of shape (N, outputs)."""
    if encoding == "labels":
        return labels.astype(np.int64)
    if n_classes is None:  # regression values
        return labels.reshape(-1, 1).astype(dtype)
    if encoding == "onehot" or outputs > 1:
        return np.eye(outputs, dtype=dtype)[labels]
    return labels.reshape(-1, 1).astype(dtype)  # a single 0/1 output


def load(name: str, params: dict, split_method: str, test_fraction: float, split_seed: int,
         encoding: str, outputs: int, dtype) -> Data:
    """The prepared dataset; see the module docstring for the order of operations."""
    info = DATASETS[name]
    x_tr, l_tr, x_te, l_te = split(raw(name, params), split_method, test_fraction, split_seed)
    if params["train_subset"]:
        x_tr, l_tr = x_tr[: params["train_subset"]], l_tr[: params["train_subset"]]
    if params["test_subset"]:
        x_te, l_te = x_te[: params["test_subset"]], l_te[: params["test_subset"]]

    def features(x):
        x = (x > 0) if params["binarize"] else x
        x = x.astype(np.float64) / params["divide_by"]  # divided in float64, as the documents do
        if params["prepend_ones"]:
            x = np.hstack([np.ones((len(x), 1)), x])
        return np.ascontiguousarray(x, dtype=dtype)

    n_classes = info.n_classes(params)
    return Data(
        features(x_tr), encode_targets(l_tr, encoding, outputs, n_classes, dtype),
        features(x_te), encode_targets(l_te, encoding, outputs, n_classes, dtype),
        l_tr, l_te, n_classes,
    )


def for_spec(spec: Spec, dtype=None, train_rows: int | None = None) -> Data:
    """The spec's dataset, split and encoded for its loss, in ``dtype`` (default: the spec's).

    ``train_rows`` keeps only the first rows of each part (after any subset the spec asks for):
    the parity checks need a few hundred rows, not 60,000 preprocessed images.
    """
    t = spec.training
    params = dict(t.dataset.params)
    if train_rows is not None:
        params["train_subset"] = min(params["train_subset"] or train_rows, train_rows)
        params["test_subset"] = min(params["test_subset"] or train_rows, train_rows)
    return load(t.dataset.name, params, t.split.method, t.split.test_fraction, t.split.seed,
                LOSSES[spec.loss.name].targets, spec.outputs, np.dtype(dtype or spec.dtype))
