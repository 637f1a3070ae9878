"""The oracle: spec language, datasets, batch schedule and the NumPy network.

Nothing here imports torch, keras or the ``nnparity`` tool; the arrows point one way.
"""
