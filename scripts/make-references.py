#!/usr/bin/env python3
"""Reference outputs of HF transformers (+ sentence-transformers) for the Rust parity tests.

Runs the Python stack the tutorial uses on a fixed set of inputs and writes what it returns to
crates/transformer-nb/tests/reference/all-MiniLM-L6-v2.json, which is committed: CI compares
against it without installing torch.

Usage (needs torch, transformers, sentence-transformers; scripts/make-references.sh makes the
venv and seeds the model cache first):

    HF_HUB_OFFLINE=1 python scripts/make-references.py

To keep the file small, each hidden state and attention map is stored at a few probe
positions (first, middle and last token, every fourth dimension), which is enough to catch
any error in the forward pass, while tokenizer outputs are stored whole.
"""

import json
import os
import platform
import sys
from pathlib import Path

import torch
import transformers
from transformers import AutoTokenizer, BertModel

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
OUT = Path(__file__).resolve().parent.parent / "crates/transformer-nb/tests/reference/all-MiniLM-L6-v2.json"

# A long English text: well over 512 tokens, so truncation shows.
LONG = " ".join(
    ["The quick brown fox jumps over the lazy dog while reading a good novel."] * 60
)

TEXTS = {
    "english": "I read a good novel.",
    "vietnamese": "Tôi đọc một cuốn tiểu thuyết hay.",
    "accents": "Café naïve résumé façade, Ångström über crème brûlée.",
    "cjk": "我喜欢读小说。日本語のテキスト、한국어 문장.",
    "emoji": "I love 🤗 and 🦀 so much!",
    "unknown": "\u2603 \U0001F9EC \ua66e",
    "empty": "",
    "whitespace": "   \t\n  ",
    "subwords": "Tokenization of unbelievably uncharacteristic words",
    "long": LONG,
}
PAIRS = {"pair": ("How old are you?", "I am 25.")}
BATCHES = {"batch": ["short", "a longer one with more words", "I read a good novel.", "Tôi đọc sách."]}
EMBED = [
    "I read a good novel.",
    "I enjoyed a great book.",
    "The stock market fell sharply today.",
    "Tôi đọc một cuốn tiểu thuyết hay.",
    LONG,
]


def rounded(values):
    """Nested lists of floats at 7 significant digits (plenty for a 1e-4 tolerance)."""
    if isinstance(values, list):
        return [rounded(v) for v in values]
    return float(f"{values:.7g}")


def probes(n):
    """Token positions stored for a sequence of n real tokens."""
    return sorted({p for p in (0, n // 2, n - 1) if 0 <= p < n})


# Every fourth hidden dimension: an error in the forward pass shows in all of them.
DIM_STRIDE = 4


def encoding_record(enc, i=None):
    pick = (lambda key: enc[key][i]) if i is not None else (lambda key: enc[key])
    ids = pick("input_ids")
    return {
        "input_ids": ids,
        "token_type_ids": pick("token_type_ids"),
        "attention_mask": pick("attention_mask"),
        "special_tokens_mask": pick("special_tokens_mask"),
        "offsets": [list(o) for o in pick("offset_mapping")],
        "word_ids": enc.word_ids(i or 0),
        "tokens": TOKENIZER.convert_ids_to_tokens(ids),
    }


def model_record(enc):
    """Probed outputs of BertModel for a (possibly batched) encoding."""
    inputs = {k: torch.tensor(enc[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
    if inputs["input_ids"].dim() == 1:
        inputs = {k: v.unsqueeze(0) for k, v in inputs.items()}
    with torch.no_grad():
        out = MODEL(**inputs, output_attentions=True, output_hidden_states=True)
    sequences = []
    for b in range(inputs["input_ids"].shape[0]):
        n = int(inputs["attention_mask"][b].sum())
        rows = probes(n)
        keys = list(range(n)) if n <= 64 else rows
        sequences.append(
            {
                "length": n,
                "positions": rows,
                "keys": keys,
                "dim_stride": DIM_STRIDE,
                # [layer][position][hidden / DIM_STRIDE]
                "hidden_states": [
                    rounded(h[b, rows, ::DIM_STRIDE].tolist()) for h in out.hidden_states
                ],
                # [layer][head][position][key]
                "attentions": [rounded(a[b][:, rows][:, :, keys].tolist()) for a in out.attentions],
                "pooler_output": rounded(out.pooler_output[b].tolist()),
                # Sum of |h| over the real tokens of each layer: catches errors off the probes.
                "hidden_abs_sums": [float(h[b, :n].abs().sum()) for h in out.hidden_states],
            }
        )
    return sequences


def main():
    global TOKENIZER, MODEL
    torch.manual_seed(0)
    TOKENIZER = AutoTokenizer.from_pretrained(MODEL_ID)
    MODEL = BertModel.from_pretrained(MODEL_ID, attn_implementation="eager").eval()
    common = dict(truncation=True, return_special_tokens_mask=True, return_offsets_mapping=True)

    cases = {}
    for name, text in TEXTS.items():
        enc = TOKENIZER(text, **common)
        cases[name] = {"kind": "text", "inputs": [text], **encoding_record(enc)}
        cases[name]["model"] = model_record(enc)
    for name, (a, b) in PAIRS.items():
        enc = TOKENIZER(a, b, **common)
        cases[name] = {"kind": "pair", "inputs": [a, b], **encoding_record(enc)}
        cases[name]["model"] = model_record(enc)
    for name, texts in BATCHES.items():
        enc = TOKENIZER(texts, padding=True, **common)
        cases[name] = {
            "kind": "batch",
            "inputs": texts,
            "encodings": [encoding_record(enc, i) for i in range(len(texts))],
            "model": model_record(enc),
        }

    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(MODEL_ID, device="cpu")
    embeddings = st.encode(EMBED, convert_to_numpy=True)

    reference = {
        "model_id": MODEL_ID,
        "made_with": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": __import__("sentence_transformers").__version__,
            "command": "HF_HUB_OFFLINE=1 python scripts/make-references.py",
        },
        "model_max_length": TOKENIZER.model_max_length,
        "cases": cases,
        "embeddings": {
            "texts": EMBED,
            "max_seq_length": st.max_seq_length,
            "vectors": rounded(embeddings.tolist()),
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(reference, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB)", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
