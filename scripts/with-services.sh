#!/usr/bin/env bash
# Run a command with fresh PostgreSQL + PgBouncer + Redis; stop them afterwards, even on failure.
# WITH_KUBE=1 also starts a real Kubernetes control plane (scripts/kube.sh, issue 16) alongside.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/challenge-services.XXXXXX)
kdir=$dir.kube
trap '"$here/services.sh" stop "$dir"; "$here/kube.sh" stop "$kdir"' EXIT INT TERM
kpid=
if [ "${WITH_KUBE:-0}" = 1 ]; then
  "$here/kube.sh" start "$kdir" &
  kpid=$!
fi
"$here/services.sh" start "$dir"
# shellcheck disable=SC1091
source "$dir/env"
if [ -n "$kpid" ]; then
  wait "$kpid"
  # shellcheck disable=SC1091
  source "$kdir/env"
fi
"$@"
