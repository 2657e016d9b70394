#!/usr/bin/env bash
# Installs the Rust kernel for Jupyter and everything the notebooks and their tests need.
#
#   - the Rust component rust-src (evcxr needs it)
#   - evcxr_jupyter 0.22.0, built with `cargo install --locked` (skipped when present)
#   - .venv: JupyterLab 4, nbclient, pytest, selenium, websocket-client (tests)
#   - .venv-lab3: JupyterLab 3.6, the version of the original tutorial (compatibility test)
#   - Debian's chromium + chromium-driver for the browser test (when root with apt-get)
#   - the offline model (scripts/fetch-model.sh)
#   - the kernelspec "transformer-nb" ("Rust (transformer-nb)") in the user's Jupyter data dir
#   - a pre-warmed evcxr compile cache: notebooks/00-tutorial.ipynb is run once, headless
#
# Usage: scripts/setup.sh [--no-warm] [--no-browser] [--jupyter BIN_DIR] [--kernelspec-only]
#                         [--display-name NAME]
#   --jupyter BIN_DIR  use an existing Jupyter (its bin/ folder, with nbclient) instead of making
#                      .venv and .venv-lab3; no browser either (what SageMaker's lifecycle uses)
#   --kernelspec-only  only (re)write the kernelspec; evcxr_jupyter must be installed
#   --display-name     the name the launcher shows (default "Rust (transformer-nb)")
# Locations follow the environment: CARGO_HOME, RUSTUP_HOME, HF_HOME and XDG_CACHE_HOME (the
# evcxr compile cache) are recorded in the kernelspec so the kernel finds them.
# Safe to run again: every step checks whether it is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

warm=1
browser=1
jupyter_bin=
kernelspec_only=0
display_name="Rust (transformer-nb)"
while [ $# -gt 0 ]; do
  case "$1" in
    --kernelspec-only) kernelspec_only=1 ;;
    --display-name) display_name=${2:?--display-name needs a name}; shift ;;
    --no-warm) warm=0 ;;
    --no-browser) browser=0 ;;
    --jupyter) jupyter_bin=${2:?--jupyter needs a folder}; shift; browser=0 ;;
    *) echo "setup: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

EVCXR_VERSION=0.22.0
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
step() { printf '\n== setup: %s\n' "$*"; }

if [ "$kernelspec_only" = 0 ]; then
  step "Rust component rust-src"
  if command -v rustup >/dev/null 2>&1; then
    rustup component add rust-src
  fi

  step "evcxr_jupyter $EVCXR_VERSION"
  if command -v evcxr_jupyter >/dev/null 2>&1 &&
    [ "$(cargo install --list | grep -c "^evcxr_jupyter v$EVCXR_VERSION:")" = 1 ]; then
    echo "already installed: $(command -v evcxr_jupyter)"
  elif [ -n "${TRANSFORMER_NB_EVCXR_BINARY:-}" ]; then
    # A stand-in for the build, for tests and offline installs: a binary built elsewhere.
    echo "copying $TRANSFORMER_NB_EVCXR_BINARY"
    mkdir -p "${CARGO_HOME:-$HOME/.cargo}/bin"
    install -m 755 "$TRANSFORMER_NB_EVCXR_BINARY" "${CARGO_HOME:-$HOME/.cargo}/bin/evcxr_jupyter"
  else
    echo "building it (about 12 CPU-minutes)"
    cargo install --locked "evcxr_jupyter@$EVCXR_VERSION"
  fi
fi
evcxr=$(command -v evcxr_jupyter) || { echo "setup: evcxr_jupyter is not installed" >&2; exit 1; }

if [ -n "$jupyter_bin" ]; then
  step "using the Jupyter in $jupyter_bin"
  py="$jupyter_bin/python"
  jupyter="$jupyter_bin/jupyter"
else
  step "Python environment .venv (JupyterLab 4, nbclient, pytest, selenium)"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  py=.venv/bin/python
  jupyter=.venv/bin/jupyter
fi

if [ -z "$jupyter_bin" ] && [ "$kernelspec_only" = 0 ]; then
  step "Python environment .venv-lab3 (JupyterLab 3.6, for the compatibility test)"
  if [ ! -x .venv-lab3/bin/python ]; then
    python3 -m venv .venv-lab3
  fi
  .venv-lab3/bin/pip install --quiet --disable-pip-version-check "jupyterlab==3.6.*"
fi

if [ "$browser" = 1 ] && [ "$kernelspec_only" = 0 ]; then
  step "Chromium and ChromeDriver (Debian packages)"
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "already installed: $(/usr/bin/chromium --version 2>/dev/null)"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "skipped: install Debian's chromium and chromium-driver to run the browser test"
  fi
fi

if [ "$kernelspec_only" = 0 ]; then
  step "offline model"
  scripts/fetch-model.sh
fi

step "kernelspec transformer-nb"
spec=$(mktemp -d)
trap 'rm -rf "$spec"' EXIT
mkdir -p "$spec/transformer-nb"
# Jupyter may be started without cargo on PATH (a desktop launcher, SageMaker's conda env),
# so the kernelspec carries the environment the kernel needs.
"$py" - "$spec/transformer-nb/kernel.json" "$evcxr" "$(command -v cargo)" "$repo/kernel" "$display_name" <<'PY'
import json, os, sys
path, evcxr, cargo, config_dir, display_name = sys.argv[1:]
# evcxr runs cargo and rustc: both directories go on the kernel's PATH (usually one, ~/.cargo/bin).
bins = list(dict.fromkeys([os.path.dirname(evcxr), os.path.dirname(cargo)]))
env = {
    "PATH": os.pathsep.join(bins + ["/usr/local/bin", "/usr/bin", "/bin"]),
    "EVCXR_CONFIG_DIR": config_dir,
}
for name in ("RUSTUP_HOME", "CARGO_HOME", "HF_HOME", "XDG_CACHE_HOME"):
    if os.environ.get(name):
        env[name] = os.environ[name]
spec = {
    "argv": [evcxr, "--control_file", "{connection_file}"],
    "display_name": display_name,
    "language": "rust",
    "interrupt_mode": "message",
    "env": env,
}
with open(path, "w") as f:
    json.dump(spec, f, indent=1)
PY
"$jupyter" kernelspec install --user --name transformer-nb "$spec/transformer-nb" >/dev/null
"$jupyter" kernelspec list | grep transformer-nb

if [ "$warm" = 1 ] && [ "$kernelspec_only" = 0 ]; then
  step "pre-warming the kernel's compile cache (first run: several minutes)"
  HF_HUB_OFFLINE=1 "$py" scripts/run-notebooks.py --out .cache/warm notebooks/00-tutorial.ipynb
fi
echo
echo "setup: done. Start JupyterLab with: $jupyter lab notebooks/"
