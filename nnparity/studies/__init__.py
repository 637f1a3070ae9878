"""``nnparity reproduce``: the documents' results, rerun in NumPy, PyTorch and Keras.

Each study module has ``NAME``, ``TITLE`` and ``run(ctx) -> dict``; ``catalog.py`` lists them. The
command writes the dict (with provenance) and the plots under ``results/<study>/`` and regenerates
``results/README.md``.
"""
