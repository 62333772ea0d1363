"""The built site, in a real browser: every page of _toc.yml in headless Chromium.

Run by ``make browser`` (the last step of ``make test``, after ``make site``)::

    .venv/bin/python -m pytest -m browser tests/test_site_browser.py

It tests ``_build/html`` as ``make site`` built it; if that is missing or older than the
book's sources it first builds it with the same command. The site is served from
127.0.0.1 and Chromium resolves no other host, so the pages must work offline. On each
page it checks that

* no request went to any host but 127.0.0.1 (every request URL, from Chrome's
  performance log), and no request the page made failed or got an HTTP error;
* MathJax typeset every math element (``mjx-container`` in each, no TeX error) and no raw
  TeX (``$$``, ``\\begin``, ``\\[``, ``\\(``) is left as visible text outside code;
* every image loaded (``naturalWidth > 0``);
* the console has no error (level SEVERE);
* every same-origin link resolves (HTTP 200), and its ``#fragment``, for links in the
  page content, names an element of the target page;
* notebook pages carry the launch (Colab, Binder) and download (.ipynb) buttons and the
  repository link; exercise solutions (``{admonition}`` with ``:class: dropdown``) start
  hidden and open on a click;

and saves a screenshot per page in ``_build/screenshots/`` (``<page>.png``), plus the
chapters in dark mode (``<page>-dark.png``), where text and figures must stay legible.

Without Chromium (Debian: ``apt-get install chromium chromium-driver``) or selenium the
tests are skipped, with the reason.
"""

from __future__ import annotations

import functools
import importlib.util
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
HOST = "127.0.0.1"


def find_binary(variable: str, default: str, *names: str) -> str:
    """``$variable`` if set, else Debian's path, else the first of ``names`` on PATH."""
    if os.environ.get(variable):
        return os.environ[variable]
    if Path(default).exists():
        return default
    return next((found for name in names if (found := shutil.which(name))), default)


CHROMIUM = find_binary("CVAE_CHROMIUM", "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = find_binary("CVAE_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver")
PAGE_TIMEOUT_S = 60


# ------------------------------------------------------------------------------ the pages


def toc_docnames() -> list[str]:
    """Every page of _toc.yml (root first), as Sphinx docnames: the executor's one toc reader."""
    spec = importlib.util.spec_from_file_location("execute_notebooks_for_browser", ROOT / "book" / "_tools" / "execute_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.toc_entries(ROOT)


DOCNAMES = toc_docnames()


def is_notebook(docname: str) -> bool:
    return (ROOT / (docname + ".ipynb")).exists()


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"].rstrip("/")


# ------------------------------------------------------------------- building the site


def newest_source_mtime() -> float:
    paths = [ROOT / "_config.yml", ROOT / "_toc.yml"]
    ignored = {".ipynb_checkpoints", "__pycache__"}
    paths += [p for p in (ROOT / "book").rglob("*") if p.is_file() and not ignored & set(p.parts)]
    paths += list((ROOT / "cvae").rglob("*.py"))
    return max(p.stat().st_mtime for p in paths)


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skip (before building anything) where Chromium, its driver or selenium is missing."""
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(binary).exists():
            pytest.skip(f"{binary} not found: install it (Debian: apt-get install {package}) to test the site in a browser")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="session")
def site(browser_available) -> Path:
    """``_build/html`` as ``make site`` builds it, rebuilt first if it is older than the sources."""
    marker = HTML / "objects.inv"  # written at the end of a successful build
    if not marker.exists() or marker.stat().st_mtime < newest_source_mtime():
        jupyter_book = Path(sys.executable).with_name("jupyter-book")
        shutil.rmtree(HTML, ignore_errors=True)
        shutil.rmtree(ROOT / "_build" / ".doctrees", ignore_errors=True)
        result = subprocess.run(
            [str(jupyter_book), "build", ".", "-W", "-n", "--keep-going"],
            cwd=ROOT, capture_output=True, text=True, timeout=1200,
        )
        assert result.returncode == 0, f"the site build (make site) failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"
    missing = [d for d in DOCNAMES if not (HTML / (d + ".html")).exists()]
    assert not missing, f"pages of _toc.yml missing from {HTML}: {missing}"
    return HTML


# ----------------------------------------------------------------------- serving it


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def send_head(self):
        # Browsers ask every origin for /favicon.ico; the book has none (a hosting detail).
        if self.path == "/favicon.ico" and not (Path(self.directory) / "favicon.ico").exists():
            self.send_response(204)
            self.end_headers()
            return None
        return super().send_head()


@pytest.fixture(scope="session")
def server(site: Path):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{HOST}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


# ------------------------------------------------------------------------- the browser


@pytest.fixture(scope="session")
def driver(server: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    profile = tempfile.mkdtemp(prefix="cvae-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        "--mute-audio",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
        # the network stays closed: no name but 127.0.0.1 resolves
        f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {HOST}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(PAGE_TIMEOUT_S)
    browser.set_script_timeout(PAGE_TIMEOUT_S)
    try:
        set_mode(browser, server, "light")  # screenshots in a fixed mode, not the reader's
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def drain_logs(driver) -> None:
    driver.get_log("performance")
    driver.get_log("browser")


def network_events(driver) -> tuple[list[str], list[str]]:
    """(every request URL, every failed request) since the last call."""
    requests, failures = [], []
    urls: dict[str, str] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params["requestId"]] = url
            requests.append(url)
        elif method == "Network.responseReceived":
            status = params["response"].get("status", 0)
            if status >= 400:
                failures.append(f"HTTP {status}: {params['response']['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            failures.append(f"{params.get('errorText')}: {urls.get(params['requestId'], '?')}")
    return requests, failures


def set_mode(driver, base: str, mode: str) -> None:
    """The pydata theme reads the colour mode from localStorage before it paints."""
    driver.get(f"{base}/{DOCNAMES[0]}.html")
    driver.execute_script(
        "localStorage.setItem('mode', arguments[0]); localStorage.setItem('theme', arguments[0]);", mode
    )


def load(driver, url: str) -> str | None:
    """Open ``url``, wait for MathJax and the images; a MathJax problem, or None."""
    driver.get(url)
    mathjax = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const t0 = Date.now();
        const ready = () => {
          if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
            MathJax.startup.promise.then(() => done(null), (e) => done('MathJax failed: ' + e));
          } else if (!document.querySelector('script[src*="mathjax"]')) {
            done(null);                     // a page without math loads no MathJax
          } else if (Date.now() - t0 > 20000) {
            done('MathJax did not start within 20 s');
          } else {
            setTimeout(ready, 50);          // the deferred MathJax script has not run yet
          }
        };
        if (document.readyState === 'complete') ready(); else window.addEventListener('load', ready);
        """
    )
    # images: wait (up to 10 s) until every one has finished loading, successfully or not
    driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const t0 = Date.now();
        const poll = () => {
          const pending = [...document.images].filter(i => !i.complete);
          pending.forEach(i => { i.loading = 'eager'; });
          if (pending.length === 0 || Date.now() - t0 > 10000) done(true); else setTimeout(poll, 100);
        };
        poll();
        """
    )
    return mathjax


PAGE_FACTS = r"""
const article = document.querySelector('main') || document.body;
const math = [...article.querySelectorAll('span.math, div.math')];
const untypeset = math.filter(m => !m.querySelector('mjx-container'))
                      .map(m => m.textContent.trim().slice(0, 80));
const texErrors = [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent);

// visible text outside code and typeset math
const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, .cell_input, .cvae-raw-tex-ok';
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
const raw = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest(skip) || parent.getClientRects().length === 0) continue;
  const text = node.textContent;
  if (/\$\$|\\begin\{|\\\[|\\\(/.test(text)) raw.push(text.trim().slice(0, 120));
}
const images = [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
const links = [...document.querySelectorAll('a[href]')].map(a => ({
  href: a.href, inContent: !!a.closest('article'), text: a.textContent.trim().slice(0, 60)}));
return {math: math.length, mjx: document.querySelectorAll('mjx-container').length,
        untypeset, texErrors, raw, images, links};
"""


LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy


def fetch(url: str) -> tuple[int, str]:
    try:
        with LOCAL.open(url, timeout=30) as response:
            body = response.read()
            kind = response.headers.get_content_type()
            return response.status, body.decode("utf-8", "replace") if kind == "text/html" else ""
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.fixture(scope="session")
def link_cache() -> dict[str, tuple[int, str]]:
    return {}


def check_links(links: list[dict], base: str, cache: dict[str, tuple[int, str]]) -> list[str]:
    problems = []
    for link in links:
        parsed = urllib.parse.urlsplit(link["href"])
        if f"{parsed.scheme}://{parsed.netloc}" != base:
            continue
        page = urllib.parse.urlunsplit(parsed._replace(fragment=""))
        if page not in cache:
            cache[page] = fetch(page)
        status, body = cache[page]
        if status != 200:
            problems.append(f"{link['text']!r} -> {link['href']}: HTTP {status}")
        elif parsed.fragment and link["inContent"] and body:
            anchor = urllib.parse.unquote(parsed.fragment)
            if not re.search(r'\b(id|name)="' + re.escape(anchor) + '"', body):
                problems.append(f"{link['text']!r} -> {link['href']}: no element #{anchor} on the target page")
    return problems


def foreign(requests: list[str]) -> list[str]:
    bad = []
    for url in requests:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme in ("data", "blob", "about", "javascript"):
            continue
        if parsed.hostname != HOST:
            bad.append(url)
    return sorted(set(bad))


def screenshot(driver, name: str, max_height: int = 6000) -> Path:
    """The whole page (up to ``max_height`` pixels), as a reader scrolling down sees it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (name.replace("/", "_") + ".png")
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], max(size["height"], min(int(height), max_height)))
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.set_window_size(size["width"], size["height"])
    return path


# ------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("docname", DOCNAMES)
def test_page(driver, server, link_cache, docname):
    drain_logs(driver)
    mathjax = load(driver, f"{server}/{docname}.html")
    facts = driver.execute_script(PAGE_FACTS)
    screenshot(driver, docname)
    requests, failed = network_events(driver)
    console = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]

    problems = [mathjax] if mathjax else []
    outside = foreign(requests)
    if outside:
        problems.append(f"requests to hosts other than {HOST} (the site must work offline): {outside}")
    if failed:
        problems.append(f"failed requests: {failed}")
    if console:
        problems.append(f"console errors: {console}")
    if facts["untypeset"]:
        problems.append(f"{len(facts['untypeset'])}/{facts['math']} math elements not typeset by MathJax: {facts['untypeset'][:5]}")
    if facts["math"] and not facts["mjx"]:
        problems.append("the page has math but no mjx-container: MathJax did not run")
    if facts["texErrors"]:
        problems.append(f"TeX errors: {facts['texErrors'][:5]}")
    if facts["raw"]:
        problems.append(f"raw TeX left as visible text: {facts['raw'][:5]}")
    broken_images = [i["src"] for i in facts["images"] if not i["ok"]]
    if broken_images:
        problems.append(f"images that did not load: {broken_images}")
    problems += check_links(facts["links"], server, link_cache)
    assert not problems, f"{docname}.html:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("docname", [d for d in DOCNAMES if is_notebook(d)])
def test_notebook_page_buttons(driver, server, docname):
    """Download as .ipynb, open in Colab / Binder, and the repository link."""
    load(driver, f"{server}/{docname}.html")
    hrefs = driver.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)")
    repo = repository_url()
    slug = urllib.parse.urlsplit(repo).path.strip("/")
    wanted = {
        "Colab": f"colab.research.google.com/github/{slug}/blob/",
        "Binder": f"/v2/gh/{slug}/",
        "download .ipynb": f"{server}/_sources/{docname}.ipynb",
        "repository": repo,
    }
    missing = [name for name, part in wanted.items() if not any(part in h for h in hrefs)]
    assert not missing, f"{docname}.html lacks the {missing} button(s)"
    colab = next(h for h in hrefs if wanted["Colab"] in h)
    assert colab.endswith(f"/{docname}.ipynb"), colab
    status, _ = fetch(f"{server}/_sources/{docname}.ipynb")
    assert status == 200, "the download button's .ipynb is not on the site"


@pytest.mark.parametrize("docname", DOCNAMES)
def test_solutions_start_hidden_and_open_on_click(driver, server, docname):
    """Exercise solutions: ``{admonition} Solution`` with ``:class: dropdown`` (sphinx-togglebutton)."""
    load(driver, f"{server}/{docname}.html")
    count = driver.execute_script("return document.querySelectorAll('.admonition.dropdown').length")
    if not count:
        pytest.skip("no dropdown admonitions on this page")
    from selenium.webdriver.common.by import By

    for index in range(count):
        state = driver.execute_script(
            """
            const box = document.querySelectorAll('.admonition.dropdown')[arguments[0]];
            const body = [...box.children].filter(c => !c.classList.contains('admonition-title'));
            return {hidden: box.classList.contains('toggle-hidden'),
                    visible: body.some(c => c.getClientRects().length > 0 && c.offsetHeight > 0)};
            """,
            index,
        )
        assert state["hidden"] and not state["visible"], f"{docname}: dropdown #{index} is open before a click"
        box = driver.find_elements(By.CSS_SELECTOR, ".admonition.dropdown")[index]
        button = box.find_element(By.CSS_SELECTOR, "button.toggle-button, .admonition-title")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        opened = driver.execute_script(
            "return !document.querySelectorAll('.admonition.dropdown')[arguments[0]].classList.contains('toggle-hidden')",
            index,
        )
        assert opened, f"{docname}: dropdown #{index} did not open on a click"


def luminance(css_color: str) -> float:
    red, green, blue = (int(v) / 255 for v in re.findall(r"[\d.]+", css_color)[:3])
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (red, green, blue)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


COLOURS = r"""
const page = getComputedStyle(document.body).backgroundColor;
const p = document.querySelector('article p') || document.querySelector('main');
const images = [...document.querySelectorAll('article div.cell_output img, article figure img')].map(i => {
  const style = getComputedStyle(i);
  return {src: i.src.split('/').pop(), background: style.backgroundColor, filter: style.filter};
});
return {theme: document.documentElement.dataset.theme, page, text: getComputedStyle(p).color, images};
"""


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_both_colour_modes_are_legible(driver, server, mode):
    """Body text contrast and figures on a white card, in light and dark mode, for every chapter."""
    chapters = [d for d in DOCNAMES if is_notebook(d)] or DOCNAMES[:1]
    set_mode(driver, server, mode)
    try:
        problems = []
        for docname in chapters:
            load(driver, f"{server}/{docname}.html")
            colours = driver.execute_script(COLOURS)
            assert colours["theme"] == mode, f"{docname}: data-theme is {colours['theme']!r}, wanted {mode!r}"
            if mode == "dark":
                screenshot(driver, f"{docname}-dark")
            ratio = contrast(colours["page"], colours["text"])
            if ratio < 4.5:
                problems.append(f"{docname}: text {colours['text']} on {colours['page']}: contrast {ratio:.1f} < 4.5")
            for image in colours["images"]:
                if mode == "dark" and (luminance(image["background"]) < 0.9 or image["filter"] not in ("none", "")):
                    problems.append(f"{docname}: figure {image['src']} has background {image['background']}, filter {image['filter']} in dark mode")
        assert not problems, "\n".join(problems)
    finally:
        set_mode(driver, server, "light")
