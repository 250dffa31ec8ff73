# Two commands do all set-up on a fresh machine (Python 3.11):
#   make demo   # a one-minute digits study, then the paper's grid on MNIST, with reports
#   make test   # the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The suite on TEST_WORKERS pytest-xdist workers, one per core (TEST_WORKERS=0: in turn).
# Not one more: on 2 cores a third worker (to fill the ~80 s tests wait on servers and
# timeouts) made the whole run slower on a fresh clone: 801 s against 775 s, and again with
# one BLAS thread per process (tests/conftest.py), 806 s against 770-783 s (2026-12-06), and
# with the tests' commands forked from a warm interpreter (tests/zygote.py), 583 s against
# 527 s (2026-12-07).
# Groups of tests that must not overlap, and the longest first: tests/conftest.py.
TEST_WORKERS ?= auto
XDIST  := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# Python compiles each module a process imports unless its bytecode is on disk, and
# PYTHONDONTWRITEBYTECODE (set on some machines, this workplace's among them) stops it
# writing any: the suite starts hundreds of Python processes, and each compiled MLflow, pandas
# and this package from source again (on a fresh clone, 1.5-2x the CPU of every test). The
# demo and the tests run with it unset, so the first process to import a module writes it.
RUN    := env -u PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-fast lint format bench ui clean

# --no-compile: Python compiles a module when it is first imported, instead of pip compiling
# all ~19,000 installed files up front (~35 s of one core, most of them never imported)
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -e ".[dev,ray,slurm]"
	touch $(STAMP)

# First a one-minute study on scikit-learn's 8x8 digits (init x reg, 3 seeds: contrasts with
# intervals), then the paper's 2x2x2 grid (init x reg x data) on MNIST over 3 seeds with a short
# budget (40 full-batch steps), one cell at a time on every core (the auto launcher's choice for
# full-batch cells); each with its report.
demo: $(STAMP)
	$(RUN) $(PY) -m ablation -m data=digits init=random,kaiming reg=none,l2 seed=0,1,2 \
	    optim.iterations=40 experiment_name=demo_digits
	$(RUN) $(PY) -m ablation.report --experiment demo_digits
	$(RUN) $(PY) -m ablation -m init=random,kaiming reg=none,l2 data=42k,60k seed=0,1,2 \
	    optim.iterations=40 experiment_name=demo
	$(RUN) $(PY) -m ablation.report --experiment demo

# Debian's chromium lets a test open the HTML report headless, and Debian's postgresql runs
# the tests of an mlflow server on a real database (tests/reliability/test_server_faults.py);
# CI installs both, without Debian's recommended packages: chromium's pull in ~100 more
# (cups, avahi, udev, perl's web stack, upower...) that a headless browser never uses, and
# took 96 s to install where chromium alone, with apt-get update, takes 9 s (2026-12-07).
# The report renders in DejaVu, which the base image has.
test: $(STAMP)
	@if [ -n "$$CI" ] && command -v apt-get >/dev/null; then \
	    need=""; command -v chromium >/dev/null 2>&1 || need="chromium"; \
	    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	    if [ -n "$$need" ]; then (apt-get update -qq && apt-get install -y -qq --no-install-recommends $$need >/dev/null) \
	        || echo "not installed: $$need (their tests skip with the reason)"; fi; fi
	$(RUN) $(PY) -m pytest -q $(XDIST) --durations=15; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

test-fast: $(STAMP)
	$(RUN) $(PY) -m pytest -q $(XDIST) -m "not slow"

lint: $(STAMP)
	$(PY) -m ruff check ablation tests benchmarks hydra_plugins
	$(PY) -m ruff format --check ablation tests benchmarks hydra_plugins

format: $(STAMP)
	$(PY) -m ruff format ablation tests benchmarks hydra_plugins
	$(PY) -m ruff check --fix ablation tests benchmarks hydra_plugins

bench: $(STAMP)
	$(PY) -m pip install --quiet torch==2.13.0 || echo "torch not available: peers limited to scikit-learn"
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_sweep.py

ui: $(STAMP)
	$(PY) -m ablation.ui

clean:
	rm -rf $(VENV) multirun outputs reports .pytest_cache
