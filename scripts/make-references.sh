#!/usr/bin/env bash
# Regenerates crates/transformer-nb/tests/reference/*.json with the Python stack.
#
# Makes a virtual environment (.cache/venv-reference) with pinned torch, transformers and
# sentence-transformers from PyPI (several GB: only for maintainers, CI never runs this), seeds
# the model cache, and runs scripts/make-references.py offline.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/python-peer.sh

python=$(python_peer_env)
scripts/fetch-model.sh
HF_HUB_OFFLINE=1 "$python" scripts/make-references.py
