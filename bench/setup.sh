#!/usr/bin/env bash
# What the benchmarks need beyond `make deps web`: Janus (the peer media server) for the
# `janus` bench, and sipp (Debian's sip-tester) for `sip-media`. Installed only when missing,
# with the project's own installer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/janus ]; then
  scripts/ensure-system-packages.sh janus:/usr/bin/janus
fi
scripts/ensure-system-packages.sh sip-tester:sipp
