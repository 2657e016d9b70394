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
# Pre-started kernels: even warm, that start takes seconds (evcxr compiles and runs the warm-up
# cell, its rust-analyzer loads the standard library and the library). So one kernel per
# checkout is started ahead of need (`evcxr_jupyter --prestarted`, kernel/evcxr.patch),
# in a slot of its own, and waits. When Jupyter asks for a kernel, the launcher hands it the
# connection file, its working directory and its environment, and stays as the process Jupyter
# watches until that kernel ends (a signal to the launcher goes on to the kernel; a launcher that
# is killed takes the kernel with it). A waiting kernel that loaded the library before its latest
# edit is stopped instead, and the kernel starts as below, so an edit is seen after a restart.
# The next one starts at a lower CPU priority when the launched kernel ends, and at once (after
# a delay when this launch starts its own kernel, so that the two do not build at once) where
# the memory leaves room for two; a launch that finds one starting waits for it rather than
# start another. scripts/setup.sh leaves one waiting.
#
# Environment (written into kernel.json by scripts/setup.sh):
#   TRANSFORMER_NB_CHECKOUT  the checkout whose library the notebooks use; its slots live in
#                            $TRANSFORMER_NB_CHECKOUT/.cache/kernel
#   TRANSFORMER_NB_EVCXR     the evcxr_jupyter binary
# and from whoever starts the kernel:
#   TRANSFORMER_NB_WARMING=1 the kernel is the warm-up that builds the cache (scripts/warm-kernel.py):
#                            no "cache is not there" notice
#   TRANSFORMER_NB_PRESTART=0           no pre-started kernels (each costs about 0.7 GiB while it waits)
#   TRANSFORMER_NB_PRESTART_IDLE_S      how long an unclaimed pre-started kernel waits (3600)
# With all 8 slots taken, a kernel builds in a temporary folder, as plain evcxr does.
# Usage: launch.sh CONNECTION_FILE   (by Jupyter)
#        launch.sh --prestart        leave a kernel waiting, if none is (scripts/setup.sh)
#        (launch.sh --prestart-now DELAY: the same, in the foreground; the launcher runs it)
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

case ${1:-} in
  --prestart) prestart_request=1 ;;
  --prestart-now) prestart_request=now ;;
  *) prestart_request=0 ;;
esac

if [ -z "$checkout" ] || [ ! -f "$checkout/crates/transformer-nb/Cargo.toml" ]; then
  [ "$prestart_request" != 0 ] && exit 0
  export TRANSFORMER_NB_NOTICE_ALWAYS=1
  say "this kernel was installed from the checkout ${checkout:-(none)}, which is gone. Run scripts/setup.sh in your checkout of transformer-nb (it points the kernel there, about 4 minutes), then restart the kernel."
  exec "$evcxr" --control_file "$1"
fi
library=$(cd "$checkout/crates/transformer-nb" && pwd -P)

if [ ! -d "$slots/slot-1/target" ] && [ "${TRANSFORMER_NB_WARMING:-}" != 1 ]; then
  [ "$prestart_request" != 0 ] && exit 0
  say "the kernel's compile cache ($slots) is not there, so this cell compiles the library and its dependencies: about a minute and up to 1.2 GiB of memory. Run scripts/setup.sh to build the cache outside the notebook (it also checks the rest of the install), or run this cell again to build it here."
fi

# Takes the first free slot: sets $slot and holds its lock on descriptor $lock.
take_slot() {
  slot=
  command -v flock >/dev/null 2>&1 && mkdir -p "$slots" || return 1
  local i
  for i in $(seq 1 "$max_slots"); do
    exec {lock}>"$slots/slot-$i.lock" || return 1
    if flock --nonblock "$lock"; then
      slot=$slots/slot-$i
      if [ "$i" -gt 1 ] && [ ! -d "$slot/target" ] && [ -d "$slots/slot-1/target" ]; then
        # Slot 1 may be in use; its dependencies do not change while it is, only its cell crate,
        # whose files may vanish under cp (which then goes on, and fails at the end).
        rm -rf "$slot.new"
        cp -a "$slots/slot-1" "$slot.new" 2>/dev/null
        if ! { [ -d "$slot.new/target" ] && mv "$slot.new" "$slot"; }; then
          rm -rf "$slot.new"
        fi
      fi
      return 0
    fi
    exec {lock}>&-
  done
  return 1
}

# The start-up configuration of a kernel in a warm slot (warm-up.evcxr says why).
write_warm_config() {
  mkdir -p "$slot/config"
  {
    cat "$here/init.evcxr"
    # The path as evcxr writes a notebook's relative one (canonical), so that line is a no-op.
    printf ':dep transformer-nb = { path = "%s" }\n' "$library"
    cat "$here/warm-up.evcxr"
  } >"$slot/config/init.evcxr"
}

# Cells compile at opt-level 0, in a tenth of a second: the library and its dependencies keep
# evcxr's opt-level 2 ([profile.dev] in the cell crate's Cargo.toml, which evcxr writes), and
# cargo reads this file from the slots' parent folder. A cell's own code is glue.
write_cell_profile() {
  mkdir -p "$slots/.cargo"
  printf '%s\n' "# Written by the transformer-nb kernel's launch.sh." \
    '[profile.dev.package.ctx]' 'opt-level = 0' >"$slots/.cargo/config.toml.new" &&
    mv "$slots/.cargo/config.toml.new" "$slots/.cargo/config.toml"
}

prestart_possible() {
  [ "${TRANSFORMER_NB_PRESTART:-1}" != 0 ] && [ "${TRANSFORMER_NB_WARMING:-}" != 1 ] &&
    [ -d "$slots/slot-1/target" ] && command -v flock >/dev/null 2>&1 &&
    command -v mkfifo >/dev/null 2>&1 && command -v setsid >/dev/null 2>&1
}

# Starts a kernel that waits for the next launch, in the background and in a session of its own
# (Jupyter kills a kernel's whole process group), unless one is starting or waiting already (it
# holds prestart.lock until it is handed over). $1: seconds to wait first.
start_prestarted() {
  prestart_possible || return 0
  (
    [ -n "${lock:-}" ] && exec {lock}>&-
    exec setsid bash "$here/launch.sh" --prestart-now "$1"
  ) </dev/null >/dev/null 2>&1 &
}

# The work of start_prestarted, in its own session: ends as the waiting kernel.
prestart_now() {
  sleep "$1"
  exec {prestart_lock}>"$slots/prestart.lock" || exit 0
  # A kernel just handed over lets go of it within moments; one that waits keeps it.
  flock --wait 5 "$prestart_lock" || exit 0
  take_slot || exit 0
  local dir=$slot.prestart
  rm -rf "$dir" && mkdir -p "$dir" && mkfifo "$dir/handover" || exit 0
  touch "$dir/started"
  write_warm_config
  export EVCXR_TMPDIR=$slot EVCXR_CONFIG_DIR=$slot/config TRANSFORMER_NB_PRESTART_LOCK_FD=$prestart_lock
  cd "$slot" || exit 0
  exec nice -n 10 "$evcxr" --prestarted "$dir" >"$dir/log" 2>&1
}

# Whether a second kernel (about 0.7 GiB while it waits, more while it starts) fits beside the
# ones running: a machine (or memory cgroup) of 6 GiB or more, with 3 GiB available. Not on a
# 4 GiB ml.t3.medium, whose kernels then take one another's turn.
room_for_another() {
  local available total limit usage line path
  # In KiB, as /proc/meminfo gives them.
  available=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null)
  total=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null)
  [ -n "$available" ] && [ -n "$total" ] || return 1
  while IFS= read -r line; do
    path=${line#*:*:}
    case $line in
      0::*) limit=$(cat "/sys/fs/cgroup$path/memory.max" 2>/dev/null)
            usage=$(cat "/sys/fs/cgroup$path/memory.current" 2>/dev/null) ;;
      *:memory:*) limit=$(cat "/sys/fs/cgroup/memory$path/memory.limit_in_bytes" 2>/dev/null)
                  usage=$(cat "/sys/fs/cgroup/memory$path/memory.usage_in_bytes" 2>/dev/null) ;;
      *) continue ;;
    esac
    if [[ "$limit" =~ ^[0-9]+$ ]] && [[ "$usage" =~ ^[0-9]+$ ]]; then
      [ $((limit >> 10)) -lt "$total" ] && total=$((limit >> 10))
      [ $(((limit - usage) >> 10)) -lt "$available" ] && available=$(((limit - usage) >> 10))
    fi
  done </proc/self/cgroup 2>/dev/null
  [ "$total" -ge $((6 << 20)) ] && [ "$available" -ge $((3 << 20)) ]
}

# Hands the connection in $1 to a waiting kernel and stays until that kernel ends; returns 1
# when there is none that is up to date.
use_prestarted() {
  [ "${TRANSFORMER_NB_PRESTART:-1}" != 0 ] && [ "${TRANSFORMER_NB_WARMING:-}" != 1 ] || return 1
  local ready claimed dir pid starting i
  # One is starting (it holds prestart.lock) and none waits yet: it is ready sooner than a new
  # one would be, and two starting at once would double the memory.
  if ! compgen -G "$slots/slot-*.prestart/ready" >/dev/null && [ -e "$slots/prestart.lock" ]; then
    exec {starting}>"$slots/prestart.lock" || return 1
    if ! flock --nonblock "$starting"; then
      for i in $(seq 600); do
        compgen -G "$slots/slot-*.prestart/ready" >/dev/null && break
        flock --nonblock "$starting" && break
        sleep 0.1
      done
    fi
    exec {starting}>&-
  fi
  for ready in "$slots"/slot-*.prestart/ready; do
    [ -e "$ready" ] || continue
    claimed=$ready.$$
    mv "$ready" "$claimed" 2>/dev/null || continue
    dir=${ready%/ready}
    pid=$(cat "$claimed")
    rm -f "$claimed"
    if [ -n "$(find "$library" -newer "$dir/started" -print -quit 2>/dev/null)" ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "transformer-nb kernel: the library changed since the waiting kernel loaded it; starting a new one" >&2
      kill "$pid" 2>/dev/null
      continue
    fi
    # An update of evcxr_jupyter since it started (the old binary is then "(deleted)").
    if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == *" (deleted)" ]]; then
      echo "transformer-nb kernel: the waiting kernel runs an older evcxr_jupyter; starting a new one" >&2
      kill "$pid" 2>/dev/null
      continue
    fi
    # The waiting kernel opens the FIFO at once; if it died meanwhile, give up after 5 s.
    # shellcheck disable=SC2016 # $0 is the inner shell's
    if ! { printf '%s\0%s\0%s\0' "$1" "$$" "$PWD"; env -0; } | timeout 5 bash -c 'cat >"$0"' "$dir/handover"; then
      kill "$pid" 2>/dev/null
      continue
    fi
    trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
    room_for_another && start_prestarted 0
    # The kernel's output (evcxr's errors) goes where this launcher's would.
    tail -n +1 -F --pid="$pid" "$dir/log" >&2 2>/dev/null &
    # Not this launcher's child, the kernel stays a zombie after it ends until another process
    # reaps it (seconds later): that counts as ended, or Jupyter waits that long for a shutdown.
    while kill -0 "$pid" 2>/dev/null; do
      read -r stat 2>/dev/null <"/proc/$pid/stat" || break
      stat=${stat##*) }
      [ "${stat%% *}" = Z ] && break
      sleep 0.2 &
      wait $! 2>/dev/null
    done
    rm -rf "$dir"
    start_prestarted 0
    exit 0
  done
  return 1
}

write_cell_profile
case $prestart_request in
  1) lock= ; start_prestarted 0 ; exit 0 ;;
  now) prestart_now "$2" ;;
esac
use_prestarted "$1"

if ! take_slot; then
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
  write_warm_config
  room_for_another && start_prestarted 20
  EVCXR_CONFIG_DIR=$slot/config "$evcxr" --control_file "$1"
  status=$?
  # 0: shut down by Jupyter; above 128: killed by a signal. Both end the kernel.
  if [ "$status" = 0 ] || [ "$status" -gt 128 ]; then
    exec {lock}>&-
    start_prestarted 0
    exit "$status"
  fi
  echo "transformer-nb kernel: loading the library at start failed (status $status, errors above); starting without it" >&2
fi
exec "$evcxr" --control_file "$1"
