# spike_ssm developer commands. `make test` is all CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pytest exits 5 when a selection collects no tests; that is not a failure here.
PYTEST = $(PY) -m pytest

.PHONY: test test-fast bench peer-venv demo clean-venv
# Benchmarks run in the peer venv (spike_ssm + Spyx 1.0) when it exists, so
# both libraries are timed in one run; `make peer-venv` builds it.
PEER_VENV ?= .venv-peer
BENCH_PY := $(if $(wildcard $(PEER_VENV)/bin/python),$(PEER_VENV)/bin/python,$(PY))

$(STAMP): requirements.txt setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Byte-compile our own code first: where PYTHONDONTWRITEBYTECODE is set (it
# is on this project's machines) nothing else writes .pyc files: every test
# worker and every subprocess a test starts would parse the sources again.
test: $(STAMP)
	$(PY) -m compileall -q spike_ssm experiments configs benchmarks tests >/dev/null
	$(PYTEST) ; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The main job on its built-in default: S5 on generated ListOps, minutes on CPU.
demo: $(STAMP)
	$(PY) -m experiments.launch --config=configs/s5_lra.py:demo --workdir=runs/demo

test-fast: $(STAMP)
	$(PYTEST) -x ; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

bench: $(STAMP)
	$(BENCH_PY) -m benchmarks.run $(BENCH_ARGS)

peer-venv:
	PYTHON=$(PYTHON) benchmarks/setup_peer_venv.sh $(PEER_VENV)

clean-venv:
	rm -rf $(VENV)
