# Two entry points for a fresh machine: `make run` (the main job) and `make test` (the suite).
# Both create .venv, install the pinned dependencies and the Fashion-MNIST files, then do their job.
# The install is stamped: a second run with pyproject.toml unchanged skips it.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: run test data install clean

run: install data
	$(VENV)/bin/nnparity parity

test: install data
	$(VENV)/bin/python -m pytest

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
