"""The forward pass from a notebook cell against the release build, alternating.

evcxr compiles the notebook's dependencies with its own profile (opt-level 2, debug assertions
and overflow checks on, 16 codegen units), not with the project's release profile. This runs the
same forward passes in the transformer-nb Jupyter kernel and in the release bench worker
(crates/transformer-nb/benches/forward.rs), rounds alternating, and prints the ratio
kernel / release for each case.

Usage (scripts/bench.sh --notebook runs it after the PyTorch comparison):
    .venv/bin/python scripts/bench/notebook.py --worker PATH [--rounds N]
Needs the kernel installed (scripts/setup.sh) and the models that scripts/bench.sh prepares.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
from bench import SENTENCE, RustWorker, sentences, words_from_vocab  # noqa: E402


def rust_literal(texts: list[str]) -> str:
    return "[" + ", ".join(json.dumps(t) for t in texts) + "]"


class Kernel:
    def __init__(self):
        self.manager = KernelManager(kernel_name="transformer-nb")
        self.manager.start_kernel(cwd=str(ROOT))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str) -> str:
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(msg["content"]["traceback"]))

        reply = self.client.execute_interactive(code, timeout=3600, output_hook=hook)
        if reply["content"]["status"] != "ok":
            raise SystemExit(f"cell failed: {code[:80]!r}\n{''.join(out)}")
        return "".join(out)

    def close(self):
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


def times_printed(output: str) -> list[float]:
    """The list of times a forward cell prints last (anything the kernel printed before it,
    such as build messages, is skipped); a readable exit when there is none."""
    lines = [line for line in output.splitlines() if line.strip()]
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        raise SystemExit(f"notebook: the cell printed no list of times; its output was:\n{output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", required=True)
    # A 1 × 8 pass takes ~1.5 ms, and how fast two threads wake up on a shared VM moves it by
    # ±20 % from one round to the next; fifteen short rounds steady the median.
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--minilm", type=Path, required=True)
    parser.add_argument("--bert-base", type=Path, required=True)
    parser.add_argument("--json", type=Path, default=ROOT / "out/bench/notebook.json")
    args = parser.parse_args()

    import random

    rng = random.Random(0)
    words = words_from_vocab(args.minilm / "vocab.txt")
    long_texts = sentences(words, 8, rng, 200, 200)
    cases = [
        ("all-MiniLM-L6-v2, 1 × 8", "minilm", [SENTENCE], 512, 40),
        ("all-MiniLM-L6-v2, 8 × 128", "minilm", long_texts, 128, 4),
        ("BERT-base shape, 1 × 8", "base", [SENTENCE], 512, 10),
        ("BERT-base shape, 8 × 128", "base", long_texts, 128, 2),
    ]

    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rust = RustWorker([args.worker, "worker"], dict(os.environ))
    kernel = Kernel()
    try:
        rust.ask(op="load", name="minilm", dir=str(args.minilm))
        rust.ask(op="load", name="base", dir=str(args.bert_base))
        kernel.run(f':dep transformer-nb = {{ path = "{ROOT / "crates/transformer-nb"}" }}')
        kernel.run(
            "use transformer_nb::prelude::*;\n"
            f"let minilm = Bert::from_dir({json.dumps(str(args.minilm))})?;\n"
            f"let base = Bert::from_dir({json.dumps(str(args.bert_base))})?;"
        )
        results = []
        for label, model, texts, max_length, iters in cases:
            cell = f"""{{
    let batch = {model}.tokenizer().with_max_length({max_length})?.encode_batch(&{rust_literal(texts)})?;
    let mut times = Vec::new();
    for _ in 0..{iters + 1} {{
        let start = std::time::Instant::now();
        let hidden = {model}.last_hidden_state(&batch)?;
        times.push(start.elapsed().as_secs_f64());
        drop(hidden);
    }}
    println!("{{times:?}}");
}}"""
            kernel_times: list[float] = []
            release_times: list[float] = []
            round_ratios: list[float] = []
            for round_index in range(args.rounds + 1):  # round 0 warms up
                reply = rust.ask(op="forward", model=model, texts=texts,
                                 max_length=max_length, iters=iters + 1)
                output = kernel.run(cell)
                if round_index == 0:
                    # Not counted, so not read either: twice the first cell of a fresh kernel
                    # came back with nothing printed (its line lost on the way, it seems).
                    continue
                times = times_printed(output)
                # As in bench.py, each side's first pass of a round is not counted: here every
                # round is a new cell, whose library brings its own copy of the thread pool.
                release_times += reply["times"][1:]
                kernel_times += times[1:]
                round_ratios.append(statistics.median(times[1:]) / statistics.median(reply["times"][1:]))
            kernel_ms = statistics.median(kernel_times) * 1e3
            release_ms = statistics.median(release_times) * 1e3
            spread = (min(round_ratios), max(round_ratios))
            results.append({"label": label, "kernel_ms": kernel_ms, "release_ms": release_ms,
                            "ratio": kernel_ms / release_ms, "round_ratios": round_ratios})
            print(f"notebook: {label}: kernel {kernel_ms:.2f} ms, release {release_ms:.2f} ms, "
                  f"ratio {kernel_ms / release_ms:.2f} (rounds {spread[0]:.2f}-{spread[1]:.2f})",
                  file=sys.stderr, flush=True)
    finally:
        kernel.close()
        rust.close()

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| case | notebook cell (ms) | release build (ms) | ratio | ratio per round |\n"
          "|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['label']} | {r['kernel_ms']:.2f} | {r['release_ms']:.2f} | "
              f"**{r['ratio']:.2f}** | {min(r['round_ratios']):.2f}–{max(r['round_ratios']):.2f} |")


if __name__ == "__main__":
    main()
