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
* exactly one search field is visible, and no API entry has an empty "Bases:" line;
* at 1400 px no element of the page's content is wider than the content column (neither
  sticking out nor hidden behind a sideways scroll bar), and at 400 px (a phone) the page
  is no wider than the window: each offender is named (the equation's number and TeX, the
  code or output line, the table) with the section it is in;
* text keeps its contrast and figures sit on a white card in light and dark mode;
* notebook pages carry the download (.ipynb) button, and the repository and launch (Colab,
  Binder) buttons exactly when ``repository: url:`` in ``_config.yml`` is set (the intro
  says ``git clone`` only then); exercise solutions (``{admonition}`` with ``:class:
  dropdown``) start hidden and open on a click;
* the bibliography lists under its first heading exactly the works the pages cite, each
  under the label its citations show, and the others under "Further reading";

and saves screenshots of every page in light and dark mode at 1400 and 400 px in
``_build/screenshots/`` (``<page>-<mode>-<width>.png``).

Chromium is started by tests/conftest.py; without it (Debian: ``apt-get install chromium
chromium-driver``) or selenium the tests are skipped, with the reason.
"""

from __future__ import annotations

import base64
import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tools.toc import toc_docnames

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
HOST = "127.0.0.1"
WIDE, NARROW = 1400, 400  # window widths: a desktop, a phone


# ------------------------------------------------------------------------------ the pages


DOCNAMES = toc_docnames(ROOT)  # every page of _toc.yml, root first


def is_notebook(docname: str) -> bool:
    return (ROOT / (docname + ".ipynb")).exists()


def repository_url() -> str:
    """``repository: url:`` of _config.yml: "" while the book has no public repository."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return (config["repository"]["url"] or "").strip().rstrip("/")


# ------------------------------------------------------------------- building the site


def newest_source_mtime() -> float:
    paths = [ROOT / "_config.yml", ROOT / "_toc.yml"]
    ignored = {".ipynb_checkpoints", "__pycache__"}
    paths += [p for p in (ROOT / "book").rglob("*") if p.is_file() and not ignored & set(p.parts)]
    paths += list((ROOT / "cvae").rglob("*.py"))
    return max(p.stat().st_mtime for p in paths)


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
    """A plain static server: a page without a favicon of its own gets the browser's 404 for /favicon.ico."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


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
def driver(chromium, server: str):
    browser = chromium(width=WIDE, height=1000)
    set_mode(browser, server, "light")  # a fixed mode, not the reader's
    return browser


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
// autodoc's "Bases:" line with no base after it
const emptyBases = [...article.querySelectorAll('dl.py > dd > p')]
  .filter(p => /^Bases:\s*$/.test(p.textContent))
  .map(p => p.closest('dl').querySelector('dt').id);
return {math: math.length, mjx: document.querySelectorAll('mjx-container').length,
        untypeset, texErrors, raw, images, links, emptyBases};
"""

# The search fields a reader sees: the theme's search "field" buttons and icons and any text
# input for a search (the search dialog's own field stays hidden until it is opened).
SEARCH_FIELDS = r"""
return [...document.querySelectorAll('.search-button-field, .search-button, input[type=search], input[name=q]')]
  .filter(e => e.getClientRects().length > 0 && e.offsetWidth > 0 && getComputedStyle(e).visibility !== 'hidden')
  .map(e => {
    const box = e.getBoundingClientRect();
    const name = `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`;
    return `${name} at (${Math.round(box.left)}, ${Math.round(box.top)})`;
  });
"""

# What is wider than the room it has. arguments[0] == 'column': every element of the page's
# content (the article) against the content column, including content hidden behind a
# sideways scroll bar or cut off; 'viewport': every element of the page against the window
# (what makes the page scroll sideways). Each offender once (not its children), described.
OVERFLOWS = r"""
const limit = arguments[0];
const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
const column = article.getBoundingClientRect();
const viewport = document.documentElement.clientWidth;
const squash = s => (s || '').replace(/\s+/g, ' ').trim();
const section = el => {
  const s = el.closest('section');
  const h = s && s.querySelector('h1, h2, h3, h4');
  return h ? squash(h.textContent).replace(/#$/, '') : '(top of the page)';
};
const describe = el => {
  const math = el.closest('div.math, span.math') || el.querySelector('div.math, span.math');
  if (math) {
    let tex = '';
    try { tex = MathJax.startup.document.getMathItemsWithin(math).map(m => m.math).join(' '); } catch (e) {}
    const number = ((math.querySelector('.eqno') || {}).textContent || '').match(/\([^)]*\)/);
    return 'equation ' + (number ? number[0] + ' ' : '') + (math.id ? '#' + math.id + ' ' : '') +
           squash(tex || math.textContent).slice(0, 200);
  }
  const pre = el.closest('pre') || el.querySelector('pre');
  if (pre) {
    const longest = pre.textContent.split('\n').reduce((a, b) => b.length > a.length ? b : a, '');
    const kind = pre.closest('.cell_output, .output') ? 'output' : 'code';
    return kind + ' line of ' + longest.length + ' characters: ' + longest.trim().slice(0, 160);
  }
  const table = el.closest('table') || el.querySelector('table');
  if (table) return 'table: ' + squash(table.textContent).slice(0, 160);
  const image = el.tagName === 'IMG' ? el : el.querySelector('img');
  if (image) return 'image ' + image.src.split('/').pop();
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
         (el.classList.length ? '.' + [...el.classList].join('.') : '') + ': ' + squash(el.textContent).slice(0, 160);
};
// the width of what an element shows: for math the typeset formula (MathJax's invisible
// assistive MathML, absolutely positioned, inflates scrollWidth), else scrollWidth
const contentWidth = el => {
  const formula = el.matches('span.math, div.math') && el.querySelector('mjx-math');
  return formula ? Math.ceil(formula.getBoundingClientRect().width) : el.scrollWidth;
};
const found = new Map();
const visit = el => {
  const style = getComputedStyle(el);
  if (style.display === 'none' || style.visibility === 'hidden' || style.position === 'fixed') return;
  if (el.matches('mjx-assistive-mml, .visually-hidden, .sr-only, .headerlink')) return;
  const box = el.getBoundingClientRect();
  const clips = style.overflowX !== 'visible';  // nothing inside it can stick out of it
  const out = limit === 'column'
    ? box.width > 0 && (box.right > column.right + 1 || box.left < column.left - 1)
    : box.width > 0 && box.right > viewport + 1;
  const cut = limit === 'column' && clips && contentWidth(el) > el.clientWidth + 1;
  if (out || cut) {
    const room = limit === 'column' ? `${Math.round(column.width)} px column` : `${viewport} px window`;
    const hidden = ['hidden', 'clip'].includes(style.overflowX) ? 'cut off' : 'scrolls sideways';
    const how = out ? `${Math.round(box.width)} px wide, sticks out of the ${room}`
                    : `${contentWidth(el)} px of content in ${el.clientWidth} px (${hidden})`;
    const problem = {what: describe(el), section: section(el), how};
    found.set(JSON.stringify(problem), problem);
  } else if (!clips) {
    [...el.children].forEach(visit);
  }
};
[...(limit === 'column' ? article : document.body).children].forEach(visit);
return {found: [...found.values()], pageWidth: document.documentElement.scrollWidth, viewport};
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


def screenshot(driver, name: str, max_height: int = 8000) -> Path:
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
    search_fields = driver.execute_script(SEARCH_FIELDS)
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
    if len(search_fields) != 1:
        problems.append(f"{len(search_fields)} visible search fields, wanted one: {search_fields}")
    if facts["emptyBases"]:
        problems.append(f"an empty 'Bases:' line on {facts['emptyBases']}")
    problems += check_links(facts["links"], server, link_cache)
    assert not problems, f"{docname}.html:\n  " + "\n  ".join(problems)


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


def colour_problems(colours: dict, mode: str) -> list[str]:
    """Body text contrast, and (dark mode) figures on a white card in their true colours."""
    problems = []
    if colours["theme"] != mode:
        problems.append(f"data-theme is {colours['theme']!r}, wanted {mode!r}")
    ratio = contrast(colours["page"], colours["text"])
    if ratio < 4.5:
        problems.append(f"text {colours['text']} on {colours['page']}: contrast {ratio:.1f} < 4.5")
    for image in colours["images"]:
        if mode == "dark" and (luminance(image["background"]) < 0.9 or image["filter"] not in ("none", "")):
            problems.append(f"figure {image['src']} has background {image['background']}, "
                            f"filter {image['filter']} in dark mode")
    return problems


def layout_problems(driver, width: int) -> list[str]:
    """At WIDE nothing is wider than the content column; at NARROW the page is no wider than the window."""
    limit = "column" if width == WIDE else "viewport"
    result = driver.execute_script(OVERFLOWS, limit)
    problems = [f"{o['what']} (in '{o['section']}'): {o['how']}" for o in result["found"]]
    if limit == "viewport" and result["pageWidth"] > result["viewport"] and not problems:
        problems.append(f"the page is {result['pageWidth']} px wide in a {result['viewport']} px window")
    search_fields = driver.execute_script(SEARCH_FIELDS)
    if len(search_fields) != 1:
        problems.append(f"{len(search_fields)} visible search fields, wanted one: {search_fields}")
    return problems


def each_view(driver, server, docname):
    """Load ``docname`` in light and dark mode at 1400 and 400 px; yield ``(mode, width)`` for each view."""
    for mode in ("light", "dark"):
        set_mode(driver, server, mode)
        for width in (WIDE, NARROW):
            driver.set_window_size(width, 1000)
            load(driver, f"{server}/{docname}.html")
            yield mode, width


@pytest.mark.parametrize("docname", DOCNAMES)
def test_page_fits_the_window_in_both_colour_modes(driver, server, docname):
    """Light and dark mode at 1400 and 400 px: the layout (in light mode; dark mode only recolours),
    the colours, and a screenshot of each, ``_build/screenshots/<page>-<mode>-<width>.png``."""
    problems = []
    try:
        for mode, width in each_view(driver, server, docname):
            if mode == "light":
                problems += [f"{width} px: {problem}" for problem in layout_problems(driver, width)]
            if width == WIDE:
                problems += [f"{mode} mode: {p}" for p in colour_problems(driver.execute_script(COLOURS), mode)]
            screenshot(driver, f"{docname}-{mode}-{width}")
    finally:
        driver.set_window_size(WIDE, 1000)
        set_mode(driver, server, "light")
    assert not problems, f"{docname}.html: {len(problems)} problem(s):\n  " + "\n  ".join(problems)


LAUNCHERS = ("colab.research.google.com", "mybinder.org", "/v2/gh/")


@pytest.mark.parametrize("docname", [d for d in DOCNAMES if is_notebook(d)])
def test_notebook_page_buttons(driver, server, docname):
    """Download as .ipynb always; the repository link and Colab / Binder exactly when
    ``repository: url:`` is set (no button may lead to an address that does not exist)."""
    load(driver, f"{server}/{docname}.html")
    hrefs = driver.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href)")
    assert f"{server}/_sources/{docname}.ipynb" in hrefs, f"{docname}.html lacks the download (.ipynb) button"
    status, _ = fetch(f"{server}/_sources/{docname}.ipynb")
    assert status == 200, "the download button's .ipynb is not on the site"
    repo = repository_url()
    if not repo:
        offsite = [h for h in hrefs if any(part in h for part in LAUNCHERS) or "github.com" in h]
        assert not offsite, f"{docname}.html links a repository or launcher while repository.url is empty: {offsite}"
        return
    slug = urllib.parse.urlsplit(repo).path.strip("/")
    wanted = {"Colab": f"colab.research.google.com/github/{slug}/blob/", "Binder": f"/v2/gh/{slug}/",
              "repository": repo}
    missing = [name for name, part in wanted.items() if not any(part in h for h in hrefs)]
    assert not missing, f"{docname}.html lacks the {missing} button(s)"
    colab = next(h for h in hrefs if wanted["Colab"] in h)
    assert colab.endswith(f"/{docname}.ipynb"), colab


def test_intro_tells_how_to_get_the_source(driver, server):
    """``git clone <the address>`` only when the book has a public repository."""
    load(driver, f"{server}/{DOCNAMES[0]}.html")
    text = driver.execute_script("return document.querySelector('article').innerText")
    repo = repository_url()
    if repo:
        assert f"git clone {repo}" in text, f"the intro does not say `git clone {repo}`"
    else:
        assert "git clone" not in text, "the intro says `git clone` but the book has no repository address"


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
        # instantly: the theme scrolls smoothly, and a click during the scroll lands elsewhere
        driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", button)
        button.click()
        opened = driver.execute_script(
            "return !document.querySelectorAll('.admonition.dropdown')[arguments[0]].classList.contains('toggle-hidden')",
            index,
        )
        assert opened, f"{docname}: dropdown #{index} did not open on a click"


# ------------------------------------------------------------------- the bibliography (built HTML)

BIBLIOGRAPHY = "book/bibliography"
CITATION_LINK = re.compile(  # a citation in the text: (the entry's id, the text shown)
    r'<a class="reference internal" href="(?:[^"#]*/)?bibliography\.html#([^"]+)"[^>]*>(.*?)</a>', re.S)
ENTRY = re.compile(  # an entry of the bibliography: (its id, its label)
    r'<div class="citation" id="([^"]+)"[^>]*>\s*<span class="label">'
    r'<span class="fn-bracket">\[</span>(.*?)<span', re.S)


def plain_text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def test_bibliography_lists_the_cited_works_under_their_citation_labels(site):
    """Under the first heading ("every work the chapters cite") exactly the cited works; the
    rest under "Further reading"; each label reads like the citations of it."""
    page = (site / f"{BIBLIOGRAPHY}.html").read_text(encoding="utf-8")
    cited_part, _, further_part = page.partition('id="further-reading"')
    cited_list, further_list = dict(ENTRY.findall(cited_part)), dict(ENTRY.findall(further_part))
    citations: dict[str, set[str]] = {}
    for docname in DOCNAMES:
        for target, text in CITATION_LINK.findall((site / f"{docname}.html").read_text(encoding="utf-8")):
            citations.setdefault(target, set()).add(plain_text(text))
    problems = [f"cited but not under the first heading: #{t} ({sorted(texts)})"
                for t, texts in citations.items() if t not in cited_list]
    problems += [f"listed under the first heading but cited nowhere: {label}"
                 for t, label in cited_list.items() if t not in citations]
    problems += [f"under 'Further reading' but cited: {label}" for t, label in further_list.items() if t in citations]
    for target, texts in citations.items():
        label = plain_text(cited_list.get(target, ""))
        for text in texts:  # {cite:p}: the whole label; {cite:t}: its names, then its year
            if label and text != label and not label.startswith(text + ",") and not label.endswith(", " + text):
                problems.append(f"cited as {text!r} but listed as [{label}]")
    assert cited_list, f"no entries found on {BIBLIOGRAPHY}.html"
    assert not problems, "\n".join(problems)


LANDING_FIGURES = {"fig-intro-generated": "labels_generated_grid", "fig-intro-completions": "quad_completions"}


def test_the_landing_page_opens_with_figures_the_chapters_computed(site):
    """The intro's ``glued-figure``s: numbered, captioned, with alt text, and the very image the chapter glued."""
    page = (site / "book" / "intro.html").read_text(encoding="utf-8")
    for name, key in LANDING_FIGURES.items():
        match = re.search(rf'<figure[^>]*id="{name}">\s*<img alt="([^"]+)" src="([^"]+)"', page)
        assert match, f"intro.html: no figure {name} with an image and alt text"
        image = (site / "book" / match.group(2)).resolve()
        chapter = {"labels": "cvae_labels", "quad": "quadrants"}[key.split("_")[0]]
        glued = [
            output["data"]["application/papermill.record/image/png"]
            for cell in json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())["cells"]
            for output in cell.get("outputs", [])
            if output.get("metadata", {}).get("scrapbook", {}).get("name") == key
        ]
        assert glued and image.read_bytes() == base64.b64decode(glued[0]), f"{name}: not the image {chapter} glued as {key}"
        caption = page[match.end():].partition("</figure>")[0]
        assert re.search(r'<span class="caption-number">Fig\. \d+ </span>', caption), f"{name}: no numbered caption"


BOOK_PDF = "cvae-book.pdf"  # make pdf builds it in _build/latex/; the site build copies and links it
PDF_LINK = re.compile(r'<div class="cvae-book-pdf">\s*<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', re.S)


def test_every_page_links_the_pdf_of_the_whole_book(site):
    """Every page's sidebar links the whole-book PDF, which the site holds (make test builds the
    PDF before the site); a site built without one links none (never a broken link)."""
    built = ROOT / "_build" / "latex" / BOOK_PDF
    if not built.exists() and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{built} missing: in CI make test builds the PDF (make pdf) before the site")
    for docname in DOCNAMES:
        page = site / (docname + ".html")
        links = PDF_LINK.findall(page.read_text(encoding="utf-8"))
        if not built.exists():
            assert not links, f"{page.name} links a PDF, but none was built"
            continue
        assert len(links) == 1, f"{docname}.html: {len(links)} links to the PDF of the whole book, wanted 1"
        href, text = links[0]
        assert "PDF of the whole book" in text
        target = (page.parent / urllib.parse.unquote(href)).resolve()
        assert target == (site / BOOK_PDF).resolve(), f"{docname}.html: the PDF link goes to {href}"
        assert target.read_bytes()[:5] == b"%PDF-" and target.stat().st_size == built.stat().st_size, \
            f"{target} is not the PDF make pdf built"


# ------------------------------------------------------------- animations, folded checks, tables

ANIMATIONS = r"""
return [...document.querySelectorAll('article .cvae-animation')].map(box => {
  const img = box.querySelector('img');
  const figure = box.closest('figure');
  const number = figure && figure.querySelector('figcaption .caption-number');
  return {frames: parseInt(box.dataset.frames), alt: img ? img.alt : null, src: img ? img.src : null,
          figure: figure ? figure.id : null, number: number ? number.textContent.trim() : null,
          buttons: [...box.querySelectorAll('button')].map(b => b.getAttribute('aria-label')),
          width: Math.round(box.getBoundingClientRect().width)};
});
"""

FRAME_STATE = r"""
const box = document.querySelectorAll('article .cvae-animation')[arguments[0]];
const img = box.querySelector('img');
const slider = box.querySelector('input.anim-slider');
return {src: img.src, slider: parseInt(slider.value), max: parseInt(slider.max),
        loaded: img.complete && img.naturalWidth > 0};
"""


def animation_pages() -> list[str]:
    return [d for d in DOCNAMES if is_notebook(d)]


@pytest.mark.parametrize("docname", animation_pages())
def test_animations_play_offline_and_step_through_their_frames(driver, server, docname):
    """Every animation (cvae.plotting.animate) is a numbered figure with alt text whose frames
    change on "Next frame", on the slider and while it plays; no request leaves the page."""
    from selenium.webdriver.common.by import By

    drain_logs(driver)
    load(driver, f"{server}/{docname}.html")
    animations = driver.execute_script(ANIMATIONS)
    if not animations:
        pytest.skip("no animation on this page")
    problems = []
    for index, found in enumerate(animations):
        name = found["figure"] or f"animation #{index}"
        if not found["figure"] or not re.fullmatch(r"Fig\. [\d.]+", found["number"] or ""):
            problems.append(f"{name}: not a numbered figure ({found})")
        if not (found["alt"] or "").strip():
            problems.append(f"{name}: its image has no alt text")
        for control in ("Previous frame", "Next frame", "Play", "Pause"):
            if control not in found["buttons"]:
                problems.append(f"{name}: no {control!r} button")
        box = driver.find_elements(By.CSS_SELECTOR, "article .cvae-animation")[index]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", box)
        first = driver.execute_script(FRAME_STATE, index)
        if first["max"] != found["frames"] - 1 or not first["loaded"]:
            problems.append(f"{name}: the player holds {first['max'] + 1} frames of {found['frames']}, "
                            f"image loaded: {first['loaded']}")
            continue
        box.find_element(By.CSS_SELECTOR, "button[aria-label='Next frame']").click()
        after = driver.execute_script(FRAME_STATE, index)
        if after["slider"] != first["slider"] + 1 or after["src"] == first["src"]:
            problems.append(f"{name}: 'Next frame' did not show the next frame ({first['slider']} -> {after['slider']})")
        driver.execute_script(
            "const s = document.querySelectorAll('article .cvae-animation')[arguments[0]].querySelector('input.anim-slider');"
            "s.value = s.max; s.dispatchEvent(new Event('input'));", index)
        last = driver.execute_script(FRAME_STATE, index)
        if last["slider"] != found["frames"] - 1 or last["src"] in (first["src"], after["src"]):
            problems.append(f"{name}: moving the slider to the end did not show the last frame")
        box.find_element(By.CSS_SELECTOR, "button[aria-label='First frame']").click()
        box.find_element(By.CSS_SELECTOR, "button[aria-label='Play']").click()
        seen = {driver.execute_script(FRAME_STATE, index)["slider"]}
        for _ in range(20):
            driver.execute_script("return new Promise(r => setTimeout(r, 100))")
            seen.add(driver.execute_script(FRAME_STATE, index)["slider"])
        box.find_element(By.CSS_SELECTOR, "button[aria-label='Pause']").click()
        if len(seen) < 3:
            problems.append(f"{name}: playing for two seconds showed frames {sorted(seen)}")
    requests, failed = network_events(driver)
    outside = foreign(requests)
    if outside or failed:
        problems.append(f"requests outside the page: {outside}, failed: {failed}")
    console = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    if console:
        problems.append(f"console errors: {console}")
    assert not problems, f"{docname}.html:\n  " + "\n  ".join(problems)


FOLDED = r"""
return [...document.querySelectorAll('article div.cell.tag_hide-input')].map(cell => {
  // checkVisibility: a closed <details> hides its content with content-visibility, not display
  const visible = el => !!el && el.getClientRects().length > 0 && el.offsetHeight > 0 &&
    (!el.checkVisibility || el.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true}));
  const details = cell.querySelector('details');
  const code = cell.querySelector('.cell_input pre, div.cell_input');
  const output = cell.querySelector('.cell_output');
  return {open: details ? details.open : null, codeVisible: visible(code),
          outputVisible: visible(output), output: output ? output.innerText.trim() : ''};
});
"""


@pytest.mark.parametrize("docname", animation_pages())
def test_folded_checks_show_their_verdict_and_open_on_a_click(driver, server, docname):
    """Cells that guard a result (tag hide-input): the code folded, the verdict lines they print
    visible under the result; one click shows the code."""
    from selenium.webdriver.common.by import By

    load(driver, f"{server}/{docname}.html")
    folded = driver.execute_script(FOLDED)
    if not folded:
        pytest.skip("no folded check cell on this page")
    problems = []
    for index, cell in enumerate(folded):
        if cell["open"] is not False or cell["codeVisible"]:
            problems.append(f"folded cell #{index}: its code is shown before a click ({cell})")
        if not cell["outputVisible"] or not cell["output"]:
            problems.append(f"folded cell #{index}: no visible verdict under it")
    summary = driver.find_elements(By.CSS_SELECTOR, "article div.cell.tag_hide-input details summary")[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", summary)
    summary.click()
    if not driver.execute_script(FOLDED)[0]["codeVisible"]:
        problems.append("a click on the first folded cell did not show its code")
    assert not problems, f"{docname}.html:\n  " + "\n  ".join(problems)


# For each results table: the gaps between neighbouring cells' text (px, each row), whether the
# table scrolls inside its own box, and its box against the content column and the window.
TABLES = r"""
const article = document.querySelector('article.bd-article') || document.querySelector('main');
const column = article.getBoundingClientRect();
const textBox = cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const rects = [...range.getClientRects()].filter(r => r.width > 0);
  if (!rects.length) return null;
  return {left: Math.min(...rects.map(r => r.left)), right: Math.max(...rects.map(r => r.right)),
          top: Math.min(...rects.map(r => r.top)), bottom: Math.max(...rects.map(r => r.bottom))};
};
// the colour a cell's text is drawn on: the first ancestor with a background that is not transparent
const behind = el => {
  for (let e = el; e; e = e.parentElement) {
    const colour = getComputedStyle(e).backgroundColor;
    if (colour && colour !== 'transparent' && !/^rgba\(.*,\s*0\)$/.test(colour)) return colour;
  }
  return getComputedStyle(document.body).backgroundColor;
};
return [...article.querySelectorAll('table.cvae-results')].map(table => {
  const style = getComputedStyle(table);
  const box = table.getBoundingClientRect();
  let smallestGap = Infinity, where = '';
  const wrapped = [];
  for (const row of table.rows) {
    const boxes = [...row.cells].map(textBox);
    boxes.forEach((b, i) => {
      const line = parseFloat(getComputedStyle(row.cells[i]).lineHeight) || 24;
      // long cells (class cvae-wrap, cvae.report) may wrap; short ones must not
      if (b && !row.cells[i].classList.contains('cvae-wrap') && b.bottom - b.top > 1.6 * line)
        wrapped.push(row.cells[i].textContent.trim());
    });
    for (let i = 0; i + 1 < boxes.length; i++) {
      if (!boxes[i] || !boxes[i + 1]) continue;
      const gap = boxes[i + 1].left - boxes[i].right;
      if (gap < smallestGap) {
        smallestGap = gap;
        where = `"${row.cells[i].textContent.trim()}" | "${row.cells[i + 1].textContent.trim()}"`;
      }
    }
  }
  return {name: (table.caption ? table.caption.textContent : table.textContent).trim().slice(0, 60),
          smallestGap: Number.isFinite(smallestGap) ? smallestGap : null, where, wrapped,
          overflowX: style.overflowX, scrollWidth: table.scrollWidth, clientWidth: table.clientWidth,
          left: box.left, right: box.right, columnLeft: column.left, columnRight: column.right,
          viewport: document.documentElement.clientWidth, pageWidth: document.documentElement.scrollWidth,
          text: getComputedStyle(table.querySelector('td, th')).color,
          background: behind(table.querySelector('td, th'))};
});
"""
MIN_COLUMN_GAP = 8  # px between the text of neighbouring cells


@pytest.mark.parametrize("docname", animation_pages())
def test_results_tables_keep_their_columns_apart_and_scroll_on_a_phone(driver, server, docname):
    """At 1400 px the text of neighbouring cells never runs together and no short cell wraps;
    at 400 px a table wider than the column scrolls sideways inside its own box and the page
    stays as wide as the window; the table text keeps its contrast in light and dark mode."""
    problems = []
    try:
        for mode, width in each_view(driver, server, docname):
            tables = driver.execute_script(TABLES)
            if not tables:
                pytest.skip("no results table on this page")
            for t in tables:
                where = f"{mode}, {width} px, table {t['name']!r}"
                if t["smallestGap"] is not None and t["smallestGap"] < MIN_COLUMN_GAP:
                    problems.append(f"{where}: {t['smallestGap']:.0f} px between {t['where']}")
                if t["wrapped"]:
                    problems.append(f"{where}: short cells wrap onto a second line: {t['wrapped'][:3]}")
                if t["left"] < t["columnLeft"] - 1 or t["right"] > t["columnRight"] + 1:
                    problems.append(f"{where}: the table's box ({t['left']:.0f} to {t['right']:.0f}) "
                                    f"leaves the column ({t['columnLeft']:.0f} to {t['columnRight']:.0f})")
                if t["scrollWidth"] > t["clientWidth"] + 1 and t["overflowX"] not in ("auto", "scroll"):
                    problems.append(f"{where}: {t['scrollWidth']} px of table in {t['clientWidth']} px, "
                                    f"overflow-x {t['overflowX']}")
                if width == WIDE and t["scrollWidth"] > t["clientWidth"] + 1:
                    problems.append(f"{where}: scrolls sideways at {WIDE} px")
                if t["pageWidth"] > t["viewport"]:
                    problems.append(f"{where}: the page is {t['pageWidth']} px wide in a {t['viewport']} px window")
                ratio = contrast(t["text"], t["background"])
                if ratio < 4.5:
                    problems.append(f"{where}: text {t['text']} on {t['background']}: contrast {ratio:.1f}")
    finally:
        driver.set_window_size(WIDE, 1000)
        set_mode(driver, server, "light")
    assert not problems, f"{docname}.html: {len(problems)} problem(s):\n  " + "\n  ".join(problems)
