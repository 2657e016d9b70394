#!/bin/bash
# transformer-nb: SageMaker lifecycle configuration, "Create notebook" script.
#
# Runs once, as root, in /, when the notebook instance is created, before the first on-start.
# It starts the persistent install (Rust toolchain, evcxr kernel, model, compile cache, all
# under ~/SageMaker/.transformer-nb) in the background, so that it has a head start; on-start.sh
# registers the kernel on every start and resumes the install if it was interrupted.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

TRANSFORMER_NB_REPO_URL=${TRANSFORMER_NB_REPO_URL:-}
user=${TRANSFORMER_NB_USER:-ec2-user}
workdir=/home/$user/SageMaker
persist=$workdir/.transformer-nb

mkdir -p "$persist"
chown "$user:" "$persist"
exec > >(tee -a "$persist/lifecycle.log") 2>&1
echo "on-create: $(date -u +%FT%TZ)"

repo=
for candidate in "$workdir/transformer-nb" "$workdir"/*/; do
  if [ -x "${candidate%/}/sagemaker/install.sh" ]; then
    repo=${candidate%/}
    break
  fi
done
if [ -z "$repo" ] && [ -n "$TRANSFORMER_NB_REPO_URL" ]; then
  echo "on-create: cloning $TRANSFORMER_NB_REPO_URL"
  if sudo -u "$user" timeout 120 git clone --depth 1 "$TRANSFORMER_NB_REPO_URL" "$workdir/transformer-nb"; then
    repo=$workdir/transformer-nb
  fi
fi
if [ -z "$repo" ]; then
  echo "on-create: no transformer-nb repository yet; on-start will look again"
  exit 0
fi

echo "on-create: starting the install in the background; progress in $workdir/TRANSFORMER-NB-STATUS.txt"
nohup setsid bash "$repo/sagemaker/background.sh" >>"$persist/install.log" 2>&1 </dev/null &
echo "on-create: done"
