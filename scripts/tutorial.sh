#!/usr/bin/env bash
# The main job: the tutorial's walkthrough on the offline default model, outputs in out/.
#
# Usage: scripts/tutorial.sh [MODEL_ID]     (default: sentence-transformers/all-MiniLM-L6-v2)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-model.sh
mkdir -p out
model=${1:-${TRANSFORMER_NB_MODEL:-sentence-transformers/all-MiniLM-L6-v2}}
(cd out && HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} cargo run --quiet --release --locked \
  --manifest-path ../Cargo.toml --example tutorial -- "$model")
echo "tutorial: plots written to $(pwd)/out"
