#!/usr/bin/env python3
"""Reference outputs of HF transformers (+ sentence-transformers) for the Rust parity tests.

Runs the Python stack the tutorial uses on a fixed set of inputs and writes what it returns to
crates/transformer-nb/tests/reference/all-MiniLM-L6-v2.json, which is committed: CI compares
against it without installing torch.

No masked-LM weights are reachable offline, so the fill-mask references come from a small
BertForMaskedLM (MiniLM's vocabulary, 2 layers of 32) whose weights are a seeded stream of a
64-bit LCG that the Rust tests reproduce bit for bit (tests/util/mod.rs, `write_seeded_masked_lm`):
the weights are never stored, only what HF computes with them
(tests/reference/masked-lm-seeded.json).

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
MLM_OUT = OUT.parent / "masked-lm-seeded.json"

# The seeded masked LM: sizes, seed and inputs (the Rust side has the same numbers).
MLM_SIZES = dict(hidden=32, heads=4, layers=2, intermediate=64, positions=64)
MLM_SEED = 7
MLM_TEXTS = [
    "I read a good [MASK].",
    "The cat sat on the [MASK] because it was [MASK].",
    "[MASK]",
    "Tôi đọc một cuốn [MASK] hay.",
]
MLM_TOP_K = 5
# Logits are stored at every MLM_PROBE-th vocabulary id (and at the top ones), not all 30,522.
MLM_PROBE = 97

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
    masked_lm_reference()


class Lcg:
    """The deterministic stream of tests/util/mod.rs: f32 values in [-1, 1)."""

    def __init__(self, seed: int):
        self.state = seed

    def values(self, n: int):
        import numpy as np

        out = np.empty(n, dtype=np.float32)
        state = self.state
        mask = (1 << 64) - 1
        for i in range(n):
            state = (state * 6364136223846793005 + 1442695040888963407) & mask
            out[i] = (state >> 40) / float(1 << 24) * 2.0 - 1.0
        self.state = state
        return out


def masked_lm_shapes(vocab: int, s: dict) -> list:
    """Every tensor of the seeded BertForMaskedLM in generation order, as the Rust side lists them."""
    h, i = s["hidden"], s["intermediate"]
    shapes = [
        ("bert.embeddings.word_embeddings.weight", [vocab, h]),
        ("bert.embeddings.position_embeddings.weight", [s["positions"], h]),
        ("bert.embeddings.token_type_embeddings.weight", [2, h]),
        ("bert.embeddings.LayerNorm.weight", [h]),
        ("bert.embeddings.LayerNorm.bias", [h]),
    ]
    for layer in range(s["layers"]):
        p = f"bert.encoder.layer.{layer}"
        for name, shape in [
            ("attention.self.query.weight", [h, h]), ("attention.self.query.bias", [h]),
            ("attention.self.key.weight", [h, h]), ("attention.self.key.bias", [h]),
            ("attention.self.value.weight", [h, h]), ("attention.self.value.bias", [h]),
            ("attention.output.dense.weight", [h, h]), ("attention.output.dense.bias", [h]),
            ("attention.output.LayerNorm.weight", [h]), ("attention.output.LayerNorm.bias", [h]),
            ("intermediate.dense.weight", [i, h]), ("intermediate.dense.bias", [i]),
            ("output.dense.weight", [h, i]), ("output.dense.bias", [h]),
            ("output.LayerNorm.weight", [h]), ("output.LayerNorm.bias", [h]),
        ]:
            shapes.append((f"{p}.{name}", shape))
    shapes += [
        ("cls.predictions.transform.dense.weight", [h, h]),
        ("cls.predictions.transform.dense.bias", [h]),
        ("cls.predictions.transform.LayerNorm.weight", [h]),
        ("cls.predictions.transform.LayerNorm.bias", [h]),
        ("cls.predictions.bias", [vocab]),
    ]
    return shapes


def masked_lm_reference():
    import numpy as np
    from transformers import BertConfig, BertForMaskedLM

    # MiniLM's own tokenizer (its vocabulary is what the seeded model's embeddings cover).
    tokenizer = TOKENIZER
    vocab = len(tokenizer)
    s = MLM_SIZES
    config = BertConfig(
        vocab_size=vocab, hidden_size=s["hidden"], num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"], intermediate_size=s["intermediate"],
        max_position_embeddings=s["positions"], hidden_act="gelu", layer_norm_eps=1e-12,
        type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        tie_word_embeddings=True,
    )
    model = BertForMaskedLM(config).eval()
    model.config._attn_implementation = "eager"
    rng = Lcg(MLM_SEED)
    state = {}
    for name, shape in masked_lm_shapes(vocab, s):
        values = rng.values(int(np.prod(shape)))
        if name.endswith("LayerNorm.weight"):
            values = np.float32(1.0) + np.float32(0.1) * values
        else:
            values = np.float32(0.5) * values
        state[name] = torch.from_numpy(values.astype(np.float32).reshape(shape))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # The decoder is tied to the word embeddings and its bias to cls.predictions.bias.
    assert not unexpected, unexpected
    assert set(missing) <= {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "bert.embeddings.position_ids"}, missing
    model.tie_weights()
    assert torch.equal(model.cls.predictions.decoder.weight, state["bert.embeddings.word_embeddings.weight"])

    cases = []
    with torch.no_grad():
        for text in MLM_TEXTS:
            enc = tokenizer(text, return_tensors="pt")
            out = model(**enc, output_hidden_states=True)
            ids = enc["input_ids"][0].tolist()
            masks = [i for i, t in enumerate(ids) if t == tokenizer.mask_token_id]
            record = {"text": text, "ids": ids, "masks": masks, "logits": [], "top": [], "layers": []}
            for position in masks:
                logits = out.logits[0, position]
                probs = logits.softmax(-1)
                top = probs.topk(MLM_TOP_K)
                record["top"].append([
                    [tokenizer.convert_ids_to_tokens(int(i)), float(p)]
                    for p, i in zip(top.values, top.indices)
                ])
                probe_ids = sorted(set(range(0, vocab, MLM_PROBE)) | set(top.indices.tolist()))
                record["logits"].append({
                    "ids": probe_ids,
                    "values": rounded(logits[probe_ids].tolist()),
                })
                per_layer = []
                for hidden in out.hidden_states:
                    layer_logits = model.cls(hidden)[0, position]
                    layer_top = layer_logits.softmax(-1).topk(MLM_TOP_K)
                    per_layer.append([
                        [tokenizer.convert_ids_to_tokens(int(i)), float(p)]
                        for p, i in zip(layer_top.values, layer_top.indices)
                    ])
                record["layers"].append(per_layer)
            cases.append(record)
    reference = {
        "about": "HF BertForMaskedLM with seeded LCG weights (see scripts/make-references.py)",
        "made_with": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "command": "HF_HUB_OFFLINE=1 python scripts/make-references.py",
        },
        "sizes": s,
        "seed": MLM_SEED,
        "vocab_size": vocab,
        "top_k": MLM_TOP_K,
        "cases": cases,
    }
    MLM_OUT.write_text(json.dumps(reference, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {MLM_OUT} ({MLM_OUT.stat().st_size // 1024} KiB)", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
