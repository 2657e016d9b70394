"""The idle-stop and backup watcher (sagemaker/idle-stop.py) against a real Jupyter server on
localhost, with a stand-in `aws` command that records its arguments: what it stops, when, and
what it never stops. (That on-start starts it, once, and again after a restart, is checked in
the simulated instance of test_sagemaker_lifecycle.py.)"""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import REPO, artifacts_dir, lab_server
from test_jupyterlab3 import message

WATCHER = REPO / "sagemaker" / "idle-stop.py"
TOKEN = "transformer-nb-idle"
INSTANCE = "learner-instance"


@pytest.fixture
def jupyter(tmp_path):
    """A Jupyter server on localhost with the python3 kernel; yields its URL."""
    with lab_server(Path(sys.executable).parent / "jupyter", "idle-stop", TOKEN, "server", tmp_path) as base:
        yield base


def api(base, method, path, body=None):
    request = urllib.request.Request(
        base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


class Kernel:
    """A notebook session's python3 kernel, run through its websocket as a front end would."""

    def __init__(self, base):
        import websocket

        name = f"{uuid.uuid4().hex}.ipynb"
        session = api(base, "POST", "/api/sessions",
                      {"path": name, "type": "notebook", "name": name, "kernel": {"name": "python3"}})
        self.id = session["kernel"]["id"]
        url = base.replace("http", "ws") + f"/api/kernels/{self.id}/channels?token={TOKEN}"
        self.ws = websocket.create_connection(url, timeout=120)

    def send(self, code):
        request = message(uuid.uuid4().hex, code)
        self.ws.send(json.dumps(request))
        return request["header"]["msg_id"]

    def run(self, code):
        """Runs `code` and waits until the kernel is idle again."""
        msg_id = self.send(code)
        while True:
            reply = json.loads(self.ws.recv())
            if (reply.get("parent_header", {}).get("msg_id") == msg_id and reply["header"]["msg_type"] == "status"
                    and reply["content"]["execution_state"] == "idle"):
                return


class Instance:
    """What the watcher sees of a notebook instance: metadata, ~/SageMaker, the aws command."""

    def __init__(self, tmp_path, jupyter_url):
        self.root = tmp_path
        self.calls = tmp_path / "aws-calls.jsonl"
        self.log = artifacts_dir("idle-stop") / "watcher.log"
        (tmp_path / "bin").mkdir()
        aws = tmp_path / "bin" / "aws"
        # The stand-in: records its arguments; fails as AWS does when STUB_AWS_DENY names the
        # service ("sagemaker" or "s3").
        aws.write_text(f"""#!{sys.executable}
import json, os, sys
with open({str(self.calls)!r}, "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1] == os.environ.get("STUB_AWS_DENY"):
    sys.exit("An error occurred (AccessDeniedException) when calling the operation: not authorized")
""")
        aws.chmod(0o755)
        (tmp_path / "metadata.json").write_text(json.dumps({"ResourceName": INSTANCE}))
        self.workdir = tmp_path / "SageMaker"
        (self.workdir / "transformer-nb" / "notebooks").mkdir(parents=True)
        (self.workdir / "transformer-nb" / "notebooks" / "mine.ipynb").write_text("{}")
        self.env = dict(
            os.environ,
            PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}",
            TRANSFORMER_NB_JUPYTER_URL=jupyter_url,
            TRANSFORMER_NB_JUPYTER_TOKEN=TOKEN,
            TRANSFORMER_NB_METADATA=str(tmp_path / "metadata.json"),
            TRANSFORMER_NB_POLL_SECONDS="0.5",
            TRANSFORMER_NB_WORKDIR=str(self.workdir),
        )

    def watch(self, *args, **env):
        """Starts the watcher with these arguments and environment additions."""
        out = open(self.log, "a")
        return subprocess.Popen([sys.executable, str(WATCHER), *args], env=dict(self.env, **env),
                                stdout=out, stderr=subprocess.STDOUT, text=True)

    def aws_calls(self):
        if not self.calls.exists():
            return []
        return [json.loads(line) for line in self.calls.read_text().splitlines()]

    def stops(self):
        return [c for c in self.aws_calls() if c[:2] == ["sagemaker", "stop-notebook-instance"]]


def finish(process, timeout):
    """Waits up to `timeout` s for the watcher to exit; ends it if it is still running."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(timeout=10)
        return None


@pytest.fixture
def instance(tmp_path, jupyter):
    return Instance(tmp_path, jupyter)


def test_an_idle_server_is_backed_up_then_stopped_once(instance):
    watcher = instance.watch("--idle-minutes", "0.1", "--backup-s3-uri", "s3://learner-bucket/backups",
                             "--backup-minutes", "0.02")
    assert finish(watcher, timeout=60) == 0, instance.log.read_text()[-2000:]
    calls = instance.aws_calls()
    assert instance.stops() == [["sagemaker", "stop-notebook-instance", "--notebook-instance-name", INSTANCE]]
    syncs = [i for i, c in enumerate(calls) if c[:2] == ["s3", "sync"]]
    assert len(syncs) >= 2, "on its schedule, and before the stop"
    assert syncs[-1] == len(calls) - 2, f"the last sync comes right before the stop: {calls}"
    sync = calls[syncs[-1]]
    assert sync[2:4] == [str(instance.workdir), "s3://learner-bucket/backups/"]
    assert ".transformer-nb/*" in sync, "our toolchain and caches are not backed up"
    assert "*/.cache/kernel/*" in sync, "nor the kernel's build slots"


def test_a_busy_kernel_is_never_idle(instance, jupyter):
    kernel = Kernel(jupyter)
    kernel.run("import time")
    kernel.send("time.sleep(30)")
    watcher = instance.watch("--idle-minutes", "0.05")
    assert finish(watcher, timeout=12) is None, "the watcher stopped or failed"
    assert instance.stops() == []
    assert "1 kernel(s) busy: not idle" in instance.log.read_text()


def test_recent_activity_keeps_the_instance_running_until_it_ends(instance, jupyter):
    kernel = Kernel(jupyter)
    watcher = instance.watch("--idle-minutes", "0.1")  # 6 s
    for _ in range(6):  # 12 s of a learner running cells now and then
        kernel.run("1 + 1")
        active_until = time.monotonic()
        time.sleep(2)
        assert watcher.poll() is None and instance.stops() == [], "stopped while in use"
    assert finish(watcher, timeout=30) == 0, instance.log.read_text()[-2000:]
    assert time.monotonic() - active_until >= 5, "it waited the idle limit after the last activity"
    assert len(instance.stops()) == 1


def test_an_unreachable_jupyter_never_stops_the_instance(instance):
    watcher = instance.watch("--idle-minutes", "0.01", TRANSFORMER_NB_JUPYTER_URL="http://127.0.0.1:9")
    assert finish(watcher, timeout=6) is None
    assert instance.stops() == []
    assert "cannot reach Jupyter at http://127.0.0.1:9" in instance.log.read_text()


def test_a_refused_stop_names_the_permission_and_is_tried_again(instance):
    watcher = instance.watch("--idle-minutes", "0.02", "--backup-s3-uri", "s3://learner-bucket",
                             STUB_AWS_DENY="sagemaker")
    assert finish(watcher, timeout=8) is None, "a refused stop is no reason to exit"
    assert len(instance.stops()) >= 2, "tried again at the next poll"
    log = instance.log.read_text()
    assert f"the instance's IAM role needs sagemaker:StopNotebookInstance on {INSTANCE}" in log


def test_a_refused_backup_names_the_permissions_and_the_stop_goes_on(instance):
    watcher = instance.watch("--idle-minutes", "0.02", "--backup-s3-uri", "s3://learner-bucket/x",
                             STUB_AWS_DENY="s3")
    assert finish(watcher, timeout=30) == 0
    assert "needs s3:ListBucket, s3:GetObject and s3:PutObject on s3://learner-bucket/x" in instance.log.read_text()
    assert len(instance.stops()) == 1


def test_one_watcher_at_a_time_and_zero_minutes_turns_it_off(instance):
    first = instance.watch("--idle-minutes", "60")
    time.sleep(2)
    second = instance.watch("--idle-minutes", "60")
    assert finish(second, timeout=10) == 0, "the second watcher exits at once"
    assert first.poll() is None
    finish(first, timeout=0.1)
    off = instance.watch("--idle-minutes", "0")
    assert finish(off, timeout=10) == 0
    log = instance.log.read_text()
    assert "another watcher is running" in log and "nothing to do" in log
    assert instance.aws_calls() == []


def test_deploy_takes_the_settings_into_both_scripts_and_the_template(tmp_path):
    deploy = REPO / "sagemaker" / "deploy.sh"
    result = subprocess.run(
        [str(deploy), "--dry-run", "--role-arn", "arn:aws:iam::123456789012:role/Example",
         "--idle-stop-minutes", "25", "--backup-s3-uri", "s3://learner-bucket/nb"],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "idle stop: after 25 minutes without activity" in out
    assert "backups of ~/SageMaker: s3://learner-bucket/nb" in out
    assert "https://aws.amazon.com/sagemaker/pricing/" in out
    assert out.index("cost:") < out.index("aws sagemaker create-notebook-instance-lifecycle-config")
    for bad in (["--idle-stop-minutes", "ten"], ["--backup-s3-uri", "s3://b/x; rm -rf ~"]):
        refused = subprocess.run([str(deploy), "--dry-run", "--role-arn", "r", *bad], capture_output=True, text=True)
        assert refused.returncode == 2 and "deploy:" in refused.stderr, bad

    # The CloudFormation template builds each script from its parameters and the script's text.
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader, suffix, node):
        if isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:
            value = loader.construct_scalar(node)
        return {suffix: value}

    Loader.add_multi_constructor("!", tagged)
    rendered = tmp_path / "stack.yaml"
    subprocess.run([str(deploy), "--render-template", str(rendered)], check=True, capture_output=True)
    template = yaml.load(rendered.read_text(), Loader=Loader)
    parameters = {"IdleStopMinutes": "25", "BackupS3Uri": "s3://learner-bucket/nb"}
    config = template["Resources"]["LifecycleConfig"]["Properties"]
    for key, script in (("OnCreate", "on-create.sh"), ("OnStart", "on-start.sh")):
        parts = config[key][0]["Content"]["Base64"]["Fn::Join"][1]
        text = "".join(parameters[p["Ref"]] if isinstance(p, dict) else p for p in parts)
        lines = (REPO / "sagemaker" / script).read_text().splitlines(keepends=True)
        assert text == "".join([
            lines[0], "export TRANSFORMER_NB_IDLE_STOP_MINUTES=25\n",
            "export TRANSFORMER_NB_BACKUP_S3_URI=s3://learner-bucket/nb\n", *lines[1:],
        ])
        assert len(base64.b64encode(text.encode())) <= 16384
        assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


def test_in_a_studio_space_an_idle_app_is_deleted_and_the_home_kept(instance):
    """A Studio space's metadata names its domain and space: stopping deletes its JupyterLab app
    (the space and its home stay), and the backup leaves out the tools' caches in the home."""
    (instance.root / "metadata.json").write_text(json.dumps({
        "AppType": "JupyterLab", "DomainId": "d-learner", "SpaceName": "learner-space", "ResourceName": "default",
    }))
    for cache in (".cache/pip", ".local/share/jupyter", ".conda/pkgs"):
        (instance.workdir / cache).mkdir(parents=True)
    watcher = instance.watch("--idle-minutes", "0.1", "--backup-s3-uri", "s3://learner-bucket/space")
    assert finish(watcher, timeout=60) == 0, instance.log.read_text()[-2000:]
    calls = instance.aws_calls()
    deletes = [c for c in calls if c[:2] == ["sagemaker", "delete-app"]]
    assert deletes == [["sagemaker", "delete-app", "--domain-id", "d-learner", "--space-name", "learner-space",
                        "--app-type", "JupyterLab", "--app-name", "default"]], calls
    assert not instance.stops()
    sync = next(c for c in calls if c[:2] == ["s3", "sync"])
    for excluded in (".cache/*", ".local/*", ".conda/*", ".transformer-nb/*"):
        assert excluded in sync, sync
    assert "asked AWS to stop the app default of space learner-space" in instance.log.read_text()
