"""JupyterLab 3.6, the version the original tutorial used: its server starts the
transformer-nb kernel and runs the tutorial through the REST and websocket APIs, as the
JupyterLab 3 front end would. (JupyterLab 4 is tested in a real browser in test_browser.py.)"""

import json
import shutil
import subprocess
import urllib.request
import uuid

import nbformat
import pytest

from conftest import NOTEBOOKS, REPO, lab_server

LAB3 = REPO / ".venv-lab3"
TOKEN = "transformer-nb-lab3"


def api(base, method, path, body=None):
    request = urllib.request.Request(
        f"{base}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def message(session, code):
    return {
        "header": {"msg_id": uuid.uuid4().hex, "username": "e2e", "session": session,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": True,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }


def test_jupyterlab_3_runs_the_tutorial_in_the_rust_kernel():
    if not (LAB3 / "bin" / "jupyter").exists():
        pytest.fail("JupyterLab 3.6 is not installed in .venv-lab3: run scripts/setup.sh")
    version = subprocess.run([LAB3 / "bin" / "jupyter", "lab", "--version"], capture_output=True, text=True).stdout
    assert version.startswith("3.6"), version

    import websocket  # websocket-client, installed with JupyterLab 3.6 by scripts/setup.sh

    scratch = NOTEBOOKS / "_e2e_lab3.ipynb"
    shutil.copy(NOTEBOOKS / "00-tutorial.ipynb", scratch)
    try:
        with lab_server(LAB3 / "bin" / "jupyter", "jupyterlab3", TOKEN) as base:
            run_the_tutorial(base, websocket)
    finally:
        scratch.unlink(missing_ok=True)


def run_the_tutorial(base, websocket):
    """Opens a session on the scratch notebook and runs its cells through the websocket."""
    page = urllib.request.urlopen(f"{base}/lab?token={TOKEN}", timeout=30).read().decode()
    assert "JupyterLab" in page

    session = api(base, "POST", "/api/sessions", {
        "path": "notebooks/_e2e_lab3.ipynb", "type": "notebook", "name": "_e2e_lab3.ipynb",
        "kernel": {"name": "transformer-nb"},
    })
    kernel = session["kernel"]
    assert kernel["name"] == "transformer-nb"

    ws = websocket.create_connection(
        f"{base.replace('http', 'ws')}/api/kernels/{kernel['id']}/channels?token={TOKEN}", timeout=1800
    )
    nb = nbformat.read(NOTEBOOKS / "00-tutorial.ipynb", as_version=4)
    html = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        request = message(uuid.uuid4().hex, cell.source)
        ws.send(json.dumps(request))
        status = None
        idle = False
        while status is None or not idle:
            reply = json.loads(ws.recv())
            if reply.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                continue
            kind = reply["header"]["msg_type"]
            if kind == "execute_reply":
                status = reply["content"]["status"]
            elif kind == "status" and reply["content"]["execution_state"] == "idle":
                idle = True
            elif kind in ("display_data", "execute_result"):
                html.append(reply["content"]["data"].get("text/html", ""))
            elif kind == "error":
                pytest.fail(f"cell failed in JupyterLab 3.6: {reply['content']['evalue']}")
        assert status == "ok", cell.source
    ws.close()
    assert any("[CLS]" in h for h in html), "the token table came back through the server"
    api(base, "DELETE", f"/api/sessions/{session['id']}")
