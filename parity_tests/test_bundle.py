"""Arrays between the runner and its workers (reference/bundle.py): every dtype and shape the checks send
comes back equal, writable, and nothing that could hold a Python object is written or read."""
import json
import struct

import numpy as np
import pytest

from reference import bundle


def test_arrays_round_trip_with_their_dtype_and_shape(tmp_path, digits):
    x, labels = digits
    arrays = {"x": x, "x32": x.astype(np.float32), "labels": labels, "scalar": np.float64(0.1), "int0d": np.array(7),
              "mask": x > 0.5, "empty": np.zeros((0, 4)), "strided": x[:, ::3], "weights/layers[0].kernel": x[:8].T}
    bundle.save(tmp_path / "a", arrays)
    back = bundle.load(tmp_path / "a")
    assert list(back) == list(arrays)
    for key, value in arrays.items():
        value = np.asarray(value)
        assert back[key].dtype == value.dtype and back[key].shape == value.shape and np.array_equal(back[key], value), key
    back["x"][0, 0] = -1.0  # the implementations may write to what they are given


def test_objects_are_neither_written_nor_read(tmp_path):
    with pytest.raises(TypeError, match="numbers and booleans only"):
        bundle.save(tmp_path / "a", {"o": np.array([{"a": 1}], dtype=object)})
    head = json.dumps({"o": ["|O", [1], 0]}).encode()
    (tmp_path / "b").write_bytes(struct.pack("<Q", len(head)) + head + b"\0" * 8)
    with pytest.raises(ValueError, match="only numbers and booleans"):
        bundle.load(tmp_path / "b")
