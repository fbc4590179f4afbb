#!/usr/bin/env bash
# Install the Debian packages the tests need, only when a command is missing.
# Usage: ensure-system-packages.sh PACKAGE[:COMMAND] ...
# A COMMAND that names a shared library (libopus.so.0) is looked up with ldconfig instead.
set -euo pipefail

missing=()
for spec in "$@"; do
  package=${spec%%:*}
  command=${spec#*:}
  case "$command" in
    lib*.so*) ldconfig -p | grep -qF "$command" || missing+=("$package") ;;
    *) command -v "$command" >/dev/null 2>&1 || missing+=("$package") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing ${missing[*]} with apt-get"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
