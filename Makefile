# Commands for readers (README.md):  make book,  make test  and  make lab.
# Each creates .venv/ on first use and reuses it afterwards.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The chapters: the notebooks of _toc.yml, in reading order (tools/toc.py, the one reader of the
# table of contents; evaluated once .venv exists). `make book NOTEBOOKS=book/elbo.ipynb` executes
# only that chapter (the others keep their stored outputs); so do execute and nbval.
NOTEBOOKS = $(or $(shell $(BIN)/python -m tools.toc),$(error tools.toc found no notebook in _toc.yml))
# make book executes the chapters into copies here and builds the site from them.
BOOK_SOURCE := _build/book-source

# Kernels started by nbval, nbclient and JupyterLab are this environment's own "python3"
# (ipykernel's kernelspec in .venv/share/jupyter/kernels), never a user-wide one.
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help setup test unit nbval site browser book lab execute bench clean

help:
	@echo "make book     set up .venv, execute every chapter into _build/ (the notebooks stay as they are), build _build/html"
	@echo "make lab      set up .venv, open the chapters (book/) in JupyterLab on the book's kernel"
	@echo "make test     set up .venv, unit tests, nbval on every notebook, strict site build, browser tests"
	@echo "make execute  re-execute every notebook in place (authors, after editing a chapter)"
	@echo "make bench    run python -m cvae.bench and store its table for the Performance page"
	@echo "make unit | nbval | site | browser   one part of make test"
	@echo "NOTEBOOKS=book/elbo.ipynb            limits book, execute and nbval to those chapters"

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

# Headless Chromium (skipped, with the reason, without it): every page of _build/html
# (tests/test_site_browser.py) and a chapter run in JupyterLab (tests/test_jupyterlab.py).
browser: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m browser tests

execute: setup
	$(BIN)/python -m tools.execute_notebooks $(NOTEBOOKS)

# The chapters are executed into $(BOOK_SOURCE) (copies, next to links to the other inputs
# of the build) and the site is built from there: no tracked file changes (tests/test_make_book.py).
book: setup
	rm -rf $(BOOK_SOURCE) _build/html _build/.doctrees
	$(BIN)/python -m tools.execute_notebooks --output-dir $(BOOK_SOURCE) $(NOTEBOOKS)
	$(BIN)/jupyter-book build $(BOOK_SOURCE) --path-output . -W -n --keep-going

# JupyterLab on the chapters, on this environment's python3 kernel (JUPYTER_PREFER_ENV_PATH above).
lab: setup
	$(BIN)/jupyter lab book/ $(if $(filter 0,$(shell id -u)),--allow-root)

# The Performance appendix renders this file; run on a quiet machine.
bench: setup
	$(BIN)/python -m cvae.bench --json book/_data/benchmarks.json

clean:
	rm -rf _build
