"""Shared fixtures: clean ``CVAE_*`` settings for every test, tiny IDX data sets, and
headless Chromium for the browser tests.

``chromium`` (``make browser``) starts one Chromium through chromedriver, offline: no
host name but 127.0.0.1 resolves, so a page that needs the network fails its test.
Without Chromium, its driver or selenium the tests that use it are skipped, with the
reason (Debian: ``apt-get install chromium chromium-driver``; ``CVAE_CHROMIUM`` /
``CVAE_CHROMEDRIVER`` name other binaries).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HOST = "127.0.0.1"
SETTINGS = ("CVAE_DATASET", "CVAE_DATA", "CVAE_DATA_ROOT", "CVAE_EPOCHS", "CVAE_DEVICE")


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch):
    """Every test starts from the package's defaults, whatever the shell exported."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tiny_idx(monkeypatch):
    """``tiny_idx(root, dataset="mnist", n_train=20, n_test=10, gz=True, folder=None)``
    writes the four IDX files of a tiny ``dataset`` (random pixels with both ends of
    the grey scale, labels ``7 * i % 10``) into ``folder`` (default: torchvision's raw
    layout under ``root``); its registry entry then expects those counts and checksums
    and searches no local folder. Returns the arrays by file name."""
    import numpy as np

    from cvae import data

    def write(root, dataset="mnist", n_train=20, n_test=10, gz=True, folder=None):
        entry = data.DATASETS[dataset]
        folder = folder or root / entry.folder / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        rng, arrays, digests = np.random.default_rng(0), {}, []
        for split, count in (("train", n_train), ("t10k", n_test)):
            images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
            images[0], images[1] = 0, 255
            arrays[f"{split}-images-idx3-ubyte"] = images
            arrays[f"{split}-labels-idx1-ubyte"] = np.arange(count) * 7 % 10
        for name in data.IDX_FILES:  # magic (unsigned bytes, dimensions), sizes, data
            array = arrays[name].astype(np.uint8)
            idx = struct.pack(f">I{array.ndim}I", 0x800 + array.ndim, *array.shape)
            idx += array.tobytes()
            path = folder / (f"{name}.gz" if gz else name)
            path.write_bytes(gzip.compress(idx) if gz else idx)
            digests.append(hashlib.sha256(idx).hexdigest())
        sha256 = tuple(digests) if entry.sha256 else ()
        counts = (n_train, n_test)
        tiny = dataclasses.replace(
            entry, counts=counts, sha256=sha256, local_folders=()
        )
        monkeypatch.setitem(data.DATASETS, dataset, tiny)
        return arrays

    return write


PAGE_TIMEOUT_S = 60


def find_binary(variable: str, default: str, *names: str) -> str:
    """``$variable`` if set, else Debian's path, else the first of ``names`` on PATH."""
    if os.environ.get(variable):
        return os.environ[variable]
    if Path(default).exists():
        return default
    return next((found for name in names if (found := shutil.which(name))), default)


BROWSERS = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM = find_binary("CVAE_CHROMIUM", "/usr/bin/chromium", *BROWSERS)
CHROMEDRIVER = find_binary("CVAE_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver")
FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-quic "
    "--no-first-run --no-default-browser-check --disable-background-networking "
    "--disable-component-update --disable-sync --disable-extensions "
    "--disable-default-apps --disable-features=Translate,OptimizationHints,MediaRouter "
    "--mute-audio --hide-scrollbars --force-device-scale-factor=1"
).split() + [  # the network stays closed: no name but 127.0.0.1 resolves
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {HOST}"
]


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skip, before building or starting anything, where Chromium, its driver or
    selenium is missing."""
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(binary).exists():
            install = f"install it (Debian: apt-get install {package})"
            pytest.skip(f"{binary} not found: {install} to run the browser tests")
    reason = "selenium is not installed (pip install -e '.[test]')"
    pytest.importorskip("selenium", reason=reason)


@pytest.fixture(scope="session")
def chromium(browser_available) -> Iterator[Callable[..., object]]:
    """``chromium(width=1280, height=1000)`` starts a headless Chromium (a selenium
    driver) with its own throwaway profile, console and network logs on; every one
    started is quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    started: list[tuple[object, str]] = []

    def start(width: int = 1280, height: int = 1000):
        profile = tempfile.mkdtemp(prefix="cvae-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            *FLAGS,
            f"--window-size={width},{height}",
            f"--user-data-dir={profile}",
        ):
            options.add_argument(flag)
        logs = {"browser": "ALL", "performance": "ALL"}
        options.set_capability("goog:loggingPrefs", logs)
        try:
            browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        except Exception:
            shutil.rmtree(profile, ignore_errors=True)
            raise
        started.append((browser, profile))
        browser.set_page_load_timeout(PAGE_TIMEOUT_S)
        browser.set_script_timeout(PAGE_TIMEOUT_S)
        return browser

    yield start
    for browser, profile in started:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
