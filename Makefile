# VGP Lab. `make run` sets everything up and starts the product; `make test` sets up and runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DATABASE_URL ?= sqlite:///var/vgp.db
# REDIS_URL unset: the local Redis that `make run` starts, with a password that scripts/ensure_redis.py
# generates once into var/redis.password (`ensure_redis.py --url` prints the URL with it).
export VGP_DATA_DIR ?= var/data
# Workers on this machine (`make run VGP_WORKERS=2`); their CPU threads share the cores, as
# docs/benchmarks.md measured: without the split, concurrent runs thrash.
VGP_WORKERS ?= 1
export OMP_NUM_THREADS ?= $(shell n=$$(( $$(nproc) / $(VGP_WORKERS) )); echo $$(( n > 0 ? n : 1 )))

.PHONY: install install-dev lock migrate redis run worker test screenshots browser lint bench clean

# The venv gets uv (pinned), which installs the locks: it fetches and unpacks wheels in parallel, 20 to 25 s for the
# dev lock's 6 GB here where pip took 65 s on one core (docs/benchmarks.md), and it byte-compiles nothing (Python
# compiles the third of the modules it imports, on first use). uv keeps the wheels in its cache (`uv cache dir`,
# hard links into the venv), so a second venv installs in seconds.
UV_VERSION := 0.13.9
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
$(BIN)/uv: | $(BIN)/python
	$(BIN)/pip install -q uv==$(UV_VERSION)

# Installs come from the lock files (exact versions and hashes); stamps re-run the install only when a lock
# changes, so a second `make run` reuses it. Then VGP Lab itself, editable (the checkout stays the code): its entry
# points (pyproject.toml) name the database sink that vgp_models.track looks up by name.
INSTALL := $(BIN)/uv pip install -q --python $(BIN)/python
EDITABLE := $(INSTALL) --no-deps --no-build-isolation -e
$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/uv
	$(INSTALL) --require-hashes -r requirements.lock
	$(EDITABLE) .
	touch $@

$(VENV)/.installed-dev: requirements.lock requirements-dev.lock pyproject.toml examples/resnet_cifar/pyproject.toml | $(BIN)/uv
	$(INSTALL) --require-hashes -r requirements-dev.lock
	$(EDITABLE) .
	# The example architecture plugin that tests/test_architectures.py trains (its entry points register it).
	$(EDITABLE) examples/resnet_cifar
	touch $@ $(VENV)/.installed

# Refresh the locks from requirements.in / requirements-dev.in: new packages get pinned, pins stay;
# `make lock UPGRADE=1` moves every pin to the newest release (then `make test`, and commit both locks).
lock: | $(BIN)/uv
	$(BIN)/uv pip compile -q --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes \
		$(if $(UPGRADE),--upgrade) requirements.in -o requirements.lock
	$(BIN)/uv pip compile -q --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes \
		$(if $(UPGRADE),--upgrade) requirements-dev.in -c requirements.lock -o requirements-dev.lock

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	@mkdir -p var
	$(BIN)/alembic upgrade head

redis: install
	@$(BIN)/python scripts/ensure_redis.py

run: migrate redis
	@VGP_WORKERS=$(VGP_WORKERS) $(BIN)/python -m worker.settings  # every setting in range, or one line and stop
	REDIS_URL="$$($(BIN)/python scripts/ensure_redis.py --url)" $(BIN)/honcho start -c worker=$(VGP_WORKERS) web worker

# Debian's Chromium for the browser tests (Playwright cannot download browsers here).
browser:
	@scripts/apt_install.sh chromium

# One pytest session, TEST_WORKERS processes (pytest-xdist) that each take two tests at a time, the slowest first;
# every database test runs on SQLite and on the local Postgres, the pages' tests and a few others on one of them
# (tests/conftest.py says which and why).
# One torch thread per process: tests run workers, Streamlit and Chromium beside pytest on few cores, and mostly
# wait on them. Bytecode caches on, whatever the environment says: the suite starts hundreds of Python processes
# (workers, CLIs, Streamlit), each of which would otherwise compile our sources again.
# The tests' Redis (127.0.0.1:6379, named in tests/) has no password; `redis` below inherits this URL.
TEST_WORKERS ?= 3
test: export REDIS_URL := redis://127.0.0.1:6379/0
test: export PYTHONDONTWRITEBYTECODE :=
test: install-dev browser redis
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxschedchunk 2

# docs/screenshots/ drawn again by the browser tests' pages (only on request: `make test` leaves docs/ as it is).
screenshots: export REDIS_URL := redis://127.0.0.1:6379/0
screenshots: install-dev browser redis
	OMP_NUM_THREADS=1 VGP_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_browser.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/throughput.py --preset vgg38
	$(BIN)/python bench/gradstats_cost.py
	$(BIN)/python bench/db_write.py
	$(BIN)/python bench/dashboard_scale.py
	$(BIN)/python bench/gradient_flow.py

clean:
	rm -rf var/checkpoints .pytest_cache
