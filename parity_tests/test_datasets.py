import gzip
import hashlib

import numpy as np
import pytest

from reference import datasets, fashion_mnist
from reference import spec as S
from reference.errors import DatasetError


def test_digits_shape():
    raw = datasets.raw("digits", {"target": "digit"})
    assert raw.x.shape == (1797, 64) and raw.x.max() == 16
    even = datasets.raw("digits", {"target": "even"})
    assert np.array_equal(even.labels, (raw.labels % 2 == 0).astype(int))


def test_breast_cancer_document_split():
    # seed-results.md 1: 4 features, test_size 0.1 of seed 0 -> 512 / 57, test class counts [22, 35].
    data = datasets.for_spec(S.load("breast_cancer_relu10"))
    assert data.x_train.shape == (512, 4) and data.x_test.shape == (57, 4)
    assert np.bincount(data.labels_test).tolist() == [22, 35]
    assert data.y_train.shape == (512, 2) and np.all(data.y_train.sum(1) == 1)
    full = datasets.raw("breast_cancer", {"features": "all"})
    assert full.x.shape == (569, 30)
    assert np.array_equal(datasets.raw("breast_cancer", {"features": [1, 2, 5, 8]}).x, full.x[:, [1, 2, 5, 8]])


def test_gates_and_regression():
    xor = datasets.raw("gates", {"gate": "xor"})
    assert xor.x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and xor.labels.tolist() == [0, 1, 1, 0]
    x = np.array([[1.0, 2.0], [0.0, 0.0]])
    assert datasets.regression_function(x).tolist() == [1 + 6 + 4 + 5, 5]


def test_fashion_mnist_files_and_first_images(fashion512):
    f = fashion_mnist.load()
    assert f.x_train.shape == (60000, 784) and f.x_test.shape == (10000, 784)
    assert f.y_train.max() == 9 and np.bincount(f.y_train).tolist() == [6000] * 10
    x, labels = fashion512
    assert x.shape == (512, 784) and 0 <= x.min() and x.max() <= 1
    assert labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # the official first ten training labels


def test_fashion_spec_prepends_ones_and_divides_by_255():
    data = datasets.for_spec(S.load("fashion_sigmoid400_numpy"))
    assert data.x_train.shape == (60000, 785) and np.all(data.x_train[:, 0] == 1.0)
    assert data.x_train[0, 1:].max() == 1.0 and data.y_train.shape == (60000, 10)


def _write_corrupt(dirpath, name):
    data = bytearray(gzip.decompress(fashion_mnist._find(name).read_bytes()))
    data[100] ^= 0xFF
    (dirpath / f"{name}.gz").write_bytes(gzip.compress(bytes(data)))


def test_corrupt_file_is_a_checksum_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NNPARITY_DATA_DIR", str(tmp_path))
    _write_corrupt(tmp_path, "t10k-labels-idx1-ubyte")
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        fashion_mnist.read("t10k-labels-idx1-ubyte")


def test_download_is_verified_and_atomic(tmp_path, monkeypatch):
    """With a file nowhere on disk the loader downloads it; a corrupt download leaves nothing behind."""
    name = "t10k-labels-idx1-ubyte"
    original = fashion_mnist._find(name).read_bytes()
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    mirror.mkdir()
    monkeypatch.setattr(fashion_mnist, "search_dirs", lambda: [cache])
    monkeypatch.setenv("NNPARITY_FASHION_MNIST_URL", mirror.as_uri() + "/")
    corrupt = bytearray(gzip.decompress(original))
    corrupt[100] ^= 0xFF
    (mirror / f"{name}.gz").write_bytes(gzip.compress(bytes(corrupt)))
    with pytest.raises(DatasetError, match="failed verification .* and was discarded"):
        fashion_mnist.read(name)
    assert list(cache.iterdir()) == []

    (mirror / f"{name}.gz").write_bytes(original)
    assert fashion_mnist.read(name).shape == (10000,)
    assert [p.name for p in cache.iterdir()] == [f"{name}.gz"]
    stored = gzip.decompress((cache / f"{name}.gz").read_bytes())
    assert hashlib.sha256(stored).hexdigest() == fashion_mnist.FILES[name][1]


def test_missing_dataset_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "search_dirs", lambda: [tmp_path / "nothing"])
    monkeypatch.setenv("NNPARITY_FASHION_MNIST_URL", (tmp_path / "no-mirror").as_uri() + "/")
    with pytest.raises(DatasetError, match="dataset-fashion-mnist"):
        fashion_mnist.read("train-labels-idx1-ubyte")
