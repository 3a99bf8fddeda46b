# rnn-parity. `make test` and `make report` work from a fresh clone: the first run creates
# .venv and installs the project with its test dependencies (torch pinned to 2.13.0, CPU).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# One BLAS/OpenMP thread per process: pytest-xdist already uses every core.
export OMP_NUM_THREADS=1
export OPENBLAS_NUM_THREADS=1
export MKL_NUM_THREADS=1

IMPL_FLAGS = $(if $(IMPL),--rnn-impl $(IMPL)) $(if $(CELL_IMPL),--cell-impl $(CELL_IMPL)) $(if $(CONVENTION),--convention $(CONVENTION))

.PHONY: test report check thorough train-demo bench install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest -n auto

report: $(VENV)/.installed
	$(PY) -m parity_tests.tools.report $(IMPL_FLAGS) --plot report/parity.png --json report/parity.json

check: $(VENV)/.installed
	@test -n "$(IMPL)$(CELL_IMPL)" || { echo "usage: make check IMPL=module:Class [CELL_IMPL=module:Class] [CONVENTION=column|rows]"; exit 2; }
	$(PY) -m pytest -n auto $(IMPL_FLAGS)

# The seeds' training tasks, scratch and torch side by side; writes report/train_demo.png
train-demo: $(VENV)/.installed
	$(PY) -m parity_tests.tools.train_demo --out report/train_demo.png

# scratch vs torch.nn.RNN, forward + backward, both pinned to one thread (the exports
# above): the per-core comparison, free of one library's spinning threads slowing the
# other's. Writes bench/results.json. No test asserts a time.
bench: $(VENV)/.installed
	$(PY) -m parity_tests.tools.bench --out bench/results.json

# Deep run: make thorough SEED=3 [IMPL=...]
thorough: $(VENV)/.installed
	$(PY) -m pytest -n auto --hypothesis-profile thorough $(if $(SEED),--hypothesis-seed $(SEED)) $(IMPL_FLAGS)

clean:
	rm -rf $(VENV) .hypothesis .pytest_cache *.egg-info
