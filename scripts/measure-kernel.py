#!/usr/bin/env python3
"""Measures what a learner waits for in the transformer-nb kernel, on this machine, next to the
Python kernel of the original tutorial.

Three sides, alternating over --rounds rounds (3; the order rotates), each in a fresh kernel:
  - python: ipykernel in the reference venv (.cache/venv-reference: torch, transformers), loading
    all-MiniLM-L6-v2 from the local Hub cache and showing the encoding of "I read a good novel.";
  - rust_prestarted: the tutorial notebook's code cells in the transformer-nb kernel, handed a
    pre-started kernel (kernel/launch.sh; the run waits until one is waiting);
  - rust_on_request: the same with TRANSFORMER_NB_PRESTART=0, a kernel started when asked for.
For each: the time until the kernel answers (kernel_info), from asking for a kernel to the first
displayed output, the median of the later cells and of a trivial cell (`1+1`, five times, after
them), and the peak memory of the kernel in use (RSS summed over the launcher's process tree, and the
handed-over kernel's; sampled every 100 ms). Then the memory of one pre-started kernel that
waits. It prints each run and the medians, with the CPU.
With --notebooks, it then runs every committed notebook headless, top to bottom, each in a fresh
kernel as scripts/run-notebooks.py does, and reports the wall time of each.

Usage:
    .venv/bin/python scripts/measure-kernel.py [--rounds N] [--no-python] [--cold] [--notebooks]
                                               [--notebook PATH] [--trace-cargo] [--rust-src DIR]

The Python side needs `.cache/venv-reference/bin/pip install ipykernel` once (scripts/bench.sh
makes the venv).

--cold (one run, Rust only) deletes what the kernel has built first, as on a machine that never ran it: the kernel's
build slots (.cache/kernel), and evcxr's compile cache (~/.cache/evcxr) where an older install
left one (the kernel no longer uses it: kernel/init.evcxr says why); the run rebuilds the slots.

--trace-cargo splits each tutorial cell's time into cargo's (every `cargo` run evcxr makes,
timed by a stand-in for the `mold` that evcxr runs it through when one is on PATH, in a copy of
the kernelspec) and the rest (evcxr itself, and rustc where the patched evcxr runs it without
cargo: every cell after the first while nothing but the cells changes). --rust-src
points that analyser at other standard-library sources (RUST_SRC_PATH), for experiments.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def process_tree_rss(roots):
    """Sum of resident memory of the processes in `roots` and all their descendants, in bytes."""
    children = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rfind(")") + 2:].split()[1])
            with open(f"/proc/{entry}/statm") as f:
                rss[int(entry)] = int(f.read().split()[1]) * PAGE
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, list(roots)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def waiting_kernels():
    """The pids of the pre-started kernels that wait (kernel/launch.sh)."""
    pids = []
    for ready in (REPO / ".cache/kernel").glob("slot-*.prestart/ready"):
        try:
            pids.append(int(ready.read_text()))
        except (OSError, ValueError):
            pass
    return pids


class PeakSampler(threading.Thread):
    def __init__(self, roots):
        super().__init__(daemon=True)
        self.roots, self.peak, self.running = roots, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, process_tree_rss(self.roots))
            time.sleep(0.1)


MOLD_STAND_IN = """#!/bin/bash
# evcxr runs `mold -run cargo ARGS` when a mold is on PATH: time the cargo run, then return its status.
shift
start=$(date +%s.%N)
"$@"
status=$?
echo "$start $(date +%s.%N)" >> "$(dirname "$0")/cargo-runs.log"
exit $status
"""


def tracing_kernelspec(folder):
    """A copy of the transformer-nb kernelspec whose PATH starts with a timing `mold`; returns
    its name and the log its cargo runs go to."""
    spec = KernelSpecManager().get_kernel_spec("transformer-nb")
    bin_dir = Path(folder) / "bin"
    bin_dir.mkdir()
    (bin_dir / "mold").write_text(MOLD_STAND_IN)
    (bin_dir / "mold").chmod(0o755)
    copy = Path(folder) / "kernels" / "transformer-nb-trace"
    shutil.copytree(spec.resource_dir, copy)
    kernel = json.loads((copy / "kernel.json").read_text())
    kernel["env"]["PATH"] = f"{bin_dir}:{kernel['env'].get('PATH', os.environ['PATH'])}"
    (copy / "kernel.json").write_text(json.dumps(kernel))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [folder, os.environ.get("JUPYTER_PATH")]))
    return "transformer-nb-trace", bin_dir / "cargo-runs.log"


def cargo_seconds(log, start, end):
    """Seconds of the cargo runs that started between `start` and `end` (wall clock)."""
    if not log.exists():
        return 0.0
    runs = [tuple(map(float, line.split())) for line in log.read_text().splitlines()]
    return sum(e - s for s, e in runs if start <= s < end)


PYTHON_CELLS = [
    "from transformers import AutoModel, AutoTokenizer\n"
    'tokenizer = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")\n'
    'model = AutoModel.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")',
    'tokenizer("I read a good novel.")',
]


def python_kernelspec(folder, venv):
    """A kernelspec for ipykernel in the reference venv (torch, transformers; scripts/python-peer.sh)."""
    spec_dir = Path(folder) / "kernels" / "python-anchor"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin/python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python (reference venv)", "language": "python"}))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [folder, os.environ.get("JUPYTER_PATH")]))
    return "python-anchor"


def wait_for_prestarted(timeout=120):
    """Waits until a pre-started transformer-nb kernel is waiting (kernel/launch.sh)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((REPO / ".cache/kernel").glob("slot-*.prestart/ready")):
            return True
        time.sleep(0.5)
    return False


def measure(kernel_name, cells, cwd, cargo_log=None, env=None):
    """Asks for a kernel, runs `cells`, then `1+1` five times; what a learner waits for."""
    # A kernel handed over is not the launcher's child: its memory counts as the kernel's.
    handed_over = waiting_kernels() if kernel_name != "python-anchor" and not (env or {}).get(
        "TRANSFORMER_NB_PRESTART") == "0" else []
    started = time.monotonic()
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(cwd=str(cwd), env={**os.environ, **(env or {})})
    sampler = PeakSampler([km.provisioner.process.pid] + handed_over)
    sampler.start()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    ready = time.monotonic() - started
    first_output = None
    cell_seconds = []
    traced = []

    def on_output(msg):
        nonlocal first_output
        # Not stderr: Python's libraries warn there on loading, before anything is shown.
        shown = msg["msg_type"] in ("display_data", "execute_result") or (
            msg["msg_type"] == "stream" and msg["content"].get("name") == "stdout")
        if first_output is None and shown:
            first_output = time.monotonic() - started

    try:
        for code in cells:
            t, wall = time.monotonic(), time.time()
            reply = kc.execute_interactive(code, timeout=3600, output_hook=on_output)
            cell_seconds.append(time.monotonic() - t)
            if cargo_log:
                cargo = cargo_seconds(cargo_log, wall, time.time())
                traced.append({"cell": code.splitlines()[0][:50], "s": round(cell_seconds[-1], 2),
                               "cargo_s": round(cargo, 2), "rest_s": round(cell_seconds[-1] - cargo, 2)})
            if reply["content"]["status"] != "ok":
                raise SystemExit(f"cell failed: {code[:60]!r}")
        trivial = []
        for _ in range(5):
            t = time.monotonic()
            kc.execute_interactive("1+1", timeout=600, output_hook=lambda msg: None)
            trivial.append(time.monotonic() - t)
    finally:
        sampler.running = False
        sampler.join()
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    result = {
        "kernel_ready_s": round(ready, 2),
        "kernel_start_to_first_output_s": round(first_output, 2),
        "kernel_ready_to_first_output_s": round(first_output - ready, 2),
        "later_cells_median_s": round(statistics.median(cell_seconds[1:]), 2),
        "later_cells_s": [round(s, 2) for s in cell_seconds[1:]],
        "trivial_cell_median_s": round(statistics.median(trivial), 3),
        "peak_rss_mib": round(sampler.peak / 2**20),
    }
    if cargo_log:
        result["cells_traced"] = traced
    return result


def cpu_name():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--notebook", type=Path, default=REPO / "notebooks/00-tutorial.ipynb")
    parser.add_argument("--notebooks", action="store_true", help="also time every notebook headless")
    parser.add_argument("--trace-cargo", action="store_true", help="split each cell into cargo and the rest")
    parser.add_argument("--rust-src", type=Path, help="RUST_SRC_PATH for the kernel's analyser")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-python", action="store_true", help="without the Python anchor")
    args = parser.parse_args()
    kernel_name, cargo_log = "transformer-nb", None
    specs = tempfile.TemporaryDirectory(prefix="measure-kernel.")
    if args.trace_cargo:
        kernel_name, cargo_log = tracing_kernelspec(specs.name)
    if args.rust_src:
        os.environ["RUST_SRC_PATH"] = str(args.rust_src.resolve())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    nb = nbformat.read(args.notebook, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]

    if args.cold:
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "evcxr"
        for built in (cache, REPO / ".cache/kernel"):
            if built.exists():
                shutil.rmtree(built)
        # Not the learner's case, but what a cold first kernel is: no "cache is gone" notice.
        result = {"cache": "cold", **measure(kernel_name, cells, args.notebook.parent, cargo_log,
                                             {"TRANSFORMER_NB_WARMING": "1"})}
        print(json.dumps(result, indent=1))
        return

    venv = REPO / ".cache/venv-reference"
    python = None
    if not args.no_python:
        if not (venv / "bin/python").exists() or subprocess.run(
                [venv / "bin/python", "-c", "import ipykernel, transformers"], capture_output=True).returncode:
            raise SystemExit("measure-kernel: the Python anchor needs ipykernel and transformers in "
                             f"{venv}: run scripts/bench.sh once (it makes that venv), then "
                             f"{venv}/bin/pip install ipykernel; or pass --no-python")
        python = python_kernelspec(specs.name, venv)

    sides = {"python": [], "rust_prestarted": [], "rust_on_request": []}
    for round_index in range(args.rounds):
        order = ["python", "rust_prestarted", "rust_on_request"]
        order = order[round_index % 3:] + order[:round_index % 3]
        for side in order:
            if side == "python":
                if python:
                    sides[side].append(measure(python, PYTHON_CELLS, args.notebook.parent))
            elif side == "rust_prestarted":
                if not wait_for_prestarted():
                    raise SystemExit("measure-kernel: no pre-started kernel came up in 2 minutes "
                                     "(see .cache/kernel/slot-*.prestart/log)")
                sides[side].append(measure(kernel_name, cells, args.notebook.parent, cargo_log))
            else:
                sides[side].append(measure(kernel_name, cells, args.notebook.parent, cargo_log,
                                           {"TRANSFORMER_NB_PRESTART": "0"}))
            print(f"measure-kernel: round {round_index + 1} {side}: "
                  f"{json.dumps({k: v for k, v in sides[side][-1].items() if k != 'cells_traced'})}",
                  file=sys.stderr, flush=True)

    # What one waiting kernel costs, once it has started.
    wait_for_prestarted()
    time.sleep(2)
    waiting = round(process_tree_rss(waiting_kernels()) / 2**20)
    keys = ["kernel_ready_s", "kernel_start_to_first_output_s", "trivial_cell_median_s",
            "later_cells_median_s", "peak_rss_mib"]
    result = {"cpu": cpu_name(), "cache": "warm", "rounds": args.rounds, "waiting_kernel_rss_mib": waiting,
              "median": {side: {k: statistics.median(r[k] for r in runs) for k in keys}
                         for side, runs in sides.items() if runs},
              "runs": sides}
    if args.rust_src:
        result["rust_src"] = str(args.rust_src)
    if args.notebooks:
        result["notebooks_s"] = time_notebooks()
    print(json.dumps(result, indent=1))


def time_notebooks():
    """Wall time of each committed notebook, run top to bottom in a fresh kernel."""
    from nbclient import NotebookClient

    times = {}
    for path in sorted((REPO / "notebooks").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        nb = nbformat.read(path, as_version=4)
        t = time.monotonic()
        NotebookClient(nb, kernel_name="transformer-nb", timeout=1800, startup_timeout=120,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        times[str(path.relative_to(REPO))] = round(time.monotonic() - t, 1)
    return times


if __name__ == "__main__":
    main()
