"""The Python peers of the decoder benchmark, one measurement per process.

    python decoder_peers.py llama GGUF IDS NEW THREADS   (in the llama-cpp-python venv)
    python decoder_peers.py hf GGUF IDS NEW THREADS      (in the reference venv)

Each loads the GGUF, prefills the first 64 ids and all of the ids in IDS (a JSON file), then
greedily decodes NEW tokens after the first 64 with its KV cache, and prints one JSON line in
the shape of our worker's (crates/transformer-nb/benches/decoder.rs): seconds for the load,
each prefill, each decoding step and the whole decode, the greedy tokens, and the peak
resident memory of the process.
"""

import json
import sys
import time
from pathlib import Path

SHORT = 64


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def llama(gguf: str, ids: list[int], new: int, threads: int) -> dict:
    import llama_cpp
    import numpy as np

    t = time.perf_counter()
    # n_batch covers the long prompt in one batch, as our prefill and HF's take it whole.
    model = llama_cpp.Llama(
        model_path=gguf,
        n_ctx=1024,
        n_batch=len(ids),
        n_ubatch=len(ids),
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=False,
        verbose=False,
    )
    load = time.perf_counter() - t
    n_vocab = model.n_vocab()

    def last_logits() -> np.ndarray:
        pointer = llama_cpp.llama_get_logits_ith(model.ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(n_vocab,))

    def prefill(prompt: list[int]) -> float:
        model.reset()
        model._ctx.kv_cache_clear()
        t = time.perf_counter()
        model.eval(prompt)
        return time.perf_counter() - t

    prefill(ids[:8])
    prefill_long = prefill(ids)
    prefill_short = prefill(ids[:SHORT])
    steps, tokens = [], []
    start = time.perf_counter()
    for _ in range(new):
        token = int(np.argmax(last_logits()))
        tokens.append(token)
        t = time.perf_counter()
        model.eval([token])
        steps.append(time.perf_counter() - t)
    whole = time.perf_counter() - start
    return {
        "load_s": load,
        "prefill_short_s": prefill_short,
        "prefill_long_s": prefill_long,
        "long_tokens": len(ids),
        "steps_s": steps,
        "decode_s": whole,
        "tokens": tokens,
        "version": llama_cpp.__version__,
    }


def hf(gguf: str, ids: list[int], new: int, threads: int) -> dict:
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    path = Path(gguf)
    t = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    load = time.perf_counter() - t

    def prefill(prompt: list[int]):
        t = time.perf_counter()
        out = model(torch.tensor([prompt]), use_cache=True)
        return time.perf_counter() - t, out

    with torch.inference_mode():
        prefill(ids[:8])
        prefill_long, _ = prefill(ids)
        prefill_short, out = prefill(ids[:SHORT])
        past, logits = out.past_key_values, out.logits[0, -1]
        steps, tokens = [], []
        start = time.perf_counter()
        for _ in range(new):
            token = int(torch.argmax(logits))
            tokens.append(token)
            t = time.perf_counter()
            out = model(torch.tensor([[token]]), past_key_values=past, use_cache=True)
            steps.append(time.perf_counter() - t)
            past, logits = out.past_key_values, out.logits[0, -1]
        whole = time.perf_counter() - start
    return {
        "load_s": load,
        "prefill_short_s": prefill_short,
        "prefill_long_s": prefill_long,
        "long_tokens": len(ids),
        "steps_s": steps,
        "decode_s": whole,
        "tokens": tokens,
        "version": f"transformers {transformers.__version__}, torch {torch.__version__}",
    }


def main() -> None:
    peer, gguf, ids_file, new, threads = sys.argv[1:6]
    ids = json.loads(Path(ids_file).read_text())
    result = {"llama": llama, "hf": hf}[peer](gguf, ids, int(new), int(threads))
    result["peak_rss_mib"] = peak_rss_mib()
    result["threads"] = int(threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
