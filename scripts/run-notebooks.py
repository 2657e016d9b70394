#!/usr/bin/env python3
"""Executes notebooks top to bottom in the transformer-nb kernel, as Jupyter would.

Usage:
    .venv/bin/python scripts/run-notebooks.py [--out DIR | --in-place] [--timings FILE] NOTEBOOK...

Each notebook runs in a fresh kernel with its own folder as working directory (so its
`:dep transformer-nb = { path = "../crates/transformer-nb" }` resolves). The executed copies go
to DIR (default out/notebooks) or replace the originals with --in-place. A cell that writes an
error stops that notebook and makes the command fail. --timings writes each cell's wall time.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

KERNEL = "transformer-nb"
# The first :dep on a cold machine compiles the library and its dependencies: allow it plenty of time.
CELL_TIMEOUT_S = 1800


class TimedClient(NotebookClient):
    """An nbclient that records how long each cell took."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell_seconds = []

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        start = time.monotonic()
        try:
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        finally:
            if cell.cell_type == "code":
                self.cell_seconds.append((cell_index, time.monotonic() - start))


def run(path: Path, out: Path):
    nb = nbformat.read(path, as_version=4)
    client = TimedClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=120,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.monotonic()
    try:
        client.execute()
    finally:
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
    return time.monotonic() - start, client.cell_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=Path("out/notebooks"))
    where.add_argument("--in-place", action="store_true")
    parser.add_argument("--timings", type=Path)
    args = parser.parse_args()

    timings = {}
    failed = False
    for path in args.notebooks:
        out = path if args.in_place else args.out / path.name
        print(f"run-notebooks: {path} -> {out}", flush=True)
        try:
            seconds, cells = run(path, out)
            print(f"run-notebooks: {path.name}: {len(cells)} code cells in {seconds:.1f} s", flush=True)
            timings[str(path)] = {"total_s": seconds, "cells_s": [s for _, s in cells]}
        except CellExecutionError as e:
            failed = True
            print(f"run-notebooks: {path} failed:\n{e}", file=sys.stderr, flush=True)
    if args.timings:
        args.timings.write_text(json.dumps(timings, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
