"""Decoder cases of scripts/bench.sh: SmolLM2-135M-Instruct's GGUF on llama.cpp, HF
transformers and transformer-nb, in one alternating run, same file, same prompt, same threads.

Each round runs every peer once, in its own process (so that its peak memory is its own), in an
order that rotates from round to round; the table gives medians over the rounds. Cases: prefill
of a 64-token and a 512-token prompt, and 128 greedy tokens decoded after the 64-token prompt
with the KV cache (the median step and the whole). Writes out/bench/decoder.{md,json}.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "out" / "bench"
TEXT = (
    "The history of the printing press begins in the fifteenth century, when a goldsmith in "
    "Mainz combined movable metal type, oil-based ink and a wooden press adapted from those "
    "used to make wine. Within fifty years printers worked in hundreds of European towns. "
)
PEERS = ["llama.cpp", "HF transformers (f32)", "ours (quantized)", "ours (f32)"]


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def cpu_flags() -> list[str]:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile")
            return [f for f in line.split(":", 1)[1].split() if f in wanted]
    return []


def run_json(command: list[str], env: dict[str, str]) -> dict:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def read_bandwidth(forward_worker: str, env: dict[str, str]) -> float:
    """GB/s that the crate's threads read from memory (the BERT worker's `limits`)."""
    worker = subprocess.Popen(
        [forward_worker], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    worker.stdin.write(json.dumps({"op": "limits", "n": 256, "iters": 5}) + "\n")
    worker.stdin.flush()
    answer = json.loads(worker.stdout.readline())
    worker.stdin.close()
    worker.wait()
    return answer["read_gb_per_s"]


def median(values: list[float]) -> float:
    return statistics.median(values)


def summarise(runs: list[dict], new: int) -> dict:
    return {
        "prefill_short_tps": 64 / median([r["prefill_short_s"] for r in runs]),
        "prefill_long_tps": runs[0]["long_tokens"] / median([r["prefill_long_s"] for r in runs]),
        "decode_step_tps": 1 / median([median(r["steps_s"]) for r in runs]),
        "decode_whole_tps": new / median([r["decode_s"] for r in runs]),
        "peak_rss_mib": median([r["peak_rss_mib"] for r in runs]),
        "load_s": median([r["load_s"] for r in runs]),
    }


def agreement(a: list[int], b: list[int]) -> int:
    """How many greedy tokens two peers share before they first differ."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", required=True, help="our decoder bench executable")
    parser.add_argument("--forward-worker", help="the BERT worker, for the read bandwidth")
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--llama-python", help="python of the llama-cpp-python venv")
    parser.add_argument("--hf-python", help="python of the reference venv")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new", type=int, default=128)
    parser.add_argument("--long", type=int, default=512)
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    threads = str(args.threads)
    env.update(RAYON_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    ids_file = OUT / "decoder-ids.json"
    ids = run_json([args.worker, "ids", args.gguf, TEXT, str(args.long)], env)
    ids_file.write_text(json.dumps(ids))

    peers_script = str(Path(__file__).with_name("decoder_peers.py"))
    commands = {
        "ours (quantized)": [args.worker, "run", args.gguf, "quantized", str(ids_file)],
        "ours (f32)": [args.worker, "run", args.gguf, "f32", str(ids_file)],
    }
    if args.llama_python:
        commands["llama.cpp"] = [args.llama_python, peers_script, "llama", args.gguf, str(ids_file)]
    if args.hf_python:
        commands["HF transformers (f32)"] = [
            args.hf_python, peers_script, "hf", args.gguf, str(ids_file)
        ]
    for name, command in commands.items():
        command.append(str(args.new))
        if "decoder_peers.py" in command[1]:
            command.append(threads)
    order = [p for p in PEERS if p in commands]

    runs: dict[str, list[dict]] = {p: [] for p in order}
    for r in range(args.rounds):
        rotated = order[r % len(order):] + order[: r % len(order)]
        for peer in rotated:
            log(f"round {r + 1}/{args.rounds}: {peer}")
            runs[peer].append(run_json(commands[peer], env))

    summary = {p: summarise(runs[p], args.new) for p in order}
    gguf_mib = Path(args.gguf).stat().st_size / 2**20
    bandwidth = read_bandwidth(args.forward_worker, env) if args.forward_worker else None
    tokens = {p: runs[p][0]["tokens"] for p in order}
    versions = {p: runs[p][0].get("version") for p in order if runs[p][0].get("version")}

    lines = [
        f"CPU: {cpu_name()} ({', '.join(cpu_flags())}), {args.threads} threads; "
        f"{Path(args.gguf).name} ({gguf_mib:.1f} MiB); medians of {args.rounds} alternating rounds.",
        "",
        f"| | prefill 64 | prefill {args.long} | decode {args.new} (median step) "
        f"| decode {args.new} (whole) | peak memory | load |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in order:
        s = summary[p]
        lines.append(
            f"| {p} | {s['prefill_short_tps']:.0f} tok/s | {s['prefill_long_tps']:.0f} tok/s "
            f"| {s['decode_step_tps']:.1f} tok/s | {s['decode_whole_tps']:.1f} tok/s "
            f"| {s['peak_rss_mib']:.0f} MiB | {s['load_s']:.2f} s |"
        )
    lines.append("")
    if "llama.cpp" in summary:
        ref = summary["llama.cpp"]
        ours = summary["ours (quantized)"]
        lines.append(
            f"Ours (quantized) against llama.cpp: decode {ours['decode_whole_tps'] / ref['decode_whole_tps']:.2f}×, "
            f"prefill 64 {ours['prefill_short_tps'] / ref['prefill_short_tps']:.2f}×, "
            f"prefill {args.long} {ours['prefill_long_tps'] / ref['prefill_long_tps']:.2f}×; "
            f"peak memory {ours['peak_rss_mib'] / gguf_mib:.2f}× the GGUF's size."
        )
    if "HF transformers (f32)" in summary:
        ref = summary["HF transformers (f32)"]
        ours = summary["ours (quantized)"]
        lines.append(
            f"Ours (quantized) against HF transformers: decode "
            f"{ours['decode_whole_tps'] / ref['decode_whole_tps']:.1f}×, prefill 64 "
            f"{ours['prefill_short_tps'] / ref['prefill_short_tps']:.1f}×, prefill {args.long} "
            f"{ours['prefill_long_tps'] / ref['prefill_long_tps']:.1f}×."
        )
    if bandwidth:
        # Bytes a decoding step reads: every weight once (a tied embedding is the output
        # layer) and the KV cache so far, 64 + new/2 positions on average.
        ours_run = runs["ours (quantized)"][0]
        weight_bytes = ours_run["weight_bytes"]
        kv_bytes = ours_run["kv_bytes_per_token"] * (64 + args.new / 2)
        bound = bandwidth * 1e9 / (weight_bytes + kv_bytes)
        ours = summary["ours (quantized)"]["decode_whole_tps"]
        lines.append(
            f"Memory bound: {bandwidth:.1f} GB/s read ÷ {(weight_bytes + kv_bytes) / 1e6:.0f} MB per "
            f"step = {bound:.0f} tok/s; ours (quantized) decodes at {100 * ours / bound:.0f} % of it."
        )
    for p, other in [("ours (quantized)", "llama.cpp"), ("ours (f32)", "HF transformers (f32)"),
                     ("ours (quantized)", "HF transformers (f32)")]:
        if p in tokens and other in tokens:
            lines.append(
                f"Greedy tokens, {p} and {other}: the first {agreement(tokens[p], tokens[other])} "
                f"of {args.new} agree."
            )
    if versions:
        lines.append("Peers: " + "; ".join(f"{p}: {v}" for p, v in versions.items()) + ".")
    table = "\n".join(lines)
    print(table)
    (OUT / "decoder.md").write_text(table + "\n")
    (OUT / "decoder.json").write_text(
        json.dumps({"summary": summary, "runs": runs, "cpu": cpu_name(),
                    "read_gb_per_s": bandwidth}, indent=1)
    )


if __name__ == "__main__":
    main()
