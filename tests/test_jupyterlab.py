"""``make lab`` for real: a chapter opened in JupyterLab runs on the book's own kernel.

Run by ``make browser`` (the browser tests, skipped with the reason where Chromium is missing)::

    .venv/bin/python -m pytest -m browser tests/test_jupyterlab.py

It starts JupyterLab from this environment the way ``make lab`` does (on ``book/``, with
``JUPYTER_PREFER_ENV_PATH=1``) on 127.0.0.1, a free port and a random token, with its own
empty configuration, data, runtime and settings folders (so neither the reader's Jupyter
set-up nor a user-wide "python3" kernel is used) and autosave off. In headless Chromium it
opens ``elbo.ipynb``, runs its first code cells through the notebook's run command, and
checks that the kernel is this environment's Python, that no cell raised, and that the
printed output of the first cell that prints appears on the page as the chapter stores it.
The notebook file is left as it was (checkpoints go to the temporary folder too); the
server is always shut down.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
CHAPTER = "elbo.ipynb"  # under book/, JupyterLab's root folder
CELLS = 3  # first code cells run: getting the package, the imports, and the first that prints
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 180
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def stored_code_cells(path: Path) -> list[dict]:
    return [cell for cell in json.loads(path.read_text(encoding="utf-8"))["cells"] if cell["cell_type"] == "code"]


def stream_text(cell: dict) -> str:
    return "".join("".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                   for o in cell["outputs"] if o["output_type"] == "stream")


def api(base: str, token: str, path: str, method: str = "GET") -> int:
    """The HTTP status of a call to the server's REST API; 0 while nothing listens."""
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    try:
        with LOCAL.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@pytest.fixture
def jupyterlab(browser_available) -> Iterator[tuple[str, str]]:
    """JupyterLab serving book/ from this environment: (base URL, token); shut down afterwards."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install -e '.[book]')")
    scratch = Path(tempfile.mkdtemp(prefix="cvae-jupyterlab-"))
    settings = scratch / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text('{"autosave": false}', encoding="utf-8")
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_PREFER_ENV_PATH": "1",  # as make lab: the environment's kernel before a user-wide one
        "JUPYTER_CONFIG_DIR": str(scratch / "config"),
        "JUPYTER_DATA_DIR": str(scratch / "data"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        "IPYTHONDIR": str(scratch / "ipython"),
    }
    log = (scratch / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "book", "--no-browser", f"--ServerApp.ip={HOST}",
         f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
         "--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         f"--LabApp.user_settings_dir={scratch / 'settings'}", f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
         f"--FileCheckpoints.checkpoint_dir={scratch / 'checkpoints'}",  # not book/.ipynb_checkpoints
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI runs as root
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while server.poll() is None and time.monotonic() < deadline and api(base, token, "/api/status") != 200:
            time.sleep(0.25)
        if api(base, token, "/api/status") != 200:
            state = f"not up in {START_TIMEOUT_S} s" if server.poll() is None else f"exited with {server.returncode}"
            pytest.fail(f"JupyterLab did not start ({state}):\n{(scratch / 'server.log').read_text()[-3000:]}")
        yield base, token
    finally:
        if server.poll() is None:
            api(base, token, "/api/shutdown", method="POST")  # stops the kernels too
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)


OPEN_AND_RUN = r"""
const [chapter, cells, done] = arguments;
(async () => {
  const app = window.jupyterapp;
  let panel = null;
  for (let t0 = Date.now(); Date.now() - t0 < 60000; await new Promise(r => setTimeout(r, 200))) {
    const widget = app && app.shell.currentWidget;
    if (widget && widget.context && widget.context.path === chapter) { panel = widget; break; }
  }
  if (!panel) return done({problem: 'the notebook did not open within 60 s'});
  await panel.context.ready;
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel) return done({problem: 'no kernel started (a kernel-selection dialog?): ' +
                                     [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText).join(' | ')});
  // which Python the kernel runs: asked over the kernel's websocket, not added to the notebook
  const prefix = await new Promise(resolve => {
    let text = '';
    const future = kernel.requestExecute({code: 'import sys; print(sys.prefix, end="")', store_history: false});
    future.onIOPub = msg => { if (msg.header.msg_type === 'stream') text += msg.content.text; };
    future.done.then(() => resolve(text), () => resolve(text));
  });
  const notebook = panel.content;
  const codeCells = notebook.widgets.filter(c => c.model.type === 'code').slice(0, cells);
  const results = [];
  for (const cell of codeCells) {
    notebook.activeCellIndex = notebook.widgets.indexOf(cell);
    await app.commands.execute('notebook:run-cell');   // what Shift+Enter runs
    const outputs = cell.model.outputs.toJSON();
    const area = cell.node.querySelector('.jp-OutputArea');
    results.push({
      count: cell.model.executionCount,
      errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
      shown: area ? area.innerText : '',
    });
  }
  done({kernel: kernel.name, prefix, results});
})().catch(e => done({problem: String(e && e.stack || e)}));
"""


def test_a_chapter_runs_in_jupyterlab(jupyterlab, chromium):
    base, token = jupyterlab
    notebook = ROOT / "book" / CHAPTER
    before = notebook.read_bytes()
    driver = chromium()
    driver.set_script_timeout(RUN_TIMEOUT_S)
    driver.get(f"{base}/lab/tree/{CHAPTER}?token={token}")
    outcome = driver.execute_async_script(OPEN_AND_RUN, CHAPTER, CELLS)
    assert "problem" not in outcome, outcome["problem"]
    assert outcome["kernel"] == "python3", outcome
    assert Path(outcome["prefix"]).resolve() == Path(sys.prefix).resolve(), (
        f"the chapter's kernel runs {outcome['prefix']!r}, not this environment ({sys.prefix})"
    )
    stored = stored_code_cells(notebook)[:CELLS]
    for index, (result, cell) in enumerate(zip(outcome["results"], stored, strict=True)):
        assert result["count"] == index + 1, f"code cell {index + 1} did not run: {result}"
        assert not result["errors"], f"code cell {index + 1} raised in JupyterLab: {result['errors']}"
        first_line = stream_text(cell).partition("\n")[0]
        if first_line:
            assert first_line in result["shown"], (
                f"code cell {index + 1}: the page shows {result['shown'][:300]!r}, "
                f"the chapter stores {stream_text(cell)[:300]!r}"
            )
    assert any(stream_text(cell) for cell in stored), f"none of the first {CELLS} code cells of {CHAPTER} prints"
    assert notebook.read_bytes() == before, f"running {CHAPTER} in JupyterLab changed the file"
