#!/usr/bin/env bash
# Installs what the main job needs: the Rust kernel for Jupyter, JupyterLab 4, the offline model,
# and a warm build for the kernel. (The test-only tools, Chromium, ChromeDriver, JupyterLab 3.6,
# selenium and shellcheck, are installed by scripts/test.sh.)
#
#   - the Rust component rust-src (evcxr needs it)
#   - evcxr_jupyter (version in scripts/versions.env) with our patch, scripts/install-evcxr.sh,
#     skipped when that build is installed
#   - .venv: JupyterLab 4 and nbclient (scripts/requirements.txt)
#   - the offline model (scripts/fetch-model.sh)
#   - the library's crates (`cargo fetch --locked`): the kernel resolves them offline
#   - the kernelspec "transformer-nb" ("Rust (transformer-nb)") in the user's Jupyter data dir:
#     kernel/launch.sh, init.evcxr, warm-up.evcxr and notice-mold copied into it (see launch.sh)
#   - the warm-up (scripts/warm-kernel.py): one kernel `:dep`s the library, which builds the
#     kernel's first build slot (.cache/kernel/slot-1); a later kernel's new slot is a copy of it
#
# Usage: scripts/setup.sh [--no-warm] [--jupyter BIN_DIR] [--kernelspec-only]
#                         [--display-name NAME]
#   --jupyter BIN_DIR  use an existing Jupyter (its bin/ folder, with nbclient) instead of making
#                      .venv (what SageMaker's lifecycle uses)
#   --kernelspec-only  only (re)write the kernelspec; evcxr_jupyter must be installed
#   --display-name     the name the launcher shows (default "Rust (transformer-nb)")
# Locations follow the environment: CARGO_HOME, RUSTUP_HOME, HF_HOME and XDG_CACHE_HOME are
# recorded in the kernelspec so the kernel finds them.
# Safe to run again: every step checks whether it is already done. Run from another checkout, it
# points the kernel at that checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
# shellcheck source=versions.env
. scripts/versions.env

warm=1
jupyter_bin=
kernelspec_only=0
display_name="Rust (transformer-nb)"
while [ $# -gt 0 ]; do
  case "$1" in
    --kernelspec-only) kernelspec_only=1 ;;
    --display-name) display_name=${2:?--display-name needs a name}; shift ;;
    --no-warm) warm=0 ;;
    --no-browser) ;; # accepted for old callers: the browser is the test command's now
    --jupyter) jupyter_bin=${2:?--jupyter needs a folder}; shift ;;
    *) echo "setup: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
step() { printf '\n== setup: %s\n' "$*"; }

# The Python environment and the offline model are downloads; while evcxr_jupyter builds (minutes
# of both cores) they run beside it, their output held back until the build is done.
python_env() {
  if [ -n "$jupyter_bin" ]; then
    step "using the Jupyter in $jupyter_bin"
  else
    step "Python environment .venv (JupyterLab 4, nbclient)"
    if [ ! -x .venv/bin/python ]; then
      python3 -m venv .venv
    fi
    .venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
  fi
  if [ "$kernelspec_only" = 0 ]; then
    step "offline model"
    scripts/fetch-model.sh
  fi
}
if [ -n "$jupyter_bin" ]; then
  py="$jupyter_bin/python"
  jupyter="$jupyter_bin/jupyter"
else
  py=.venv/bin/python
  jupyter=.venv/bin/jupyter
fi

downloads_pid=
if [ "$kernelspec_only" = 0 ]; then
  step "Rust component rust-src"
  if command -v rustup >/dev/null 2>&1; then
    rustup component add rust-src
  fi

  step "evcxr_jupyter $EVCXR_JUPYTER_BUILD"
  if command -v evcxr_jupyter >/dev/null 2>&1 && scripts/install-evcxr.sh --check; then
    echo "already installed: $(command -v evcxr_jupyter)"
  elif [ -n "${TRANSFORMER_NB_EVCXR_BINARY:-}" ]; then
    # A stand-in for the build, for tests and offline installs: a binary built elsewhere.
    echo "copying $TRANSFORMER_NB_EVCXR_BINARY"
    mkdir -p "${CARGO_HOME:-$HOME/.cargo}/bin"
    install -m 755 "$TRANSFORMER_NB_EVCXR_BINARY" "${CARGO_HOME:-$HOME/.cargo}/bin/evcxr_jupyter"
  else
    echo "building it (about 12 CPU-minutes); the Python environment and the model download meanwhile"
    downloads_log=$(mktemp)
    python_env >"$downloads_log" 2>&1 &
    downloads_pid=$!
    scripts/install-evcxr.sh
  fi
fi
evcxr=$(command -v evcxr_jupyter) || { echo "setup: evcxr_jupyter is not installed" >&2; exit 1; }
if [ -n "$downloads_pid" ]; then
  downloads_ok=1
  wait "$downloads_pid" || downloads_ok=0
  cat "$downloads_log"
  rm -f "$downloads_log"
  [ "$downloads_ok" = 1 ] || { echo "setup: the Python environment or the model download failed (above)" >&2; exit 1; }
else
  python_env
fi

step "kernelspec transformer-nb"
spec=$(mktemp -d)
trap 'rm -rf "$spec"' EXIT
mkdir -p "$spec/transformer-nb"
cp kernel/launch.sh kernel/notice-mold kernel/init.evcxr kernel/warm-up.evcxr "$spec/transformer-nb/"
# Jupyter may be started without cargo on PATH (a desktop launcher, SageMaker's conda env),
# so the kernelspec carries the environment the kernel needs.
"$py" - "$spec/transformer-nb/kernel.json" "$evcxr" "$(command -v cargo)" "$repo" "$display_name" <<'PY'
import json, os, sys
path, evcxr, cargo, checkout, display_name = sys.argv[1:]
# evcxr runs cargo and rustc: both directories go on the kernel's PATH (usually one, ~/.cargo/bin).
bins = list(dict.fromkeys([os.path.dirname(evcxr), os.path.dirname(cargo)]))
env = {
    "PATH": os.pathsep.join(bins + ["/usr/local/bin", "/usr/bin", "/bin"]),
    "TRANSFORMER_NB_CHECKOUT": checkout,
    "TRANSFORMER_NB_EVCXR": evcxr,
}
for name in ("RUSTUP_HOME", "CARGO_HOME", "HF_HOME", "XDG_CACHE_HOME"):
    if os.environ.get(name):
        env[name] = os.environ[name]
spec = {
    # {resource_dir} is the installed kernelspec folder: the launcher outlives the checkout.
    "argv": ["/bin/bash", "{resource_dir}/launch.sh", "{connection_file}"],
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

if [ "$kernelspec_only" = 0 ]; then
  # The kernel resolves crates offline (kernel/init.evcxr), from what this machine has downloaded.
  step "the library's crates (cargo fetch --locked)"
  cargo fetch --locked --quiet
fi

if [ "$warm" = 1 ] && [ "$kernelspec_only" = 0 ]; then
  step "warming the kernel's build (.cache/kernel/slot-1; first time on a machine: a few minutes)"
  "$py" scripts/warm-kernel.py
fi
echo
echo "setup: done. Start JupyterLab with: $jupyter lab notebooks/"
