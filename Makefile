# The two commands in README.md: `make lab` (the main job) and `make test` (install + every test).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: deps lint test sanity coverage mutation-check dist demo lab lab-failover bench bench-quick clean

deps:
	VENV=$(VENV) scripts/install-deps

# The checked habits: ruff lint and format (pyproject [tool.ruff]), mypy --strict on speaker/ ([tool.mypy]) and on plugins/
# (scripts/mypy-plugins, mypy-plugins.ini), and the import contracts (.importlinter). .pre-commit-config.yaml runs the same before each commit.
lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	VENV=$(VENV) scripts/mypy-plugins
	$(VENV)/bin/lint-imports

test: deps lint
	$(VENV)/bin/pytest

# Coverage of the suite including the speaker processes it starts (report: coverage/report.txt); informational,
# not part of `make test`. TESTS=... narrows it (default: every test, 15+ minutes).
coverage: deps
	VENV=$(VENV) scripts/coverage $(TESTS)

# Deliberate breaks of the properties that matter most; each must be killed by its tests (3-5 minutes, root).
mutation-check: deps
	scripts/mutation-check --python $(PY)

# ansible-test sanity and units (the module unit tests) on a copy of the collection (scripts/ansible-test).
sanity: deps
	VENV=$(VENV) scripts/ansible-test

# The release (docs/releasing.md): dist/ gets the speaker's wheel and sdist, dist/wheelhouse/ (its dependencies for
# CPython 3.11/3.12 on x86_64/aarch64) and the collection tarball baremetal-lb-V.tar.gz carrying both.
# DIST_ARGS=--slim: a collection with the wheel only (Galaxy's upload limit is 20 MB).
DIST_ARGS ?=
dist: $(VENV)/bin/ansible-galaxy
	$(PY) scripts/dist.py --out dist $(DIST_ARGS)

$(VENV)/bin/ansible-galaxy:
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]'

demo: deps
	$(PY) lab/demo.py

# The one-machine lab (root): router namespace with Kea, API emulator, three systemd-container nodes, a client;
# builds the release (scripts/dist.py, as `make dist`), installs it with ansible-galaxy, follows README's quick start
# verbatim (site.yml --check, site.yml, then once more: changed=0) and shows the seed's Traefik VIP answering.
# `lab-failover` also kills the announcing node and shows another take over. Both tear everything down.
# LAB_ROUTER=dnsmasq uses dnsmasq as the router's DHCP server instead of Kea.
LAB_ROUTER ?= kea
lab: deps
	lab/run demo --router $(LAB_ROUTER)

lab-failover: deps
	lab/run failover --router $(LAB_ROUTER)

bench: deps
	$(PY) bench/allocate_services.py
	$(PY) bench/allocator_pool_size.py
	$(PY) bench/failover.py
	$(PY) bench/layer2_arp.py
	$(PY) bench/membership.py
	$(PY) bench/bgp_advertise.py
	$(PY) bench/bgp_service.py
	$(PY) bench/site_time.py

# The headline figures in a few minutes (root): allocation cold start/burst, failover, ARP p99, BGP advertise. Appends
# one JSON line to bench/results.jsonl (commit, date, cores, load, figures), then regenerates README's figures from it.
bench-quick: deps
	$(PY) bench/quick.py
	$(PY) scripts/readme-figures

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
