#!/bin/bash
# transformer-nb: SageMaker Studio lifecycle configuration for JupyterLab spaces (app type
# JupyterLab), attached by `sagemaker/deploy.sh --studio`.
#
# Runs as sagemaker-user on every start of a space's JupyterLab app, and must finish within
# Studio's 5-minute limit. The space's home (/home/sagemaker-user, on its EBS volume) survives
# a restart; everything else (/opt, /tmp, packages installed with apt) is the image's again.
# So the install lives in ~/.transformer-nb, the kernelspec in ~/.local, the repository in
# ~/transformer-nb, and this script only does quick things itself:
#   - finds the repository in the home (or clones TRANSFORMER_NB_REPO_URL),
#   - on a space not installed yet, or not at the kernel build scripts/versions.env pins,
#     starts sagemaker/background.sh in the background (progress: ~/TRANSFORMER-NB-STATUS.txt),
#   - on a restarted space, puts the C compiler the kernel links with back, in the background,
#   - starts the backup watcher (sagemaker/idle-stop.py) when backups are set.
# Idle shutdown is Studio's own (the domain's JupyterLab idle settings, which deploy.sh sets);
# TRANSFORMER_NB_IDLE_STOP_MINUTES > 0 makes the watcher do it instead, for images without it.
# Log: ~/.transformer-nb/lifecycle.log (and CloudWatch, /aws/sagemaker/studio, stream
# <domain>/<space>/JupyterLab/default/LifecycleConfigOnStart).
set -euo pipefail
export PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# deploy.sh sets these in lines it adds after the first line of this script.
TRANSFORMER_NB_REPO_URL=${TRANSFORMER_NB_REPO_URL:-}
TRANSFORMER_NB_IDLE_STOP_MINUTES=${TRANSFORMER_NB_IDLE_STOP_MINUTES:-0}
TRANSFORMER_NB_BACKUP_S3_URI=${TRANSFORMER_NB_BACKUP_S3_URI:-}

home=${HOME:-/home/sagemaker-user}
TRANSFORMER_NB_USER=$(id -un)
export TRANSFORMER_NB_USER
export TRANSFORMER_NB_HOME=$home/.transformer-nb
export TRANSFORMER_NB_STATUS_FILE=$home/TRANSFORMER-NB-STATUS.txt
export TRANSFORMER_NB_JUPYTER_ENV=${TRANSFORMER_NB_JUPYTER_ENV:-/opt/conda}
persist=$TRANSFORMER_NB_HOME

mkdir -p "$persist"
touch "$persist/install.log" "$persist/install.lock"
exec > >(tee -a "$persist/lifecycle.log") 2>&1
echo "studio on-start: $(date -u +%FT%TZ) as $TRANSFORMER_NB_USER"

repo=
for candidate in "$home/transformer-nb" "$home"/*/; do
  if [ -x "${candidate%/}/sagemaker/install.sh" ]; then
    repo=${candidate%/}
    break
  fi
done
if [ -z "$repo" ] && [ -n "$TRANSFORMER_NB_REPO_URL" ]; then
  echo "studio on-start: cloning $TRANSFORMER_NB_REPO_URL"
  if timeout 120 git clone --depth 1 "$TRANSFORMER_NB_REPO_URL" "$home/transformer-nb"; then
    repo=$home/transformer-nb
  fi
fi
if [ -z "$repo" ]; then
  message="No transformer-nb repository in $home. Clone it (git clone <its URL> ~/transformer-nb) and restart the space, or set TRANSFORMER_NB_REPO_URL in the lifecycle configuration (sagemaker/deploy.sh --studio --repo-url)."
  printf 'NOT INSTALLED\n\n%s\n' "$message" >"$TRANSFORMER_NB_STATUS_FILE"
  echo "studio on-start: $message"
  exit 0
fi
echo "studio on-start: repository $repo"

if [ "$TRANSFORMER_NB_IDLE_STOP_MINUTES" != 0 ] || [ -n "$TRANSFORMER_NB_BACKUP_S3_URI" ]; then
  echo "studio on-start: idle stop by the watcher after ${TRANSFORMER_NB_IDLE_STOP_MINUTES} minutes (0: Studio's own); backups: ${TRANSFORMER_NB_BACKUP_S3_URI:-none}"
  # shellcheck disable=SC2086 # TRANSFORMER_NB_PASS_ENV is a list of VAR=value words (tests only)
  TRANSFORMER_NB_WORKDIR=$home \
    TRANSFORMER_NB_JUPYTER_URL=${TRANSFORMER_NB_JUPYTER_URL:-http://localhost:8888/jupyterlab/default} \
    TRANSFORMER_NB_IDLE_STOP_MINUTES=$TRANSFORMER_NB_IDLE_STOP_MINUTES \
    TRANSFORMER_NB_BACKUP_S3_URI=$TRANSFORMER_NB_BACKUP_S3_URI \
    nohup setsid env ${TRANSFORMER_NB_PASS_ENV:-} python3 "$repo/sagemaker/idle-stop.py" \
    >>"$persist/idle-stop.log" 2>&1 </dev/null &
fi

# shellcheck disable=SC2086 # TRANSFORMER_NB_PASS_ENV is a list of VAR=value words (tests only)
if env ${TRANSFORMER_NB_PASS_ENV:-} bash "$repo/sagemaker/install.sh" --current; then
  # Installed and warm on an earlier start: the home kept all of it but the C compiler.
  if ! command -v cc >/dev/null 2>&1; then
    echo "studio on-start: putting the C compiler back in the background"
    nohup setsid bash "$repo/sagemaker/background.sh" --compiler-only >>"$persist/install.log" 2>&1 </dev/null &
  fi
  env ${TRANSFORMER_NB_PASS_ENV:-} bash "$repo/sagemaker/install.sh" --register
else
  echo "studio on-start: installing in the background; progress in $TRANSFORMER_NB_STATUS_FILE"
  nohup setsid bash "$repo/sagemaker/background.sh" >>"$persist/install.log" 2>&1 </dev/null &
fi
echo "studio on-start: done"
