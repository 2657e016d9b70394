#!/usr/bin/env bash
# The long part of the lifecycle, started by the lifecycle scripts with nohup + setsid so that
# they return in seconds (SageMaker fails a start whose script runs over 5 minutes). Makes sure
# a C compiler is there (the Rust kernel links with it; system packages do not survive a
# restart), then runs install.sh as the notebook user. On a notebook instance it runs as root
# (on-create.sh, on-start.sh); in a Studio space as sagemaker-user (studio/on-start.sh), with
# sudo where the space allows it.
#
# Usage: background.sh                 the compiler, then the install
#        background.sh --compiler-only the compiler only (a restarted Studio space)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
user=${TRANSFORMER_NB_USER:-ec2-user}
persist=${TRANSFORMER_NB_HOME:-/home/$user/SageMaker/.transformer-nb}

# One installer at a time: on a new instance on-create and on-start both ask for it.
exec 9>"$persist/install.lock"
if ! flock -n 9; then
  echo "background: an install is already running"
  exit 0
fi

# Root, or sudo without a password where there is one (Studio spaces with root access).
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

if ! command -v cc >/dev/null 2>&1; then
  os_release=${TRANSFORMER_NB_OS_RELEASE:-/etc/os-release}
  # shellcheck disable=SC1090
  . "$os_release"
  echo "background: installing gcc on ${PRETTY_NAME:-this system}"
  if command -v dnf >/dev/null 2>&1; then
    as_root dnf install -y -q gcc || echo "background: dnf could not install gcc"
  elif command -v yum >/dev/null 2>&1; then
    as_root yum install -y -q gcc || echo "background: yum could not install gcc"
  elif command -v apt-get >/dev/null 2>&1; then
    { as_root apt-get install -y -qq gcc >/dev/null 2>&1 ||
      { as_root apt-get update -qq && as_root apt-get install -y -qq gcc >/dev/null; }; } ||
      echo "background: apt-get could not install gcc (no root access in this space?)"
  fi
fi
if [ "${1:-}" = --compiler-only ]; then
  exit 0
fi

if [ "$(id -un)" = "$user" ]; then
  # shellcheck disable=SC2086 # TRANSFORMER_NB_PASS_ENV is a list of VAR=value words (tests only)
  env ${TRANSFORMER_NB_PASS_ENV:-} bash "$here/install.sh"
else
  # A login shell, so that the user's environment is complete (rustup refuses a half one).
  # shellcheck disable=SC2086 # TRANSFORMER_NB_PASS_ENV is a list of VAR=value words (tests only)
  sudo -u "$user" -i env ${TRANSFORMER_NB_PASS_ENV:-} bash "$here/install.sh"
fi
