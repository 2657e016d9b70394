#!/usr/bin/env bash
# The main job: set up the Rust kernel (scripts/setup.sh) and run the tutorial notebooks top to
# bottom on the offline default model; the executed notebooks, with their tables and plots,
# are written to out/notebooks/.
#
# Usage: scripts/tutorial.sh          run them headless
#        scripts/tutorial.sh --lab    then open JupyterLab on them
# Set TRANSFORMER_NB_MODEL to use another model (e.g. bert-base-cased, where the Hub is reachable).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
.venv/bin/python scripts/run-notebooks.py --out out/notebooks \
  notebooks/00-tutorial.ipynb notebooks/vi/00-huong-dan.ipynb notebooks/01-tokenization.ipynb \
  notebooks/02-positional-encoding.ipynb notebooks/03-bert-forward.ipynb \
  notebooks/04-sentence-embeddings.ipynb notebooks/05-explore-attention.ipynb \
  notebooks/vi/05-kham-pha-attention.ipynb notebooks/06-generate-text.ipynb \
  notebooks/vi/06-sinh-van-ban.ipynb
echo "tutorial: executed notebooks are in $(pwd)/out/notebooks"
if [ "${1:-}" = "--lab" ]; then
  exec .venv/bin/jupyter lab notebooks/
fi
