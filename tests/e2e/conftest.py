"""Shared helpers for the end-to-end tests: the repository, the kernel, notebook outputs."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "transformer-nb"
sys.path.insert(0, str(REPO / "scripts"))


def pinned_versions() -> dict:
    """scripts/versions.env as a dict (the tools' versions the scripts install), values
    unquoted as the shell that sources it reads them."""
    lines = (REPO / "scripts" / "versions.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {name: value.strip().strip('"') for name, value in pairs}


def artifacts_dir(name: str) -> Path:
    """Where a test leaves files for people to look at (screenshots, executed notebooks)."""
    path = REPO / "out" / "test-artifacts" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def stop(server):
    """Stops a server started with subprocess.Popen, politely first."""
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_server(jupyter, artifacts, token, command="lab", root=REPO):
    """A JupyterLab server (`jupyter` is its `jupyter` command; `command="server"` for a bare
    Jupyter server) on localhost, rooted at `root`; yields its base URL. Its log goes to
    out/test-artifacts/<artifacts>/."""
    port = free_port()
    log_path = artifacts_dir(artifacts) / "jupyterlab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                str(jupyter), command, "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                f"--ServerApp.root_dir={root}", f"--ServerApp.token={token}",
                f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
                "--allow-root",
            ],
            stdout=log, stderr=subprocess.STDOUT, cwd=root,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    server.kill()
                    pytest.fail(f"JupyterLab did not start; see {log_path}")
                time.sleep(0.5)
        try:
            yield base
        finally:
            stop(server)


def browser():
    """Headless Chromium (Debian's), driven through chromedriver."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed: run scripts/setup.sh")
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


def wait_for(driver, script, timeout, what, artifacts="browser"):
    """Polls `script` in the page until it returns something truthy; fails with a screenshot."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(1)
    driver.save_screenshot(str(artifacts_dir(artifacts) / "timeout.png"))
    pytest.fail(f"timed out waiting for {what}")


def outputs(nb):
    """Every output of every code cell, in order."""
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def texts(nb, mime):
    """All outputs of one MIME type (stdout counts as text/plain)."""
    found = []
    for out in outputs(nb):
        if out.output_type == "stream" and mime == "text/plain":
            found.append(out.text)
        elif out.output_type in ("display_data", "execute_result") and mime in out.data:
            found.append(out.data[mime])
    return found


@pytest.fixture(scope="session", autouse=True)
def kernel_installed():
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    if KERNEL not in specs:
        pytest.fail(f"the {KERNEL} kernel is not installed: run scripts/setup.sh")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
