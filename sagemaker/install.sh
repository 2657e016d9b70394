#!/usr/bin/env bash
# The transformer-nb installer on SageMaker, run in the background by the lifecycle scripts: on
# a notebook instance as ec2-user (on-create.sh, on-start.sh), in a Studio JupyterLab space as
# sagemaker-user (studio/on-start.sh). Its output goes to install.log in its folder.
#
# Everything it installs lives in one folder that survives a restart, TRANSFORMER_NB_HOME
# (~/SageMaker/.transformer-nb on a notebook instance, ~/.transformer-nb in Studio, whose whole
# home persists): the Rust toolchain (RUSTUP_HOME, CARGO_HOME), evcxr_jupyter, the model cache
# (HF_HOME) and other tools' caches (XDG_CACHE_HOME). The kernelspec, which lives in ~/.local
# and is wiped by a notebook instance's restart, is registered again by `install.sh --register`.
#
# Usage: install.sh             full install (idempotent: finished steps are skipped); on an
#                               instance installed before, it brings the kernel up to the
#                               build that scripts/versions.env pins, and the kernel works
#                               meanwhile
#        install.sh --register  only (re)register the kernelspec, if the kernel is installed
#        install.sh --current   exits 0 when the kernel is installed, warm, and that build
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# RUST_TOOLCHAIN and the evcxr_jupyter version: one place for setup, tests and this installer.
# shellcheck source=../scripts/versions.env
. "$repo/scripts/versions.env"
persist=${TRANSFORMER_NB_HOME:-$HOME/SageMaker/.transformer-nb}
status_file=${TRANSFORMER_NB_STATUS_FILE:-$HOME/SageMaker/TRANSFORMER-NB-STATUS.txt}
jupyter_env=${TRANSFORMER_NB_JUPYTER_ENV:-$HOME/anaconda3/envs/JupyterSystemEnv}
rustup_init_url=${TRANSFORMER_NB_RUSTUP_INIT_URL:-https://sh.rustup.rs}

export RUSTUP_HOME=$persist/rustup
export CARGO_HOME=$persist/cargo
export HF_HOME=$persist/huggingface
export XDG_CACHE_HOME=$persist/cache
export PATH=$CARGO_HOME/bin:$jupyter_env/bin:$PATH
export PYTHON=$jupyter_env/bin/python

status() {
  printf '%s\n\n%s\nLog: %s/install.log\nUpdated: %s\n' "$1" "$2" "$persist" "$(date -u +%FT%TZ)" >"$status_file"
  echo "install: $1 — $2"
}

installed() { [ -x "$CARGO_HOME/bin/evcxr_jupyter" ] && [ -f "$persist/installed" ]; }
warm() { installed && [ -f "$persist/warm" ]; }
# The kernel this repository pins (an instance installed before a change of it has another).
current() { warm && "$repo/scripts/install-evcxr.sh" --check; }

mkdir -p "$persist"
case "${1:-}" in
  --register)
    if installed; then
      "$repo/scripts/setup.sh" --jupyter "$jupyter_env/bin" --kernelspec-only
      status "READY" "The \"Rust (transformer-nb)\" kernel is installed. Open notebooks in $repo/notebooks."
    fi
    exit 0
    ;;
  --current)
    current
    exit
    ;;
esac

updating=0
# A step that fails ends the install (set -e); the status then says so and points at the log
# instead of staying at INSTALLING. A failed update leaves the kernel that works.
failed() {
  local code=$?
  if [ "$updating" = 1 ]; then
    status "READY" "The \"Rust (transformer-nb)\" kernel is installed, but building its build pinned in scripts/versions.env ($EVCXR_JUPYTER_BUILD) failed (exit status $code); the end of the log says which step. The next start tries again."
  else
    status "FAILED" "The install stopped with an error (exit status $code); the end of the log says which step. Restarting the notebook instance (or the Studio space) tries again, from the step that failed."
  fi
}
set -E
trap failed ERR
if warm; then
  # Installed and warm on an earlier start: only the kernel's build is not the pinned one.
  updating=1
  status "UPDATING" "The \"Rust (transformer-nb)\" kernel works; its build pinned in scripts/versions.env ($EVCXR_JUPYTER_BUILD) is being built (about 12 CPU-minutes). Notebooks started or restarted after that use it."
else
  status "INSTALLING" "transformer-nb is being installed (Rust toolchain, evcxr kernel, model, the kernel's first build). This takes about 20 minutes on ml.t3.medium; the kernel appears in the launcher when it is ready."
fi

# The instance may have no internet access: say what is unreachable instead of failing later.
# Comma-separated, so that the list passes through `env` in the lifecycle scripts unquoted.
check_urls=${TRANSFORMER_NB_CHECK_URLS:-"$rustup_init_url,https://static.rust-lang.org,https://index.crates.io/config.json,https://pypi.org/simple/pip/"}
unreachable=
for url in ${check_urls//,/ }; do
  case "$url" in file://*) continue ;; esac
  curl --silent --show-error --fail --max-time 15 --output /dev/null "$url" 2>/dev/null || unreachable="$unreachable $url"
done
if [ -n "$unreachable" ] && [ "$updating" = 1 ]; then
  status "READY" "The \"Rust (transformer-nb)\" kernel is installed, but not its build pinned in scripts/versions.env ($EVCXR_JUPYTER_BUILD): these could not be reached to build it:$unreachable. The next start tries again."
  exit 0
elif [ -n "$unreachable" ]; then
  status "NOT INSTALLED: NO INTERNET" "The kernel was not installed because these could not be reached:$unreachable. Give the notebook instance (or the Studio domain) internet access, or a VPC with a NAT gateway, and restart it."
  exit 0
fi

if [ ! -x "$CARGO_HOME/bin/rustup" ]; then
  echo "install: Rust $RUST_TOOLCHAIN (minimal profile) from $rustup_init_url"
  curl --proto '=https,file' --tlsv1.2 -sSf "$rustup_init_url" |
    sh -s -- -y --no-modify-path --profile minimal --default-toolchain "$RUST_TOOLCHAIN"
fi
if ! rustup component list --installed --toolchain "$RUST_TOOLCHAIN" 2>/dev/null | grep -q '^rust-src'; then
  rustup toolchain install "$RUST_TOOLCHAIN" --profile minimal --component rust-src
fi
rustup default "$RUST_TOOLCHAIN"

# evcxr's prebuilt binaries need a newer glibc than Amazon Linux 2 has: setup.sh builds it.
"$repo/scripts/setup.sh" --jupyter "$jupyter_env/bin" --no-warm
touch "$persist/installed"

if [ "$updating" = 0 ]; then
  status "WARMING UP" "The kernel is installed; its first build folder is being built so that the first notebook does not wait for a cold build. A notebook opened now works but its first cell may take several minutes."
  "$repo/scripts/setup.sh" --jupyter "$jupyter_env/bin" --kernelspec-only --display-name "Rust (transformer-nb) — warming up, see ${status_file/#$HOME/\~}"
fi
# The same warm-up as scripts/setup.sh: the kernel's first build slot, through the same launcher.
HF_HUB_OFFLINE=1 "$PYTHON" "$repo/scripts/warm-kernel.py"
"$repo/scripts/setup.sh" --jupyter "$jupyter_env/bin" --kernelspec-only
touch "$persist/warm"
status "READY" "The \"Rust (transformer-nb)\" kernel is installed and warm. Open notebooks in $repo/notebooks."
du -sh "$RUSTUP_HOME" "$CARGO_HOME" "$HF_HOME" "$repo/.cache/kernel" 2>/dev/null || true
