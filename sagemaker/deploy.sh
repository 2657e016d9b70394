#!/usr/bin/env bash
# Deploys transformer-nb to Amazon SageMaker with the AWS CLI. Either a notebook instance: the
# lifecycle configuration (on-create.sh, on-start.sh), optionally a code repository, and an
# ml.t3.medium notebook instance on Amazon Linux 2023 / JupyterLab 4 that uses them; or, with
# --studio, a lifecycle configuration for JupyterLab spaces of an existing Studio domain
# (studio/on-start.sh), attached to the domain, a user profile or a space, with Studio's idle
# shutdown and a 10 GB default home volume.
#
# Usage: sagemaker/deploy.sh --role-arn ARN [--repo-url URL] [--name NAME]
#                            [--instance-type TYPE] [--volume-gb N] [--idle-stop-minutes N]
#                            [--backup-s3-uri s3://BUCKET/PREFIX] [--cloudformation] [--dry-run]
#        sagemaker/deploy.sh --studio --domain-id ID [--user-profile NAME | --space NAME]
#                            [--repo-url URL] [--instance-type TYPE] [--volume-gb N]
#                            [--idle-stop-minutes N] [--backup-s3-uri URI] [--dry-run]
#        sagemaker/deploy.sh --render-template FILE
#   --role-arn          an IAM role SageMaker may assume (AmazonSageMakerFullAccess or narrower)
#   --repo-url          git URL of this repository; becomes the instance's default code
#                       repository (Studio: the space clones it into ~/transformer-nb)
#   --idle-stop-minutes stop the instance (Studio: the JupyterLab app) after N minutes without
#                       activity (default 60; 0: never)
#   --backup-s3-uri     back ~/SageMaker (Studio: the home) up there on a schedule and before an idle stop
#   --cloudformation    deploy sagemaker/cloudformation.yaml as a stack instead of direct calls
#   --render-template   write cloudformation.yaml with the scripts filled in (for the console)
#   --dry-run           print the AWS calls instead of making them
# Credentials come from the AWS CLI's usual sources (profile, environment, SSO); none are stored.
# The permissions each mode needs are in sagemaker/README.md.
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
idle_stop_minutes=60
backup_s3_uri=
studio=0
domain_id=
user_profile=
space=
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
    --idle-stop-minutes) idle_stop_minutes=${2:?}; shift ;;
    --backup-s3-uri) backup_s3_uri=${2:?}; shift ;;
    --studio) studio=1 ;;
    --domain-id) domain_id=${2:?}; shift ;;
    --user-profile) user_profile=${2:?}; shift ;;
    --space) space=${2:?}; shift ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "deploy: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

case "$idle_stop_minutes" in
  '' | *[!0-9]*) echo "deploy: --idle-stop-minutes takes a whole number of minutes (0: never stop)" >&2; exit 2 ;;
esac
# The URI goes into a shell script: allow only what S3 bucket names and plain keys use.
if [ -n "$backup_s3_uri" ] && ! [[ "$backup_s3_uri" =~ ^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9._/-]*)?$ ]]; then
  echo "deploy: --backup-s3-uri must look like s3://my-bucket/some/prefix (letters, digits, . _ - /)" >&2
  exit 2
fi

# The settings, as lines the lifecycle scripts read (put after their first line).
settings="export TRANSFORMER_NB_IDLE_STOP_MINUTES=$idle_stop_minutes
export TRANSFORMER_NB_BACKUP_S3_URI=$backup_s3_uri"
with_settings() {
  head -n 1 "$1"
  printf '%s\n' "$settings"
  tail -n +2 "$1"
}

if [ "$studio" = 1 ]; then
  # shellcheck source=studio/deploy.sh
  . "$here/studio/deploy.sh"
  exit 0
fi
on_create=$(with_settings "$here/on-create.sh" | base64 -w0)
on_start=$(with_settings "$here/on-start.sh" | base64 -w0)
for script in on_create on_start; do
  content=${!script}
  size=${#content}
  # The API takes at most 16384 characters of base64 per script.
  if [ "$size" -gt 16384 ]; then
    echo "deploy: ${script//_/-}.sh is $size characters in base64, over SageMaker's 16384" >&2
    exit 1
  fi
done

# The template builds each script from its parameters and the script's text (lines 2 on),
# which replaces a __..._SCRIPT__ marker line, indented as the marker is.
render_template() {
  awk -v create="$here/on-create.sh" -v start="$here/on-start.sh" '
    /__ON_(CREATE|START)_SCRIPT__/ {
      file = ($0 ~ /CREATE/) ? create : start
      indent = substr($0, 1, index($0, "__") - 1)
      line_number = 0
      while ((getline line < file) > 0) {
        if (++line_number == 1) continue
        print (line == "" ? "" : indent line)
      }
      close(file)
      next
    }
    { print }' "$here/cloudformation.yaml" >"$1"
}

if [ -n "$render" ]; then
  mkdir -p "$(dirname "$render")"
  render_template "$render"
  echo "deploy: wrote $render"
  exit 0
fi
[ -n "$role_arn" ] || { echo "deploy: --role-arn is required" >&2; exit 2; }

# What it will cost, before anything is created. Prices differ by region and change, and
# cannot be looked up offline, so none is printed here.
idle_words="after $idle_stop_minutes minutes without activity"
[ "$idle_stop_minutes" = 0 ] && idle_words="never (the instance runs until you stop it)"
cat <<EOF
deploy: notebook instance $name: $instance_type, $volume_gb GB volume
deploy: idle stop: $idle_words
deploy: backups of ~/SageMaker: ${backup_s3_uri:-none}
deploy: cost: SageMaker bills the instance by the second while it is InService, and the volume
deploy:   per GB-month until the instance is deleted (a stopped instance costs only its volume).
deploy:   Hourly prices: https://aws.amazon.com/sagemaker/pricing/ (On-Demand, "Notebook
deploy:   instances", your region), or the AWS Pricing Calculator. Stop it when you are done:
deploy:   aws sagemaker stop-notebook-instance --notebook-instance-name $name
EOF

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
    "VolumeSizeInGB=$volume_gb" "RoleArn=$role_arn" "RepositoryUrl=$repo_url" \
    "IdleStopMinutes=$idle_stop_minutes" "BackupS3Uri=$backup_s3_uri"
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
