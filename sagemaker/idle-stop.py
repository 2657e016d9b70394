#!/usr/bin/env python3
"""Stops this SageMaker notebook instance (or Studio JupyterLab app) when nothing has happened
in it for a while, and backs the learner's files up to S3 on a schedule and once before such a
stop.

Started in the background by on-start.sh on every start of the instance, or by
studio/on-start.sh in a Studio space (one watcher at a time: it holds a lock); standard
library only, for the instance's system Python 3. In Studio, stopping means deleting the
space's JupyterLab app (its home stays); Studio's own idle shutdown usually does that, and the
watcher then only makes backups.

Idle means: no kernel is busy or starting, and no kernel or terminal of the instance's Jupyter
server has had activity (its REST API's `last_activity`) for the limit. A kernel running a long
cell is busy, so it never counts as idle. When Jupyter cannot be reached, or AWS refuses a
call, nothing is stopped: the watcher says so in its log and asks again at the next poll.

Settings (arguments, or the environment on-start.sh passes):
  --idle-minutes N    TRANSFORMER_NB_IDLE_STOP_MINUTES (default 60; 0: never stop)
  --backup-s3-uri U   TRANSFORMER_NB_BACKUP_S3_URI (s3://bucket/prefix; empty: no backups)
  --backup-minutes N  TRANSFORMER_NB_BACKUP_MINUTES (default 30)
and, for tests: TRANSFORMER_NB_JUPYTER_URL (default https://localhost:8443, the instance's own
Jupyter), TRANSFORMER_NB_JUPYTER_TOKEN, TRANSFORMER_NB_METADATA (default
/opt/ml/metadata/resource-metadata.json), TRANSFORMER_NB_POLL_SECONDS (default 60),
TRANSFORMER_NB_WORKDIR (default ~/SageMaker).

IAM permissions of the instance's role: sagemaker:StopNotebookInstance on this instance (in
Studio: sagemaker:DeleteApp on the space's app) for the idle stop; s3:ListBucket on the bucket and s3:GetObject + s3:PutObject on the prefix for
backups. A refused call names the missing permission in the log.
"""

import argparse
import datetime
import fcntl
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# What the backup leaves out: our toolchain and caches, build outputs, Jupyter's checkpoints.
# Toolchain, caches and build output: rebuilt by the installer, and gigabytes.
BACKUP_EXCLUDES = [
    ".transformer-nb/*", "*/target/*", "*/.cache/kernel/*", "*/.ipynb_checkpoints/*", "*/.venv*/*",
    # A Studio space backs up its whole home: not the tools' caches and installs in it.
    ".cache/*", ".local/*", ".conda/*",
]


def log(message):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{now} idle-stop: {message}", flush=True)


def duration(seconds):
    """'42 s' or '12.5 min'."""
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def parse_time(text):
    """Jupyter's ISO 8601 timestamps ('...Z'), as aware datetimes (Python 3.9 needs +00:00)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def get_json(base, path, token):
    request = urllib.request.Request(base.rstrip("/") + path)
    if token:
        request.add_header("Authorization", f"token {token}")
    context = None
    if base.startswith("https://localhost") or base.startswith("https://127.0.0.1"):
        # SageMaker's Jupyter serves localhost with a self-signed certificate.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return json.load(response)


def jupyter_activity(base, token):
    """(busy kernels, latest activity or None) from the kernels and terminals APIs."""
    kernels = get_json(base, "/api/kernels", token)
    try:
        terminals = get_json(base, "/api/terminals", token)
    except OSError:
        terminals = []  # terminals may be disabled; kernels decide then
    busy = [k["id"] for k in kernels if k.get("execution_state") in ("busy", "starting")]
    times = [parse_time(x["last_activity"]) for x in kernels + terminals if x.get("last_activity")]
    return busy, max(times) if times else None


def aws(args):
    """Runs the AWS CLI; returns (ok, its output), never raises."""
    try:
        result = subprocess.run(["aws", *args], capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def explain_refusal(output, permission):
    if "AccessDenied" in output or "not authorized" in output or "UnauthorizedOperation" in output:
        return f"refused: the instance's IAM role needs {permission} (see sagemaker/README.md)"
    return f"failed: {output[-500:]}"


def backup(uri, workdir):
    command = ["s3", "sync", str(workdir), uri.rstrip("/") + "/", "--only-show-errors"]
    for pattern in BACKUP_EXCLUDES:
        command += ["--exclude", pattern]
    ok, output = aws(command)
    if ok:
        log(f"backed up {workdir} to {uri}")
    else:
        log("backup " + explain_refusal(output, "s3:ListBucket, s3:GetObject and s3:PutObject on " + uri))
    return ok


def stop_call(metadata):
    """The AWS CLI call that stops this instance, or this Studio space's JupyterLab app, and
    the permission it needs; None when the metadata cannot be read."""
    try:
        data = json.loads(Path(metadata).read_text())
        name = data["ResourceName"]
    except (OSError, ValueError, KeyError) as e:
        log(f"cannot read the instance's name from {metadata}: {e}")
        return None
    if "SpaceName" in data and "DomainId" in data:
        call = ["sagemaker", "delete-app", "--domain-id", data["DomainId"], "--space-name", data["SpaceName"],
                "--app-type", data.get("AppType", "JupyterLab"), "--app-name", name]
        return call, f"the app {name} of space {data['SpaceName']}", f"sagemaker:DeleteApp on space {data['SpaceName']}"
    return (["sagemaker", "stop-notebook-instance", "--notebook-instance-name", name], name,
            f"sagemaker:StopNotebookInstance on {name}")


def main():
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle-minutes", type=float, default=float(env("TRANSFORMER_NB_IDLE_STOP_MINUTES") or 60))
    parser.add_argument("--backup-s3-uri", default=env("TRANSFORMER_NB_BACKUP_S3_URI", ""))
    parser.add_argument("--backup-minutes", type=float, default=float(env("TRANSFORMER_NB_BACKUP_MINUTES") or 30))
    args = parser.parse_args()
    jupyter = env("TRANSFORMER_NB_JUPYTER_URL", "https://localhost:8443")
    token = env("TRANSFORMER_NB_JUPYTER_TOKEN", "")
    metadata = env("TRANSFORMER_NB_METADATA", "/opt/ml/metadata/resource-metadata.json")
    poll = float(env("TRANSFORMER_NB_POLL_SECONDS") or 60)
    workdir = Path(env("TRANSFORMER_NB_WORKDIR") or Path.home() / "SageMaker")

    if args.idle_minutes <= 0 and not args.backup_s3_uri:
        log("idle stop is off and no backup is set: nothing to do")
        return 0
    lock_path = workdir / ".transformer-nb" / "idle-stop.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = open(lock_path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log("another watcher is running; this one exits")
        return 0

    started = datetime.datetime.now(datetime.timezone.utc)
    limit = datetime.timedelta(minutes=args.idle_minutes)
    log(
        f"watching {jupyter}: stop after {args.idle_minutes:g} idle minutes"
        if args.idle_minutes > 0 else "idle stop is off"
    )
    if args.backup_s3_uri:
        log(f"backing up {workdir} to {args.backup_s3_uri} every {args.backup_minutes:g} minutes")
    last_backup = time.monotonic()
    while True:
        if args.backup_s3_uri and time.monotonic() - last_backup >= args.backup_minutes * 60:
            backup(args.backup_s3_uri, workdir)
            last_backup = time.monotonic()
        if args.idle_minutes > 0:
            try:
                busy, latest = jupyter_activity(jupyter, token)
            except (OSError, ValueError) as e:
                log(f"cannot reach Jupyter at {jupyter} ({e}): not stopping; asking again in {poll:g} s")
                time.sleep(poll)
                continue
            now = datetime.datetime.now(datetime.timezone.utc)
            if busy:
                decision = f"{len(busy)} kernel(s) busy: not idle"
            else:
                # Nothing seen since this watcher started counts from its start.
                since = max(latest, started) if latest else started
                idle = now - since
                if idle >= limit:
                    log(f"idle for {duration(idle.total_seconds())} (limit {duration(limit.total_seconds())}): stopping")
                    if args.backup_s3_uri:
                        backup(args.backup_s3_uri, workdir)
                    stop = stop_call(metadata)
                    if stop:
                        call, what, permission = stop
                        ok, output = aws(call)
                        if ok:
                            log(f"asked AWS to stop {what}")
                            return 0
                        log("stop " + explain_refusal(output, permission))
                    time.sleep(poll)
                    continue
                decision = (
                    f"idle for {duration(idle.total_seconds())} of {duration(limit.total_seconds())}: keep running"
                )
            log(decision)
        time.sleep(poll)


if __name__ == "__main__":
    sys.exit(main())
