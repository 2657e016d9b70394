#!/usr/bin/env bash
# Deploys transformer-nb to Amazon SageMaker with the AWS CLI: the lifecycle configuration
# (on-create.sh, on-start.sh), optionally a code repository, and an ml.t3.medium notebook
# instance on Amazon Linux 2023 / JupyterLab 4 that uses them.
#
# Usage: sagemaker/deploy.sh --role-arn ARN [--repo-url URL] [--name NAME]
#                            [--instance-type TYPE] [--volume-gb N] [--cloudformation] [--dry-run]
#        sagemaker/deploy.sh --render-template FILE
#   --role-arn        an IAM role SageMaker may assume (AmazonSageMakerFullAccess or narrower)
#   --repo-url        git URL of this repository; becomes the instance's default code repository
#   --cloudformation  deploy sagemaker/cloudformation.yaml as a stack instead of direct calls
#   --render-template write cloudformation.yaml with the scripts filled in (for the console)
#   --dry-run         print the AWS calls instead of making them
# Credentials come from the AWS CLI's usual sources (profile, environment, SSO); none are stored.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

name=transformer-nb
instance_type=ml.t3.medium
volume_gb=10
role_arn=
repo_url=
dry_run=0
cloudformation=0
render=
while [ $# -gt 0 ]; do
  case "$1" in
    --name) name=${2:?}; shift ;;
    --instance-type) instance_type=${2:?}; shift ;;
    --volume-gb) volume_gb=${2:?}; shift ;;
    --role-arn) role_arn=${2:?}; shift ;;
    --repo-url) repo_url=${2:?}; shift ;;
    --cloudformation) cloudformation=1 ;;
    --render-template) render=${2:?}; shift ;;
    --dry-run) dry_run=1 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "deploy: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

on_create=$(base64 -w0 "$here/on-create.sh")
on_start=$(base64 -w0 "$here/on-start.sh")
for script in on_create on_start; do
  content=${!script}
  size=${#content}
  # The API takes at most 16384 characters of base64 per script.
  if [ "$size" -gt 16384 ]; then
    echo "deploy: ${script//_/-}.sh is $size characters in base64, over SageMaker's 16384" >&2
    exit 1
  fi
done

render_template() {
  sed -e "s|__ON_CREATE_BASE64__|$on_create|" -e "s|__ON_START_BASE64__|$on_start|" \
    "$here/cloudformation.yaml" >"$1"
}

if [ -n "$render" ]; then
  mkdir -p "$(dirname "$render")"
  render_template "$render"
  echo "deploy: wrote $render"
  exit 0
fi
[ -n "$role_arn" ] || { echo "deploy: --role-arn is required" >&2; exit 2; }

aws_call() {
  if [ "$dry_run" = 1 ]; then
    local shown=()
    for arg in "$@"; do
      case "$arg" in
        Content=*) shown+=("Content=<base64, ${#arg} characters>") ;;
        *) shown+=("$arg") ;;
      esac
    done
    echo "aws ${shown[*]}"
  else
    aws "$@"
  fi
}

exists() {
  [ "$dry_run" = 0 ] && aws "$@" >/dev/null 2>&1
}

if [ "$cloudformation" = 1 ]; then
  # The scripts go into the template itself: as parameters they would exceed CloudFormation's
  # 4096-byte limit on a parameter value.
  template=$(mktemp --suffix=.yaml)
  trap 'rm -f "$template"' EXIT
  render_template "$template"
  aws_call cloudformation deploy --stack-name "$name" --template-file "$template" \
    --parameter-overrides "NotebookInstanceName=$name" "InstanceType=$instance_type" \
    "VolumeSizeInGB=$volume_gb" "RoleArn=$role_arn" "RepositoryUrl=$repo_url"
  exit 0
fi

config=$name-lifecycle
if exists sagemaker describe-notebook-instance-lifecycle-config --notebook-instance-lifecycle-config-name "$config"; then
  aws_call sagemaker update-notebook-instance-lifecycle-config \
    --notebook-instance-lifecycle-config-name "$config" \
    --on-create "Content=$on_create" --on-start "Content=$on_start"
else
  aws_call sagemaker create-notebook-instance-lifecycle-config \
    --notebook-instance-lifecycle-config-name "$config" \
    --on-create "Content=$on_create" --on-start "Content=$on_start"
fi

repository_args=()
if [ -n "$repo_url" ]; then
  if ! exists sagemaker describe-code-repository --code-repository-name "$name"; then
    aws_call sagemaker create-code-repository --code-repository-name "$name" \
      --git-config "RepositoryUrl=$repo_url,Branch=main"
  fi
  repository_args=(--default-code-repository "$name")
fi

if exists sagemaker describe-notebook-instance --notebook-instance-name "$name"; then
  echo "deploy: the notebook instance $name exists; the new lifecycle configuration applies at its next start"
  echo "deploy: (stop it, then: aws sagemaker start-notebook-instance --notebook-instance-name $name)"
else
  aws_call sagemaker create-notebook-instance --notebook-instance-name "$name" \
    --instance-type "$instance_type" --role-arn "$role_arn" \
    --platform-identifier notebook-al2023-v1 --volume-size-in-gb "$volume_gb" \
    --lifecycle-config-name "$config" "${repository_args[@]}"
fi
echo "deploy: done. Open JupyterLab from the SageMaker console once the instance is InService;"
echo "deploy: the kernel's install progress is in ~/SageMaker/TRANSFORMER-NB-STATUS.txt."
