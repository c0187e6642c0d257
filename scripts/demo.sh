#!/usr/bin/env bash
# The offline demo: backfill the sample Slack export into the local index, verify, then query it.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKFILL=.venv/bin/backfill
"$BACKFILL" run examples/slack-demo.toml --progress log
echo
"$BACKFILL" query examples/slack-demo.toml "root cause of the postgres failover incident" -k 3
