"""Author-year labels for the bibliography (``book/bibliography.md``).

The bibliography lists its works under author-year labels ("Kingma and Welling, 2014",
"Blei et al., 2017"), in the labels' order, the way the text cites them
(``bibtex_reference_style: author_year``): the pybtex style ``cvae_author_year``
(``bibtex_default_style`` in ``_config.yml``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from pybtex.database import Entry
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle
from sphinx.application import Sphinx


def plain(latex: str) -> str:
    """BibTeX text as a reader sees it: ``{Pyro contributors}`` -> ``Pyro
    contributors``."""
    return Text.from_latex(latex).render_as("text")


def author_year(entry: Entry) -> str:
    """The entry as the author-year citations in the text name it
    (sphinxcontrib-bibtex's ``author_year``): "Subramanian, 2020", "Kingma and Welling,
    2014", "Blei et al., 2017"."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [plain(" ".join(p.prelast_names + p.last_names)) for p in people]
    if len(names) > 2:
        who = f"{names[0]} et al."
    else:
        who = " and ".join(names) or plain(entry.fields.get("title", "?"))
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    """Labels that read like the citations; works that would share one get "2014a",
    "2014b"."""

    def format_labels(self, sorted_entries: Iterable[Entry]) -> Iterator[str]:
        labels = [author_year(entry) for entry in sorted_entries]
        repeated, seen = Counter(labels), Counter()
        for label in labels:
            seen[label] += 1
            if repeated[label] > 1:
                yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
            else:
                yield label


class AuthorYearOrder(BaseSortingStyle):
    """Alphabetical by label, then title: the list reads in the order of its labels."""

    def sorting_key(self, entry: Entry) -> tuple[str, str]:
        title = plain(entry.fields.get("title", ""))
        return author_year(entry).casefold(), title.casefold()


class AuthorYearStyle(UnsrtStyle):
    """pybtex's ``unsrt`` entries under author-year labels, in the labels' order."""

    default_label_style = "cvae_author_year"
    default_sorting_style = "cvae_author_year"


def register_author_year_style() -> None:
    """Make ``cvae_author_year`` (``bibtex_default_style`` in _config.yml) known to
    pybtex."""
    for kind, plugin in (
        ("labels", AuthorYearLabels),
        ("sorting", AuthorYearOrder),
        ("formatting", AuthorYearStyle),
    ):
        register_plugin(f"pybtex.style.{kind}", "cvae_author_year", plugin, force=True)


def setup(app: Sphinx) -> None:
    register_author_year_style()
