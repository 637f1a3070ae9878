"""Michael Nielsen's network.py behind nnparity's implementation protocol: a partial implementation."""
from nielsen_network.implementation import Nielsen

__all__ = ["Nielsen"]
