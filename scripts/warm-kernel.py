#!/usr/bin/env python3
"""Builds the transformer-nb kernel's first build slot (.cache/kernel/slot-1), so that a learner's
first notebook starts warm.

Starts one "transformer-nb" kernel the way Jupyter does, `:dep`s the library as the notebooks do
and runs one cell that uses it. The first time on a machine this compiles the library and its
dependencies (a few minutes); afterwards it takes seconds and changes nothing. Then it leaves a
kernel waiting for the first notebook (`launch.sh --prestart`; none with TRANSFORMER_NB_PRESTART=0).

Usage: python scripts/warm-kernel.py [--kernel NAME]
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parent.parent
CELLS = [
    f':dep transformer-nb = {{ path = "{REPO / "crates/transformer-nb"}" }}',
    "transformer_nb::hub::DEFAULT_MODEL",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernel", default="transformer-nb")
    args = parser.parse_args()

    started = time.monotonic()
    km = KernelManager(kernel_name=args.kernel)
    # The warm-up is what builds the cache: the launcher's "cache is not there" notice is not for it.
    km.start_kernel(cwd=str(REPO / "notebooks"), env={**os.environ, "TRANSFORMER_NB_WARMING": "1"})
    kc = km.client()
    kc.start_channels()
    errors = []

    def on_output(msg):
        if msg["msg_type"] == "error":
            errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
        elif msg["msg_type"] == "stream":
            sys.stdout.write(msg["content"]["text"])

    try:
        kc.wait_for_ready(timeout=120)
        for code in CELLS:
            reply = kc.execute_interactive(code, timeout=3600, output_hook=on_output)
            if reply["content"]["status"] != "ok":
                raise SystemExit(f"warm-kernel: {code!r} failed: {' '.join(errors)}")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"warm-kernel: the kernel's build is warm ({time.monotonic() - started:.0f} s)")
    if os.environ.get("TRANSFORMER_NB_PRESTART", "1") != "0":
        # With the kernelspec's environment, as Jupyter would start it.
        spec = KernelSpecManager().get_kernel_spec(args.kernel)
        launcher = Path(spec.resource_dir) / "launch.sh"
        subprocess.run(["/bin/bash", str(launcher), "--prestart"], env={**os.environ, **spec.env}, check=True)
        print("warm-kernel: a kernel is starting in the background for the first notebook")


if __name__ == "__main__":
    main()
