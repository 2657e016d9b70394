"""The kernel launcher (kernel/launch.sh): build slots shared by no two kernels, the library loaded
while a warm kernel starts (and a kernel that still starts when it does not compile), library
edits seen after a restart, and a clear message when the checkout or the cache behind the kernel
is gone. And the kernel itself: evcxr_jupyter with our patch, which sends what a cell prints
before the cell is idle."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

from conftest import KERNEL, NOTEBOOKS, REPO, pinned_versions

FIRST_CELLS = [
    ':dep transformer-nb = { path = "../crates/transformer-nb" }',
    "use transformer_nb::prelude::*;\n"
    "let bert = Bert::from_pretrained(&transformer_nb::hub::model_id_from_env())?;",
    'bert.tokenizer().encode("I read a good novel.")?',
]
SLOT = 'std::env::var("EVCXR_TMPDIR").unwrap_or_default()'


class Kernel:
    """One kernel, run the way a notebook runs it; `run` gives (status, text the learner sees)."""

    def __init__(self, spec_dir=None, cwd=NOTEBOOKS, stderr=None):
        specs = KernelSpecManager(kernel_dirs=[str(spec_dir)]) if spec_dir else KernelSpecManager()
        self.km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)
        # stderr: a file for what the kernel and the cargo runs under it print (the learner never
        # sees it; the tests read cargo's "Compiling" lines there).
        self.km.start_kernel(cwd=str(cwd), **({"stderr": stderr} if stderr else {}))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def run(self, code):
        seen = []
        reply = self.kc.execute_interactive(code, timeout=1800, output_hook=seen.append)
        text = ""
        for m in seen:
            content = m["content"]
            text += content.get("text", "") + content.get("evalue", "")
            text += content.get("data", {}).get("text/plain", "") + "".join(content.get("traceback", []))
        return reply["content"]["status"], text

    def restart(self):
        self.kc.stop_channels()
        self.km.restart_kernel(now=False)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def installed_spec(tmp_path, **env):
    """A copy of the installed kernelspec with some of its environment changed."""
    source = Path(KernelSpecManager().find_kernel_specs()[KERNEL])
    spec_dir = tmp_path / "kernels" / KERNEL
    shutil.copytree(source, spec_dir)
    spec = json.loads((spec_dir / "kernel.json").read_text())
    spec["env"].update(env)
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return tmp_path / "kernels"


def test_two_kernels_at_once_each_get_their_own_build_slot(tmp_path):
    results = {}
    logs = {name: tmp_path / f"{name}.stderr" for name in ("a", "b")}

    def learner(name):
        with open(logs[name], "w") as stderr:
            kernel = Kernel(stderr=stderr)
            try:
                results[name] = [kernel.run(code) for code in FIRST_CELLS + [SLOT]]
            finally:
                kernel.close()

    threads = [threading.Thread(target=learner, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in ("a", "b"):
        statuses = [status for status, _ in results[name]]
        assert statuses == ["ok"] * len(statuses), results[name]
        assert "[CLS]" in results[name][2][1] and "novel" in results[name][2][1], results[name][2]
    slots = {results[name][-1][1] for name in ("a", "b")}
    assert len(slots) == 2 and all("/.cache/kernel/slot-" in s for s in slots), slots
    # Both slots are warm (the setup built slot 1; a new slot is a copy of it), so neither kernel
    # compiles a crate: only its cells. A dependency compiled here, in every cell, was what evcxr's
    # compile cache did to a slot other than the one that filled it (kernel/init.evcxr).
    for name in ("a", "b"):
        compiled = [line.strip() for line in logs[name].read_text().splitlines() if "Compiling " in line]
        assert not compiled, (name, compiled)


def test_an_edit_to_the_library_is_seen_after_a_restart(tmp_path):
    # A copy of the workspace, so that the checkout the other tests use is not touched.
    workspace = tmp_path / "workspace"
    library = workspace / "crates/transformer-nb"
    shutil.copytree(REPO / "crates/transformer-nb", library)
    for name in ("Cargo.toml", "Cargo.lock", "README.md"):
        shutil.copy2(REPO / name, workspace / name)
    hub = library / "src/hub.rs"
    dep = f':dep transformer-nb = {{ path = "{library}" }}'

    kernel = Kernel()
    try:
        assert kernel.run(dep)[0] == "ok"
        status, shown = kernel.run("transformer_nb::hub::MODEL_ENV")
        assert status == "ok" and "TRANSFORMER_NB_MODEL" in shown, shown
        hub.write_text(hub.read_text().replace('"TRANSFORMER_NB_MODEL"', '"TRANSFORMER_NB_MODEL_EDITED"'))
        kernel.restart()
        assert kernel.run(dep)[0] == "ok"
        status, shown = kernel.run("transformer_nb::hub::MODEL_ENV")
        assert status == "ok" and "TRANSFORMER_NB_MODEL_EDITED" in shown, shown
    finally:
        kernel.close()


def test_an_edit_to_the_library_is_seen_by_the_next_cell(tmp_path):
    # Once cargo has built a cell, the patch runs the cell crate's rustc command itself for the
    # next ones, while nothing but the cell changed (evcxr's module/direct_rustc.rs). A changed
    # source file of the library must send the next cell through cargo again, as plain evcxr does.
    workspace = tmp_path / "workspace"
    library = workspace / "crates/transformer-nb"
    shutil.copytree(REPO / "crates/transformer-nb", library)
    for name in ("Cargo.toml", "Cargo.lock", "README.md"):
        shutil.copy2(REPO / name, workspace / name)
    hub = library / "src/hub.rs"

    kernel = Kernel()
    try:
        assert kernel.run(f':dep transformer-nb = {{ path = "{library}" }}')[0] == "ok"
        for _ in range(3):
            status, shown = kernel.run("transformer_nb::hub::MODEL_ENV")
            assert status == "ok" and "TRANSFORMER_NB_MODEL" in shown, shown
        # Compile errors come back from rustc run directly as they did through cargo.
        status, shown = kernel.run('let wrong: usize = "x";')
        assert status == "error" and "mismatched types" in shown, shown
        assert kernel.run("1 + 1") == ("ok", "2")
        hub.write_text(hub.read_text().replace('"TRANSFORMER_NB_MODEL"', '"TRANSFORMER_NB_MODEL_EDITED"'))
        status, shown = kernel.run("transformer_nb::hub::MODEL_ENV")
        assert status == "ok" and "TRANSFORMER_NB_MODEL_EDITED" in shown, shown
    finally:
        kernel.close()


def test_a_warm_kernel_has_loaded_the_library_when_it_answers():
    kernel = Kernel()
    try:
        # What kernel/warm-up.evcxr computed while the kernel started, through the library.
        assert kernel.run("_transformer_nb_warm_up") == ("ok", "Some((1, 2))")
        # The notebook's own `:dep` names the same library: it stays, and the cells run on.
        statuses = [kernel.run(code)[0] for code in FIRST_CELLS]
        assert statuses == ["ok"] * len(FIRST_CELLS)
    finally:
        kernel.close()


def test_the_kernel_is_the_patched_evcxr_build():
    # scripts/install-evcxr.sh builds evcxr_jupyter with kernel/evcxr.patch,
    # which also sets its version; a plain `cargo install evcxr_jupyter` reports 0.22.0.
    kernel = Kernel()
    try:
        info = kernel.kc.kernel_info(reply=True, timeout=60)["content"]
        expected = pinned_versions()["EVCXR_JUPYTER_BUILD"]
        assert info["implementation_version"] == expected, (
            f"the kernel runs evcxr_jupyter {info['implementation_version']}, not the patched "
            f"{expected}: scripts/setup.sh installs it"
        )
    finally:
        kernel.close()


def test_printed_lines_arrive_before_the_cell_is_idle():
    # JupyterLab and nbclient stop taking a cell's output at its "idle" status. Plain evcxr 0.22 can
    # send a printed line after it (evcxr issue #353): rarely on a quiet machine, every time when the
    # output thread is slowed down between taking a line and sending it (checked with a delay put
    # there by hand). The patch makes the kernel wait for that thread. Busy processes make the
    # thread's scheduling less regular, so that a regression has more chances to show.
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    kernel = Kernel()
    try:
        for i in range(40):
            code = f'println!("line {i}");' if i % 2 else f'let n = {i}; println!("line {{n}}"); n'
            shown = kernel.run(code)
            assert shown == ("ok", f"line {i}\n" + ("" if i % 2 else str(i))), (i, shown)
    finally:
        kernel.close()
        for process in busy:
            process.kill()
            process.wait()


def copy_of_checkout(checkout):
    """The files git knows of this checkout (as after `git clean -xdf`), copied to `checkout`."""
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard", "-z"],
        check=True, capture_output=True, text=True,
    ).stdout
    for name in filter(None, files.split("\0")):
        if (REPO / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, checkout / name)


def test_a_library_that_does_not_compile_still_gets_a_kernel_that_says_why(tmp_path):
    # A checkout with a warm slot whose library a learner broke: the kernel's start-up build of
    # it fails, and the kernel must still start, and show the compiler's error in the `:dep` cell.
    checkout = tmp_path / "checkout"
    copy_of_checkout(checkout)
    lib = checkout / "crates/transformer-nb/src/lib.rs"
    lib.write_text(lib.read_text() + '\ncompile_error!("a learner\'s edit that does not compile");\n')
    # With cp, which goes on past a file that a kernel working in slot 1 (a pre-started one)
    # replaces meanwhile; shutil.copytree stops there.
    (checkout / ".cache/kernel").mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(REPO / ".cache/kernel/slot-1"), str(checkout / ".cache/kernel/slot-1")])
    # No pre-started kernel for a checkout that the test deletes.
    kernel = Kernel(installed_spec(tmp_path, TRANSFORMER_NB_CHECKOUT=str(checkout), TRANSFORMER_NB_PRESTART="0"), cwd=checkout / "notebooks")
    try:
        status, shown = kernel.run(FIRST_CELLS[0])
        assert status == "error" and "a learner's edit that does not compile" in shown, shown
        assert kernel.run("1 + 1") == ("ok", "2")
    finally:
        kernel.close()
    shutil.rmtree(checkout)


def test_a_kernel_whose_checkout_is_gone_says_so(tmp_path):
    gone = tmp_path / "deleted-checkout"
    kernel = Kernel(installed_spec(tmp_path, TRANSFORMER_NB_CHECKOUT=str(gone)))
    try:
        status, shown = kernel.run(FIRST_CELLS[0])
        assert status == "error"
        assert f"installed from the checkout {gone}, which is gone" in shown, shown
        assert "Run scripts/setup.sh in your checkout" in shown, shown
        # Plain Rust still runs, and the message stays until the kernel is set up again.
        assert kernel.run("1 + 1") == ("ok", "2")
        status, shown = kernel.run(FIRST_CELLS[0])
        assert status == "error" and "which is gone" in shown, shown
    finally:
        kernel.close()


def test_a_kernel_whose_cache_is_gone_says_so_once_then_builds(tmp_path):
    # A checkout without its .cache (as after `git clean -xdf`).
    checkout = tmp_path / "checkout"
    copy_of_checkout(checkout)
    # No pre-started kernel for a checkout that the test deletes.
    kernel = Kernel(installed_spec(tmp_path, TRANSFORMER_NB_CHECKOUT=str(checkout), TRANSFORMER_NB_PRESTART="0"), cwd=checkout / "notebooks")
    try:
        status, shown = kernel.run(FIRST_CELLS[0])
        assert status == "error"
        assert f"the kernel's compile cache ({checkout}/.cache/kernel) is not there" in shown, shown
        assert "run this cell again to build it here" in shown, shown
        status, shown = kernel.run(FIRST_CELLS[0])
        assert status == "ok", shown
        status, shown = kernel.run("transformer_nb::hub::MODEL_ENV")
        assert status == "ok" and "TRANSFORMER_NB_MODEL" in shown, shown
    finally:
        kernel.close()
    assert (checkout / ".cache/kernel/slot-1/target").is_dir()
    shutil.rmtree(checkout)  # half a gigabyte of build output


FAKE_EVCXR = r"""#!/bin/bash
# Stands in for evcxr_jupyter: records how the launcher starts it, and as a pre-started kernel
# announces itself, takes the hand-over and then serves until its launcher is gone.
echo "$1 $2" >>"$FAKE_EVCXR_LOG"
if [ "$1" = --prestarted ]; then
  echo $$ >"$2/ready.new" && mv "$2/ready.new" "$2/ready"
  mapfile -d '' fields <"$2/handover"
  printf '%s\n' "${fields[@]}" >"$2/received"
  eval "exec $TRANSFORMER_NB_PRESTART_LOCK_FD>&-"
  owner=$(sed -n 2p "$2/received")
  while kill -0 "$owner" 2>/dev/null; do sleep 0.1; done
  echo "owner gone" >>"$FAKE_EVCXR_LOG"
fi
"""


def fake_checkout(tmp_path):
    """A checkout whose kernel is a stand-in (FAKE_EVCXR): the launcher's own logic, in seconds."""
    checkout = tmp_path / "fake-checkout"
    (checkout / "crates/transformer-nb/src").mkdir(parents=True)
    (checkout / "crates/transformer-nb/Cargo.toml").write_text("[package]\n")
    (checkout / "crates/transformer-nb/src/lib.rs").write_text("")
    (checkout / ".cache/kernel/slot-1/target").mkdir(parents=True)
    evcxr = tmp_path / "fake-evcxr"
    evcxr.write_text(FAKE_EVCXR)
    evcxr.chmod(0o755)
    launcher = Path(KernelSpecManager().find_kernel_specs()[KERNEL]) / "launch.sh"
    env = {**os.environ, "TRANSFORMER_NB_CHECKOUT": str(checkout), "TRANSFORMER_NB_EVCXR": str(evcxr),
           "FAKE_EVCXR_LOG": str(tmp_path / "evcxr.log")}
    env.pop("TRANSFORMER_NB_PRESTART", None)
    return checkout, launcher, env


def stop_fakes(tmp_path):
    subprocess.run(["pkill", "-f", str(tmp_path / "fake-evcxr")], check=False)


def wait_until(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_the_launcher_hands_a_prestarted_kernel_the_connection_folder_and_environment(tmp_path):
    try:
        checkout, launcher, env = fake_checkout(tmp_path)
        subprocess.run(["bash", str(launcher), "--prestart"], env=env, check=True, timeout=30)
        assert wait_until(lambda: list((checkout / ".cache/kernel").glob("slot-*.prestart/ready")))
        prestarted = next((checkout / ".cache/kernel").glob("slot-*.prestart"))
        # The cell crate's profile (opt-level 0 for cells) is there for every slot.
        assert "opt-level = 0" in (checkout / ".cache/kernel/.cargo/config.toml").read_text()

        workdir = tmp_path / "notebooks"
        workdir.mkdir()
        launch = subprocess.Popen(["bash", str(launcher), str(tmp_path / "connection.json")],
                                  env={**env, "A_VARIABLE_OF_THIS_LAUNCH": "seen"}, cwd=workdir,
                                  stderr=subprocess.PIPE, text=True)
        assert wait_until(lambda: (prestarted / "received").exists())
        received = (prestarted / "received").read_text().splitlines()
        assert received[0] == str(tmp_path / "connection.json")
        assert received[1] == str(launch.pid)
        assert received[2] == str(workdir)
        assert "A_VARIABLE_OF_THIS_LAUNCH=seen" in received[3:]
        # Jupyter watches the launcher: it stays while the kernel serves, and a kernel whose launcher
        # is killed ends too.
        time.sleep(0.5)
        assert launch.poll() is None
        launch.kill()
        launch.wait(timeout=10)
        assert wait_until(lambda: "owner gone" in (tmp_path / "evcxr.log").read_text())
        log = (tmp_path / "evcxr.log").read_text()
        assert "--control_file" not in log, log
        # The launch started the next pre-started kernel.
        assert wait_until(lambda: list((checkout / ".cache/kernel").glob("slot-*.prestart/ready")))
    finally:
        stop_fakes(tmp_path)


def test_a_prestarted_kernel_older_than_an_edit_to_the_library_is_not_used(tmp_path):
    try:
        checkout, launcher, env = fake_checkout(tmp_path)
        subprocess.run(["bash", str(launcher), "--prestart"], env=env, check=True, timeout=30)
        assert wait_until(lambda: list((checkout / ".cache/kernel").glob("slot-*.prestart/ready")))
        time.sleep(1.1)  # past the file system's timestamp granularity
        (checkout / "crates/transformer-nb/src/lib.rs").write_text("// an edit\n")
        launch = subprocess.run(["bash", str(launcher), str(tmp_path / "connection.json")], env=env,
                                capture_output=True, text=True, timeout=30)
        assert "the library changed since the waiting kernel loaded it" in launch.stderr, launch.stderr
        log = (tmp_path / "evcxr.log").read_text()
        assert f"--control_file {tmp_path / 'connection.json'}" in log, log
    finally:
        stop_fakes(tmp_path)


def test_a_kernel_handed_over_runs_in_the_notebooks_folder_with_its_environment():
    # The real kernel: one that was waiting (the launcher's pre-start) takes the connection.
    spec = KernelSpecManager().get_kernel_spec(KERNEL)
    env = {**os.environ, **spec.env}
    env.pop("TRANSFORMER_NB_PRESTART", None)
    subprocess.run(["bash", str(Path(spec.resource_dir) / "launch.sh"), "--prestart"], env=env, check=True)
    assert wait_until(lambda: list((REPO / ".cache/kernel").glob("slot-*.prestart/ready")), 180)
    km = KernelManager(kernel_name=KERNEL)
    km.start_kernel(cwd=str(NOTEBOOKS), env={**env, "A_VARIABLE_OF_THIS_KERNEL": "seen"})
    kc = km.client()
    kc.start_channels()
    kernel = Kernel.__new__(Kernel)
    kernel.km, kernel.kc = km, kc
    try:
        kc.wait_for_ready(timeout=120)
        status, server = kernel.run("std::os::unix::process::parent_id()")
        assert status == "ok"
        launcher_pid = km.provisioner.process.pid
        server_parent = int(Path(f"/proc/{server}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert server_parent != launcher_pid, "this kernel was started by the launcher, not handed over"
        assert kernel.run("std::env::current_dir().unwrap()") == ("ok", f'"{NOTEBOOKS}"')
        assert kernel.run('std::env::var("A_VARIABLE_OF_THIS_KERNEL").unwrap()') == ("ok", '"seen"')
        assert kernel.run("_transformer_nb_warm_up") == ("ok", "Some((1, 2))")
        statuses = [kernel.run(code)[0] for code in FIRST_CELLS]
        assert statuses == ["ok"] * len(FIRST_CELLS)
    finally:
        kernel.close()
    assert wait_until(lambda: not Path(f"/proc/{server}").exists()), "the kernel outlived its shutdown"


def test_a_kernel_prints_no_configuration_notice(tmp_path):
    # evcxr 0.22 printed "No configuration file found, use the default configuration" at every
    # start, into Jupyter's log and the main job's output; the patch loads the configuration quietly.
    output = tmp_path / "kernel.out"
    with open(output, "w") as out:
        km = KernelManager(kernel_name=KERNEL)
        km.start_kernel(cwd=str(NOTEBOOKS), stdout=out, stderr=out,
                        env={**os.environ, "TRANSFORMER_NB_PRESTART": "0"})
        kc = km.client()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=120)
            kc.execute_interactive("1 + 1", timeout=600)
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    text = output.read_text()
    assert "configuration" not in text.lower(), text


def test_kept_variables_survive_cells_that_do_not_name_them():
    # The patch moves only the variables a cell names out of evcxr's store and back
    # (evcxr's wrap_user_code); the others must be there, unchanged, for the cells after.
    kernel = Kernel()
    try:
        assert kernel.run("let words = vec![String::from(\"novel\"), String::from(\"read\")];")[0] == "ok"
        assert kernel.run("let mut count = 1usize;")[0] == "ok"
        assert kernel.run("1 + 1") == ("ok", "2")
        # evcxr catches a cell's panic and keeps the variables the cell did not move.
        status, shown = kernel.run('panic!("a cell that panics")')
        assert "a cell that panics" in shown, shown
        # Named only inside a format string.
        assert kernel.run('println!("{words:?} {count}");') == ("ok", '["novel", "read"] 1\n')
        assert kernel.run("count += 1;")[0] == "ok"
        assert kernel.run("words.len() + count") == ("ok", "4")
        # A moved variable is gone, and the one it moved into is kept.
        assert kernel.run("let moved = words;")[0] == "ok"
        status, shown = kernel.run("words.len()")
        assert status == "error", shown
        assert kernel.run("moved[0].clone()") == ("ok", '"novel"')
        # A name reused with another type.
        assert kernel.run('let count = "two";')[0] == "ok"
        assert kernel.run("count") == ("ok", '"two"')
    finally:
        kernel.close()
