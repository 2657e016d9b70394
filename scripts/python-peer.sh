# shellcheck shell=bash
# Sourced by scripts/bench.sh and scripts/make-references.sh: the Python peer environment.
#
# python_peer_env: makes .cache/venv-reference with pinned torch, transformers and
# sentence-transformers from PyPI if it is not there, and prints its python.
python_peer_env() {
  local venv=.cache/venv-reference
  if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv (torch, transformers, sentence-transformers; several GB)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      torch==2.15.0 transformers==5.24.0 sentence-transformers==6.2.0 numpy >&2
  fi
  echo "$venv/bin/python"
}
