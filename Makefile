# The environment is locked: `make install` builds .venv from requirements/lock.txt (exact versions and
# hashes), then torch (requirements/torch.txt) and lmms-eval without its torchvision/timm requirements
# (requirements/lmms-eval.txt). See README "Installation".
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q --disable-pip-version-check
LOCKED := $(VENV)/.locked
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
LOCK_FILES := requirements/lock.txt requirements/torch.txt requirements/lmms-eval.txt
TOOLS := build/lock-tools
PIP_TOOLS := pip-tools==7.6.2
LATEST := build/latest-venv
BASE := build/base-venv
COMPILE = $(TOOLS)/bin/pip-compile -q --generate-hashes --unsafe-package torch --strip-extras \
	--no-emit-index-url --no-emit-find-links --extra test --extra local --extra inspect \
	-o requirements/lock.txt pyproject.toml requirements/lock.in
LMMS_EVAL_VERSION = $(shell sed -n 's/^lmms-eval==\([^ ]*\).*/\1/p' requirements/lmms-eval.txt)

.PHONY: install browser test test-fast lint demo bench card tasks-yaml lock lock-upgrade check-latest check-base clean

install: $(STAMP)

# A changed lock rebuilds .venv from scratch, so nothing outside the lock is left behind.
# torch goes in before lmms-eval: pip checks what it installs against what is there, and lmms-eval (installed
# --no-deps, like everything after it) leaves out torchvision and timm on purpose, so installed earlier it would
# make pip print "ERROR: ... lmms-eval 0.7.3 requires timm/torchvision" for nothing.
$(LOCKED): $(LOCK_FILES)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) --no-deps --require-hashes -r requirements/lock.txt
	$(PIP) -r requirements/torch.txt
	$(PIP) --no-deps --require-hashes -r requirements/lmms-eval.txt
	@echo "make install: lmms-eval is installed without torchvision and timm on purpose (they pull a CUDA"
	@echo "  torch; with a GPU, pip install '.[lmms]' brings them): see docs/install.md"
	touch $@

# A regular (not editable) install: only that copies the task YAMLs to lmms_eval/tasks/siuo/, where a plain
# `lmms-eval --tasks siuo` finds them (setup.py). Any change to the package sources reinstalls it; build/lib is
# cleared first so a moved or deleted module cannot linger in the wheel (folders are listed too: deleting a file
# changes its folder's time).
PACKAGE_SOURCES := setup.py pyproject.toml $(shell find siuo_dataset siuo_task siuo_demo -not -path '*/__pycache__*' \
	-not -name '*.pyc' 2>/dev/null)

$(STAMP): $(LOCKED) $(PACKAGE_SOURCES)
	rm -rf build/lib build/bdist.* siuo.egg-info
	$(PIP) --no-deps --no-build-isolation .
	$(MAKE) --no-print-directory browser
	touch $@
	@echo "make install: done. siuo-eval and siuo-data are in $(VENV)/bin: run 'source $(VENV)/bin/activate'"
	@echo "  (or call $(VENV)/bin/siuo-eval), then follow the README's walkthrough from any folder"

# Debian's chromium + chromium-driver for the review page's browser tests (they skip where it is absent).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || ! command -v apt-get >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver; } || \
		echo 'make browser: could not install chromium; the browser tests will skip'

# ruff (lint + format, configured in pyproject.toml) first, then the whole suite in parallel worker processes
# (pytest-xdist; tests/conftest.py groups the tests that share a fixture; docs/performance.md has the figures).
PARALLEL := -n 3 --dist loadscope --no-loadscope-reorder
test: lint
	$(BIN)/python -m pytest -q $(PARALLEL)

# The fast loop: lint, then everything but the slow end-to-end tests (marked e2e), in three workers that take
# single tests as they free up (worksteal): none of these tests shares an expensive fixture, and single tests
# balance the workers better than modules (docs/performance.md has the figures).
test-fast: lint
	$(BIN)/python -m pytest -q -m "not e2e" -n 3 --dist worksteal

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install
	$(BIN)/python -m siuo_demo

card: install
	$(BIN)/python -c "import siuo_dataset; from siuo_dataset.card import render_card; open('dataset_card.md', 'w').write(render_card(siuo_dataset.load_items('$${SIUO_DATA_DIR:-../shared/siuo}', allow_missing_images=True)))"

# The task YAMLs' metric_list, regenerated from the metric definitions (siuo_task/protocol/metric_defs.py);
# tests/lmms/test_tasks.py fails while they differ.
tasks-yaml: $(LOCKED)
	$(BIN)/python -m siuo_task.lmms.metric_list

bench: install
	$(BIN)/python benchmarks/run_all.py

$(TOOLS)/bin/pip-compile:
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q $(PIP_TOOLS)

# Refresh the lock after changing requirements: keeps every pin that still fits, adds/drops the rest.
lock: $(TOOLS)/bin/pip-compile
	$(COMPILE)
	$(MAKE) --no-print-directory requirements/lmms-eval.txt-refresh

# Move every pin to the newest release our requirements allow (run `make check-latest` first).
lock-upgrade: $(TOOLS)/bin/pip-compile
	$(COMPILE) --upgrade
	$(MAKE) --no-print-directory requirements/lmms-eval.txt-refresh

.PHONY: requirements/lmms-eval.txt-refresh
requirements/lmms-eval.txt-refresh:
	rm -rf $(TOOLS)/dl
	$(TOOLS)/bin/pip download -q --no-deps lmms-eval==$(LMMS_EVAL_VERSION) -d $(TOOLS)/dl
	{ sed -n '/^#/p' requirements/lmms-eval.txt; \
	  printf 'lmms-eval==%s \\\n    %s\n' $(LMMS_EVAL_VERSION) "$$($(TOOLS)/bin/pip hash $(TOOLS)/dl/*.whl | tail -1)"; \
	} > requirements/lmms-eval.txt.new && mv requirements/lmms-eval.txt.new requirements/lmms-eval.txt

# Newest releases our declared requirements allow (no lock), then the whole suite: finds drift before
# users do. Not part of CI, which stays on the lock.
check-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/pip install -q -r requirements/torch.txt
	$(LATEST)/bin/pip install -q -r requirements/lmms-eval-light.txt '.[test,local,inspect]'
	$(LATEST)/bin/pip install -q --no-deps lmms-eval==$(LMMS_EVAL_VERSION)  # last: no timm/torchvision error
	$(LATEST)/bin/pip list --format=freeze > build/latest-versions.txt
	SIUO_UNLOCKED_ENV=1 $(LATEST)/bin/python -m pytest -q
	$(MAKE) --no-print-directory check-base

# The package alone (no extras: no lmms-eval, no torch) with the newest releases it allows, in a fresh venv,
# judges the packaged examples against a loopback judge (tests/env/test_base_install.py, marked base_install):
# what `pip install .` gives someone who only judges responses they already have. pytest is the test runner
# only, installed after the package.
check-base:
	rm -rf $(BASE)
	$(PYTHON) -m venv $(BASE)
	$(BASE)/bin/pip install -q .
	$(BASE)/bin/pip install -q pytest
	SIUO_BASE_INSTALL=1 $(BASE)/bin/python -m pytest -q -p no:cacheprovider -m base_install tests/env/test_base_install.py

clean:
	rm -rf $(VENV) build *.egg-info
