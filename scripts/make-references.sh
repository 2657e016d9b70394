#!/usr/bin/env bash
# Regenerates crates/transformer-nb/tests/reference/*.json with the Python stack.
#
# Makes a virtual environment (.cache/venv-reference) with pinned torch, transformers,
# sentence-transformers and gguf from PyPI (several GB: only for maintainers, CI never runs this),
# seeds the model cache (scripts/fetch-model.sh: all-MiniLM-L6-v2, SmolLM2-135M-Instruct's GGUF
# and GPT-2's vocab.json/merges.txt), and runs scripts/make-references.py offline.
#
# Usage: scripts/make-references.sh [--only minilm|decoders|smollm2|gpt2]   (default: every file)
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/python-peer.sh

python=$(python_peer_env)
scripts/fetch-model.sh
HF_HUB_OFFLINE=1 "$python" scripts/make-references.py "$@"
