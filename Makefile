# rnn-parity. `make test` and `make report` work from a fresh clone: the first run creates
# .venv and installs the project with its test dependencies (torch pinned to 2.13.0, the
# CPU build, through constraints.txt), showing pip's own progress.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/rnn-parity
# One BLAS/OpenMP thread per process: pytest-xdist already uses every core.
export OMP_NUM_THREADS=1
export OPENBLAS_NUM_THREADS=1
export MKL_NUM_THREADS=1

IMPL_FLAGS = $(if $(IMPL),--rnn-impl $(IMPL)) $(if $(CELL_IMPL),--cell-impl $(CELL_IMPL)) \
             $(if $(LSTM_IMPL),--lstm-impl $(LSTM_IMPL)) $(if $(GRU_IMPL),--gru-impl $(GRU_IMPL)) \
             $(if $(LSTM_CELL_IMPL),--lstm-cell-impl $(LSTM_CELL_IMPL)) \
             $(if $(GRU_CELL_IMPL),--gru-cell-impl $(GRU_CELL_IMPL)) \
             $(foreach o,$(GATE_ORDER),--gate-order $(o)) $(if $(GRU_UPDATE),--gru-update $(GRU_UPDATE)) \
             $(if $(STRICT_DTYPE),--strict-dtype) \
             $(if $(CONVENTION),--convention $(CONVENTION)) $(if $(REDUCTION),--reduction $(REDUCTION))
ANY_IMPL = $(IMPL)$(CELL_IMPL)$(LSTM_IMPL)$(GRU_IMPL)$(LSTM_CELL_IMPL)$(GRU_CELL_IMPL)

.PHONY: test report check thorough train-demo bench install clean mutation

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "== creating $(VENV) and installing rnn-parity with torch==2.13.0 (CPU); the first time takes a few minutes"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar on --upgrade pip
	$(PY) -m pip install --progress-bar on -c constraints.txt -e '.[test]'
	touch $@

test: $(VENV)/.installed
	$(PY) -m pytest -n auto

report: $(VENV)/.installed
	$(CLI) report $(IMPL_FLAGS) --png report/parity.png --json report/parity.json

# Only the parity tests of the plug-ins you give: make check IMPL=mymod:MyRNN [CELL_IMPL=...]
# [LSTM_IMPL=...] [GRU_IMPL=...] [LSTM_CELL_IMPL=...] [GRU_CELL_IMPL=...] [GATE_ORDER="ifco zrh"]
# [GRU_UPDATE=complement] [STRICT_DTYPE=1]
check: $(VENV)/.installed
	@test -n "$(ANY_IMPL)" || { echo "usage: make check IMPL=module:Class [CELL_IMPL=...] [LSTM_IMPL=...] [GRU_IMPL=...] [LSTM_CELL_IMPL=...] [GRU_CELL_IMPL=...] [GATE_ORDER=ORDER] [GRU_UPDATE=complement] [CONVENTION=NAME] [REDUCTION=mean] [STRICT_DTYPE=1]"; exit 2; }
	$(CLI) check $(IMPL_FLAGS) -- -n auto

# The seeds' training tasks, your class (IMPL) or scratch beside torch; writes report/train_demo.png
train-demo: $(VENV)/.installed
	$(CLI) train-demo $(if $(IMPL),--rnn-impl $(IMPL)) --out report/train_demo.png

# scratch vs torch, each side in its own process pinned to the same thread count.
# Writes bench/results.json. No test asserts a time.
bench: $(VENV)/.installed
	$(CLI) bench --out bench/results.json

# Deep run: make thorough SEED=3 [IMPL=...]
thorough: $(VENV)/.installed
	$(PY) -m pytest -n auto --hypothesis-profile thorough $(if $(SEED),--hypothesis-seed $(SEED)) $(IMPL_FLAGS)

# Mutation score of scratch's forward/backward math (docs/mutation.md): mutmut mutates
# scratch/{driver,elman,lstm,gru,functional}.py, runs parity_tests/tests/test_scratch_fixed.py
# (scratch vs torch on fixed small cases) on every mutant, then prints the score and fails on
# any survivor not listed in docs/mutation.md as equivalent. MUTATION_JOBS mutants at a time.
MUTATION_JOBS ?= 2
mutation: $(VENV)/.mutation-installed
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS)
	$(PY) -m parity_tests.tools.mutation.score

$(VENV)/.mutation-installed: $(VENV)/.installed pyproject.toml constraints.txt
	$(PY) -m pip install --progress-bar on -c constraints.txt -e '.[test,mutation]'
	touch $@

clean:
	rm -rf $(VENV) .hypothesis .pytest_cache *.egg-info
