# Two commands for readers (README.md):  make book  and  make test.
# Each creates .venv/ on first use and reuses it afterwards.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(shell $(PYTHON) -c "import re,pathlib; print(' '.join(m + '.ipynb' for m in re.findall(r'file:\s*(\S+)', pathlib.Path('_toc.yml').read_text()) if pathlib.Path(m + '.ipynb').exists()))")

# Kernels started by nbval and nbclient are this environment's, never a user-wide one.
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help setup test unit nbval site browser book execute bench clean

help:
	@echo "make book     set up .venv, execute every notebook in place, build _build/html"
	@echo "make test     set up .venv, unit tests, nbval on every notebook, strict site build, browser test"
	@echo "make execute  re-execute every notebook in place (authors, after editing a chapter)"
	@echo "make bench    run python -m cvae.bench and store its table for the Performance page"
	@echo "make unit | nbval | site | browser   one part of make test"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e ".[book,test]"
	@touch $(STAMP)

# Each part prints its wall time (the README and the closing notes report them).
test:
	@start=$$(date +%s); $(MAKE) --no-print-directory setup || exit 1; \
		echo "== setup: $$(( $$(date +%s) - start )) s"
	@for part in unit nbval site browser; do \
		start=$$(date +%s); $(MAKE) --no-print-directory $$part || exit 1; \
		echo "== $$part: $$(( $$(date +%s) - start )) s"; \
	done

unit: setup
	$(BIN)/python -m pytest -q -m "not browser" tests

nbval: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(NOTEBOOKS)

site: setup
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

# Every page of _build/html in headless Chromium (skipped, with the reason, without it):
# MathJax rendered, images loaded, no console error, links resolve, no request off 127.0.0.1.
browser: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m browser tests/test_site_browser.py

execute: setup
	$(BIN)/python book/_tools/execute_notebooks.py

book: execute site

# The Performance appendix renders this file; run on a quiet machine.
bench: setup
	$(BIN)/python -m cvae.bench --json book/_data/benchmarks.json

clean:
	rm -rf _build
