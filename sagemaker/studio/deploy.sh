# shellcheck shell=bash
# `sagemaker/deploy.sh --studio`: sourced by deploy.sh, which has parsed the options. Creates the
# JupyterLab lifecycle configuration from studio/on-start.sh and attaches it to a domain, a
# user profile or a space, with Studio's own idle shutdown and a default home volume.
# shellcheck disable=SC2154 # the options are deploy.sh's variables

[ -n "$domain_id" ] || { echo "deploy: --studio needs --domain-id (aws sagemaker list-domains shows it)" >&2; exit 2; }
if [ -n "$user_profile" ] && [ -n "$space" ]; then
  echo "deploy: give --user-profile or --space, not both" >&2
  exit 2
fi
# The URL goes into a shell script: only what git URLs use.
if [ -n "$repo_url" ] && ! [[ "$repo_url" =~ ^(https://|git@)[A-Za-z0-9._/:@~+-]+$ ]]; then
  echo "deploy: --repo-url must be an https:// or git@ URL (letters, digits, . _ / : @ ~ + -)" >&2
  exit 2
fi

# Studio's idle shutdown stops the app: the script's own watcher only makes backups.
# shellcheck disable=SC2034 # read by deploy.sh's with_settings
settings="export TRANSFORMER_NB_REPO_URL=$repo_url
export TRANSFORMER_NB_IDLE_STOP_MINUTES=0
export TRANSFORMER_NB_BACKUP_S3_URI=$backup_s3_uri"
content=$(with_settings "$here/studio/on-start.sh" | base64 -w0)
if [ "${#content}" -gt 16384 ]; then
  echo "deploy: studio/on-start.sh is ${#content} characters in base64, over Studio's 16384" >&2
  exit 1
fi
# A Studio lifecycle configuration cannot be changed once made: each content gets its own name.
config=$name-jupyterlab-$(printf '%s' "$content" | sha256sum | cut -c1-8)

target="domain $domain_id (every user's private spaces)"
[ -n "$user_profile" ] && target="user profile $user_profile of domain $domain_id"
[ -n "$space" ] && target="space $space of domain $domain_id"
idle_words="after $idle_stop_minutes minutes without activity (Studio's idle shutdown; the space and its home stay)"
[ "$idle_stop_minutes" = 0 ] && idle_words="not set by this script (the app runs until it is stopped)"
cat <<EOF
deploy: Studio JupyterLab lifecycle configuration $config for the $target
deploy: instance: $instance_type; home volume: $volume_gb GB by default (the install takes about 4 GB)
deploy: idle shutdown: $idle_words
deploy: backups of the home: ${backup_s3_uri:-none}
deploy: cost: Studio bills a JupyterLab space's instance by the second while its app runs, and
deploy:   its volume per GB-month until the space is deleted. Hourly prices:
deploy:   https://aws.amazon.com/sagemaker/pricing/ ("Studio", your region). Stop the space
deploy:   from Studio when you are done, or: aws sagemaker delete-app --domain-id $domain_id
deploy:   --space-name ${space:-SPACE} --app-type JupyterLab --app-name default
EOF

aws_call() {
  if [ "$dry_run" = 1 ]; then
    local shown=()
    for arg in "$@"; do
      if [ "$arg" = "$content" ]; then
        shown+=("<base64, ${#arg} characters>")
      elif [[ "$arg" =~ ^[A-Za-z0-9._/:=-]+$ ]]; then
        shown+=("$arg")
      else
        shown+=("'$arg'")
      fi
    done
    echo "aws ${shown[*]}"
  else
    aws "$@"
  fi
}

if [ "$dry_run" = 1 ]; then
  arn="arn:aws:sagemaker:REGION:ACCOUNT:studio-lifecycle-config/$config"
  existing=()
elif arn=$(aws sagemaker describe-studio-lifecycle-config --studio-lifecycle-config-name "$config" \
  --query StudioLifecycleConfigArn --output text 2>/dev/null); then
  echo "deploy: $config exists"
else
  arn=$(aws sagemaker create-studio-lifecycle-config --studio-lifecycle-config-name "$config" \
    --studio-lifecycle-config-app-type JupyterLab --studio-lifecycle-config-content "$content" \
    --query StudioLifecycleConfigArn --output text)
fi
if [ "$dry_run" = 1 ]; then
  aws_call sagemaker create-studio-lifecycle-config --studio-lifecycle-config-name "$config" \
    --studio-lifecycle-config-app-type JupyterLab --studio-lifecycle-config-content "$content"
fi

# The configurations a space may pick are the domain's or its user profile's list: keep what is
# there and add this one.
if [ "$dry_run" = 0 ]; then
  if [ -n "$user_profile" ]; then
    listed=$(aws sagemaker describe-user-profile --domain-id "$domain_id" --user-profile-name "$user_profile" \
      --query 'UserSettings.JupyterLabAppSettings.LifecycleConfigArns' --output text 2>/dev/null || true)
  else
    listed=$(aws sagemaker describe-domain --domain-id "$domain_id" \
      --query 'DefaultUserSettings.JupyterLabAppSettings.LifecycleConfigArns' --output text 2>/dev/null || true)
  fi
  read -r -a existing <<<"${listed//None/}"
fi
arns=$(printf '"%s",' "${existing[@]}" | sed 's/"",//g')
case "$arns" in *"\"$arn\""*) ;; *) arns="$arns\"$arn\"," ;; esac
arns="[${arns%,}]"

idle=
if [ "$idle_stop_minutes" != 0 ]; then
  idle=",\"AppLifecycleManagement\":{\"IdleSettings\":{\"LifecycleManagement\":\"ENABLED\",\"IdleTimeoutInMinutes\":$idle_stop_minutes}}"
fi
resource="\"DefaultResourceSpec\":{\"LifecycleConfigArn\":\"$arn\",\"InstanceType\":\"$instance_type\"}"
user_settings="{\"JupyterLabAppSettings\":{$resource,\"LifecycleConfigArns\":$arns$idle},\"SpaceStorageSettings\":{\"DefaultEbsStorageSettings\":{\"DefaultEbsVolumeSizeInGb\":$volume_gb,\"MaximumEbsVolumeSizeInGb\":$((volume_gb > 20 ? volume_gb : 20))}}}"
if [ -n "$user_profile" ]; then
  aws_call sagemaker update-user-profile --domain-id "$domain_id" --user-profile-name "$user_profile" \
    --user-settings "$user_settings"
else
  aws_call sagemaker update-domain --domain-id "$domain_id" --default-user-settings "$user_settings"
fi
if [ -n "$space" ]; then
  # A space's idle settings take only the timeout; the domain's say that idle shutdown is on.
  space_idle=
  [ "$idle_stop_minutes" != 0 ] && space_idle=",\"AppLifecycleManagement\":{\"IdleSettings\":{\"IdleTimeoutInMinutes\":$idle_stop_minutes}}"
  aws_call sagemaker update-space --domain-id "$domain_id" --space-name "$space" \
    --space-settings "{\"JupyterLabAppSettings\":{$resource$space_idle},\"SpaceStorageSettings\":{\"EbsStorageSettings\":{\"EbsVolumeSizeInGb\":$volume_gb}}}"
fi
echo "deploy: done. The configuration runs at the next start of a JupyterLab space's app (stop"
echo "deploy: and start a running one); the install's progress is in ~/TRANSFORMER-NB-STATUS.txt."
