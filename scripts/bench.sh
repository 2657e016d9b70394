#!/usr/bin/env bash
# Side-by-side benchmark of the BERT forward pass: transformer-nb against PyTorch + transformers,
# alternating, same inputs, same thread count. Prints a table and writes out/bench/results.{md,json}.
#
# Usage: scripts/bench.sh [--threads N] [--rounds N] [--quick] [--no-candle] [--notebook]
#
# --notebook also times the same forward passes from a cell of the transformer-nb Jupyter kernel
# against the release build (scripts/bench/notebook.py; needs scripts/setup.sh to have run).
#
# Makes its Python environment (.cache/venv-reference: torch, transformers, several GB from PyPI,
# shared with scripts/make-references.sh), seeds the model cache, builds the Rust worker
# (crates/transformer-nb/benches/forward.rs) with the bench profile, then runs
# scripts/bench/bench.py. Tests never run this: benchmarks measure, tests check behaviour.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python-peer.sh

notebook=false
args=()
for arg in "$@"; do
  case $arg in
    --notebook) notebook=true ;;
    *) args+=("$arg") ;;
  esac
done

python=$(python_peer_env)
PYTHON=$python scripts/fetch-model.sh
echo "bench: building the Rust worker (release)" >&2
worker=$(cargo bench --bench forward --no-run --message-format=json 2>/dev/null \
  | "$python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "forward" and m.get("executable"):
        print(m["executable"])')
[ -x "$worker" ] || { echo "bench: could not build the worker" >&2; exit 1; }
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
"$python" scripts/bench/bench.py --worker "$worker" "${args[@]}"
if $notebook; then
  minilm=$("$python" -c 'from huggingface_hub import snapshot_download as s
print(s("sentence-transformers/all-MiniLM-L6-v2", local_files_only=True))')
  PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" .venv/bin/python scripts/bench/notebook.py \
    --worker "$worker" --minilm "$minilm" --bert-base .cache/bench/bert-base-random
fi
