"""``make book`` changes no tracked file: it executes copies of the chapters and builds the site from them.

The test takes a snapshot of the working tree (its tracked and its untracked, not ignored,
files) committed into a fresh git repository in a temporary folder, runs

    make book NOTEBOOKS=book/elbo.ipynb

there and then requires ``git status --porcelain`` to be empty. One chapter keeps it fast
(the ELBO chapter executes in seconds; the executor treats every chapter alike, and the
others are still built, from their stored outputs). It runs on this environment (``VENV=``)
and never installs into it (``-o`` on the set-up stamp), so it works the same under conda.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "book/elbo.ipynb"

pytestmark = pytest.mark.slow


def git(*args: str, cwd: Path) -> str:
    environment = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
                   "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}
    return subprocess.run(["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, env=environment,
                          check=True, capture_output=True, text=True).stdout


def snapshot(destination: Path) -> Path:
    """The working tree as a fresh repository at ``destination``, everything committed."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    git("init", "-q", cwd=destination)
    git("add", "-A", cwd=destination)
    git("commit", "-q", "-m", "snapshot", cwd=destination)
    return destination


def test_make_book_leaves_tracked_files_alone(tmp_path):
    for tool in ("make", "git"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    clone = snapshot(tmp_path / "clone")
    prefix = Path(sys.prefix)
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")  # nbclient's timestamps: UTC, ISO
    result = subprocess.run(
        ["make", "--no-print-directory", "book", f"NOTEBOOKS={CHAPTER}", f"VENV={prefix}",
         "-o", str(prefix / ".installed")],
        cwd=clone, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, f"make book failed:\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}"

    changed = git("status", "--porcelain", cwd=clone)
    assert not changed, f"make book changed tracked files (or left untracked ones):\n{changed}"
    source = clone / "_build" / "book-source"
    executed = source / CHAPTER
    assert executed.is_file() and not executed.is_symlink(), f"{executed} is not an executed copy"
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    finished = [c["metadata"].get("execution", {}).get("iopub.status.idle", "") for c in cells]
    assert max(finished) >= started, f"the copy of {CHAPTER} was not executed by this make book"
    assert (source / "book" / "vae.ipynb").is_symlink(), "a chapter not asked for should be linked, not executed"
    assert (clone / "_build" / "html" / "book" / "elbo.html").is_file()
