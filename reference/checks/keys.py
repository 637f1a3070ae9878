"""The names of the arrays in a check's answers: one vocabulary for the implementations' answers, the judge,
the hints and the golden files (``docs/golden-format.md``), instead of ad hoc strings in each.

A weight, a gradient or a state tensor is keyed by its canonical name (``layers[2].gamma``) under its role;
multi-step answers prefix the step. Every key is a plain string, so answers cross processes as ``.npz``.
"""
from __future__ import annotations

OUTPUT = "output"
LOSS = "loss"


def weight(name: str) -> str:
    return f"weights/{name}"


def grad(name: str) -> str:
    return f"grads/{name}"


def state(name: str) -> str:
    return f"state/{name}"


def layer_output(i: int) -> str:
    return f"outputs/layers[{i}]"


def at_step(step: int, key: str) -> str:
    return f"step{step}/{key}"


def final(key: str) -> str:
    return f"final/{key}"


# The inputs of a case (Case.to_arrays, a golden folder's inputs.npz): weights and state under the keys
# above, and these.
def large(key: str) -> str:
    """A tensor of the large-logits check's weights."""
    return f"large/{key}"


def sample(name: str) -> str:
    """The flat (C-order) indices of a tensor's elements a trajectory compares at every step."""
    return f"sample/{name}"


def batch(k: int) -> str:
    """The row indices into the pool of trajectory step k."""
    return f"batch{k}"


def check_mask(step: int, layer: str) -> str:
    return f"check_mask{step}/{layer}"


def batch_mask(k: int, layer: str) -> str:
    return f"batch_mask{k}/{layer}"


def scale(key: str) -> str:
    """The operand scale of an answer (reference/magnitudes.py), stored beside the reference's answers."""
    return f"scale/{key}"


def is_scale(key: str) -> bool:
    return key.startswith("scale/")
