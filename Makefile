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

.PHONY: help setup test lint unit nbval site pdf pdf-debs browser book lab execute bench clean

help:
	@echo "make book     set up .venv, execute every chapter into _build/ (the notebooks stay as they are), build _build/html"
	@echo "make lab      set up .venv, open the chapters (book/) in JupyterLab on the book's kernel"
	@echo "make test     set up .venv, unit tests, nbval on every notebook, the PDF, strict site build, browser tests"
	@echo "make pdf      the whole book as one PDF, _build/latex/cvae-book.pdf (needs TeX: see make pdf-debs), checked"
	@echo "make execute  re-execute every notebook in place (authors, after editing a chapter)"
	@echo "make bench    run python -m cvae.run.bench and store its table for the Performance page"
	@echo "make lint | unit | nbval | pdf | site | browser   one part of make test"
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
	@for part in lint unit nbval pdf site browser; do \
		start=$$(date +%s); $(MAKE) --no-print-directory $$part || exit 1; \
		echo "== $$part: $$(( $$(date +%s) - start )) s"; \
	done

# The formatter and linter over every Python file (settings: [tool.ruff] in pyproject.toml),
# and no import cycle among the modules of cvae/ (tools/import_cycles.py).
lint: setup
	$(BIN)/ruff format --check cvae tests tools book/_ext
	$(BIN)/ruff check cvae tests tools book/_ext
	$(BIN)/ruff check --select E501 book/*.ipynb  # the notebooks' code fits the book's column
	$(BIN)/python -m tools.import_cycles

unit: setup
	$(BIN)/python -m pytest -q -m "not browser" --ignore=tests/test_pdf.py tests

nbval: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(NOTEBOOKS)

site: setup
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . -W -n --keep-going

# The whole book as one PDF: Sphinx's LaTeX builder (Jupyter Book's pdflatex builder, XeLaTeX
# with GNU FreeFont and Latin Modern Math), from the stored outputs like the site, then checked
# (tests/test_pdf.py). A site built after it (make test runs pdf before site) copies the PDF
# into _build/html and links it from every page (book/_ext/book_site/pdf.py); a site built without
# it links none. Run after a site build, this refreshes the site's copy.
# The Debian packages it needs (.ci/run installs them): make pdf-debs.
PDF      := _build/latex/cvae-book.pdf
PDF_DEBS := texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
	fonts-freefont-otf latexmk poppler-utils
PDF_TOOLS := xelatex latexmk makeindex kpsewhich pdffonts pdftotext pdfinfo

pdf-debs:
	@echo $(PDF_DEBS)

pdf: setup
	@missing=""; for tool in $(PDF_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	for file in fncychap.sty tikz.sty pgfplots.sty ucharclasses.sty unicode-math.sty polyglossia.sty \
		latinmodern-math.otf FreeSerif.otf; do \
		command -v kpsewhich >/dev/null && test -n "$$(kpsewhich $$file)" || missing="$$missing $$file"; done; \
	if [ -n "$$missing" ]; then \
		echo "make pdf: missing$$missing."; \
		echo "On Debian/Ubuntu: apt-get install -y --no-install-recommends $(PDF_DEBS)"; exit 1; fi
	rm -rf _build/latex _build/.doctrees
	LATEXMKOPTS=-silent $(BIN)/jupyter-book build . --builder pdflatex -W -n --keep-going \
		|| { grep -A4 '^!' _build/latex/cvae-book.log 2>/dev/null | head -40; exit 1; }
	@if [ -d _build/html ]; then cp $(PDF) _build/html/; fi
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_pdf.py
	@echo "$(PDF): $$(pdfinfo $(PDF) | sed -n 's/^Pages: *//p') pages, $$(du -h $(PDF) | cut -f1)"

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
	$(BIN)/python -m cvae.run.bench --json book/_data/benchmarks.json

clean:
	rm -rf _build
