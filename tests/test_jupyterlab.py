"""``make lab`` for real: a chapter opened in JupyterLab runs on the book's own kernel.

Run by ``make browser`` (skipped, with the reason, where Chromium is missing). It starts
JupyterLab from this environment the way ``make lab`` does (on ``book/``, with
``JUPYTER_PREFER_ENV_PATH=1``) on 127.0.0.1, a free port and a random token, with its
own empty configuration, data, runtime and settings folders (neither the reader's
Jupyter set-up nor a user-wide "python3" kernel is used) and autosave off. In headless
Chromium it opens ``elbo.ipynb``, runs its first code cells through the notebook's run
command, and checks that the kernel is this environment's Python, that no cell raised,
and that the first printed line of each cell appears on the page as the chapter stores
it. The notebook file is left as it was; the server is always shut down.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
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
CELLS = 3  # first code cells run: the package, the imports, the first that prints
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy


def api(base: str, token: str, path: str, method: str = "GET") -> int:
    """The HTTP status of a call to the server's REST API; 0 while nothing listens."""
    headers = {"Authorization": f"token {token}"}
    request = urllib.request.Request(base + path, method=method, headers=headers)
    try:
        with LOCAL.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@pytest.fixture
def jupyterlab(browser_available, tmp_path) -> Iterator[tuple[str, str]]:
    """JupyterLab serving book/ from this environment: (base URL, token); shut down
    afterwards."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    scratch = tmp_path
    settings = scratch / "settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    (settings / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_PREFER_ENV_PATH": "1", "IPYTHONDIR": f"{scratch}/ip"}
    for name in ("CONFIG", "DATA", "RUNTIME"):
        env[f"JUPYTER_{name}_DIR"] = str(scratch / name.lower())
    lab = [sys.executable, "-m", "jupyterlab", "book", "--no-browser"]
    lab += [
        f"--ServerApp.{o}" for o in (f"ip={HOST}", f"port={port}", "port_retries=0")
    ]
    lab += [
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={scratch / 'settings'}",
        f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
        f"--FileCheckpoints.checkpoint_dir={scratch / 'checkpoints'}",  # not book/
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
    ]
    log = (scratch / "server.log").open("w")
    server = subprocess.Popen(lab, cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while server.poll() is None and time.monotonic() < deadline:
            if api(base, token, "/api/status") == 200:
                break
            time.sleep(0.25)
        if api(base, token, "/api/status") != 200:
            tail = (scratch / "server.log").read_text()[-3000:]
            pytest.fail(f"JupyterLab did not start ({server.poll()=}):\n{tail}")
        yield base, token
    finally:
        if server.poll() is None:
            api(base, token, "/api/shutdown", method="POST")  # stops the kernels too
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()


OPEN_AND_RUN = r"""
const [chapter, cells, done] = arguments;
(async () => {
  const app = window.jupyterapp;
  let panel = null;
  for (let t0 = Date.now(); Date.now() - t0 < 60000;
       await new Promise(r => setTimeout(r, 200))) {
    const widget = app && app.shell.currentWidget;
    if (widget && widget.context && widget.context.path === chapter) {
      panel = widget;
      break;
    }
  }
  if (!panel) return done({problem: 'the notebook did not open within 60 s'});
  await panel.context.ready;
  await panel.sessionContext.ready;
  const session = panel.sessionContext.session;
  const kernel = session && session.kernel;
  const dialogs = [...document.querySelectorAll('.jp-Dialog')].map(d => d.innerText);
  if (!kernel) return done({problem: 'no kernel started: ' + dialogs.join(' | ')});
  // which Python the kernel runs: asked over the kernel's websocket, not in a cell
  const prefix = await new Promise(resolve => {
    let text = '';
    const code = 'import sys; print(sys.prefix, end="")';
    const future = kernel.requestExecute({code, store_history: false});
    future.onIOPub = msg => {
      if (msg.header.msg_type === 'stream') text += msg.content.text;
    };
    future.done.then(() => resolve(text), () => resolve(text));
  });
  const notebook = panel.content;
  const first = notebook.widgets.filter(c => c.model.type === 'code').slice(0, cells);
  const results = [];
  for (const cell of first) {
    notebook.activeCellIndex = notebook.widgets.indexOf(cell);
    await app.commands.execute('notebook:run-cell');   // what Shift+Enter runs
    const outputs = cell.model.outputs.toJSON();
    const area = cell.node.querySelector('.jp-OutputArea');
    results.push({
      count: cell.model.executionCount,
      errors: outputs.filter(o => o.output_type === 'error')
                     .map(o => o.ename + ': ' + o.evalue),
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
    driver.set_script_timeout(180)
    driver.get(f"{base}/lab/tree/{CHAPTER}?token={token}")
    outcome = driver.execute_async_script(OPEN_AND_RUN, CHAPTER, CELLS)
    assert "problem" not in outcome, outcome["problem"]
    assert outcome["kernel"] == "python3", outcome
    prefix = Path(outcome["prefix"]).resolve()
    assert prefix == Path(sys.prefix).resolve(), f"the kernel runs {prefix}"
    cells = json.loads(before)["cells"]
    stored = [c for c in cells if c["cell_type"] == "code"][:CELLS]
    printed, results = [], outcome["results"]
    for number, (result, cell) in enumerate(zip(results, stored, strict=True), 1):
        assert result["count"] == number, f"code cell {number} did not run: {result}"
        assert not result["errors"], f"code cell {number} raised: {result['errors']}"
        streams = [o for o in cell["outputs"] if o["output_type"] == "stream"]
        text = "".join("".join(o["text"]) for o in streams)
        printed.append(text)
        first_line = text.partition("\n")[0]
        shown = result["shown"]
        assert first_line in shown, f"cell {number} shows {shown[:300]!r}"
    assert any(printed), f"none of the first {CELLS} code cells of {CHAPTER} prints"
    assert notebook.read_bytes() == before, f"running {CHAPTER} changed the file"
