"""Fixtures for the chat page's browser test: a server, Debian's headless Chromium driven by
selenium, and screenshots a person can look at.

The server is SHARDSERVE_URL when set (a running shardserve), else a real local cluster started
for the session (tests/shardserve_cluster.py: `shardserve up` on free loopback ports).
Environment:
    SHARDSERVE_URL        a running server to test instead of starting one
    SHARDSERVE_PAGE_URL   where web/ is served, when not by the server itself at "/" (e.g.
                          `python3 -m http.server -d web 18091` -> http://127.0.0.1:18091/);
                          the page is then pointed at the server through its settings
    SHARDSERVE_WEB_SHOTS  the folder for screenshots (default: out/web-screenshots; ctest puts
                          them in the build folder); a failed test leaves failed-<test>.png
    CHROME_BIN, CHROMEDRIVER  override /usr/bin/chromium and /usr/bin/chromedriver
"""
import os
import sys
from pathlib import Path

import pytest

try:
    from selenium import webdriver
except ImportError as e:  # fail, loudly: CI installs it
    raise ImportError(f"{e}: run scripts/install-python-deps (selenium, in .venv)") from e

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shardserve_cluster import MODEL, ROOT, Cluster, shardserve_binary  # noqa: E402

CHROME = os.environ.get("CHROME_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = Path(os.environ.get("SHARDSERVE_WEB_SHOTS") or ROOT / "out" / "web-screenshots")
saved_shots = []


@pytest.fixture(scope="session")
def server():
    """The server's base URL."""
    url = os.environ.get("SHARDSERVE_URL", "").rstrip("/")
    if url:
        yield url
        return
    if not MODEL.exists():
        pytest.fail(f"{MODEL} absent: run scripts/fetch-models")
    cluster = Cluster(shardserve_binary())
    yield cluster.base
    cluster.stop()


@pytest.fixture(scope="session")
def page_url(server):
    return os.environ.get("SHARDSERVE_PAGE_URL", "") or server + "/"


@pytest.fixture(scope="session")
def driver():
    for path, package in ((CHROME, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} not found (Debian package {package}): run scripts/install-deps")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROME
    # --no-sandbox: Chromium's sandbox refuses to run as root (CI containers).
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900"):
        options.add_argument(arg)
    d = webdriver.Chrome(options=options,
                         service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield d
    d.quit()


@pytest.fixture
def screenshot():
    """screenshot(driver, name) saves SHOTS/name.png and returns its path."""
    def save(driver, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        assert driver.save_screenshot(str(path)), f"could not save {path}"
        saved_shots.append(path)
        return path
    return save


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that used the page leaves a screenshot of what the browser showed."""
    report = (yield).get_result()
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and page is not None:
        try:
            SHOTS.mkdir(parents=True, exist_ok=True)
            path = SHOTS / f"failed-{item.name}.png"
            page.save_screenshot(str(path))
            saved_shots.append(path)
        except Exception as e:  # the browser may be the thing that failed
            report.sections.append(("screenshot", f"no screenshot: {e}"))


def pytest_terminal_summary(terminalreporter):
    if saved_shots:
        terminalreporter.write_sep("-", "screenshots of the chat page")
        for path in saved_shots:
            terminalreporter.write_line(str(path))
