"""Side-by-side benchmark: transformer-nb's BERT forward against PyTorch + transformers and
ONNX Runtime.

Run through scripts/bench.sh, which makes the Python environment, builds the Rust worker
(crates/transformer-nb/benches/forward.rs) and seeds the model cache. This process is the
Python peer; the Rust worker is a child process. Each case alternates rounds of the two on the
same token ids, with the same number of threads, and reports median and fastest times and their
ratios (ours / theirs: below 1 is faster). Correctness is checked on the way: both sides must see
the same ids, and their last hidden states must agree.

ONNX Runtime runs the same checkpoints exported from transformers with torch.onnx.export and
fused by ONNX Runtime's BERT optimiser (onnxruntime.transformers.optimizer; the files go to
.cache/bench/onnx and are never committed), every graph optimisation on, checked against HF
before any timing.

The BERT-base-shaped model is made here with seeded random weights (transformers' own
initialisation), so no download is needed; all-MiniLM-L6-v2 comes from the cache that
scripts/fetch-model.sh seeds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SENTENCE = "I read a good novel."
# Seconds between one side's run and the next's (see run_forward_case).
PAUSE_S = 0.5
TOKENIZER_FILES = ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class RustWorker:
    """The Rust side: one JSON request per line, one JSON reply per line."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def ask(self, **request) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Rust worker exited (code {self.process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"Rust worker: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait()


def minilm_dir() -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download("sentence-transformers/all-MiniLM-L6-v2", local_files_only=True))


def make_bert_base(target: Path, tokenizer_from: Path, seed: int) -> Path:
    """BERT-base shape (12 layers, 768 hidden, 12 heads, 3072 inner) with seeded random weights."""
    import torch
    from transformers import BertConfig, BertModel

    marker = target / f"seed-{seed}"
    if marker.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    torch.manual_seed(seed)
    model = BertModel(BertConfig())  # the defaults are bert-base-uncased's shape
    model.save_pretrained(target, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (tokenizer_from / name).exists():
            shutil.copy(tokenizer_from / name, target / name)
    marker.touch()
    return target


def words_from_vocab(vocab: Path) -> list[str]:
    words = [w for w in vocab.read_text().split("\n") if re.fullmatch(r"[a-z]{3,}", w)]
    return words


def sentences(words: list[str], count: int, rng: random.Random, lo: int, hi: int) -> list[str]:
    out = []
    for _ in range(count):
        chosen = rng.choices(words, k=rng.randint(lo, hi))
        out.append(" ".join(chosen).capitalize() + ".")
    return out


class TorchPeer:
    def __init__(self, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.models = {}
        self.tokenizers = {}

    def load(self, name: str, directory: Path) -> float:
        from transformers import AutoTokenizer, BertModel

        start = time.perf_counter()
        model = BertModel.from_pretrained(directory, add_pooling_layer=False)
        model.eval()
        self.models[name] = model
        self.tokenizers[name] = AutoTokenizer.from_pretrained(directory)
        return time.perf_counter() - start

    def inputs(self, name: str, texts: list[str], max_length: int):
        return self.tokenizers[name](
            texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )

    def forward(self, name: str, inputs, iters: int, collect: bool):
        model = self.models[name]
        times = []
        with self.torch.inference_mode():
            for _ in range(iters):
                start = time.perf_counter()
                out = model(
                    **inputs, output_hidden_states=collect, output_attentions=collect
                ).last_hidden_state
                times.append(time.perf_counter() - start)
        return times, out

    def tokenize(self, name: str, texts: list[str], iters: int) -> list[float]:
        tokenizer = self.tokenizers[name]
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            tokenizer(texts, padding=True)
            times.append(time.perf_counter() - start)
        return times


class OrtPeer:
    """ONNX Runtime on the models the PyTorch peer loaded, exported once per model."""

    INPUTS = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, threads: int, torch_peer: TorchPeer):
        import onnxruntime

        self.ort = onnxruntime
        self.threads = threads
        self.torch_peer = torch_peer
        self.sessions = {}

    def load(self, name: str, directory: Path) -> float:
        import numpy as np
        import torch

        from onnxruntime.transformers import optimizer

        from transformers import BertModel

        # Eager attention exports as plain matrix products and a softmax, the pattern the BERT
        # optimiser fuses into its Attention operator (PyTorch's SDPA call is not).
        model = BertModel.from_pretrained(
            directory, add_pooling_layer=False, attn_implementation="eager"
        ).eval()
        tokenizer = self.torch_peer.tokenizers[name]
        folder = ROOT / ".cache/bench/onnx"
        folder.mkdir(parents=True, exist_ok=True)
        exported, fused = folder / f"{name}.onnx", folder / f"{name}-fused.onnx"
        # What the exported graph must compute, from the model as loaded.
        check = tokenizer(
            ["The cat sat on the mat because it was tired.", "x", SENTENCE],
            padding=True, return_tensors="pt",
        )
        with torch.inference_mode():
            expected = model(**check).last_hidden_state.numpy()

        class LastHiddenState(torch.nn.Module):
            """BertModel with positional inputs and one output, as the exporter wants it."""

            def __init__(self, bert):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).last_hidden_state

        sample = tokenizer(["I read a good novel.", "a b"], padding=True, return_tensors="pt")
        log(f"exporting {name} to ONNX and fusing it for BERT ({fused.relative_to(ROOT)}) ...")
        # The TorchScript exporter's graph is the one ONNX Runtime's BERT optimiser knows: it
        # fuses embeddings + layer norm, attention, bias + GELU and skip + layer norm.
        torch.onnx.export(
            LastHiddenState(model).eval(), tuple(sample[k] for k in self.INPUTS), str(exported),
            input_names=list(self.INPUTS), output_names=["last_hidden_state"],
            dynamic_axes={k: {0: "batch", 1: "seq"} for k in (*self.INPUTS, "last_hidden_state")},
            opset_version=17, dynamo=False,
        )
        config = model.config
        optimized = optimizer.optimize_model(
            str(exported), model_type="bert", num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
        )
        fusions = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        if fusions.get("Attention") != config.num_hidden_layers:
            raise SystemExit(f"the BERT optimiser fused {fusions} in {name}: not every attention")
        optimized.save_model_to_file(str(fused))
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        start = time.perf_counter()
        session = self.ort.InferenceSession(str(fused), options, providers=["CPUExecutionProvider"])
        seconds = time.perf_counter() - start
        got = session.run(None, {k: check[k].numpy() for k in self.INPUTS})[0]
        diff = float(np.max(np.abs(got - expected)))
        if diff > 1e-4:
            raise SystemExit(f"ONNX Runtime's {name} differs from HF by {diff}")
        log(f"  fused: {fusions}")
        log(f"  ONNX Runtime {self.ort.__version__}: {name} agrees with HF within {diff:.1e}")
        self.sessions[name] = session
        return seconds

    def forward(self, name: str, inputs, iters: int):
        session = self.sessions[name]
        feed = {k: inputs[k].numpy() for k in self.INPUTS}
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            out = session.run(None, feed)[0]
            times.append(time.perf_counter() - start)
        return times, out


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1e3


def run_forward_case(case, rust, peer, ort, rounds, bf16):
    name, texts, max_length, iters, collect = (
        case["model"], case["texts"], case["max_length"], case["iters"], case["collect"]
    )
    import numpy as np

    inputs = peer.inputs(name, texts, max_length)
    # The worker writes its whole last hidden state here, to be compared value by value.
    dump = Path(tempfile.mkdtemp(prefix="bench-")) / "last_hidden_state.f32"
    bf16_dump = dump.with_name("bf16_last_hidden_state.f32")
    ours, theirs, candle, onnx, halves = [], [], [], [], []
    reply = torch_out = ort_out = None
    for round_index in range(rounds + 1):  # round 0 warms every side up and is not counted
        # Every side runs one more pass than it counts: the first after the switch pays for
        # waking its threads and bringing its weights back into the cache.
        def run_ours():
            return rust.ask(op="forward", model=name, texts=texts, max_length=max_length,
                            iters=iters + 1, collect=collect, dump=str(dump))

        def run_candle():
            return rust.ask(op="forward", model=name + "/candle", texts=texts,
                            max_length=max_length, iters=iters + 1)

        def run_bf16():
            return rust.ask(op="forward", model=name + "/bf16", texts=texts,
                            max_length=max_length, iters=iters + 1, dump=str(bf16_dump))

        sides = [("ours", run_ours),
                 ("torch", lambda: peer.forward(name, inputs, iters + 1, collect))]
        if bf16 and not collect:
            sides.append(("bf16", run_bf16))
        if case.get("candle"):
            sides.append(("candle", run_candle))
        if ort is not None and not collect:
            sides.append(("ort", lambda: ort.forward(name, inputs, iters + 1)))
        # Each round starts with a different side, and each side starts after a pause: a
        # runtime's idle threads keep spinning for a while after its work (OpenMP's wait
        # policy), which would otherwise slow whichever side comes next.
        shift = round_index % len(sides)
        for side, run in sides[shift:] + sides[:shift]:
            time.sleep(PAUSE_S)
            result = run()
            if side == "ours":
                reply = result
                times = result["times"]
            elif side == "torch":
                times, torch_out = result
            elif side == "ort":
                times, ort_out = result
            else:
                times = result["times"]
            if round_index > 0:
                {"ours": ours, "torch": theirs, "candle": candle, "ort": onnx,
                 "bf16": halves}[side].extend(times[1:])
    ids = inputs["input_ids"].tolist()
    if reply["ids"] != ids:
        raise SystemExit(f"{case['label']}: the two sides tokenized differently")
    expected = torch_out.flatten().numpy()
    got = np.fromfile(dump, dtype="<f4")
    dump.unlink()
    if got.shape != expected.shape:
        raise SystemExit(f"{case['label']}: {got.size} values against PyTorch's {expected.size}")
    # Every value of the last hidden state, padding positions included (both sides compute them).
    diff = float(np.max(np.abs(expected - got)))
    if diff > 1e-3:
        raise SystemExit(f"{case['label']}: outputs differ by up to {diff}")
    bf16_diff = None
    if halves:
        bf16_got = np.fromfile(bf16_dump, dtype="<f4")
        bf16_dump.unlink()
        bf16_diff = float(np.max(np.abs(expected - bf16_got)))
    if ort_out is not None:
        ort_diff = float(np.max(np.abs(ort_out.flatten() - expected)))
        if ort_diff > 1e-3:
            raise SystemExit(f"{case['label']}: ONNX Runtime differs from PyTorch by {ort_diff}")
    dump.parent.rmdir()
    return {
        "label": case["label"],
        "shape": reply["shape"],
        "ours_ms": median_ms(ours),
        "torch_ms": median_ms(theirs),
        "candle_ms": median_ms(candle) if candle else None,
        "ours_min_ms": min(ours) * 1e3,
        "torch_min_ms": min(theirs) * 1e3,
        "ratio": median_ms(ours) / median_ms(theirs),
        "ratio_min": min(ours) / min(theirs),
        "ort_ms": median_ms(onnx) if onnx else None,
        "ort_min_ms": min(onnx) * 1e3 if onnx else None,
        "ratio_ort": median_ms(ours) / median_ms(onnx) if onnx else None,
        "ratio_ort_min": min(ours) / min(onnx) if onnx else None,
        "max_abs_diff": diff,
        "samples": len(ours),
        "bf16_ms": median_ms(halves) if halves else None,
        "bf16_min_ms": min(halves) * 1e3 if halves else None,
        "bf16_speedup": median_ms(ours) / median_ms(halves) if halves else None,
        "bf16_ratio_ort": median_ms(halves) / median_ms(onnx) if halves and onnx else None,
        "bf16_max_abs_diff": bf16_diff,
        "model": name,
        "batch": len(texts),
        "seq": reply["shape"][1],
        "collect": collect,
    }


def lscpu_model() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    fields = dict(
        (k.strip(), v.strip()) for k, v in (l.split(":", 1) for l in text.splitlines() if ":" in l)
    )
    flags = fields.get("Flags", "")
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16") if f in flags.split()]
    return f"{fields.get('Model name', '?')}, {fields.get('CPU(s)', '?')} CPUs, {' '.join(simd)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", required=True, help="path of the built Rust bench worker")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--no-candle", action="store_true",
                        help="skip the candle-transformers column")
    parser.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime column")
    parser.add_argument("--json", type=Path, default=ROOT / "out/bench/results.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "out/bench/results.md")
    args = parser.parse_args()

    import numpy  # noqa: F401  (fail early if the environment is incomplete)
    import torch
    import transformers

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    rust = RustWorker([args.worker, "worker"], env)
    peer = TorchPeer(args.threads)
    ort = None if args.no_ort else OrtPeer(args.threads, peer)
    minilm = minilm_dir()
    base = make_bert_base(ROOT / ".cache/bench/bert-base-random", minilm, seed=0)
    rng = random.Random(0)
    words = words_from_vocab(minilm / "vocab.txt")
    long_texts = sentences(words, 8, rng, 200, 200)
    corpus = sentences(words, 10_000, rng, 6, 30)

    candle = not args.no_candle
    bf16 = True
    for name, directory in (("minilm", minilm), ("bert-base", base)):
        rust.ask(op="load", name=name, dir=str(directory))
        if bf16:
            reply = rust.ask(op="load", name=name + "/bf16", dir=str(directory), impl="ours-bf16")
            if "error" in reply:
                log(f"no bf16 column: {reply['error']}")
                bf16 = False
        if candle:
            rust.ask(op="load", name=name + "/candle", dir=str(directory), impl="candle")
        peer.load(name, directory)
        if ort is not None:
            ort.load(name, directory)

    scale = 0.25 if args.quick else 1.0
    it = lambda n: max(1, int(n * scale))  # noqa: E731
    cases = [
        dict(label="all-MiniLM-L6-v2, 1 × 8", model="minilm", texts=[SENTENCE], max_length=512,
             iters=it(40), collect=False, candle=candle),
        dict(label="all-MiniLM-L6-v2, 8 × 128", model="minilm", texts=long_texts, max_length=128,
             iters=it(4), collect=False, candle=candle),
        dict(label="BERT-base shape, 1 × 8", model="bert-base", texts=[SENTENCE], max_length=512,
             iters=it(10), collect=False, candle=candle),
        dict(label="BERT-base shape, 8 × 128", model="bert-base", texts=long_texts,
             max_length=128, iters=it(2), collect=False, candle=candle),
        dict(label="all-MiniLM-L6-v2, 8 × 128, all hidden states + attentions",
             model="minilm", texts=long_texts, max_length=128, iters=it(4), collect=True),
        dict(label="BERT-base shape, 8 × 128, all hidden states + attentions",
             model="bert-base", texts=long_texts, max_length=128, iters=it(2), collect=True),
    ]
    results = []
    for case in cases:
        log(f"{case['label']} ...")
        result = run_forward_case(case, rust, peer, ort, args.rounds, bf16)
        ort_part = (f", ONNX Runtime {result['ort_ms']:.2f} ms, ratio {result['ratio_ort']:.2f}"
                    if result["ort_ms"] is not None else "")
        log(f"  ours {result['ours_ms']:.2f} ms, PyTorch {result['torch_ms']:.2f} ms, "
            f"ratio {result['ratio']:.2f}{ort_part}")
        results.append(result)

    log("tokenization of 10,000 sentences ...")
    ours_tok, theirs_tok = [], []
    for round_index in range(args.rounds + 1):
        time.sleep(PAUSE_S)
        reply = rust.ask(op="tokenize", model="minilm", texts=corpus, iters=1)
        time.sleep(PAUSE_S)
        torch_times = peer.tokenize("minilm", corpus, 1)
        if round_index > 0:
            ours_tok += reply["times"]
            theirs_tok += torch_times
    tokens = reply["tokens"]
    tokenization = {
        "sentences": len(corpus),
        "tokens": tokens,
        "ours_ms": median_ms(ours_tok),
        "hf_ms": median_ms(theirs_tok),
        "ours_sentences_per_s": len(corpus) / statistics.median(ours_tok),
        "hf_sentences_per_s": len(corpus) / statistics.median(theirs_tok),
    }
    rss = rust.ask(op="rss")
    log("limits: the crate's matrix kernel on a 2048³ product, read bandwidth ...")
    limits = rust.ask(op="limits", n=2048, iters=5)
    configs = {name: json.loads((d / "config.json").read_text())
               for name, d in (("minilm", minilm), ("bert-base", base))}
    for result in results:
        result.update(utilisation(result, configs[result["model"]], limits))
    rust.close()

    log("peak memory of one BERT-base 8 × 128 forward, fresh processes ...")
    peak = json.loads(subprocess.run(
        [args.worker, "peak", str(base), "8", "128"], env=env, capture_output=True, text=True,
        check=True).stdout)
    peak_bf16 = None
    if bf16:
        peak_bf16 = json.loads(subprocess.run(
            [args.worker, "peak", str(base), "8", "128", "bf16"], env=env, capture_output=True,
            text=True, check=True).stdout)
    torch_peak = torch_peak_mib(base, args.threads)

    report = {
        "date": datetime.date.today().isoformat(),
        "machine": lscpu_model(),
        "threads": args.threads,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": ort.ort.__version__ if ort is not None else None,
        },
        "forward": results,
        "tokenization": tokenization,
        "peak_memory": {"ours": peak, "ours_bf16": peak_bf16, "torch_mib": torch_peak},
        "worker_rss": rss,
        "limits": limits,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    args.markdown.write_text(markdown(report))
    print(markdown(report))
    log(f"wrote {args.json} and {args.markdown}")


def utilisation(result: dict, config: dict, limits: dict) -> dict:
    """How close a case comes to the machine: GFLOP/s against the kernel's peak on a large
    product, and (one short sentence, where the weights are read once and barely reused) GB/s
    of weights read against the read bandwidth."""
    h, inner, layers = (config["hidden_size"], config["intermediate_size"],
                        config["num_hidden_layers"])
    rows, seq = result["batch"] * result["seq"], result["seq"]
    weights = layers * (4 * h * h + 2 * h * inner)  # multiply-adds per token = weights read
    flops = 2 * rows * weights + layers * 2 * 2 * result["batch"] * seq * seq * h
    out = {"gflop": flops / 1e9}
    for side, bytes_per_weight, peak in (("ours", 4, limits["gemm_f32_gflops"]),
                                         ("bf16", 2, limits.get("gemm_bf16_gflops"))):
        ms = result.get(f"{side}_ms")
        if ms is None or peak is None:
            continue
        out[f"{side}_gflops"] = flops / ms / 1e6
        out[f"{side}_of_peak"] = out[f"{side}_gflops"] / peak
        out[f"{side}_weight_gb_per_s"] = weights * bytes_per_weight / ms / 1e6
        out[f"{side}_of_bandwidth"] = out[f"{side}_weight_gb_per_s"] / limits["read_gb_per_s"]
    return out


def torch_peak_mib(directory: Path, threads: int) -> float:
    """Peak resident memory of PyTorch doing the same forward, in a fresh process."""
    code = f"""
import resource, torch
from transformers import BertModel
torch.set_num_threads({threads})
model = BertModel.from_pretrained({str(directory)!r}, add_pooling_layer=False).eval()
ids = torch.full((8, 128), 1000)
with torch.inference_mode():
    model(input_ids=ids, attention_mask=torch.ones_like(ids))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def markdown(report: dict) -> str:
    lines = [
        f"Measured {report['date']} on {report['machine']}; {report['threads']} threads each; "
        f"PyTorch {report['versions']['torch']}, transformers {report['versions']['transformers']}, "
        f"ONNX Runtime {report['versions'].get('onnxruntime') or '–'}.",
        "",
        "| case | transformer-nb (ms) | PyTorch (ms) | ratio | ONNX Runtime (ms) | ratio | "
        "candle-transformers (ms) | transformer-nb bf16 (ms) | f32 / bf16 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["forward"]:
        candle = f"{r['candle_ms']:.2f}" if r["candle_ms"] is not None else "–"
        if r.get("ort_ms") is not None:
            ort = (f"{r['ort_ms']:.2f} (fastest {r['ort_min_ms']:.2f}) | "
                   f"**{r['ratio_ort']:.2f}** ({r['ratio_ort_min']:.2f})")
        else:
            ort = "– | –"
        lines.append(f"| {r['label']} | {r['ours_ms']:.2f} (fastest {r['ours_min_ms']:.2f}) | "
                     f"{r['torch_ms']:.2f} (fastest {r['torch_min_ms']:.2f}) | "
                     f"**{r['ratio']:.2f}** ({r['ratio_min']:.2f}) | {ort} | {candle} | "
                     + (f"{r['bf16_ms']:.2f} (fastest {r['bf16_min_ms']:.2f}) | "
                        f"**{r['bf16_speedup']:.2f}** |" if r.get("bf16_ms") else "– | – |"))
    t = report["tokenization"]
    peak = report["peak_memory"]
    limits = report["limits"]
    bf16_peak = (f", bf16 kernel {limits['gemm_bf16_gflops']:.0f} GFLOP/s"
                 if limits.get("gemm_bf16_gflops") else "")
    dot_issue = (f", `vdpbf16ps` {limits['bf16_dot_issue_gflops']:.0f}"
                 if limits.get("bf16_dot_issue_gflops") else "")
    fma_issue = (f" (the multiply-add units issue {limits['fma_issue_gflops']:.0f} GFLOP/s "
                 f"of f32 FMAs{dot_issue} with nothing read from memory)"
                 if limits.get("fma_issue_gflops") else "")
    lines += [
        "",
        f"Limits of this machine on {report['threads']} threads: the crate's f32 matrix kernel "
        f"on a {limits['n']}³ product {limits['gemm_f32_gflops']:.0f} GFLOP/s{fma_issue}"
        f"{bf16_peak}; "
        f"reading memory {limits['read_gb_per_s']:.1f} GB/s. Each case against the one that "
        "bounds it (1 × 8: the weights, read once per pass; 8 × 128: the arithmetic of the "
        "matrix products and attention):",
        "",
    ]
    for r in report["forward"]:
        if "ours_gflops" not in r:
            continue
        # A few rows read every weight once and do little with it: memory is their limit.
        # Many rows reuse each weight from cache: arithmetic is.
        if r["batch"] * r["seq"] <= 16:
            measure = lambda side: (  # noqa: E731
                f"weights read at {r[side + '_weight_gb_per_s']:.1f} GB/s "
                f"({r[side + '_of_bandwidth']:.0%} of the bandwidth)")
        else:
            measure = lambda side: (  # noqa: E731
                f"{r[side + '_gflops']:.0f} GFLOP/s ({r[side + '_of_peak']:.0%} of the kernel's peak)")
        part = f"- {r['label']}: f32 {measure('ours')}"
        if "bf16_gflops" in r:
            part += (f"; bf16 {measure('bf16')}, "
                     f"max |bf16 − PyTorch| {r['bf16_max_abs_diff']:.3f}")
        lines.append(part)
    lines += [
        "",
        "Medians over the alternated rounds (fastest pass in brackets); ratio = transformer-nb / "
        "the peer on its left, median (fastest): below 1 is faster.",
        "",
        f"Tokenization, {t['sentences']:,} sentences ({t['tokens']:,} tokens), padded batch: "
        f"transformer-nb {t['ours_ms']:.1f} ms ({t['ours_sentences_per_s']:,.0f} sentences/s), "
        f"HF fast tokenizer from Python {t['hf_ms']:.1f} ms "
        f"({t['hf_sentences_per_s']:,.0f} sentences/s).",
        "",
        f"Peak resident memory of a fresh process loading BERT-base and running one 8 × 128 "
        f"forward: transformer-nb {peak['ours']['peak_mib']:.0f} MiB for "
        f"{peak['ours']['weights_mib']:.0f} MiB of weights "
        f"({peak['ours']['peak_mib'] / peak['ours']['weights_mib']:.2f} ×); "
        + (f"in bf16 (each layer rounded as it is read) {peak['ours_bf16']['peak_mib']:.0f} MiB "
           f"at its peak, {peak['ours_bf16']['now_mib']:.0f} MiB held after the forward; "
           if peak.get("ours_bf16") else "")
        + f"PyTorch {peak['torch_mib']:.0f} MiB.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
