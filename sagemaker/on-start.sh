#!/bin/bash
# transformer-nb: SageMaker lifecycle configuration, "Start notebook" script.
#
# Runs as root, in /, with a minimal PATH, on every start of the notebook instance, and must
# finish well within SageMaker's 5-minute limit. It only does quick things itself:
#   - finds the transformer-nb repository in ~/SageMaker (or clones TRANSFORMER_NB_REPO_URL),
#   - re-registers the "Rust (transformer-nb)" kernelspec (~/.local does not survive a stop),
#   - if the kernel is not installed yet, or not the build scripts/versions.env pins, starts
#     sagemaker/background.sh in the background,
#   - starts the idle-stop and backup watcher, sagemaker/idle-stop.py (log: idle-stop.log).
# Its log: ~/SageMaker/.transformer-nb/lifecycle.log (and CloudWatch, /aws/sagemaker/NotebookInstances,
# stream <instance>/LifecycleConfigOnStart). The install's progress: ~/SageMaker/TRANSFORMER-NB-STATUS.txt.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Optional: a git URL to clone when no default code repository of the instance holds transformer-nb.
TRANSFORMER_NB_REPO_URL=${TRANSFORMER_NB_REPO_URL:-}
# Stop the instance after this many minutes without activity (0: never), and back ~/SageMaker
# up to this S3 URI (empty: no backups). deploy.sh and the CloudFormation template set both in
# lines they add after the first line of this script; see sagemaker/README.md.
TRANSFORMER_NB_IDLE_STOP_MINUTES=${TRANSFORMER_NB_IDLE_STOP_MINUTES:-60}
TRANSFORMER_NB_BACKUP_S3_URI=${TRANSFORMER_NB_BACKUP_S3_URI:-}
user=${TRANSFORMER_NB_USER:-ec2-user}
workdir=/home/$user/SageMaker
persist=$workdir/.transformer-nb

mkdir -p "$persist"
# Everything in ~/SageMaker belongs to ec2-user, the logs and lock this root script makes too.
logs=("$persist/lifecycle.log" "$persist/install.log" "$persist/install.lock" "$persist/idle-stop.log")
touch "${logs[@]}"
chown "$user:" "$persist" "${logs[@]}"
exec > >(tee -a "$persist/lifecycle.log") 2>&1
echo "on-start: $(date -u +%FT%TZ)"

# The watcher that stops an idle instance and makes backups, from the repository at $1. It holds
# a lock, so a second one (on-start run again) exits at once. As ec2-user, with a login
# environment (the AWS CLI and python3 on its PATH); it outlives this script.
start_watcher() {
  # shellcheck disable=SC2086 # TRANSFORMER_NB_PASS_ENV is a list of VAR=value words (tests only)
  nohup setsid sudo -u "$user" -i env ${TRANSFORMER_NB_PASS_ENV:-} \
    TRANSFORMER_NB_IDLE_STOP_MINUTES="$TRANSFORMER_NB_IDLE_STOP_MINUTES" \
    TRANSFORMER_NB_BACKUP_S3_URI="$TRANSFORMER_NB_BACKUP_S3_URI" \
    python3 "$1/sagemaker/idle-stop.py" >>"$persist/idle-stop.log" 2>&1 </dev/null &
}

repo=
for candidate in "$workdir/transformer-nb" "$workdir"/*/; do
  if [ -x "${candidate%/}/sagemaker/install.sh" ]; then
    repo=${candidate%/}
    break
  fi
done
if [ -z "$repo" ] && [ -n "$TRANSFORMER_NB_REPO_URL" ]; then
  echo "on-start: cloning $TRANSFORMER_NB_REPO_URL"
  if sudo -u "$user" timeout 120 git clone --depth 1 "$TRANSFORMER_NB_REPO_URL" "$workdir/transformer-nb"; then
    repo=$workdir/transformer-nb
  fi
fi
if [ -z "$repo" ]; then
  if [ "${1:-}" = --wait-for-repo ]; then
    # Running in the background: the default code repository may still be being cloned.
    for _ in $(seq 60); do
      sleep 10
      for candidate in "$workdir"/*/; do
        if [ -x "${candidate%/}/sagemaker/install.sh" ]; then
          start_watcher "${candidate%/}"
          exec bash "${candidate%/}/sagemaker/background.sh"
        fi
      done
    done
    echo "on-start: no transformer-nb repository appeared in $workdir within 10 minutes"
    exit 0
  fi
  # SageMaker may remove this script once it has run, so the waiting copy runs from $persist.
  echo "on-start: no transformer-nb repository in $workdir yet; waiting for it in the background"
  cp "$0" "$persist/on-start.sh"
  TRANSFORMER_NB_IDLE_STOP_MINUTES=$TRANSFORMER_NB_IDLE_STOP_MINUTES \
    TRANSFORMER_NB_BACKUP_S3_URI=$TRANSFORMER_NB_BACKUP_S3_URI \
    nohup setsid bash "$persist/on-start.sh" --wait-for-repo >>"$persist/install.log" 2>&1 </dev/null &
  exit 0
fi
echo "on-start: repository $repo"
echo "on-start: idle stop after ${TRANSFORMER_NB_IDLE_STOP_MINUTES} minutes (0: off); backups: ${TRANSFORMER_NB_BACKUP_S3_URI:-none}"
start_watcher "$repo"

if [ -f "$persist/installed" ]; then
  # Installed on an earlier start: the toolchain and caches are in ~/SageMaker; only the
  # kernelspec in ~/.local was lost. Jupyter finds new kernelspecs without a restart.
  # shellcheck disable=SC2086 # TRANSFORMER_NB_PASS_ENV is a list of VAR=value words (tests only)
  sudo -u "$user" -i env ${TRANSFORMER_NB_PASS_ENV:-} bash "$repo/sagemaker/install.sh" --register
fi
# shellcheck disable=SC2086 # TRANSFORMER_NB_PASS_ENV is a list of VAR=value words (tests only)
if [ ! -f "$persist/warm" ]; then
  echo "on-start: installing in the background; progress in $workdir/TRANSFORMER-NB-STATUS.txt"
  nohup setsid bash "$repo/sagemaker/background.sh" >>"$persist/install.log" 2>&1 </dev/null &
elif ! sudo -u "$user" -i env ${TRANSFORMER_NB_PASS_ENV:-} bash "$repo/sagemaker/install.sh" --current; then
  # Installed before the repository pinned another build of the kernel (scripts/versions.env):
  # the registered kernel works while the pinned one builds.
  echo "on-start: the kernel is not the build scripts/versions.env pins; building it in the background"
  nohup setsid bash "$repo/sagemaker/background.sh" >>"$persist/install.log" 2>&1 </dev/null &
fi
echo "on-start: done"
