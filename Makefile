# Two entry points for a fresh machine: `make run` (the main job) and `make test` (the suite).
# Both create .venv, install the pinned dependencies and the Fashion-MNIST files, then do their job.
# The install is stamped: a second run with pyproject.toml unchanged skips it.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: run test lint data install clean

# The default matrix, then the data-parallel cells of a representative subset: torch, Keras on JAX and Keras on
# TensorFlow over 2 replicas on a network whose batch leaves each replica 2 rows (gates_xor: Adam, cross-entropy),
# a regression (regression_sigmoid10: mean squared error, SGD on shuffled batches of 10), L2 and batch normalization
# with global statistics and a short last batch (breast_cancer_relu10_bn: 100, 100, then 56 rows; synchronised on JAX
# and TensorFlow; torch declines it) and with per-replica statistics (coverage_replica_batch_norm: DDP's; the Keras
# engines decline it). Within 120 s with the matrix, warm. (Over 2 replicas every bundled batch splits evenly but
# the online-SGD ones, 1 row and 0: uneven shards are the tests' and the N = 3 and 4 runs'.)
REPLICA_SPECS := gates_xor regression_sigmoid10 breast_cancer_relu10_bn coverage_replica_batch_norm

run: install data
	$(VENV)/bin/nnparity parity
	$(VENV)/bin/nnparity parity --replicas 2 --impl torch --impl keras-jax --impl keras-tensorflow $(addprefix --spec ,$(REPLICA_SPECS))

# Two pytest workers, each test file on one of them (--dist loadfile: a module's shared fixtures, such as the
# parity matrix's single run, are computed once): most tests wait on subprocesses that use one core.
test: install data lint
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile

lint: install
	$(VENV)/bin/ruff check --quiet .

install: $(STAMP)

# The example outside implementations (examples/) are installed too: their entry points are what
# `nnparity check --impl jax-mlp` (or nielsen) and the tests find.
$(STAMP): pyproject.toml examples/jax_mlp/pyproject.toml examples/nielsen_network/pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' -e examples/jax_mlp -e examples/nielsen_network
	touch $(STAMP)

data:
	@tools/install-fashion-mnist.sh

clean:
	rm -rf $(VENV) *.egg-info
