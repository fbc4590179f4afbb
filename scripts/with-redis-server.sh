#!/usr/bin/env bash
# Run a command with TALKBOX_REDIS_URL set to a redis-server of its own (free loopback port, temp dir, nothing
# saved), stopped afterwards. A missing redis-server is a failure: `make system` installs it.
# Usage: with-redis-server.sh COMMAND ...
set -euo pipefail

command -v redis-server >/dev/null || { echo "redis-server is missing: run make system" >&2; exit 1; }
folder=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$folder" --save "" --appendonly no \
  --maxmemory-policy noeviction --daemonize no >"$folder/redis.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$folder"' EXIT
for _ in $(seq 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$folder/redis.log" >&2; exit 1; }
  sleep 0.1
done
redis-cli -p "$port" ping >/dev/null
TALKBOX_REDIS_URL="redis://127.0.0.1:$port/0" "$@"
