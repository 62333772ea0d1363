"""The built site, in a real browser: every page of _toc.yml in headless Chromium.

Run by ``make browser`` (after ``make site``; it builds ``_build/html`` itself if that
is missing or older than the sources). The site is served from 127.0.0.1 and Chromium
resolves no other host, so the pages must work offline. Each page: no request leaves
127.0.0.1 or fails, no console error; MathJax typeset every formula, no raw TeX shows;
every image loads; every same-origin link (and, in the content, its ``#fragment``)
resolves; one search field; no empty "Bases:" line; at 1400 px nothing is wider than the
content column and at 400 px the page is no wider than the window (each offender named);
text keeps its contrast and figures sit on a white card in light and dark mode; results
tables keep their columns apart and scroll inside their own box. Besides: the buttons
and the intro's ``git clone`` follow ``repository: url:``; solutions open on a click;
the bibliography lists the cited works under their citation labels; the intro's glued
figures are the chapters' images; every page links the whole-book PDF when it was built;
animations play; folded checks show their verdict. Chromium comes from
tests/conftest.py; without it the tests are skipped.
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
HOST = "127.0.0.1"
WIDE, NARROW = 1400, 400  # window widths: a desktop, a phone
DOCNAMES = toc_docnames(ROOT)  # every page of _toc.yml, root first
CHAPTERS = [d for d in DOCNAMES if (ROOT / (d + ".ipynb")).exists()]
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy


def repository_url() -> str:
    """``repository: url:`` of _config.yml: "" while the book has no repository."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return (config["repository"]["url"] or "").strip().rstrip("/")


@pytest.fixture(scope="session")
def site(browser_available) -> Path:
    """``_build/html`` as ``make site`` builds it, rebuilt if older than the sources."""
    sources = [ROOT / "_config.yml", ROOT / "_toc.yml", *ROOT.glob("cvae/**/*.py")]
    sources += [p for p in (ROOT / "book").rglob("*") if p.is_file()]
    ignored = {".ipynb_checkpoints", "__pycache__"}
    newest = max(p.stat().st_mtime for p in sources if not ignored & set(p.parts))
    marker = HTML / "objects.inv"  # written at the end of a successful build
    if not marker.exists() or marker.stat().st_mtime < newest:
        shutil.rmtree(HTML, ignore_errors=True)
        shutil.rmtree(ROOT / "_build" / ".doctrees", ignore_errors=True)
        build = [Path(sys.executable).with_name("jupyter-book"), "build", "."]
        build += ["-W", "-n", "--keep-going"]
        result = subprocess.run(
            build, cwd=ROOT, capture_output=True, text=True, timeout=1200
        )
        log = result.stdout[-4000:] + result.stderr[-2000:]
        assert result.returncode == 0, f"the site build (make site) failed:\n{log}"
    missing = [d for d in DOCNAMES if not (HTML / (d + ".html")).exists()]
    assert not missing, f"pages of _toc.yml missing from {HTML}: {missing}"
    return HTML


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A plain static server (a page with no favicon gets a 404 for /favicon.ico)."""

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def server(site: Path):
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer((HOST, 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://{HOST}:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def driver(chromium, server: str):
    browser = chromium(width=WIDE, height=1000)
    set_mode(browser, server, "light")  # a fixed mode, not the reader's
    return browser


def set_mode(driver, base: str, mode: str) -> None:
    """The pydata theme reads the colour mode from localStorage before it paints."""
    driver.get(f"{base}/{DOCNAMES[0]}.html")
    driver.execute_script(
        "localStorage.setItem('mode', arguments[0]);"
        "localStorage.setItem('theme', arguments[0]);",
        mode,
    )


WAIT_FOR_MATHJAX = """
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
if (document.readyState === 'complete') ready();
else window.addEventListener('load', ready);
"""
# every image finished loading, successfully or not (up to 10 s)
WAIT_FOR_IMAGES = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
const poll = () => {
  const pending = [...document.images].filter(i => !i.complete);
  pending.forEach(i => { i.loading = 'eager'; });
  if (pending.length === 0 || Date.now() - t0 > 10000) done(true);
  else setTimeout(poll, 100);
};
poll();
"""


def load(driver, url: str) -> str | None:
    """Open ``url``, wait for MathJax and the images; a MathJax problem, or None."""
    driver.get(url)
    mathjax = driver.execute_async_script(WAIT_FOR_MATHJAX)
    driver.execute_async_script(WAIT_FOR_IMAGES)
    return mathjax


def found_on(driver, server: str, docname: str, script: str, what: str, *args):
    """Open ``docname`` (its logs drained first) and run ``script``; skip the test when
    it finds no ``what`` there."""
    driver.get_log("performance")
    driver.get_log("browser")
    load(driver, f"{server}/{docname}.html")
    found = driver.execute_script(script, *args)
    if not found:
        pytest.skip(f"no {what} on this page")
    return found


def click(driver, element) -> None:
    # instantly: the theme scrolls smoothly; a click during the scroll lands elsewhere
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element
    )
    element.click()


def button(box, label: str):
    from selenium.webdriver.common.by import By

    return box.find_element(By.CSS_SELECTOR, f"button[aria-label='{label}']")


def assert_none(docname: str, problems: list[str]) -> None:
    count = f"{len(problems)} problem(s)"
    assert not problems, f"{docname}.html: {count}:\n  " + "\n  ".join(problems)


def traffic(driver) -> list[str]:
    """Requests to other hosts, failed requests and console errors since the last
    call."""
    requests, failures, urls = [], [], {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[params["requestId"]] = params["request"]["url"]
            requests.append(params["request"]["url"])
        elif method == "Network.responseReceived":
            if params["response"].get("status", 0) >= 400:
                response = params["response"]
                failures.append(f"HTTP {response['status']}: {response['url']}")
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(params["requestId"], "?")
            failures.append(f"{params.get('errorText')}: {url}")
    outside = set()
    for url in requests:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("data", "blob", "about", "javascript"):
            outside |= {url} if parts.hostname != HOST else set()
    logs = driver.get_log("browser")
    console = [e["message"] for e in logs if e["level"] == "SEVERE"]
    problems = [f"requests to hosts other than {HOST}: {sorted(outside)}"]
    problems += [f"failed requests: {failures}", f"console errors: {console}"]
    found = (outside, failures, console)
    return [p for p, bad in zip(problems, found, strict=True) if bad]


PAGE_FACTS = r"""
const article = document.querySelector('main') || document.body;
const math = [...article.querySelectorAll('span.math, div.math')];
const untypeset = math.filter(m => !m.querySelector('mjx-container'))
                      .map(m => m.textContent.trim().slice(0, 80));
const texErrors = [...document.querySelectorAll('mjx-merror')]
  .map(e => e.getAttribute('data-mjx-error') || e.textContent);
// visible text outside code and typeset math
const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, ' +
             '.cell_input, .cvae-raw-tex-ok';
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
const raw = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const parent = node.parentElement;
  if (!parent || parent.closest(skip) || parent.getClientRects().length === 0) continue;
  const text = node.textContent;
  if (/\$\$|\\begin\{|\\\[|\\\(/.test(text)) raw.push(text.trim().slice(0, 120));
}
const images = [...document.images]
  .map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
const links = [...document.querySelectorAll('a[href]')].map(a => ({
  href: a.href, inContent: !!a.closest('article'),
  text: a.textContent.trim().slice(0, 60)}));
// autodoc's "Bases:" line with no base after it
const emptyBases = [...article.querySelectorAll('dl.py > dd > p')]
  .filter(p => /^Bases:\s*$/.test(p.textContent))
  .map(p => p.closest('dl').querySelector('dt').id);
return {math: math.length, mjx: document.querySelectorAll('mjx-container').length,
        untypeset, texErrors, raw, images, links, emptyBases};
"""
# The search fields a reader sees: the theme's search "field" buttons and icons and any
# text input for a search (the search dialog's own field stays hidden until opened).
SEARCH_FIELDS = r"""
const shown = e => e.getClientRects().length > 0 && e.offsetWidth > 0 &&
                   getComputedStyle(e).visibility !== 'hidden';
const fields = '.search-button-field, .search-button, input[type=search], ' +
               'input[name=q]';
return [...document.querySelectorAll(fields)].filter(shown).map(e => {
  const box = e.getBoundingClientRect();
  const name = `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`;
  return `${name} at (${Math.round(box.left)}, ${Math.round(box.top)})`;
});
"""


@functools.cache
def fetch(url: str) -> tuple[int, str]:
    try:
        with LOCAL.open(url, timeout=30) as response:
            body = response.read().decode("utf-8", "replace")
            is_html = response.headers.get_content_type() == "text/html"
            return response.status, body if is_html else ""
    except urllib.error.HTTPError as error:
        return error.code, ""


def link_problems(links: list[dict], base: str) -> list[str]:
    problems = []
    for link in links:
        parsed = urllib.parse.urlsplit(link["href"])
        if f"{parsed.scheme}://{parsed.netloc}" != base:
            continue
        status, body = fetch(urllib.parse.urlunsplit(parsed._replace(fragment="")))
        where = f"{link['text']!r} -> {link['href']}"
        anchor = urllib.parse.unquote(parsed.fragment)
        if status != 200:
            problems.append(f"{where}: HTTP {status}")
        elif anchor and link["inContent"] and body:
            if not re.search(r'\b(id|name)="' + re.escape(anchor) + '"', body):
                problems.append(f"{where}: no element #{anchor} on the target page")
    return problems


@pytest.mark.parametrize("docname", DOCNAMES)
def test_page(driver, server, docname):
    driver.get_log("performance")
    driver.get_log("browser")
    mathjax = load(driver, f"{server}/{docname}.html")
    facts = driver.execute_script(PAGE_FACTS)
    problems = ([mathjax] if mathjax else []) + traffic(driver)
    if facts["untypeset"]:
        count = f"{len(facts['untypeset'])}/{facts['math']}"
        problems.append(f"{count} math elements not typeset: {facts['untypeset'][:5]}")
    if facts["math"] and not facts["mjx"]:
        problems.append("the page has math but no mjx-container: MathJax did not run")
    if facts["texErrors"]:
        problems.append(f"TeX errors: {facts['texErrors'][:5]}")
    if facts["raw"]:
        problems.append(f"raw TeX left as visible text: {facts['raw'][:5]}")
    broken_images = [i["src"] for i in facts["images"] if not i["ok"]]
    if broken_images:
        problems.append(f"images that did not load: {broken_images}")
    if facts["emptyBases"]:
        problems.append(f"an empty 'Bases:' line on {facts['emptyBases']}")
    assert_none(docname, problems + link_problems(facts["links"], server))


# What is wider than the room it has. arguments[0] == 'column': every element of the
# page's content (the article) against the content column, including content hidden
# behind a sideways scroll bar or cut off; 'viewport': every element of the page against
# the window (what makes the page scroll sideways). Each offender once, described.
OVERFLOWS = r"""
const limit = arguments[0];
const article = document.querySelector('article.bd-article') ||
                document.querySelector('main') || document.body;
const column = article.getBoundingClientRect();
const viewport = document.documentElement.clientWidth;
const squash = s => (s || '').replace(/\s+/g, ' ').trim();
const section = el => {
  const s = el.closest('section');
  const h = s && s.querySelector('h1, h2, h3, h4');
  return h ? squash(h.textContent).replace(/#$/, '') : '(top of the page)';
};
const describe = el => {
  const maths = 'div.math, span.math';
  const math = el.closest(maths) || el.querySelector(maths);
  if (math) {
    let tex = '';
    try {
      const items = MathJax.startup.document.getMathItemsWithin(math);
      tex = items.map(m => m.math).join(' ');
    } catch (e) {}
    const eqno = (math.querySelector('.eqno') || {}).textContent || '';
    const number = eqno.match(/\([^)]*\)/);
    return 'equation ' + (number ? number[0] + ' ' : '') +
           (math.id ? '#' + math.id + ' ' : '') +
           squash(tex || math.textContent).slice(0, 200);
  }
  const pre = el.closest('pre') || el.querySelector('pre');
  if (pre) {
    const longest = pre.textContent.split('\n')
                       .reduce((a, b) => b.length > a.length ? b : a, '');
    const kind = pre.closest('.cell_output, .output') ? 'output' : 'code';
    return kind + ' line of ' + longest.length + ' characters: ' +
           longest.trim().slice(0, 160);
  }
  const table = el.closest('table') || el.querySelector('table');
  if (table) return 'table: ' + squash(table.textContent).slice(0, 160);
  const image = el.tagName === 'IMG' ? el : el.querySelector('img');
  if (image) return 'image ' + image.src.split('/').pop();
  return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
         (el.classList.length ? '.' + [...el.classList].join('.') : '') + ': ' +
         squash(el.textContent).slice(0, 160);
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
  if (style.display === 'none' || style.visibility === 'hidden' ||
      style.position === 'fixed') return;
  if (el.matches('mjx-assistive-mml, .visually-hidden, .sr-only, .headerlink')) return;
  const box = el.getBoundingClientRect();
  const clips = style.overflowX !== 'visible';  // nothing inside it can stick out of it
  const out = limit === 'column'
    ? box.width > 0 && (box.right > column.right + 1 || box.left < column.left - 1)
    : box.width > 0 && box.right > viewport + 1;
  const cut = limit === 'column' && clips && contentWidth(el) > el.clientWidth + 1;
  if (out || cut) {
    const room = limit === 'column' ? `${Math.round(column.width)} px column`
                                    : `${viewport} px window`;
    const hidden = ['hidden', 'clip'].includes(style.overflowX) ? 'cut off'
                                                                : 'scrolls sideways';
    const how = out
      ? `${Math.round(box.width)} px wide, sticks out of the ${room}`
      : `${contentWidth(el)} px of content in ${el.clientWidth} px (${hidden})`;
    const problem = {what: describe(el), section: section(el), how};
    found.set(JSON.stringify(problem), problem);
  } else if (!clips) {
    [...el.children].forEach(visit);
  }
};
[...(limit === 'column' ? article : document.body).children].forEach(visit);
return {found: [...found.values()], pageWidth: document.documentElement.scrollWidth,
        viewport};
"""
COLOURS = r"""
const page = getComputedStyle(document.body).backgroundColor;
const p = document.querySelector('article p') || document.querySelector('main');
const figures = 'article div.cell_output img, article figure img';
const images = [...document.querySelectorAll(figures)].map(i => {
  const style = getComputedStyle(i);
  return {src: i.src.split('/').pop(), background: style.backgroundColor,
          filter: style.filter};
});
return {theme: document.documentElement.dataset.theme, page,
        text: getComputedStyle(p).color, images};
"""


def luminance(css_color: str) -> float:
    rgb = (int(v) / 255 for v in re.findall(r"[\d.]+", css_color)[:3])
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def colour_problems(colours: dict, mode: str) -> list[str]:
    """Body text contrast, and (dark mode) figures on a white card in their colours."""
    problems = []
    if colours["theme"] != mode:
        problems.append(f"data-theme is {colours['theme']!r}, wanted {mode!r}")
    ratio = contrast(colours["page"], colours["text"])
    if ratio < 4.5:
        text = f"text {colours['text']} on {colours['page']}"
        problems.append(f"{text}: contrast {ratio:.1f} < 4.5")
    for image in colours["images"]:
        light = luminance(image["background"]) >= 0.9
        if mode == "dark" and (not light or image["filter"] not in ("none", "")):
            problems.append(
                f"figure {image['src']} has background {image['background']}, "
                f"filter {image['filter']} in dark mode"
            )
    return problems


def layout_problems(driver, width: int) -> list[str]:
    """At WIDE nothing is wider than the content column; at NARROW the page is no
    wider than the window."""
    limit = "column" if width == WIDE else "viewport"
    result = driver.execute_script(OVERFLOWS, limit)
    problems = [
        f"{o['what']} (in '{o['section']}'): {o['how']}" for o in result["found"]
    ]
    page, window = result["pageWidth"], result["viewport"]
    if limit == "viewport" and page > window and not problems:
        problems.append(f"the page is {page} px wide in a {window} px window")
    search_fields = driver.execute_script(SEARCH_FIELDS)
    if len(search_fields) != 1:
        problems.append(f"{len(search_fields)} visible search fields: {search_fields}")
    return problems


def each_view(driver, server, docname):
    """Load ``docname`` in light and dark mode at 1400 and 400 px; yield ``(mode,
    width)`` for each view, and leave the window wide and light."""
    try:
        for mode in ("light", "dark"):
            set_mode(driver, server, mode)
            for width in (WIDE, NARROW):
                driver.set_window_size(width, 1000)
                load(driver, f"{server}/{docname}.html")
                yield mode, width
    finally:
        driver.set_window_size(WIDE, 1000)
        set_mode(driver, server, "light")


# For each results table: the smallest gap between neighbouring cells' text (px), the
# short cells that wrap, its box against the content column and the window, its colours.
TABLES = r"""
const article = document.querySelector('article.bd-article') ||
                document.querySelector('main');
const column = article.getBoundingClientRect();
const textBox = cell => {
  const range = document.createRange();
  range.selectNodeContents(cell);
  const rects = [...range.getClientRects()].filter(r => r.width > 0);
  if (!rects.length) return null;
  const sides = side => rects.map(r => r[side]);
  return {left: Math.min(...sides('left')), right: Math.max(...sides('right')),
          top: Math.min(...sides('top')), bottom: Math.max(...sides('bottom'))};
};
// the colour a cell's text is drawn on: the first ancestor with a visible background
const behind = el => {
  for (let e = el; e; e = e.parentElement) {
    const colour = getComputedStyle(e).backgroundColor;
    const clear = colour === 'transparent' || /^rgba\(.*,\s*0\)$/.test(colour);
    if (colour && !clear) return colour;
  }
  return getComputedStyle(document.body).backgroundColor;
};
return [...article.querySelectorAll('table.cvae-results')].map(table => {
  const box = table.getBoundingClientRect();
  let smallestGap = Infinity, where = '';
  const wrapped = [];
  for (const row of table.rows) {
    const boxes = [...row.cells].map(textBox);
    boxes.forEach((b, i) => {
      const line = parseFloat(getComputedStyle(row.cells[i]).lineHeight) || 24;
      // long cells (class cvae-wrap, cvae.report) may wrap; short ones must not
      const short = !row.cells[i].classList.contains('cvae-wrap');
      if (b && short && b.bottom - b.top > 1.6 * line)
        wrapped.push(row.cells[i].textContent.trim());
    });
    for (let i = 0; i + 1 < boxes.length; i++) {
      if (!boxes[i] || !boxes[i + 1]) continue;
      const gap = boxes[i + 1].left - boxes[i].right;
      if (gap < smallestGap) {
        smallestGap = gap;
        const text = j => `"${row.cells[j].textContent.trim()}"`;
        where = `${text(i)} | ${text(i + 1)}`;
      }
    }
  }
  const caption = table.caption ? table.caption.textContent : table.textContent;
  const first = table.querySelector('td, th');
  return {name: caption.trim().slice(0, 60), where, wrapped,
          smallestGap: Number.isFinite(smallestGap) ? smallestGap : null,
          overflowX: getComputedStyle(table).overflowX, scrollWidth: table.scrollWidth,
          clientWidth: table.clientWidth, left: box.left, right: box.right,
          columnLeft: column.left, columnRight: column.right,
          text: getComputedStyle(first).color, background: behind(first)};
});
"""
MIN_COLUMN_GAP = 8  # px between the text of neighbouring cells


def table_problems(t: dict) -> list[str]:
    """Text of neighbouring cells apart, short cells on one line, the box in the
    column, sideways scrolling inside the box, the text's contrast."""
    problems = []
    if t["smallestGap"] is not None and t["smallestGap"] < MIN_COLUMN_GAP:
        problems.append(f"{t['smallestGap']:.0f} px between {t['where']}")
    if t["wrapped"]:
        problems.append(f"short cells wrap onto a second line: {t['wrapped'][:3]}")
    if t["left"] < t["columnLeft"] - 1 or t["right"] > t["columnRight"] + 1:
        problems.append(
            f"its box ({t['left']:.0f} to {t['right']:.0f}) leaves the column "
            f"({t['columnLeft']:.0f} to {t['columnRight']:.0f})"
        )
    scrolls = t["scrollWidth"] > t["clientWidth"] + 1
    if scrolls and t["overflowX"] not in ("auto", "scroll"):
        problems.append(
            f"{t['scrollWidth']} px of table in {t['clientWidth']} px, "
            f"overflow-x {t['overflowX']}"
        )
    ratio = contrast(t["text"], t["background"])
    if ratio < 4.5:
        problems.append(f"text {t['text']} on {t['background']}: contrast {ratio:.1f}")
    return problems


@pytest.mark.parametrize("docname", DOCNAMES)
def test_page_fits_the_window_in_both_colour_modes(driver, server, docname):
    """Light and dark mode at 1400 and 400 px: the layout (in light mode; dark mode only
    recolours), the colours and the results tables."""
    problems = []
    for mode, width in each_view(driver, server, docname):
        if mode == "light":
            problems += [f"{width} px: {p}" for p in layout_problems(driver, width)]
        if width == WIDE:
            colours = driver.execute_script(COLOURS)
            problems += [f"{mode} mode: {p}" for p in colour_problems(colours, mode)]
        for t in driver.execute_script(TABLES):
            where = f"{mode}, {width} px, table {t['name']!r}"
            problems += [f"{where}: {p}" for p in table_problems(t)]
    assert_none(docname, problems)


LAUNCHERS = ("colab.research.google.com", "mybinder.org", "/v2/gh/", "github.com")


@pytest.mark.parametrize("docname", CHAPTERS)
def test_notebook_page_buttons(driver, server, docname):
    """Download as .ipynb always; the repository link and Colab / Binder exactly when
    ``repository: url:`` is set (no button may lead to an address that does not
    exist)."""
    load(driver, f"{server}/{docname}.html")
    links = "return [...document.querySelectorAll('a[href]')].map(a => a.href)"
    hrefs = driver.execute_script(links)
    source = f"{server}/_sources/{docname}.ipynb"
    assert source in hrefs, f"{docname}.html lacks the download (.ipynb) button"
    assert fetch(source)[0] == 200, "the download button's .ipynb is not on the site"
    repo = repository_url()
    if not repo:
        offsite = [h for h in hrefs if any(part in h for part in LAUNCHERS)]
        assert not offsite, f"{docname}.html: buttons without repository.url: {offsite}"
        return
    slug = urllib.parse.urlsplit(repo).path.strip("/")
    colab = f"colab.research.google.com/github/{slug}/blob/"
    wanted = {"Colab": colab, "Binder": f"/v2/gh/{slug}/", "repository": repo}
    missing = [
        name for name, part in wanted.items() if not any(part in h for h in hrefs)
    ]
    assert not missing, f"{docname}.html lacks the {missing} button(s)"
    assert next(h for h in hrefs if colab in h).endswith(f"/{docname}.ipynb")


def test_intro_tells_how_to_get_the_source(driver, server):
    """``git clone <the address>`` only when the book has a public repository."""
    load(driver, f"{server}/{DOCNAMES[0]}.html")
    text = driver.execute_script("return document.querySelector('article').innerText")
    repo = repository_url()
    if repo:
        assert f"git clone {repo}" in text, f"the intro lacks `git clone {repo}`"
    else:
        assert "git clone" not in text, "`git clone` but no repository address"


DROPDOWN = r"""
const box = document.querySelectorAll('.admonition.dropdown')[arguments[0]];
const body = [...box.children].filter(c => !c.classList.contains('admonition-title'));
return {hidden: box.classList.contains('toggle-hidden'),
        visible: body.some(c => c.getClientRects().length > 0 && c.offsetHeight > 0)};
"""


@pytest.mark.parametrize("docname", DOCNAMES)
def test_solutions_start_hidden_and_open_on_click(driver, server, docname):
    """Exercise solutions: ``{admonition} Solution`` with ``:class: dropdown``."""
    from selenium.webdriver.common.by import By

    count = "return document.querySelectorAll('.admonition.dropdown').length"
    for index in range(found_on(driver, server, docname, count, "dropdown admonition")):
        state = driver.execute_script(DROPDOWN, index)
        where = f"{docname}: dropdown #{index}"
        assert state["hidden"] and not state["visible"], (
            f"{where} is open before a click"
        )
        box = driver.find_elements(By.CSS_SELECTOR, ".admonition.dropdown")[index]
        title = "button.toggle-button, .admonition-title"
        click(driver, box.find_element(By.CSS_SELECTOR, title))
        opened = not driver.execute_script(DROPDOWN, index)["hidden"]
        assert opened, f"{where} did not open on a click"


BIBLIOGRAPHY = "book/bibliography"
CITATION_LINK = re.compile(  # a citation in the text: (the entry's id, the text shown)
    r'<a class="reference internal" href="(?:[^"#]*/)?bibliography\.html#([^"]+)"'
    r"[^>]*>(.*?)</a>",
    re.S,
)
ENTRY = re.compile(  # an entry of the bibliography: (its id, its label)
    r'<div class="citation" id="([^"]+)"[^>]*>\s*<span class="label">'
    r'<span class="fn-bracket">\[</span>(.*?)<span',
    re.S,
)


def plain_text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def test_bibliography_lists_the_cited_works_under_their_citation_labels(site):
    """Under the first heading exactly the cited works, the rest under "Further
    reading"; each label reads like the citations of it."""
    page = (site / f"{BIBLIOGRAPHY}.html").read_text(encoding="utf-8")
    cited_part, _, further_part = page.partition('id="further-reading"')
    listed, further = dict(ENTRY.findall(cited_part)), dict(ENTRY.findall(further_part))
    assert listed, f"no entries found on {BIBLIOGRAPHY}.html"
    citations: dict[str, set[str]] = {}
    for docname in DOCNAMES:
        text = (site / f"{docname}.html").read_text(encoding="utf-8")
        for target, shown in CITATION_LINK.findall(text):
            citations.setdefault(target, set()).add(plain_text(shown))
    problems = [f"cited, not listed first: #{t}" for t in citations if t not in listed]
    problems += [
        f"listed first, not cited: {v}" for t, v in listed.items() if t not in citations
    ]
    problems += [
        f"further reading, cited: {v}" for t, v in further.items() if t in citations
    ]
    for target, texts in citations.items():
        label = plain_text(listed.get(target, ""))
        for text in texts:  # {cite:p}: the whole label; {cite:t}: names, then year
            ok = label.startswith(text + ",") or label.endswith(", " + text)
            if label and text != label and not ok:
                problems.append(f"cited as {text!r} but listed as [{label}]")
    assert_none(BIBLIOGRAPHY, problems)


LANDING_FIGURES = {
    "fig-intro-generated": ("labels_generated_grid", "cvae_labels"),
    "fig-intro-completions": ("quad_completions", "quadrants"),
}


def test_the_landing_page_opens_with_figures_the_chapters_computed(site):
    """The intro's ``glued-figure``s: numbered, captioned, with alt text, and the very
    image the chapter glued."""
    page = (site / "book" / "intro.html").read_text(encoding="utf-8")
    for name, (key, chapter) in LANDING_FIGURES.items():
        figure = rf'<figure[^>]*id="{name}">\s*<img alt="([^"]+)" src="([^"]+)"'
        match = re.search(figure, page)
        assert match, f"intro.html: no figure {name} with an image and alt text"
        cells = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())["cells"]
        glued = [
            output["data"]["application/papermill.record/image/png"]
            for cell in cells
            for output in cell.get("outputs", [])
            if output.get("metadata", {}).get("scrapbook", {}).get("name") == key
        ]
        image = (site / "book" / match.group(2)).read_bytes()
        assert glued and image == base64.b64decode(glued[0]), f"{name}: not {key}"
        caption = page[match.end() :].partition("</figure>")[0]
        number = r'<span class="caption-number">Fig\. \d+ </span>'
        assert re.search(number, caption), f"{name}: no numbered caption"


BOOK_PDF = "cvae-book.pdf"  # built by make pdf; the site build copies and links it
PDF_LINK = re.compile(
    r'<div class="cvae-book-pdf">\s*<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', re.S
)


def test_every_page_links_the_pdf_of_the_whole_book(site):
    """Every page's sidebar links the whole-book PDF, which the site holds (make test
    builds the PDF before the site); a site built without one links none."""
    built = ROOT / "_build" / "latex" / BOOK_PDF
    if not built.exists() and os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{built} missing: in CI make test builds it before the site")
    for docname in DOCNAMES:
        page = site / (docname + ".html")
        links = PDF_LINK.findall(page.read_text(encoding="utf-8"))
        if not built.exists():
            assert not links, f"{page.name} links a PDF, but none was built"
            continue
        assert len(links) == 1, f"{docname}.html: {len(links)} links to the PDF"
        href, text = links[0]
        assert "PDF of the whole book" in text
        target = (page.parent / urllib.parse.unquote(href)).resolve()
        assert target == (site / BOOK_PDF).resolve(), f"{docname}.html: links {href}"
        assert target.read_bytes()[:5] == b"%PDF-", f"{target} is not a PDF"
        assert target.stat().st_size == built.stat().st_size, "not make pdf's PDF"


ANIMATIONS = r"""
return [...document.querySelectorAll('article .cvae-animation')].map(box => {
  const img = box.querySelector('img');
  const figure = box.closest('figure');
  const number = figure && figure.querySelector('figcaption .caption-number');
  return {frames: parseInt(box.dataset.frames), alt: img ? img.alt : null,
          figure: figure ? figure.id : null,
          number: number ? number.textContent.trim() : null,
          buttons: [...box.querySelectorAll('button')]
                     .map(b => b.getAttribute('aria-label'))};
});
"""
FRAME_STATE = r"""
const box = document.querySelectorAll('article .cvae-animation')[arguments[0]];
const img = box.querySelector('img');
const slider = box.querySelector('input.anim-slider');
if (arguments[1]) {  // to the end
  slider.value = slider.max;
  slider.dispatchEvent(new Event('input'));
}
return {src: img.src, slider: parseInt(slider.value), max: parseInt(slider.max),
        loaded: img.complete && img.naturalWidth > 0};
"""


@pytest.mark.parametrize("docname", CHAPTERS)
def test_animations_play_offline_and_step_through_their_frames(driver, server, docname):
    """Every animation (cvae.plotting.animate) is a numbered figure with alt text whose
    frames change on "Next frame", on the slider and while it plays; no request leaves
    the page."""
    from selenium.webdriver.common.by import By

    problems = []
    for index, found in enumerate(
        found_on(driver, server, docname, ANIMATIONS, "animation")
    ):
        name = found["figure"] or f"animation #{index}"
        number = re.fullmatch(r"Fig\. [\d.]+", found["number"] or "")
        if not found["figure"] or not number:
            problems.append(f"{name}: not a numbered figure ({found})")
        if not (found["alt"] or "").strip():
            problems.append(f"{name}: its image has no alt text")
        for control in ("Previous frame", "Next frame", "Play", "Pause"):
            if control not in found["buttons"]:
                problems.append(f"{name}: no {control!r} button")
        box = driver.find_elements(By.CSS_SELECTOR, "article .cvae-animation")[index]
        driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", box
        )
        first = driver.execute_script(FRAME_STATE, index, False)
        if first["max"] != found["frames"] - 1 or not first["loaded"]:
            problems.append(f"{name}: {first['max'] + 1} of {found['frames']} frames")
            continue
        button(box, "Next frame").click()
        after = driver.execute_script(FRAME_STATE, index, False)
        if after["slider"] != first["slider"] + 1 or after["src"] == first["src"]:
            problems.append(f"{name}: 'Next frame' did not show the next frame")
        last = driver.execute_script(FRAME_STATE, index, True)
        if last["slider"] != found["frames"] - 1 or last["src"] in (
            first["src"],
            after["src"],
        ):
            problems.append(f"{name}: the slider's end did not show the last frame")
        button(box, "First frame").click()
        button(box, "Play").click()
        seen = {driver.execute_script(FRAME_STATE, index, False)["slider"]}
        for _ in range(20):
            driver.execute_script("return new Promise(r => setTimeout(r, 100))")
            seen.add(driver.execute_script(FRAME_STATE, index, False)["slider"])
        button(box, "Pause").click()
        if len(seen) < 3:
            problems.append(f"{name}: playing for two seconds showed frames {seen}")
    assert_none(docname, problems + traffic(driver))


FOLDED = r"""
return [...document.querySelectorAll('article div.cell.tag_hide-input')].map(cell => {
  // checkVisibility: a closed <details> hides its content with content-visibility
  const visible = el => !!el && el.getClientRects().length > 0 && el.offsetHeight > 0 &&
    (!el.checkVisibility ||
     el.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true}));
  const details = cell.querySelector('details');
  const code = cell.querySelector('.cell_input pre, div.cell_input');
  const output = cell.querySelector('.cell_output');
  return {open: details ? details.open : null, codeVisible: visible(code),
          outputVisible: visible(output),
          output: output ? output.innerText.trim() : ''};
});
"""


@pytest.mark.parametrize("docname", CHAPTERS)
def test_folded_checks_show_their_verdict_and_open_on_a_click(driver, server, docname):
    """Cells that guard a result (tag hide-input): the code folded, the verdict lines
    they print visible under the result; one click shows the code."""
    from selenium.webdriver.common.by import By

    problems = []
    for index, cell in enumerate(found_on(driver, server, docname, FOLDED, "fold")):
        if cell["open"] is not False or cell["codeVisible"]:
            problems.append(f"folded cell #{index}: its code shows before a click")
        if not cell["outputVisible"] or not cell["output"]:
            problems.append(f"folded cell #{index}: no visible verdict under it")
    summary = "article div.cell.tag_hide-input details summary"
    click(driver, driver.find_elements(By.CSS_SELECTOR, summary)[0])
    if not driver.execute_script(FOLDED)[0]["codeVisible"]:
        problems.append("a click on the first folded cell did not show its code")
    assert_none(docname, problems)


def test_stored_runs_are_listed_with_their_commands_and_figures_shown(site):
    """The reproducibility page lists every run under book/_data with the commands of
    its record; chapters 3 and 4 show their full-scale run's figure, numbered and
    captioned."""
    page = (site / "book" / "reproducibility.html").read_text("utf-8")
    page = plain_text(page).replace(" \\ ", " ")  # commands wrapped shell-style
    for record in sorted((ROOT / "book" / "_data").glob("*/run.json")):
        assert f"book/_data/{record.parent.name}:" in page, record
        for command in json.loads(record.read_text(encoding="utf-8"))["commands"]:
            assert command in page, command
    for chapter, name, stored in (
        (
            "quadrants",
            "fig-quad-full-completions",
            "quadrants-fashion-mnist/completions-q1",
        ),
        (
            "cvae_labels",
            "fig-labels-full-generated",
            "labels-fashion-mnist/generated-d16",
        ),
    ):
        html = (site / "book" / f"{chapter}.html").read_text(encoding="utf-8")
        figure = re.search(
            rf'<figure[^>]*id="{name}">.{{0,200}}?<img alt="[^"]+" '
            r'src="([^"]+)".*?<span class="caption-number">Fig\. [\d.]+ </span>',
            html,
            re.S,
        )
        assert figure, f"{chapter}.html: no numbered figure {name}"
        png = ROOT / "book/_data" / f"{stored}.png"
        assert (site / "book" / figure.group(1)).read_bytes() == png.read_bytes()
