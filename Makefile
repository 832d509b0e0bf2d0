# The two commands a new user needs: `make devnet` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: devnet devnet-down test lint bench fuzz chaos clean install system-packages explorer

# The commands the sandbox runtime (node/runtime/), the gateway (node/farmer/gateway.py),
# the chaos harness's skewed clocks (devnet/chaos/), the explorer's build and its browser
# tests (tests/e2e/test_explorer.py) run, each as command:Debian package.
SYSTEM_COMMANDS := bwrap:bubblewrap ip:iproute2 mkfs.ext4:e2fsprogs losetup:mount \
	nsenter:util-linux setpriv:util-linux nginx:nginx-light faketime:faketime \
	node:nodejs npm:npm chromium:chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Idempotent: installs only the packages whose command is missing; runs before every install
# check (an order-only prerequisite), so an existing checkout gets a newly listed package too.
system-packages:
	@missing=""; \
	for pair in $(SYSTEM_COMMANDS); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || \
		PATH="$$PATH:/usr/sbin:/sbin" command -v "$${pair%%:*}" >/dev/null 2>&1 || \
		missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		{ $(SUDO) apt-get update && \
		  $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends $$missing; } || { \
		echo "error: could not install the system packages$$missing with apt-get;" \
			"the sandbox runtime and the gateway need them: install them as root" >&2; \
		exit 1; }; \
	fi

$(STAMP): pyproject.toml | system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The web explorer (node/explorer/web/): its npm packages, as package-lock.json pins them, and
# the app bundled into dist/, which a node serves at /explorer/.
EXPLORER := node/explorer/web
EXPLORER_BUILT := $(EXPLORER)/dist/.built
$(EXPLORER_BUILT): $(EXPLORER)/package.json $(EXPLORER)/package-lock.json $(EXPLORER)/build.mjs \
		$(shell find $(EXPLORER)/src $(EXPLORER)/static -type f 2>/dev/null) | system-packages
	cd $(EXPLORER) && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	touch $@

explorer: $(EXPLORER_BUILT)

install: $(STAMP) $(EXPLORER_BUILT)

devnet: $(STAMP) $(EXPLORER_BUILT)
	$(BIN)/gridchain devnet up --validators 4 --farmers 3

devnet-down: $(STAMP)
	$(BIN)/gridchain devnet down

test: $(STAMP) $(EXPLORER_BUILT)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Coverage-guided fuzzing of every decoder that reads outside bytes (tests/fuzz/), FUZZ_SECONDS
# per target; what the fuzzers find joins the corpus in the repository.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := tx block commit vote evidence light_block validator_set manifest chunk headers \
	peer_message hello \
	handshake_answer wal spec \
	spec_file genesis keystore
fuzz: $(STAMP)
	@mkdir -p .fuzz
	@for target in $(FUZZ_TARGETS); do \
		echo "fuzzing $$target for $(FUZZ_SECONDS) s (log: .fuzz/$$target.log)"; \
		$(BIN)/python -m tests.fuzz.run $$target -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=.fuzz/crash-$$target- -print_final_stats=1 \
			> .fuzz/$$target.log 2>&1 || { tail -40 .fuzz/$$target.log; exit 1; }; \
		grep "stat::number_of_executed_units" .fuzz/$$target.log; \
	done

bench: $(STAMP)
	$(BIN)/gridchain bench chain --txs 40000
	$(BIN)/gridchain bench smt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info \
		$(EXPLORER)/node_modules $(EXPLORER)/dist

# A long run of the perturbation harness (devnet/chaos/, needs root): CHAOS_SECONDS of faults
# drawn from CHAOS_SEED (random if unset), the report in chaos-report.json; exits 1 if an
# invariant broke, keeping the run's logs under /tmp (the report names the directory).
CHAOS_SECONDS ?= 3600
chaos: $(STAMP)
	$(BIN)/gridchain devnet chaos --seconds $(CHAOS_SECONDS) $(if $(CHAOS_SEED),--seed $(CHAOS_SEED)) \
		--report chaos-report.json
