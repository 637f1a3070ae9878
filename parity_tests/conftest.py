"""Shared fixtures: small slices of the real datasets, loaded once per session."""
from __future__ import annotations

import numpy as np
import pytest

from reference import datasets, fashion_mnist


@pytest.fixture(scope="session")
def digits():
    """The first 64 real digits, pixels / 16, with their labels."""
    raw = datasets.raw("digits", {"target": "digit"})
    return raw.x[:64] / 16.0, raw.labels[:64]


@pytest.fixture(scope="session")
def fashion512():
    """The first 512 Fashion-MNIST training images (pixels / 255) and labels."""
    f = fashion_mnist.load()
    return f.x_train[:512].astype(np.float64) / 255.0, f.y_train[:512].astype(np.int64)
