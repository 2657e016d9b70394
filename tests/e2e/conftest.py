"""Shared helpers for the end-to-end tests: the repository, the kernel, notebook outputs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
KERNEL = "transformer-nb"
sys.path.insert(0, str(REPO / "scripts"))


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
