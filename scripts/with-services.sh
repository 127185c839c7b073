#!/usr/bin/env bash
# Run a command with fresh PostgreSQL + PgBouncer + Redis; stop them afterwards, even on failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/challenge-services.XXXXXX)
trap '"$here/services.sh" stop "$dir"' EXIT INT TERM
"$here/services.sh" start "$dir"
# shellcheck disable=SC1091
source "$dir/env"
"$@"
