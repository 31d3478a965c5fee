# The two commands in README.md: `make demo` (the main job) and `make test` (install + every test).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: deps test demo bench clean

deps:
	VENV=$(VENV) scripts/install-deps

test: deps
	$(VENV)/bin/pytest

demo: deps
	$(PY) lab/demo.py

bench: deps
	$(PY) bench/allocate_services.py
	$(PY) bench/allocator_pool_size.py
	$(PY) bench/failover.py
	$(PY) bench/layer2_arp.py
	$(PY) bench/membership.py
	$(PY) bench/bgp_advertise.py
	$(PY) bench/bgp_service.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis
