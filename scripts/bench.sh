#!/usr/bin/env bash
# Side-by-side benchmarks, alternating, same inputs, same thread count:
# - the encoder: the BERT forward pass against PyTorch + transformers (and ONNX Runtime, candle);
#   out/bench/results.{md,json};
# - the decoder: SmolLM2-135M-Instruct's GGUF against llama.cpp and HF transformers (prefill of
#   64 and 512 tokens, 128 greedy tokens decoded with the KV cache, peak memory;
#   scripts/bench/decoder.py); out/bench/decoder.{md,json}.
#
# Usage: scripts/bench.sh [--encoder | --decoder] [--threads N] [--rounds N] [--quick]
#                         [--no-candle] [--notebook]
#
# --encoder or --decoder runs only those cases (both by default). The decoder cases build
# llama.cpp from llama-cpp-python's source distribution on PyPI into their own venv
# (.cache/venv-llama, with cmake from PyPI and the machine's C++ compiler; several minutes the
# first time). Its native build (GGML_NATIVE) faults in batched decoding on this project's KVM
# guests (in its AMX path), so it is built for the instruction sets /proc/cpuinfo reports,
# AMX off. Nothing of this is needed by the main job or the tests.
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
encoder=true
decoder=true
threads=2
args=()
previous=
for arg in "$@"; do
  case $arg in
    --notebook) notebook=true ;;
    --encoder) decoder=false ;;
    --decoder) encoder=false ;;
    *) args+=("$arg") ;;
  esac
  [ "$previous" = --threads ] && threads=$arg
  previous=$arg
done

# llama.cpp for the decoder cases, built for this CPU's instruction sets (see the header).
llama_env() {
  local venv=.cache/venv-llama version=0.3.36
  if ! "$venv/bin/python" -c "import llama_cpp; assert llama_cpp.__version__ == '$version'" 2>/dev/null; then
    echo "bench: building llama-cpp-python $version from source into $venv (several minutes)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check cmake ninja scikit-build-core numpy >&2
    local flags=(-DGGML_NATIVE=OFF -DGGML_OPENMP=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
    local cpu_flags
    cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo)
    local pair
    for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C avx512f:AVX512 avx512vbmi:AVX512_VBMI \
        avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16 avx_vnni:AVX_VNNI; do
      if [[ " $cpu_flags " == *" ${pair%%:*} "* ]]; then
        flags+=("-DGGML_${pair#*:}=ON")
      else
        flags+=("-DGGML_${pair#*:}=OFF")
      fi
    done
    CMAKE_ARGS="${flags[*]}" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
      "$venv/bin/pip" install --quiet --disable-pip-version-check \
      --no-binary llama-cpp-python "llama-cpp-python==$version" >&2
  fi
  echo "$venv/bin/python"
}

python=$(python_peer_env)
PYTHON=$python scripts/fetch-model.sh
# The bench profile's executable of bench target $1 (with the tuning knobs: Cargo.toml's
# bench-knobs feature).
bench_worker() {
  cargo bench -p transformer-nb --features bench-knobs --bench "$1" --no-run --message-format=json 2>/dev/null \
    | "$python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$1"
}
echo "bench: building the Rust workers (release)" >&2
worker=$(bench_worker forward)
[ -x "$worker" ] || { echo "bench: could not build the worker" >&2; exit 1; }
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
if $encoder; then
  "$python" scripts/bench/bench.py --worker "$worker" "${args[@]}"
fi
if $decoder; then
  decoder_worker=$(bench_worker decoder)
  [ -x "$decoder_worker" ] || { echo "bench: could not build the decoder worker" >&2; exit 1; }
  llama_python=$(llama_env)
  gguf=$("$python" -c 'from huggingface_hub import hf_hub_download as d
print(d("HuggingFaceTB/SmolLM2-135M-Instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", local_files_only=True))')
  rounds=3
  previous=
  for arg in "${args[@]}"; do
    [ "$previous" = --rounds ] && rounds=$arg
    previous=$arg
  done
  "$python" scripts/bench/decoder.py --worker "$decoder_worker" --forward-worker "$worker" \
    --gguf "$gguf" --llama-python "$llama_python" --hf-python "$python" \
    --threads "$threads" --rounds "$rounds"
fi
if $notebook; then
  minilm=$("$python" -c 'from huggingface_hub import snapshot_download as s
print(s("sentence-transformers/all-MiniLM-L6-v2", local_files_only=True))')
  PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" .venv/bin/python scripts/bench/notebook.py \
    --worker "$worker" --minilm "$minilm" --bert-base .cache/bench/bert-base-random
fi
