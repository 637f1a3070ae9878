"""Golden files: every parity case written to disk, so an implementation in any language can be checked.

Layout (``docs/golden-format.md`` documents it for readers without Python)::

    DIR/index.json                      {"format": "nnparity-golden/1", "cases": [...], "provenance": {...}}
    DIR/<case>/manifest.json            the spec, dtype, tensor names, per-check tolerances, files with SHA-256
    DIR/<case>/inputs.npz               weights, inputs, targets, batch indices
    DIR/<case>/expected-*.npz           the reference's answers, one file per check

``export`` (export.py) computes the reference's answers and the tolerances once. ``verify`` (read.py)
trusts nothing it reads: every name in the index and the manifests must be a plain name inside the
golden folder, every manifest is validated field by field, every file a check reads must be listed and
match its size and SHA-256 — all before any check runs — and then each check is judged as ``nnparity
parity`` judges it, hints included, against the stored answers and tolerances.
"""
from nnparity.golden.export import export
from nnparity.golden.read import FORMAT, GoldenError, check_index, verify
from nnparity.golden.read import sha256 as _sha256

__all__ = ["FORMAT", "GoldenError", "check_index", "export", "verify", "_sha256"]
