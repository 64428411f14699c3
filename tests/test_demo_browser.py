"""End to end: Voila serves notebooks/09_demo.ipynb, headless Debian Chromium uploads a photo and sees its score.

Needs /usr/bin/chromium (`apt-get install chromium chromium-driver`, which .ci/run does);
skipped where it is absent (a failure in CI, `CI=true`). The browser may reach only localhost: every other request
is aborted. The page's screenshot goes to the test's temporary folder, or to the file that
$LIQE_DEMO_SCREENSHOT names (`LIQE_DEMO_SCREENSHOT=results/smoke/demo_screenshot.png` refreshes
the committed one); a test run never rewrites a tracked file on its own.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import require, require_module

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "09_demo.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium as root, headless, with nothing that phones home (see the machine notes).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SERVER_START_S = 60
PAGE_LOAD_MS = 90_000  # Voila runs the whole notebook (imports torch, builds the model) before answering
SCORE_MS = 60_000

pytestmark = pytest.mark.browser
require(CHROMIUM.exists(), f"{CHROMIUM} not installed (apt-get install chromium)")
sync_api = require_module("playwright.sync_api", "to drive the browser")
require_module("voila", "to serve the demo notebook")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def voila_url(tmp_path):
    """A Voila server for the demo notebook on a free localhost port, killed with its kernels afterwards."""
    port = free_port()
    log = open(tmp_path / "voila.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "voila", str(NOTEBOOK), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"voila exited with {server.returncode}: {(tmp_path / 'voila.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"voila did not listen on port {port} within {SERVER_START_S} s")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def only_localhost(route) -> None:
    if urlparse(route.request.url).hostname in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


def test_demo_in_chromium_scores_an_uploaded_photo(voila_url, sample_images, tmp_path):
    jpeg, _ = sample_images
    screenshot = Path(os.environ.get("LIQE_DEMO_SCREENSHOT", tmp_path / "demo_screenshot.png"))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 900})
            context.route("**/*", only_localhost)
            page = context.new_page()
            page.goto(voila_url, timeout=PAGE_LOAD_MS)
            sync_api.expect(page.get_by_text("random weights")).to_be_visible(timeout=PAGE_LOAD_MS)
            with page.expect_file_chooser(timeout=SCORE_MS) as chooser:
                page.locator(".liqe-upload").click()
            chooser.value.set_files(str(jpeg))
            score = page.locator(".liqe-score")
            sync_api.expect(score).to_contain_text("quality score", timeout=SCORE_MS)
            assert jpeg.name in score.inner_text()
            sync_api.expect(page.locator(".liqe-result progress, .liqe-result .progress-bar")).not_to_have_count(0)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
