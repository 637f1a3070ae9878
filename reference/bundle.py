"""How arrays cross between the runner and a worker process: one file, a JSON header and the raw bytes.

A check's answers are many small arrays (a trajectory: every tensor at each of 50 steps), and ``.npz``
costs per array what these arrays do not need — a ZIP member, a Python-literal header parsed with
``ast.literal_eval`` — about 0.3 ms each: decoding the answers took more CPU in the runner than the
reference's own computations (measured on the default matrix, 23,000 arrays per implementation). Here a
bundle is read with one ``read`` and one ``frombuffer`` view per array.

Layout: 8 bytes little-endian header length, the UTF-8 JSON header ``{key: [dtype, shape, offset]}``
(``dtype`` as ``numpy.dtype.str``, numeric and bool only: nothing that could hold a Python object),
then each array's C-order bytes at its offset from the end of the header, 64-byte aligned.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

ALIGN = 64
KINDS = "biufc"  # bool, integers, floats, complex: plain bytes


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def save(path: str | Path, arrays: dict) -> None:
    Path(path).write_bytes(dumps(arrays))


def load(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays, writable views into one buffer read from ``path``."""
    with open(path, "rb") as f:  # read into the buffer the arrays will view: no second copy of the bytes
        data = bytearray(os.fstat(f.fileno()).st_size)
        if f.readinto(data) != len(data):
            raise ValueError(f"{path}: the file changed while it was read")
    return loads(data, str(path))


def dumps(arrays: dict) -> bytes:
    """The bundle's bytes (a file's contents, or a message between replicas)."""
    header, blobs, offset = {}, [], 0
    for key, value in arrays.items():
        a = np.asarray(value)
        if not a.flags.c_contiguous:
            a = a.copy(order="C")
        if a.dtype.kind not in KINDS:
            raise TypeError(f"array {key!r} has dtype {a.dtype}; a bundle holds numbers and booleans only")
        header[key] = [a.dtype.str, list(a.shape), offset]
        blobs.append((offset, a))
        offset = _aligned(offset + a.nbytes)
    head = json.dumps(header).encode()
    out = bytearray(8 + len(head) + offset)
    struct.pack_into("<Q", out, 0, len(head))
    out[8:8 + len(head)] = head
    start = 8 + len(head)
    for at, a in blobs:
        if a.nbytes:
            out[start + at:start + at + a.nbytes] = a.tobytes()
    return bytes(out)


def loads(data: bytearray, source: str = "bundle") -> dict[str, np.ndarray]:
    """The arrays, writable views into ``data``."""
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(bytes(data[8:8 + n]))
    start, out = 8 + n, {}
    for key, (dtype, shape, offset) in header.items():
        dt = np.dtype(dtype)
        if dt.kind not in KINDS:
            raise ValueError(f"{source}: array {key!r} has dtype {dtype}; only numbers and booleans are read")
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            out[key] = np.empty(shape, dtype=dt)
            continue
        out[key] = np.frombuffer(data, dtype=dt, count=count, offset=start + offset).reshape(shape)
    return out
