#!/bin/bash
# transformer-nb: SageMaker lifecycle configuration, "Create notebook" script.
#
# Runs once, as root, in /, when the notebook instance is created, before the first on-start.
# It gives the install a head start: it finds the transformer-nb repository in ~/SageMaker (a
# default code repository, or a clone of TRANSFORMER_NB_REPO_URL) and runs that repository's
# sagemaker/on-start.sh, which starts the persistent install in the background. If the
# repository is not there yet, the first on-start waits for it. Log:
# ~/SageMaker/.transformer-nb/lifecycle.log (and CloudWatch, stream <instance>/LifecycleConfigOnCreate).
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

TRANSFORMER_NB_REPO_URL=${TRANSFORMER_NB_REPO_URL:-}
# Passed on to on-start.sh (see there); deploy.sh and the template set them after line 1.
export TRANSFORMER_NB_IDLE_STOP_MINUTES=${TRANSFORMER_NB_IDLE_STOP_MINUTES:-60}
export TRANSFORMER_NB_BACKUP_S3_URI=${TRANSFORMER_NB_BACKUP_S3_URI:-}
user=${TRANSFORMER_NB_USER:-ec2-user}
workdir=/home/$user/SageMaker

for candidate in "$workdir/transformer-nb" "$workdir"/*/; do
  if [ -x "${candidate%/}/sagemaker/on-start.sh" ]; then
    exec bash "${candidate%/}/sagemaker/on-start.sh"
  fi
done
if [ -n "$TRANSFORMER_NB_REPO_URL" ] &&
  sudo -u "$user" timeout 120 git clone --depth 1 "$TRANSFORMER_NB_REPO_URL" "$workdir/transformer-nb"; then
  exec bash "$workdir/transformer-nb/sagemaker/on-start.sh"
fi
echo "on-create: no transformer-nb repository in $workdir yet; on-start will look for it"
