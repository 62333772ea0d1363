"""The tables of the report directives (:mod:`.reproducibility`, :mod:`.benchmarks`)."""

from __future__ import annotations

from docutils import nodes


def table(
    headers: list[str] | None, rows: list[list[nodes.Node | str]], classes: list[str]
) -> nodes.table:
    """A docutils table (no header row if ``headers`` is None); a cell is a string or a
    node."""
    columns = len(headers) if headers else len(rows[0])
    group = nodes.tgroup(cols=columns)
    group += [nodes.colspec(colwidth=1) for _ in range(columns)]
    head, body = nodes.thead(), nodes.tbody()
    for target, cells in ((head, [headers] if headers else []), (body, rows)):
        for cells_of_row in cells:
            row = nodes.row()
            for cell in cells_of_row:
                entry = nodes.entry()
                paragraph = nodes.paragraph()
                paragraph += nodes.Text(cell) if isinstance(cell, str) else cell
                entry += paragraph
                row += entry
            target += row
    if headers:
        group += head
    group += body
    result = nodes.table(classes=["colwidths-auto", *classes])
    result += group
    return result
