# Two commands: `make demo` and `make test`. Both create .venv/ when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PLUGINS := $(sort $(wildcard plugins/hfopt-*) $(wildcard integrations/hfopt-*))
STAMP := $(VENV)/.hfopt-installed

.PHONY: demo test bench docs venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/hfopt-*/pyproject.toml plugins/hfopt-*/setup.py plugins/hfopt-*/csrc/* integrations/hfopt-*/pyproject.toml) \
		requirements-dev.txt constraints-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints-dev.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation -c constraints-dev.txt \
		-e . $(foreach p,$(PLUGINS),-e $(p))
	touch $@

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

bench: $(STAMP)
	$(PY) -m benchmarks

# The docs site (mkdocs-material + mkdocstrings) into site/; --strict turns any warning (a broken link
# or reference) into a failure. tests/docs/test_docs_site.py runs the same build in `make test`.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) build site *.egg-info plugins/*/*.egg-info plugins/*/build plugins/*/*/_C*.so integrations/*/*.egg-info
