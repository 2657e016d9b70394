#!/usr/bin/env python3
"""Measures what a learner waits for in the transformer-nb kernel, on this machine.

Runs the tutorial notebook's code cells in a fresh kernel and reports:
  - the time until the kernel answers (kernel_info),
  - the `:dep transformer-nb` cell (cold: nothing built yet; warm: what scripts/setup.sh leaves),
  - the time from asking for a kernel to the tutorial's first displayed output, and from the
    kernel's answer to it (what a learner waits for once the kernel has started while they read),
  - the median time of the later cells, and of a trivial cell (`1+1`, five times, after them),
  - the peak memory of the kernel with its compilers (RSS summed over the kernel's process tree,
    sampled every 100 ms).
With --notebooks, it then runs every committed notebook headless, top to bottom, each in a fresh
kernel as scripts/run-notebooks.py does, and reports the wall time of each.

Usage:
    .venv/bin/python scripts/measure-kernel.py [--cold] [--notebooks] [--notebook PATH]
                                               [--trace-cargo] [--rust-src DIR]

--cold deletes what the kernel has built first, as on a machine that never ran it: the kernel's
build slots (.cache/kernel), and evcxr's compile cache (~/.cache/evcxr) where an older install
left one (the kernel no longer uses it: kernel/init.evcxr says why); the run rebuilds the slots.

--trace-cargo splits each tutorial cell's time into cargo's (every `cargo` run evcxr makes,
timed by a stand-in for the `mold` that evcxr runs it through when one is on PATH, in a copy of
the kernelspec) and the rest (evcxr itself, mostly its embedded rust-analyzer). --rust-src
points that analyser at other standard-library sources (RUST_SRC_PATH), for experiments.
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parent.parent
PAGE = os.sysconf("SC_PAGE_SIZE")


def process_tree_rss(root_pid):
    """Sum of resident memory of root_pid and all its descendants, in bytes."""
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
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


class PeakSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, process_tree_rss(self.pid))
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--notebook", type=Path, default=REPO / "notebooks/00-tutorial.ipynb")
    parser.add_argument("--notebooks", action="store_true", help="also time every notebook headless")
    parser.add_argument("--trace-cargo", action="store_true", help="split each cell into cargo and the rest")
    parser.add_argument("--rust-src", type=Path, help="RUST_SRC_PATH for the kernel's analyser")
    args = parser.parse_args()
    kernel_name, cargo_log = "transformer-nb", None
    trace_dir = tempfile.TemporaryDirectory(prefix="measure-kernel.") if args.trace_cargo else None
    if trace_dir:
        kernel_name, cargo_log = tracing_kernelspec(trace_dir.name)
    if args.rust_src:
        os.environ["RUST_SRC_PATH"] = str(args.rust_src.resolve())

    if args.cold:
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "evcxr"
        for built in (cache, REPO / ".cache/kernel"):
            if built.exists():
                shutil.rmtree(built)
        # Not the learner's case, but what a cold first kernel is: no "cache is gone" notice.
        os.environ["TRANSFORMER_NB_WARMING"] = "1"

    nb = nbformat.read(args.notebook, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    started = time.monotonic()
    km = KernelManager(kernel_name=kernel_name)
    km.start_kernel(cwd=str(args.notebook.parent))
    sampler = PeakSampler(km.provisioner.process.pid)
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
        if first_output is None and msg["msg_type"] in ("stream", "display_data", "execute_result"):
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
        "cache": "cold" if args.cold else "warm",
        "kernel_ready_s": round(ready, 1),
        "dep_cell_s": round(cell_seconds[0], 1),
        "kernel_start_to_first_output_s": round(first_output, 1),
        "kernel_ready_to_first_output_s": round(first_output - ready, 1),
        "later_cells_median_s": round(statistics.median(cell_seconds[1:]), 2),
        "later_cells_s": [round(s, 2) for s in cell_seconds[1:]],
        "trivial_cell_median_s": round(statistics.median(trivial), 2),
        "peak_rss_mib": round(sampler.peak / 2**20),
    }
    if cargo_log:
        result["cells_traced"] = traced
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
