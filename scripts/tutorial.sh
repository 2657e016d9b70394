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
# Every committed notebook, in order, the English one before its Vietnamese twin.
notebooks=()
for nb in notebooks/[0-9]*.ipynb; do
  notebooks+=("$nb")
  number=$(basename "$nb" | cut -c1-2)
  for twin in notebooks/vi/"$number"-*.ipynb; do
    [ -e "$twin" ] && notebooks+=("$twin")
  done
done
.venv/bin/python scripts/run-notebooks.py --out out/notebooks "${notebooks[@]}"
echo "tutorial: executed notebooks are in $(pwd)/out/notebooks"
if [ "${1:-}" = "--lab" ]; then
  exec .venv/bin/jupyter lab notebooks/
fi
