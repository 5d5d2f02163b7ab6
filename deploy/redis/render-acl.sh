#!/usr/bin/env bash
# Render a Redis ACL file from a template, taking passwords from the environment.
#
#   render-acl.sh TEMPLATE OUTPUT
#
# Replaces ${LP_REDIS_ADMIN_PASSWORD}, ${LP_REDIS_WORKER_PASSWORD},
# ${LP_REDIS_FRONTEND_PASSWORD} and ${LP_REDIS_INGEST_PASSWORD}; drops comment
# lines. Stops with an error when a password is missing or unusable, so Redis
# never starts with an empty or half-written ACL. No eval, no sed: a password
# is inserted literally whatever characters it holds.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true  # bash 5.2: '&' in a replacement is literal

if [[ $# -ne 2 ]]; then
  echo "usage: $0 TEMPLATE OUTPUT" >&2
  exit 2
fi
template=$1
output=$2
names=(LP_REDIS_ADMIN_PASSWORD LP_REDIS_WORKER_PASSWORD LP_REDIS_FRONTEND_PASSWORD
       LP_REDIS_INGEST_PASSWORD)

for name in "${names[@]}"; do
  value=${!name:-}
  if [[ ${#value} -lt 16 ]]; then
    echo "render-acl: $name must be set to at least 16 characters" >&2
    exit 1
  fi
  if [[ $value =~ [[:space:]] ]]; then
    # ACL rules are split on whitespace: a space would end the password early.
    echo "render-acl: $name must not contain whitespace" >&2
    exit 1
  fi
done

umask 077
tmp=$(mktemp "${output}.XXXXXX")
trap 'rm -f "$tmp"' EXIT
while IFS= read -r line || [[ -n $line ]]; do
  [[ -z $line || $line == \#* ]] && continue
  rest=$line
  for name in "${names[@]}"; do
    rest=${rest//"\${$name}"/}
  done
  if [[ $rest == *'${'* ]]; then
    echo "render-acl: unknown placeholder in the template: ${rest%%>*}" >&2
    exit 1
  fi
  for name in "${names[@]}"; do
    line=${line//"\${$name}"/"${!name}"}
  done
  printf '%s\n' "$line" >> "$tmp"
done < "$template"
mv "$tmp" "$output"
trap - EXIT
