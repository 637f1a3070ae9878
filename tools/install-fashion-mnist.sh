#!/usr/bin/env bash
# Makes the four official Fashion-MNIST IDX files available offline, or says why it could not.
# Search order (the same as reference/fashion_mnist.py): $NNPARITY_DATA_DIR, ~/.keras/datasets/fashion-mnist,
# /usr/share/datasets/fashion-mnist. When none holds all four files, installs Debian's dataset-fashion-mnist.
# A second run finds the files and does nothing. Never fatal: the loader gives the precise error later.
set -u
files="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
for dir in "${NNPARITY_DATA_DIR:-}" "$HOME/.keras/datasets/fashion-mnist" /usr/share/datasets/fashion-mnist; do
  [ -n "$dir" ] || continue
  found=1
  for f in $files; do [ -f "$dir/$f" ] || found=0; done
  [ "$found" = 1 ] && exit 0
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo "note: Fashion-MNIST not found and apt-get is unavailable; see README (Datasets) for where to put the files." >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo "note: Fashion-MNIST not found; run 'sudo apt-get install dataset-fashion-mnist' (see README, Datasets)." >&2
    exit 0
  fi
fi
echo "installing Debian package dataset-fashion-mnist (30 MB) ..." >&2
$sudo apt-get update -qq >/dev/null 2>&1
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
  || echo "note: apt-get could not install dataset-fashion-mnist; see README (Datasets)." >&2
exit 0
