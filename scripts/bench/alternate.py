#!/usr/bin/env python3
"""Alternates Rust bench workers alone (no PyTorch, no kernel): for comparing two builds, or one
build under two settings, on a noisy machine, where only ratios within one run mean anything.

Usage (after scripts/bench.sh has built the worker and made .cache/bench/bert-base-random):

    scripts/bench/alternate.py [--rounds N] [--impl ours|ours-bf16[,...]] [--cases m1,m128,b1,b128]
        [--pause S] [--quantiles] SIDE...

Each SIDE is a worker command, optionally after environment settings, as one argument:

    W=$(ls -t target/release/deps/forward-* | grep -v '\\.d$' | head -1)
    scripts/bench/alternate.py "TRANSFORMER_NB_TUNING=plain $W" "$W"
    scripts/bench/alternate.py --impl ours-bf16 "TRANSFORMER_NB_AMX=0 $W" "$W"
    scripts/bench/alternate.py --impl ours,ours-bf16 "$W" "$W"    # f32 against bf16
    scripts/bench/alternate.py target/notebook/deps/forward-<hash> "$W"

Cases: MiniLM and the BERT-base shape, "I read a good novel." (1 x 8) and 8 x "the " x 200
truncated to 128 tokens (8 x 128); m3 and b3 a padded batch of three sentences (3 x 15, rows
that are not a multiple of the kernels' 8-row tile); m24 and b24 one sentence of 24 tokens; m128all and b128all are 8 x 128 through the full forward
that keeps every hidden state and attention. Every round runs each case on each side in turn;
the first pass of each request is not counted. Prints the median and fastest pass per case and side, in ms.
"""

import argparse
import glob
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SENTENCE = "I read a good novel."
LONG = ["the " * 200] * 8
# A padded batch whose rows (3 × 15 tokens) are not a multiple of the 8-row tile.
PADDED = ["I read a good novel last night; it kept me awake.", "Short one.",
          "Transformers in Rust notebooks are fun to explore."]
# One sentence of 24 tokens: more rows than one 16-row AMX tile of `A`, fewer than a block of 32.
LONGER = ["The notebook loads BERT, tokenizes a sentence and plots the sinusoidal positional "
          "encoding of every position."]
CASES = {
    "m1": ("minilm", [SENTENCE], 512, 200),
    "m128": ("minilm", LONG, 128, 6),
    "b1": ("bert-base", [SENTENCE], 512, 30),
    "b128": ("bert-base", LONG, 128, 2),
    "m3": ("minilm", PADDED, 512, 100),
    "b3": ("bert-base", PADDED, 512, 20),
    "m24": ("minilm", LONGER, 512, 100),
    "b24": ("bert-base", LONGER, 512, 20),
}
# The same 8 x 128 passes through the full `forward` a notebook calls (every hidden state and
# attention kept), as bench.py's "all hidden states + attentions" rows.
COLLECT = {"m128all": "m128", "b128all": "b128"}


def minilm_dir() -> str:
    hub = os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface"))
    found = glob.glob(f"{hub}/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/*")
    if not found:
        sys.exit("alternate: MiniLM is not in the model cache; run scripts/fetch-model.sh")
    return found[0]


class Side:
    def __init__(self, spec: str):
        words = shlex.split(spec)
        env = dict(os.environ, RAYON_NUM_THREADS=os.environ.get("RAYON_NUM_THREADS", "2"))
        while words and "=" in words[0] and not words[0].startswith(("/", ".")):
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        if not words:
            sys.exit(f"alternate: no worker in {spec!r}")
        self.label = spec
        self.process = subprocess.Popen(
            words, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )

    def ask(self, **request) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        if "error" in reply:
            sys.exit(f"alternate: {self.label}: {reply['error']}")
        return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sides", nargs="+")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--impl", default="ours",
                        help="ours or ours-bf16: one for every side, or one per side, comma-separated")
    parser.add_argument("--cases", default="m1,m128,b1,b128")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds to sleep before each request, as bench.py does between sides")
    parser.add_argument("--quantiles", action="store_true",
                        help="also print the 75th and 95th percentile of the passes")
    args = parser.parse_args()
    cases = args.cases.split(",")
    if unknown := [c for c in cases if c not in CASES and c not in COLLECT]:
        sys.exit(f"alternate: unknown cases {unknown}; known: {', '.join([*CASES, *COLLECT])}")
    bert_base = ROOT / ".cache/bench/bert-base-random"
    uses_bert_base = any(CASES[COLLECT.get(c, c)][0] == "bert-base" for c in cases)
    if uses_bert_base and not bert_base.is_dir():
        sys.exit(f"alternate: {bert_base} is missing; scripts/bench.sh makes it")
    impls = args.impl.split(",")
    if len(impls) == 1:
        impls *= len(args.sides)
    if len(impls) != len(args.sides) or not set(impls) <= {"ours", "ours-bf16"}:
        sys.exit(f"alternate: --impl {args.impl!r}: ours or ours-bf16, once or once per side")
    sides = [Side(spec) for spec in args.sides]
    for side, impl in zip(sides, impls):
        side.label += f" ({impl})"
        side.ask(op="load", name="minilm", dir=minilm_dir(), impl=impl)
        if uses_bert_base:
            side.ask(op="load", name="bert-base", dir=str(bert_base), impl=impl)
    times = {(i, case): [] for i in range(len(sides)) for case in cases}
    for _ in range(args.rounds):
        for case in cases:
            model, texts, max_length, iters = CASES[COLLECT.get(case, case)]
            for i, side in enumerate(sides):
                time.sleep(args.pause)
                reply = side.ask(op="forward", model=model, texts=texts, max_length=max_length,
                                 iters=iters + 1, collect=case in COLLECT)
                times[(i, case)] += reply["times"][1:]
    for i, side in enumerate(sides):
        print(f"side {i}: {side.label}")
    for case in cases:
        cells = []
        for i in range(len(sides)):
            t = times[(i, case)]
            cell = f"side {i} median {statistics.median(t) * 1e3:8.2f} fastest {min(t) * 1e3:8.2f}"
            if args.quantiles:
                q = statistics.quantiles(t, n=20)
                cell += f" p75 {q[14] * 1e3:8.2f} p95 {q[18] * 1e3:8.2f}"
            cells.append(cell)
        print(f"{case:5} " + "   ".join(cells))


if __name__ == "__main__":
    main()
