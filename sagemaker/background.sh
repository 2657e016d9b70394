#!/usr/bin/env bash
# The long part of the lifecycle, started by on-create.sh/on-start.sh with nohup + setsid so
# that the lifecycle script itself returns in seconds (SageMaker fails a start whose script runs
# over 5 minutes). Runs as root: makes sure a C compiler is there (the Rust kernel links with
# it; system packages do not survive a stop/start), then runs install.sh as ec2-user.
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

if ! command -v cc >/dev/null 2>&1; then
  os_release=${TRANSFORMER_NB_OS_RELEASE:-/etc/os-release}
  # shellcheck disable=SC1090
  . "$os_release"
  echo "background: installing gcc on ${PRETTY_NAME:-this system}"
  if command -v dnf >/dev/null 2>&1; then
    dnf install -y -q gcc || echo "background: dnf could not install gcc"
  elif command -v yum >/dev/null 2>&1; then
    yum install -y -q gcc || echo "background: yum could not install gcc"
  fi
fi

# A login shell, so that ec2-user's environment is complete (rustup refuses a half one).
# shellcheck disable=SC2086 # TRANSFORMER_NB_PASS_ENV is a list of VAR=value words (tests only)
sudo -u "$user" -i env ${TRANSFORMER_NB_PASS_ENV:-} bash "$here/install.sh"
