"""Fashion-MNIST from the four official IDX files, verified by SHA-256, offline first.

Search order: ``$NNPARITY_DATA_DIR``, ``~/.keras/datasets/fashion-mnist`` (Keras's cache),
``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``). Only when a file is in
none of them is it downloaded from the official mirror, into the first writable of
``$NNPARITY_DATA_DIR`` or the Keras cache, through a temporary file that is verified before it is
renamed into place: an interrupted or corrupt download never leaves a file behind.

The checksums are of the *decompressed* bytes: Debian recompressed the ``.gz`` files, so their
own hashes differ from the official ones while the IDX content is identical
(research/fashion-mnist-data.md).
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reference.errors import DatasetError

FILES = {
    "train-images-idx3-ubyte": (47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte": (60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte": (7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte": (10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
HOW_TO_INSTALL = (
    "install Debian's package (sudo apt-get install dataset-fashion-mnist; `make run` and `make test` do it), "
    "or put the four .gz files in $NNPARITY_DATA_DIR."
)


@dataclass(frozen=True)
class FashionMNIST:
    x_train: np.ndarray  # (60000, 784) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 784) uint8
    y_test: np.ndarray  # (10000,) uint8


def search_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("NNPARITY_DATA_DIR"):
        dirs.append(Path(os.environ["NNPARITY_DATA_DIR"]))
    dirs.append(Path.home() / ".keras" / "datasets" / "fashion-mnist")
    dirs.append(Path("/usr/share/datasets/fashion-mnist"))
    return dirs


def _mismatch(data: bytes, name: str) -> str | None:
    """Why ``data`` is not the official decompressed ``name``, or None."""
    size, digest = FILES[name]
    if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
        return (f"checksum mismatch (the SHA-256 of the decompressed bytes is not the official {digest[:12]}..., "
                f"size {len(data):,} vs {size:,}): corrupt, truncated or not Fashion-MNIST")
    return None


def _decompress(raw: bytes, limit: int) -> bytes:
    """The gzip's content (by its magic bytes, not the name), at most ``limit`` + 1 bytes: a file that inflates
    past the official size is not Fashion-MNIST, and is not inflated further (a gzip bomb stays small)."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, limit + 1)
    return out


def _verified_bytes(path: Path, name: str) -> bytes:
    """The decompressed content of ``path``, or a DatasetError naming the file."""
    try:
        if path.stat().st_size > FILES[name][0] + (1 << 20):  # a gzip is never much larger than what it holds
            raise DatasetError(f"{path}: {path.stat().st_size:,} bytes, larger than the official {name} could be. "
                               f"Delete it, then: {HOW_TO_INSTALL}")
        data = _decompress(path.read_bytes(), FILES[name][0])
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read this Fashion-MNIST file ({exc}). Delete it, then: {HOW_TO_INSTALL}") from None
    why = _mismatch(data, name)
    if why:
        raise DatasetError(f"{path}: {why}. Delete it, then: {HOW_TO_INSTALL}")
    return data


def _find(name: str) -> Path | None:
    for d in search_dirs():
        for candidate in (d / f"{name}.gz", d / name):
            if candidate.is_file():
                return candidate
    return None


def _download(name: str) -> Path:
    """Fetch ``name``.gz from the official mirror into the cache, atomically, with a progress bar."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    base = os.environ.get("NNPARITY_FASHION_MNIST_URL", OFFICIAL_URL)
    dest_dir = search_dirs()[0]  # $NNPARITY_DATA_DIR if set, else the Keras cache
    url = f"{base}{name}.gz"
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
    except OSError as exc:
        raise DatasetError(f"Fashion-MNIST: {name} is not on this machine and {dest_dir} is not writable ({exc}). {HOW_TO_INSTALL}") from None
    tmp_path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True) as bar:
                task = bar.add_task(f"downloading {name}.gz", total=total)
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.advance(task, len(chunk))
        try:
            why = _mismatch(_decompress(tmp_path.read_bytes(), FILES[name][0]), name)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            why = f"not a readable gzip file ({exc})"
        if why:
            raise DatasetError(f"{url}: the download failed verification ({why}) and was discarded; {HOW_TO_INSTALL}")
        final = dest_dir / f"{name}.gz"
        os.replace(tmp_path, final)
        return final
    except OSError as exc:
        dirs = ", ".join(str(d) for d in search_dirs())
        raise DatasetError(f"Fashion-MNIST: {name}.gz is in none of {dirs}, and downloading {url} failed ({exc}); {HOW_TO_INSTALL}") from None
    finally:
        tmp_path.unlink(missing_ok=True)


def _parse_idx(data: bytes, name: str) -> np.ndarray:
    magic = int.from_bytes(data[:4], "big")
    if magic == 0x00000803:  # images: count, rows, cols, then uint8 pixels
        n, rows, cols = (int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    if magic == 0x00000801:  # labels: count, then uint8 labels
        return np.frombuffer(data, dtype=np.uint8, offset=8)
    raise DatasetError(f"{name}: not an IDX file (magic {magic:#010x})")


def read(name: str) -> np.ndarray:
    """One verified IDX file as an array, from disk or, as a last resort, the official mirror."""
    path = _find(name) or _download(name)
    return _parse_idx(_verified_bytes(path, name), name)


@functools.lru_cache(maxsize=1)
def load() -> FashionMNIST:
    return FashionMNIST(*(read(n) for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")))
