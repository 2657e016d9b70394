#!/usr/bin/env bash
# Regenerates crates/transformer-nb/tests/reference/*.json with the Python stack.
#
# Makes a virtual environment (.cache/venv-reference) with pinned torch, transformers and
# sentence-transformers from PyPI (several GB: only for maintainers, CI never runs this), seeds
# the model cache, and runs scripts/make-references.py offline.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.cache/venv-reference
if [ ! -x "$venv/bin/python" ]; then
  echo "make-references: creating $venv (torch, transformers, sentence-transformers)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    torch==2.15.0 transformers==5.24.0 sentence-transformers==6.2.0
fi
scripts/fetch-model.sh
HF_HUB_OFFLINE=1 "$venv/bin/python" scripts/make-references.py
