# shellcheck shell=bash
# Sourced by scripts/bench.sh and scripts/make-references.sh: the Python peer environment.
#
# python_peer_env: makes .cache/venv-reference with pinned torch, transformers,
# sentence-transformers, gguf and accelerate (transformers' GGUF loader) and ONNX Runtime (with
# the ONNX exporter's packages) from PyPI if it is not there or lacks one of them, and prints its
# python.
python_peer_env() {
  local venv=.cache/venv-reference
  if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv (torch, transformers, sentence-transformers, gguf, onnxruntime; several GB)" >&2
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c 'import torch, transformers, sentence_transformers, gguf, accelerate, onnxruntime, onnxscript' 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      torch==2.15.0 transformers==5.24.0 sentence-transformers==6.2.0 numpy \
      gguf==0.19.0 accelerate==1.16.0 \
      onnxruntime==1.32.0 onnx==1.23.2 onnxscript==0.7.2 >&2
  fi
  echo "$venv/bin/python"
}
