#!/usr/bin/env bash
# Builds and installs the Jupyter kernel, evcxr_jupyter, with transformer-nb's one patch.
#
# The patch (kernel/evcxr.patch) changes evcxr_jupyter 0.22 and evcxr 0.22, the library under it
# that compiles and runs the cells:
# - output before idle: a line a cell prints could reach Jupyter after the cell's "idle" status,
#   and JupyterLab and nbclient, which stop listening for a cell's output at "idle", then drop it
#   (evcxr issue #353; tests/e2e/test_kernel.py::test_printed_lines_arrive_before_the_cell_is_idle);
# - pre-started kernels: `evcxr_jupyter --prestarted DIR` loads its start-up configuration, then
#   waits to be handed a connection (src/prestart.rs; kernel/launch.sh says how it is used);
# - a quiet start: no "No configuration file found" line in every Jupyter log, and no error with a
#   backtrace when a client resets its heartbeat connection (the heartbeat keeps answering);
# - rustc without cargo: while neither the manifest, evcxr's settings nor a source file of a
#   dependency outside the registry changed, a cell runs the rustc command cargo ran for the one
#   before (evcxr's src/module/direct_rustc.rs); any change sends the cell through cargo again;
# - a cell moves only the kept variables it names out of evcxr's variable store and back, so
#   that `1 + 1` does not compile the code to box and drop a model's type.
# It also sets the version to $EVCXR_JUPYTER_BUILD, which the kernel reports to Jupyter and which
# is how scripts/setup.sh and sagemaker/install.sh tell this build from a plain or an older one.
#
# Steps: download both crates from crates.io (pinned versions and SHA-256, scripts/versions.env),
# unpack them side by side in a temporary folder, apply the patch (evcxr_jupyter's manifest takes
# the evcxr beside it through [patch.crates-io]), `cargo install --locked --path` evcxr_jupyter
# (its own Cargo.lock: the same dependencies as `cargo install --locked evcxr_jupyter@0.22.0`),
# delete the folder. About 12 CPU-minutes and 1 GiB of temporary disk.
#
# Usage: scripts/install-evcxr.sh           installs into ${CARGO_HOME:-~/.cargo}/bin
#        scripts/install-evcxr.sh --check   exits 0 when the evcxr_jupyter on PATH is that build
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
# shellcheck source=versions.env
. scripts/versions.env
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# Whether the evcxr_jupyter on PATH (cargo's bin first) is this build: its banner and its
# kernel_info carry the version, "$EVCXR_JUPYTER_BUILD"; a plain build's is
# "$EVCXR_JUPYTER_VERSION". The binary is read, not `cargo install --list`, so that a binary
# put there by other means (TRANSFORMER_NB_EVCXR_BINARY in scripts/setup.sh) is judged the same.
patched_build_installed() {
  local binary
  binary=$(command -v evcxr_jupyter) && grep -qaF "EvCxR $EVCXR_JUPYTER_BUILD " "$binary"
}
if [ "${1:-}" = "--check" ]; then
  patched_build_installed
  exit
fi

crate=evcxr_jupyter-$EVCXR_JUPYTER_VERSION
work=$(mktemp -d "${TMPDIR:-/tmp}/transformer-nb-evcxr.XXXXXX")
trap 'rm -rf "$work"' EXIT

command -v curl >/dev/null 2>&1 || { echo "install-evcxr: curl is needed to download from static.crates.io" >&2; exit 1; }
# download NAME VERSION SHA256: the .crate, checked, unpacked into $work/NAME-VERSION.
download() {
  local name=$1 version=$2 expected=$3 url actual
  url=https://static.crates.io/crates/$name/$name-$version.crate
  echo "install-evcxr: downloading $url"
  curl --proto '=https' --tlsv1.2 -sSfL --retry 3 -o "$work/$name-$version.crate" "$url"
  actual=$(sha256sum "$work/$name-$version.crate" | cut -d' ' -f1)
  if [ "$actual" != "$expected" ]; then
    echo "install-evcxr: $name-$version.crate has SHA-256 $actual, expected $expected (scripts/versions.env); not installing it" >&2
    exit 1
  fi
  tar -xzf "$work/$name-$version.crate" -C "$work"
}
download evcxr_jupyter "$EVCXR_JUPYTER_VERSION" "$EVCXR_JUPYTER_SHA256"
download evcxr "$EVCXR_VERSION" "$EVCXR_SHA256"

# git apply works as a plain `patch` outside a repository; the ceiling keeps it from finding one
# that encloses $TMPDIR.
(cd "$work" && GIT_CEILING_DIRECTORIES=$work git apply -p1 "$repo/kernel/evcxr.patch")
# The memory this build may use, in MiB: what the system has available, or less where a
# memory cgroup (v2's memory.max, v1's memory.limit_in_bytes) leaves less.
available_mib() {
  local mib limit usage dir
  mib=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
  dir=$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup 2>/dev/null)
  if [ -n "$dir" ] && [ -r "/sys/fs/cgroup$dir/memory.max" ]; then
    limit=$(cat "/sys/fs/cgroup$dir/memory.max")
    usage=$(cat "/sys/fs/cgroup$dir/memory.current")
  else
    dir=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup 2>/dev/null)
    limit=$(cat "$dir/memory.limit_in_bytes" 2>/dev/null || echo max)
    usage=$(cat "$dir/memory.usage_in_bytes" 2>/dev/null || echo 0)
  fi
  if [ "$limit" != max ] && [ "$((limit / 1048576))" -lt $((1 << 40)) ]; then
    local left=$(((limit - usage) / 1048576))
    if [ "$left" -lt "$mib" ]; then mib=$left; fi
  fi
  echo "$mib"
}
# rustc needs up to about 1.25 GiB for the largest of evcxr's crates (rust-analyzer's): one
# job per core, as far as the memory goes, so that a small machine builds slower rather than
# has its build killed. CARGO_BUILD_JOBS, when set, decides.
cores=$(nproc)
mib=$(available_mib)
jobs=${CARGO_BUILD_JOBS:-$((mib / 1280))}
if [ "$jobs" -lt 1 ]; then jobs=1; fi
if [ "$jobs" -gt "$cores" ]; then jobs=$cores; fi
echo "install-evcxr: building evcxr_jupyter $EVCXR_JUPYTER_BUILD with $jobs cargo jobs ($cores cores, $mib MiB of memory available, about 1280 MiB per job)"
cargo install --locked --jobs "$jobs" --path "$work/$crate" --target-dir "$work/target"

if ! patched_build_installed; then
  echo "install-evcxr: the evcxr_jupyter on PATH ($(command -v evcxr_jupyter)) is not $EVCXR_JUPYTER_BUILD after the install: does the patch set that version, or does another evcxr_jupyter come first on PATH?" >&2
  exit 1
fi
