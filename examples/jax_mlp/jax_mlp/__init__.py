"""A plain-JAX MLP behind nnparity's implementation protocol."""
from jax_mlp.implementation import JaxMLP

__all__ = ["JaxMLP"]
