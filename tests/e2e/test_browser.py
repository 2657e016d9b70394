"""JupyterLab 4 in a real browser: serve the repository on localhost, open the tutorial in
headless Chromium (Debian's, driven through chromedriver), run it from the UI, and check that
the token table and the SVG plots are rendered in the page."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import NOTEBOOKS, REPO, artifacts_dir, stop

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TOKEN = "transformer-nb-e2e"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def jupyterlab():
    """A JupyterLab 4 server on localhost, rooted at the repository, with a scratch copy of the
    tutorial (so that autosave never touches the committed notebook)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed: run scripts/setup.sh")
    scratch = NOTEBOOKS / "_e2e_browser.ipynb"
    shutil.copy(NOTEBOOKS / "00-tutorial.ipynb", scratch)
    port = free_port()
    log = open(artifacts_dir("browser") / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser",
            f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.root_dir={REPO}",
            f"--IdentityProvider.token={TOKEN}", "--LabApp.expose_app_in_browser=True",
            "--ServerApp.disable_check_xsrf=False", "--allow-root",
        ],
        stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("JupyterLab did not start; see out/test-artifacts/browser/jupyterlab.log")
            time.sleep(0.5)
    yield base
    stop(server)
    log.close()
    scratch.unlink(missing_ok=True)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1400,1800",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(driver, script, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(1)
    driver.save_screenshot(str(artifacts_dir("browser") / "timeout.png"))
    pytest.fail(f"timed out waiting for {what}")


def test_tutorial_runs_in_jupyterlab_and_renders_tables_and_plots(jupyterlab):
    driver = browser()
    try:
        driver.get(f"{jupyterlab}/lab/tree/notebooks/_e2e_browser.ipynb?token={TOKEN}")
        wait_for(driver, "return window.jupyterapp && document.querySelector('.jp-Notebook .jp-Cell')", 120, "the notebook")
        # The kernel named in the notebook's metadata must come up idle before we run anything.
        wait_for(
            driver,
            """const w = window.jupyterapp.shell.currentWidget;
               return w && w.sessionContext && w.sessionContext.session &&
                      w.sessionContext.session.kernel && w.sessionContext.session.kernel.name === 'transformer-nb' &&
                      w.sessionContext.session.kernel.status === 'idle';""",
            180,
            "the transformer-nb kernel",
        )
        # Outputs committed with the notebook are cleared first, so what we see comes from this run.
        driver.execute_script(
            "window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');"
            "window.jupyterapp.commands.execute('notebook:run-all-cells');"
        )
        wait_for(
            driver,
            """const w = window.jupyterapp.shell.currentWidget;
               const cells = w.content.widgets.filter(c => c.model.type === 'code');
               return cells.length > 0 && cells.every(c => c.model.executionCount !== null) &&
                      w.sessionContext.session.kernel.status === 'idle';""",
            1800,
            "every cell to run",
        )
        errors = driver.execute_script("return document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.stderr\"]').length")
        tables = driver.execute_script(
            "return [...document.querySelectorAll('.jp-RenderedHTMLCommon table')].map(t => t.innerText)"
        )
        svg_outputs = driver.execute_script(
            "return document.querySelectorAll('.jp-OutputArea-output[data-mime-type=\"image/svg+xml\"] img, .jp-RenderedSVG img, .jp-RenderedSVG svg').length"
        )
        driver.execute_script("document.querySelector('.jp-Notebook').scrollTop = 0")
        driver.save_screenshot(str(artifacts_dir("browser") / "tutorial-top.png"))
        driver.execute_script(
            "const p = document.querySelector('.jp-RenderedSVG'); if (p) p.scrollIntoView();"
        )
        driver.save_screenshot(str(artifacts_dir("browser") / "tutorial-plot.png"))
    finally:
        driver.quit()
    assert errors == 0
    assert any("[CLS]" in t and "[SEP]" in t and "attention mask" in t for t in tables), tables
    assert svg_outputs >= 3, f"{svg_outputs} SVG outputs rendered"
