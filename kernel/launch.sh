#!/usr/bin/env bash
# Starts the "Rust (transformer-nb)" kernel: evcxr_jupyter in a build folder of its own.
#
# scripts/setup.sh copies this file, init.evcxr, warm-up.evcxr and notice-mold into the kernelspec
# folder, so it still runs when the checkout it was installed from is gone, and says so.
#
# Why a launcher: evcxr builds every kernel in a new temporary folder, so each kernel compiled the
# library and re-ran its dependencies' build scripts (~25 s before the first result). With
# EVCXR_TMPDIR set, evcxr keeps its folder and cargo finds everything "Fresh"; an edit to the
# library is still seen by cargo's own change detection. Only one kernel may use a folder at a
# time, so there are numbered slots, each held with flock(1) for the kernel's life (its children
# inherit the lock, so a dying kernel's compilers keep it until they are gone too). A slot that
# does not exist yet starts as a copy of slot 1, which the setup's warm-up built: a copy of
# a warm target folder is warm (cargo's fingerprints hold no path of the folder itself).
# In a warm slot the kernel also loads the library while it starts (warm-up.evcxr).
#
# Environment (written into kernel.json by scripts/setup.sh):
#   TRANSFORMER_NB_CHECKOUT  the checkout whose library the notebooks use; its slots live in
#                            $TRANSFORMER_NB_CHECKOUT/.cache/kernel
#   TRANSFORMER_NB_EVCXR     the evcxr_jupyter binary
# and from whoever starts the kernel:
#   TRANSFORMER_NB_WARMING=1 the kernel is the warm-up that builds the cache (scripts/warm-kernel.py):
#                            no "cache is not there" notice
# With all 8 slots taken, a kernel builds in a temporary folder, as plain evcxr does.
# Usage (by Jupyter): launch.sh CONNECTION_FILE
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=${TRANSFORMER_NB_CHECKOUT:-}
evcxr=${TRANSFORMER_NB_EVCXR:-evcxr_jupyter}
slots=$checkout/.cache/kernel
max_slots=8
export EVCXR_CONFIG_DIR=$here

# A message for the learner, shown as the error of the first cell that uses the library: evcxr
# has no other way to show text before a cell runs. evcxr runs `mold -run cargo ...` when a
# program named mold is on PATH, so notice-mold stands in for it (see that file).
say() {
  echo "transformer-nb kernel: $1" >&2
  export TRANSFORMER_NB_NOTICE=$1
  notice_bin=$(mktemp -d "${TMPDIR:-/tmp}/transformer-nb-notice.XXXXXX")
  cp "$here/notice-mold" "$notice_bin/mold"
  export PATH=$notice_bin:$PATH
}

if [ -z "$checkout" ] || [ ! -f "$checkout/crates/transformer-nb/Cargo.toml" ]; then
  export TRANSFORMER_NB_NOTICE_ALWAYS=1
  say "this kernel was installed from the checkout ${checkout:-(none)}, which is gone. Run scripts/setup.sh in your checkout of transformer-nb (it points the kernel there, about 4 minutes), then restart the kernel."
  exec "$evcxr" --control_file "$1"
fi

if [ ! -d "$slots/slot-1/target" ] && [ "${TRANSFORMER_NB_WARMING:-}" != 1 ]; then
  say "the kernel's compile cache ($slots) is not there, so this cell compiles the library and its dependencies: about a minute and up to 1.2 GiB of memory. Run scripts/setup.sh to build the cache outside the notebook (it also checks the rest of the install), or run this cell again to build it here."
fi

slot=
if command -v flock >/dev/null 2>&1 && mkdir -p "$slots"; then
  for i in $(seq 1 "$max_slots"); do
    exec {lock}>"$slots/slot-$i.lock" || break
    if flock --nonblock "$lock"; then
      slot=$slots/slot-$i
      if [ "$i" -gt 1 ] && [ ! -d "$slot/target" ] && [ -d "$slots/slot-1/target" ]; then
        # Slot 1 may be in use; its dependencies do not change while it is, only its cell crate.
        rm -rf "$slot.new"
        if ! { cp -a "$slots/slot-1" "$slot.new" && mv "$slot.new" "$slot"; }; then
          rm -rf "$slot.new"
        fi
      fi
      break
    fi
    exec {lock}>&-
  done
fi
if [ -z "$slot" ]; then
  echo "transformer-nb kernel: no free build slot (or no flock); using a temporary folder" >&2
  exec "$evcxr" --control_file "$1"
fi
export EVCXR_TMPDIR=$slot

# A warm slot loads the library while the kernel starts (warm-up.evcxr says why): the same work
# as the notebook's first cells, done once and in one build, and before the learner has read the
# first paragraph. Only warm: a cold build belongs in a cell, after the notice above. evcxr stops
# when its start-up configuration fails (say the learner's edit of the library does not compile),
# so then the kernel starts again without it, and the notebook's `:dep` cell shows the errors.
if [ -d "$slot/target" ] && [ -z "${TRANSFORMER_NB_NOTICE:-}" ] && [ "${TRANSFORMER_NB_WARMING:-}" != 1 ]; then
  library=$(cd "$checkout/crates/transformer-nb" && pwd -P)
  mkdir -p "$slot/config"
  {
    cat "$here/init.evcxr"
    # The path as evcxr writes a notebook's relative one (canonical), so that line is a no-op.
    printf ':dep transformer-nb = { path = "%s" }\n' "$library"
    cat "$here/warm-up.evcxr"
  } >"$slot/config/init.evcxr"
  EVCXR_CONFIG_DIR=$slot/config "$evcxr" --control_file "$1"
  status=$?
  # 0: shut down by Jupyter; above 128: killed by a signal. Both end the kernel.
  if [ "$status" = 0 ] || [ "$status" -gt 128 ]; then
    exit "$status"
  fi
  echo "transformer-nb kernel: loading the library at start failed (status $status, errors above); starting without it" >&2
fi
exec "$evcxr" --control_file "$1"
