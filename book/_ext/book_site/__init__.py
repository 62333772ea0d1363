"""Sphinx extension: the book's site features that need code, one module per job.

Registered in ``_config.yml`` (``sphinx: local_extensions: book_site: book/_ext``);
``setup`` registers each module's features:

* :mod:`.chapters`: the ``:chapter:`` role and the API page's "Explained in:" lines;
* :mod:`.api`: the API page (``book/api.md``): ``cvae.<name>`` cross-references, every
  module documented, public class bases only;
* :mod:`.repository`: the repository and launch buttons and the intro's "How to run
  it", from the one setting ``repository: url:``;
* :mod:`.bibliography`: the author-year labels of ``book/bibliography.md``;
* :mod:`.figures`: the ``glued-figure`` directive (the intro's figures);
* :mod:`.reproducibility`: the ``reproducibility-report`` directive
  (``book/reproducibility.md``);
* :mod:`.benchmarks`: the ``benchmark-report`` directive (``book/performance.md``);
* :mod:`.pdf`: the whole-book PDF, linked from every page's sidebar (template
  ``book/_ext/templates/book-pdf.html``), and its appendices;
* :mod:`.offline`: no CDN script on any page.

The ``notebook_checks`` extension beside this package fails a strict build on a stored
error output.
"""

from __future__ import annotations

from sphinx.application import Sphinx

from . import (
    api,
    benchmarks,
    bibliography,
    chapters,
    figures,
    offline,
    pdf,
    repository,
    reproducibility,
)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.autodoc")
    for feature in (
        reproducibility,
        api,
        bibliography,
        repository,
        chapters,
        figures,
        benchmarks,
        offline,
        pdf,
    ):
        feature.setup(app)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
