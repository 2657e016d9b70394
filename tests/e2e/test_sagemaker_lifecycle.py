"""The SageMaker lifecycle scripts in a simulated notebook instance.

On this machine, as root, the test builds what a SageMaker notebook instance has: the user
ec2-user with /home/ec2-user/SageMaker (the only persistent folder), a JupyterSystemEnv with
JupyterLab at SageMaker's path, an Amazon Linux 2023 os-release, and shims for systemctl/initctl
that record any attempt to restart Jupyter. The repository is cloned where SageMaker puts a
default code repository. The network parts that cannot work here are replaced by stand-ins:
rustup-init installs this machine's Rust 1.95 toolchain, and the evcxr_jupyter build is served
by this machine's binary after the first install (which builds it for real, from crates.io).
Then on-create and on-start run as SageMaker runs them (root, in /, minimal PATH), and everything
else runs for real: the background install, the model download from PyPI, the kernel's cold
build.

The instance's size is simulated too: everything the instance runs (the lifecycle scripts, what
they start in the background, a stand-in Jupyter server, the notebooks) runs in a memory cgroup
limited to ml.t3.medium's 4 GiB, on 2 CPUs. The test records the peak memory of each phase of
the install in out/test-artifacts/sagemaker/memory.json and fails if the kernel's OOM killer
ran in the cgroup.
"""

import json
import os
import pwd
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, artifacts_dir, pinned_versions

USER = "ec2-user"
HOME = Path("/home") / USER
WORK = HOME / "SageMaker"
PERSIST = WORK / ".transformer-nb"
STATUS = WORK / "TRANSFORMER-NB-STATUS.txt"
JUPYTER_ENV = HOME / "anaconda3/envs/JupyterSystemEnv"
STAGE = Path("/var/tmp/transformer-nb-sim")
SHIMS = ("/usr/local/sbin/systemctl", "/usr/local/sbin/initctl")
LIFECYCLE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
REACHABLE = "https://index.crates.io/config.json,https://pypi.org/simple/pip/"
# A closed port on loopback: refused at once, like a network with no way out.
UNREACHABLE = "https://127.0.0.1:9/"
# ml.t3.medium: 4 GiB of memory, 2 vCPUs.
INSTANCE_MEMORY = 4 << 30
INSTANCE_CPUS = 2
# The memory cgroup (v1, as these machines mount it) that stands for the instance.
MEMORY_CGROUP = Path("/sys/fs/cgroup/memory") / "transformer-nb-ml.t3.medium"


def into_instance():
    """In a child process before it runs its program: join the instance's cgroup and CPUs, so
    that it and everything it starts counts against the instance's size."""
    (MEMORY_CGROUP / "cgroup.procs").write_text(str(os.getpid()))
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > INSTANCE_CPUS:
        os.sched_setaffinity(0, cpus[:INSTANCE_CPUS])


def sh(*args, check=True, **kwargs):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


def as_user(command):
    """Runs a shell command as ec2-user with a login environment, as a notebook user would, on
    the instance."""
    return sh("sudo", "-u", USER, "-i", "bash", "-c", command, check=False, preexec_fn=into_instance)


def lifecycle(script, pass_env):
    """Runs a lifecycle script as SageMaker does: root, cwd /, minimal environment, on the
    instance."""
    env = dict(LIFECYCLE_ENV, TRANSFORMER_NB_PASS_ENV=pass_env)
    started = time.monotonic()
    result = subprocess.run(
        ["/bin/bash", str(WORK / "transformer-nb/sagemaker" / script)],
        cwd="/", env=env, capture_output=True, text=True, timeout=300, preexec_fn=into_instance,
    )
    seconds = time.monotonic() - started
    (artifacts_dir("sagemaker") / f"{script}.out").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return seconds


def wait_for_status(word, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = STATUS.read_text() if STATUS.exists() else ""
        if text.startswith(word):
            return text
        if text.startswith("NOT INSTALLED") and word != "NOT INSTALLED":
            pytest.fail(text)
        time.sleep(5)
    log = (PERSIST / "install.log").read_text() if (PERSIST / "install.log").exists() else ""
    pytest.fail(f"status is not {word} after {timeout} s:\n{STATUS.read_text() if STATUS.exists() else ''}\n{log[-4000:]}")


def wait_for_background_jobs():
    """The background job holds install.lock while it runs."""
    for _ in range(120):
        if sh("flock", "-n", str(PERSIST / "install.lock"), "true", check=False).returncode == 0:
            return
        time.sleep(1)
    pytest.fail("the background install did not finish")


def watcher_running():
    """The idle-stop watcher holds its lock while it runs."""
    return sh("flock", "-n", str(PERSIST / "idle-stop.lock"), "true", check=False).returncode != 0


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


class MemoryWatch:
    """Samples the instance's memory twice a second and keeps each phase's peak: the memory the
    cgroup charges (what its limit applies to: processes and the page cache they fill) and the
    processes' own (resident, anonymous). The phase is read off install.log's markers, or set."""

    # In the order install.sh and scripts/setup.sh first print them; a phase never goes back
    # (setup.sh prints its steps again when install.sh runs it for the kernelspec).
    MARKERS = [
        ("install: INSTALLING", "Rust toolchain"),
        ("== setup: evcxr_jupyter", "evcxr_jupyter build"),
        ("== setup: using the Jupyter", "setup"),
        ("== setup: offline model", "model fetch"),
        ("== setup: the library's crates", "crate download"),
        ("install: WARMING UP", "warm-up"),
        ("install: READY", "idle"),
    ]

    def __init__(self):
        self.phase = "start"
        self._index = -1
        self.forced = None
        self.peaks = {}
        self.seconds = {}
        self._log_offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read_phase(self):
        log = PERSIST / "install.log"
        if not log.exists():
            return
        with open(log, "rb") as f:
            f.seek(self._log_offset)
            new = f.read().decode(errors="replace")
            self._log_offset = f.tell()
        for line in new.splitlines():
            for index, (marker, phase) in enumerate(self.MARKERS):
                if line.startswith(marker) and index > self._index:
                    self._index, self.phase = index, phase

    def _run(self):
        while not self._stop.wait(0.5):
            self._read_phase()
            phase = self.forced or self.phase
            charged = int((MEMORY_CGROUP / "memory.usage_in_bytes").read_text())
            stat = dict(line.split() for line in (MEMORY_CGROUP / "memory.stat").read_text().splitlines())
            processes = int(stat["total_rss"])
            peak = self.peaks.setdefault(phase, {"charged": 0, "processes": 0})
            peak["charged"] = max(peak["charged"], charged)
            peak["processes"] = max(peak["processes"], processes)
            self.seconds[phase] = self.seconds.get(phase, 0) + 0.5

    def stop(self):
        self._stop.set()
        self._thread.join()
        return {
            phase: {
                "seconds": self.seconds[phase],
                "peak_charged_mib": round(peak["charged"] / 2**20),
                "peak_processes_mib": round(peak["processes"] / 2**20),
            }
            for phase, peak in self.peaks.items()
        }


def oom_kills():
    """How many processes the OOM killer ended in the instance's cgroup: its own count, and the
    kernel log's reports that name it (where the log can be read)."""
    control = dict(line.split() for line in (MEMORY_CGROUP / "memory.oom_control").read_text().splitlines())
    return int(control.get("oom_kill", 0)) + len(logged_ooms()) - OOM_LOG_BEFORE[0]


def logged_ooms():
    log = sh("dmesg", check=False).stdout
    return [line for line in log.splitlines() if "oom" in line.lower() and MEMORY_CGROUP.name in line]


# The kernel log's OOM reports of the instance's cgroup from earlier runs, not to be counted.
OOM_LOG_BEFORE = [0]


def kernelspecs():
    return as_user(f"{JUPYTER_ENV}/bin/jupyter kernelspec list").stdout


def stage_stand_ins():
    """What the network would give a real instance, from this machine."""
    STAGE.mkdir(parents=True, exist_ok=True)
    os.chmod(STAGE, 0o755)
    rustup_home = Path(os.environ.get("RUSTUP_HOME", Path.home() / ".rustup"))
    toolchain = (rustup_home / "toolchains/1.95.0-x86_64-unknown-linux-gnu").resolve()
    staged = STAGE / "toolchain"
    if not staged.exists():
        # Hard links: no copy of 1.5 GB, and readable outside /root.
        sh("cp", "-al", str(toolchain), str(staged))
    shutil.copy(shutil.which("rustup"), STAGE / "rustup")
    shutil.copy(shutil.which("evcxr_jupyter"), STAGE / "evcxr_jupyter")
    (STAGE / "rustup-init.sh").write_text(f"""#!/bin/sh
# Stand-in for https://sh.rustup.rs: installs this machine's Rust 1.95.0 (offline).
set -eu
mkdir -p "$RUSTUP_HOME/toolchains" "$CARGO_HOME/bin"
ln -sfn {staged} "$RUSTUP_HOME/toolchains/1.95.0-x86_64-unknown-linux-gnu"
cp {STAGE}/rustup "$CARGO_HOME/bin/rustup"
for tool in cargo rustc rustdoc; do ln -sf rustup "$CARGO_HOME/bin/$tool"; done
printf 'version = "12"\\nprofile = "minimal"\\ndefault_toolchain = "1.95.0-x86_64-unknown-linux-gnu"\\n' > "$RUSTUP_HOME/settings.toml"
echo "rustup-init (stand-in): Rust 1.95.0 installed"
""")
    for path in STAGE.iterdir():
        if path.is_file():
            os.chmod(path, 0o755)
    return {
        "rustup": f"TRANSFORMER_NB_RUSTUP_INIT_URL=file://{STAGE}/rustup-init.sh",
        "evcxr": f"TRANSFORMER_NB_EVCXR_BINARY={STAGE}/evcxr_jupyter",
    }


def make_instance_cgroup():
    if not Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        pytest.fail("the simulated ml.t3.medium needs cgroup v1's memory controller at /sys/fs/cgroup/memory")
    if MEMORY_CGROUP.exists():  # left over from an interrupted run
        for pid in (MEMORY_CGROUP / "cgroup.procs").read_text().split():
            sh("kill", "-9", pid, check=False)
        time.sleep(1)
        MEMORY_CGROUP.rmdir()
    MEMORY_CGROUP.mkdir()
    OOM_LOG_BEFORE[0] = len(logged_ooms())
    (MEMORY_CGROUP / "memory.limit_in_bytes").write_text(str(INSTANCE_MEMORY))
    if (MEMORY_CGROUP / "memory.memsw.limit_in_bytes").exists():
        # No swap beyond the limit: an instance's 4 GiB are all it has.
        (MEMORY_CGROUP / "memory.memsw.limit_in_bytes").write_text(str(INSTANCE_MEMORY))


def start_jupyter_server():
    """The instance's own Jupyter server, which shares its 4 GiB with everything else. Not on
    SageMaker's port 8443, which the idle-stop watcher watches: this one must not look busy."""
    server = subprocess.Popen(
        ["sudo", "-u", USER, "-i", str(JUPYTER_ENV / "bin/jupyter"), "lab", "--no-browser",
         "--port", "8888", "--ServerApp.token=simulated", "--ServerApp.root_dir=" + str(WORK)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=into_instance,
    )
    deadline = time.monotonic() + 60
    while sh("curl", "-sf", "http://127.0.0.1:8888/api/status?token=simulated", check=False).returncode != 0:
        if time.monotonic() > deadline or server.poll() is not None:
            pytest.fail("the stand-in Jupyter server did not start")
        time.sleep(1)
    return server


@pytest.fixture(scope="module")
def instance():
    if os.geteuid() != 0:
        pytest.fail("the SageMaker simulation needs root (it creates the user ec2-user)")
    make_instance_cgroup()
    if shutil.which("sudo") is None:
        sh("apt-get", "install", "-y", "-qq", "sudo")
    try:
        pwd.getpwnam(USER)  # left over from an interrupted run
        sh("pkill", "-u", USER, check=False)
        time.sleep(1)
        sh("userdel", "-r", USER, check=False)
    except KeyError:
        pass
    shutil.rmtree(HOME, ignore_errors=True)
    sh("useradd", "-m", "-s", "/bin/bash", USER)
    WORK.mkdir()
    # SageMaker's JupyterLab lives in a conda env; a venv at the same path stands in for it.
    JUPYTER_ENV.parent.mkdir(parents=True)
    # The system's Python: one under /root (pyenv) would not be usable by ec2-user.
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
    sh(python, "-m", "venv", str(JUPYTER_ENV))
    sh(str(JUPYTER_ENV / "bin/pip"), "install", "-q", "--disable-pip-version-check",
       "jupyterlab>=4.4,<5", "nbclient>=0.10,<1", "nbformat>=5.10,<6")
    # The default code repository, as SageMaker clones it: the files git knows (committed or
    # not), so that the test runs what is in the working tree.
    files = sh("git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z").stdout
    for name in filter(None, files.split("\0")):
        source, target = REPO / name, WORK / "transformer-nb" / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (STAGE).mkdir(parents=True, exist_ok=True)
    (STAGE / "os-release-al2023").write_text(
        'NAME="Amazon Linux"\nVERSION="2023"\nID="amzn"\nVERSION_ID="2023"\nPRETTY_NAME="Amazon Linux 2023"\n'
    )
    (STAGE / "os-release-al2").write_text(
        'NAME="Amazon Linux"\nVERSION="2"\nID="amzn"\nVERSION_ID="2"\nPRETTY_NAME="Amazon Linux 2"\n'
    )
    sh("chown", "-R", f"{USER}:{USER}", str(HOME))
    for shim in SHIMS:
        Path(shim).write_text(f"#!/bin/sh\necho \"$0 $*\" >> {STAGE}/service-calls.log\n")
        os.chmod(shim, 0o755)
    pass_env = stage_stand_ins()
    server = start_jupyter_server()
    yield pass_env
    server.terminate()
    sh("pkill", "-u", USER, "-f", "jupyter-lab", check=False)
    for log in ("install.log", "lifecycle.log"):
        if (PERSIST / log).exists():
            shutil.copy(PERSIST / log, artifacts_dir("sagemaker") / log)
    for shim in SHIMS:
        Path(shim).unlink(missing_ok=True)
    sh("pkill", "-u", USER, check=False)
    time.sleep(1)
    sh("userdel", "-r", USER, check=False)
    shutil.rmtree(HOME, ignore_errors=True)
    shutil.rmtree(STAGE, ignore_errors=True)
    for pid in (MEMORY_CGROUP / "cgroup.procs").read_text().split():
        sh("kill", "-9", pid, check=False)
    time.sleep(1)
    MEMORY_CGROUP.rmdir()


def test_create_start_stop_start_and_no_internet(instance):
    checks = f"TRANSFORMER_NB_CHECK_URLS={REACHABLE} TRANSFORMER_NB_OS_RELEASE={STAGE}/os-release-al2023"
    # The first install builds evcxr_jupyter from crates.io, as on a real instance; the later
    # ones (an update, a failure) get this machine's build of it.
    first_env = f"{instance['rustup']} {checks}"
    pass_env = f"{instance['rustup']} {instance['evcxr']} {checks}"
    instance_env = pass_env.replace(checks, "").strip()

    # Create: on-create, then on-start, each back in seconds; the install runs in the background,
    # within the instance's 4 GiB.
    memory = MemoryWatch()
    started = time.monotonic()
    assert lifecycle("on-create.sh", first_env) < 60
    assert lifecycle("on-start.sh", first_env) < 60
    wait_for_status("READY", timeout=3600)
    wait_for_background_jobs()
    install_seconds = time.monotonic() - started
    shutil.copy(PERSIST / "install.log", artifacts_dir("sagemaker") / "install.log")
    install_log = (PERSIST / "install.log").read_text()
    assert "cargo jobs" in install_log and "MiB of memory available" in install_log, install_log[-4000:]

    assert "transformer-nb" in kernelspecs()
    # The idle-stop watcher runs, one of it (on-create and on-start each started one), with the
    # default limit; there is no Jupyter on the instance's port here, so it stops nothing.
    wait_until(watcher_running, 30, "the idle-stop watcher")
    watcher_log = (PERSIST / "idle-stop.log").read_text()
    assert "stop after 60 idle minutes" in watcher_log, watcher_log
    assert "another watcher is running" in watcher_log, watcher_log
    wait_until(lambda: "cannot reach Jupyter at https://localhost:8443" in (PERSIST / "idle-stop.log").read_text(),
               30, "the watcher's first look at Jupyter")
    memory.forced = "notebook 00"
    run = as_user(
        f"HF_HUB_OFFLINE=1 {JUPYTER_ENV}/bin/python {WORK}/transformer-nb/scripts/run-notebooks.py "
        f"--out /tmp/sim-notebooks {WORK}/transformer-nb/notebooks/00-tutorial.ipynb"
    )
    phases = memory.stop()
    report = {
        "instance": {"memory_mib": INSTANCE_MEMORY >> 20, "cpus": INSTANCE_CPUS},
        "install_seconds": round(install_seconds),
        "phases": phases,
        "peak_charged_mib": round(int((MEMORY_CGROUP / "memory.max_usage_in_bytes").read_text()) / 2**20),
        "limit_hits": int((MEMORY_CGROUP / "memory.failcnt").read_text()),
        "oom_kills": oom_kills(),
    }
    (artifacts_dir("sagemaker") / "memory.json").write_text(json.dumps(report, indent=1) + "\n")
    assert report["oom_kills"] == 0, f"the OOM killer ended processes on the 4 GiB instance: {report}"
    assert run.returncode == 0, run.stdout + run.stderr
    executed = json.loads(Path("/tmp/sim-notebooks/00-tutorial.ipynb").read_text())
    outputs = "".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
        for cell in executed["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])
    )
    assert "[CLS]" in outputs and "novel" in outputs, "the notebook's outputs show the tokens"
    assert not any(o.get("output_type") == "error" for c in executed["cells"] for o in c.get("outputs", []))
    ec2_uid = pwd.getpwnam(USER).pw_uid
    not_owned = [str(p) for p in WORK.rglob("*") if not p.is_symlink() and p.stat().st_uid != ec2_uid]
    assert not not_owned, f"owned by someone else than ec2-user: {not_owned[:5]}"

    # Stop/start: only ~/SageMaker survives (and the platform's own conda env is provisioned again).
    # What the kernel compiled: every crate in its first build slot, and when it was written.
    deps = WORK / "transformer-nb/.cache/kernel/slot-1/target/x86_64-unknown-linux-gnu/debug/deps"

    def compiled():
        return {p.name: p.stat().st_mtime_ns for p in deps.glob("lib*.rlib")}

    compiled_before = compiled()
    assert any(name.startswith("libtransformer_nb-") for name in compiled_before), sorted(compiled_before)
    for entry in HOME.iterdir():
        if entry.name not in ("SageMaker", "anaconda3"):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    assert "transformer-nb" not in kernelspecs()
    # A stop ends every process; the watcher too.
    sh("pkill", "-u", USER, "-f", "idle-stop.py", check=False)
    wait_until(lambda: not watcher_running(), 30, "the watcher to end")
    log_size = (PERSIST / "install.log").stat().st_size
    assert lifecycle("on-start.sh", pass_env) < 60
    assert "transformer-nb" in kernelspecs(), "the kernel is back right after on-start"
    wait_until(watcher_running, 30, "the idle-stop watcher after the restart")
    assert STATUS.read_text().startswith("READY")
    wait_for_background_jobs()
    assert (PERSIST / "install.log").stat().st_size == log_size, "no reinstall was started"
    run = as_user(
        f"HF_HUB_OFFLINE=1 {JUPYTER_ENV}/bin/python {WORK}/transformer-nb/scripts/run-notebooks.py "
        f"--out /tmp/sim-notebooks {WORK}/transformer-nb/notebooks/00-tutorial.ipynb"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # After the restart the kernel finds its crates built in the slot, which lives in ~/SageMaker:
    # not one is compiled again (versions resolve offline, from what the install downloaded).
    compiled_after = compiled()
    rebuilt = sorted(name for name, written in compiled_after.items() if compiled_before.get(name) != written)
    assert not rebuilt, f"{len(rebuilt)} of {len(compiled_before)} crates compiled again after the restart: {rebuilt}"

    # on-start again: idempotent.
    assert lifecycle("on-start.sh", pass_env) < 60
    assert "transformer-nb" in kernelspecs()
    assert STATUS.read_text().startswith("READY")

    # An instance installed before the repository pinned another build of the kernel (an older
    # patch, or plain evcxr) gets the pinned one on its next start, in the background, while
    # the kernel it has stays registered. Here: the same binary, reporting another version.
    build = pinned_versions()["EVCXR_JUPYTER_BUILD"]
    older = build[:-1] + ("0" if build[-1] != "0" else "1")
    kernel = PERSIST / "cargo/bin/evcxr_jupyter"
    binary = kernel.read_bytes()
    assert build.encode() in binary, build
    # Replaced as cargo install replaces it (a new file renamed over the old one): a pre-started
    # kernel may be running the old one, which can then not be written to.
    replacement = kernel.with_name("evcxr_jupyter.older")
    replacement.write_bytes(binary.replace(build.encode(), older.encode()))
    shutil.copymode(kernel, replacement)
    os.replace(replacement, kernel)
    assert as_user(f"bash {WORK}/transformer-nb/sagemaker/install.sh --current").returncode != 0
    log_size = (PERSIST / "install.log").stat().st_size
    assert lifecycle("on-start.sh", pass_env) < 60
    assert "transformer-nb" in kernelspecs(), "the kernel stays registered while the update builds"
    wait_for_background_jobs()
    update_log = (PERSIST / "install.log").read_bytes()[log_size:].decode()
    assert "install: UPDATING" in update_log and build in update_log, update_log[-4000:]
    assert "INSTALLING" not in update_log and "WARMING UP" not in update_log, update_log[-4000:]
    assert STATUS.read_text().startswith("READY"), STATUS.read_text()
    assert build.encode() in kernel.read_bytes(), "the pinned build replaced the older one"
    assert as_user(f"bash {WORK}/transformer-nb/sagemaker/install.sh --current").returncode == 0
    spec = HOME / ".local/share/jupyter/kernels/transformer-nb/kernel.json"
    assert json.loads(spec.read_text())["display_name"] == "Rust (transformer-nb)"
    log_size = (PERSIST / "install.log").stat().st_size
    assert lifecycle("on-start.sh", pass_env) < 60
    wait_for_background_jobs()
    assert (PERSIST / "install.log").stat().st_size == log_size, "no update once the build is current"

    # Jupyter was never restarted: new kernelspecs need no restart.
    calls = STAGE / "service-calls.log"
    assert not calls.exists(), calls.read_text()

    # No internet (on an Amazon Linux 2 instance this time): the start still succeeds and the
    # status says why the kernel is not there.
    shutil.move(PERSIST, WORK / "installed-aside")
    try:
        offline_env = (
            f"{instance_env} TRANSFORMER_NB_CHECK_URLS={UNREACHABLE} "
            f"TRANSFORMER_NB_OS_RELEASE={STAGE}/os-release-al2"
        )
        assert lifecycle("on-start.sh", offline_env) < 60
        text = wait_for_status("NOT INSTALLED", timeout=120)
        assert "NO INTERNET" in text and UNREACHABLE in text, text
        wait_for_background_jobs()
        # A step that fails (here the Rust installer): the status says so and names the log.
        failing = STAGE / "rustup-init-fails.sh"
        failing.write_text("#!/bin/sh\necho 'rustup-init (stand-in): failing on purpose' >&2\nexit 3\n")
        os.chmod(failing, 0o755)
        failing_env = (
            f"{instance_env} TRANSFORMER_NB_CHECK_URLS={REACHABLE} "
            f"TRANSFORMER_NB_OS_RELEASE={STAGE}/os-release-al2023 "
            f"TRANSFORMER_NB_RUSTUP_INIT_URL=file://{failing}"
        )
        STATUS.unlink()
        assert lifecycle("on-start.sh", failing_env) < 60
        text = wait_for_status("FAILED", timeout=300)
        assert "exit status 3" in text and "install.log" in text, text
        assert "failing on purpose" in (PERSIST / "install.log").read_text()
        wait_for_background_jobs()
    finally:
        shutil.rmtree(PERSIST, ignore_errors=True)
        shutil.move(WORK / "installed-aside", PERSIST)


def test_lifecycle_scripts_fit_the_api_and_pass_shellcheck():
    import base64

    for script in ("on-create.sh", "on-start.sh", "studio/on-start.sh"):
        encoded = base64.b64encode((REPO / "sagemaker" / script).read_bytes())
        assert len(encoded) <= 16384, f"{script}: {len(encoded)} base64 characters"
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is needed: apt-get install shellcheck (scripts/test.sh does)")
    scripts = sorted(str(p) for p in (REPO / "sagemaker").rglob("*.sh")) + sorted(
        str(p) for p in (REPO / "scripts").glob("*.sh")
    ) + [str(REPO / "kernel/launch.sh"), str(REPO / "kernel/notice-mold")]
    # -x with the scripts' own folder: versions.env, which they source, is checked with them.
    result = sh("shellcheck", "-x", "--source-path=SCRIPTDIR", *scripts, check=False)
    assert result.returncode == 0, result.stdout


def test_deploy_dry_run_prints_the_calls_without_credentials():
    result = sh(
        str(REPO / "sagemaker/deploy.sh"), "--dry-run", "--role-arn", "arn:aws:iam::123456789012:role/Example",
        "--repo-url", "https://example.com/transformer-nb.git", check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "aws sagemaker create-notebook-instance-lifecycle-config" in out
    assert "--platform-identifier notebook-al2023-v1" in out
    assert "--instance-type ml.t3.medium" in out
    assert "--default-code-repository transformer-nb" in out
    rendered = artifacts_dir("sagemaker") / "cloudformation.yaml"
    sh(str(REPO / "sagemaker/deploy.sh"), "--render-template", str(rendered))
    text = rendered.read_text()
    assert "__ON_START_SCRIPT__" not in text and "__ON_CREATE_SCRIPT__" not in text
    assert "Content: !Base64" in text and "start_watcher" in text, "the scripts' text is in the template"
