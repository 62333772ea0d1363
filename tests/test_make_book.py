"""``make book`` changes no tracked file: it executes copies of the chapters and builds
the site from them.

The working tree (its tracked and untracked, not ignored, files) is committed into a
fresh git repository in a temporary folder; ``make book NOTEBOOKS=book/elbo.ipynb``
runs there (the ELBO chapter executes in seconds; the others are built from their
stored outputs) and ``git status --porcelain`` must stay empty. It runs on this
environment (``VENV=``) and never installs into it (``-o`` on the set-up stamp).
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
GIT_USER = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost"}
GIT_USER |= {"GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}

pytestmark = pytest.mark.slow


def git(*args: str, cwd: Path) -> str:
    git = ["git", "-c", "commit.gpgsign=false", *args]
    run = subprocess.run(git, cwd=cwd, env=os.environ | GIT_USER, capture_output=True)
    run.check_returncode()
    return run.stdout.decode()


def snapshot(destination: Path) -> Path:
    """The working tree as a fresh repository at ``destination``, all committed."""
    listed = git("ls-files", "-z", "-co", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.exists() or source.is_symlink():  # not deleted in the working tree
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name, follow_symlinks=False)
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
    # nbclient's timestamps: UTC, ISO
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    make = ["make", "--no-print-directory", "book", f"NOTEBOOKS={CHAPTER}"]
    make += [f"VENV={prefix}", "-o", str(prefix / ".installed")]
    out = subprocess.run(make, cwd=clone, capture_output=True, text=True, timeout=900)
    log = f"{out.stdout[-4000:]}\n{out.stderr[-3000:]}"
    assert out.returncode == 0, f"make book failed:\n{log}"

    changed = git("status", "--porcelain", cwd=clone)
    assert not changed, f"make book changed tracked files (or left others):\n{changed}"
    source = clone / "_build" / "book-source"
    executed = source / CHAPTER
    assert executed.is_file() and not executed.is_symlink(), f"{executed}: no copy"
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    runs = [c["metadata"].get("execution", {}) for c in cells]
    finished = [run.get("iopub.status.idle", "") for run in runs]
    assert max(finished) >= started, f"this make book did not execute {CHAPTER}"
    unasked = source / "book" / "vae.ipynb"
    assert unasked.is_symlink(), "a chapter not asked for is linked, not executed"
    assert (clone / "_build" / "html" / "book" / "elbo.html").is_file()
