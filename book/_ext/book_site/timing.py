"""When each chapter last ran, from the cell timing nbclient stores in the notebook.

The rows of the ``reproducibility-report`` notebooks table (:mod:`.reproducibility`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from docutils import nodes

STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
UTC = "%Y-%m-%d %H:%M UTC"


def parse_time(stamp: str) -> dt.datetime | None:
    """nbclient's ISO timestamps (``2026-11-23T19:49:52.447710Z``) as aware
    datetimes."""
    match = STAMP.fullmatch(stamp.strip())
    if not match:
        return None
    base, fraction, zone = match.groups()
    moment = dt.datetime.fromisoformat(base + (fraction or "")[:7])
    if zone in (None, "Z"):
        return moment.replace(tzinfo=dt.timezone.utc)
    offset = dt.datetime.strptime(zone.replace(":", ""), "%z").tzinfo
    return moment.replace(tzinfo=offset)


def notebook_timing(notebook: dict) -> dict[str, Any]:
    """Start, end, wall time and timed/total code cells from the stored cell
    metadata."""
    starts, ends = [], []
    code_cells = 0
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code_cells += 1
        execution = cell.get("metadata", {}).get("execution", {})
        start = execution.get("iopub.execute_input") or execution.get(
            "iopub.status.busy"
        )
        end = execution.get("shell.execute_reply") or execution.get("iopub.status.idle")
        start = parse_time(start) if start else None
        end = parse_time(end) if end else None
        if start and end:
            starts.append(start)
            ends.append(end)
    metadata = notebook.get("metadata", {})
    return {
        "start": min(starts) if starts else None,
        "end": max(ends) if ends else None,
        "wall_s": (max(ends) - min(starts)).total_seconds() if starts else None,
        "code_cells": code_cells,
        "timed": len(starts),
        "budget_s": metadata.get("cvae_book", {}).get("time_budget_s"),
        "kernel_python": metadata.get("language_info", {}).get("version"),
    }


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def timing_row(link: nodes.Node, timing: dict[str, Any]) -> list[nodes.Node | str]:
    """A notebook's row: when it ran, how long, how many cells timed, its budget."""
    wall, budget = timing["wall_s"], timing["budget_s"]
    if wall is None:
        executed, wall_text = "no timing stored", "—"
    else:
        executed = timing["end"].astimezone(dt.timezone.utc).strftime(UTC)
        wall_text = format_seconds(wall)
    budget_text = "—" if budget is None else format_seconds(float(budget))
    if budget is not None and wall is not None:
        budget_text += " (within)" if wall <= float(budget) else " (OVER)"
    cells = f"{timing['timed']}/{timing['code_cells']}"
    python = timing["kernel_python"] or "—"
    return [link, executed, wall_text, cells, budget_text, python]
