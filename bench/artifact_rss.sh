#!/usr/bin/env bash
# Peak resident memory of `circlet serve` while a 200 MB artifact is uploaded through the runner
# protocol and downloaded again (issue 5: "a 200 MB artifact uploads and downloads with the
# server's resident memory staying bounded").
#
#   bench/artifact_rss.sh [SIZE_MB]      (default 200; needs git, curl, python3, a release build)
#
# It builds the release binary, starts a fresh instance on loopback (SQLite, temp data dir, no
# embedded runner), plays a runner with curl (claim, PUT the file, finish), downloads it with a
# personal token, checks the bytes match, and prints the server's VmHWM (peak RSS) from /proc
# before and after. Everything it starts is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SIZE_MB="${1:-200}"

cargo build --release -q -p circlet
BIN="$PWD/target/release/circlet"
WORK="$(mktemp -d /tmp/circlet-bench.XXXXXX)"
SERVER_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# A repository whose config has one job.
mkdir -p "$WORK/repo/.circleci"
printf 'version: 2.1\njobs:\n  build:\n    steps: [checkout]\nworkflows:\n  main:\n    jobs: [build]\n' \
    >"$WORK/repo/.circleci/config.yml"
git -C "$WORK/repo" init -q -b main
git -C "$WORK/repo" -c user.name=b -c user.email=b@example.com add -A
git -C "$WORK/repo" -c user.name=b -c user.email=b@example.com commit -q -m config

D=(--data-dir "$WORK/data")
echo "correct horse battery" | "$BIN" "${D[@]}" admin user create bench --admin --password-stdin >/dev/null
"$BIN" "${D[@]}" admin project create gh/bench/big --owner bench --repo-url "file://$WORK/repo" >/dev/null
TOKEN="$("$BIN" "${D[@]}" admin token create --user bench --name bench | tail -n 1)"
RUNNER="$("$BIN" "${D[@]}" admin runner-token create bench | tail -n 1)"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" "${D[@]}" serve --listen "127.0.0.1:$PORT" --runners 0 2>"$WORK/server.log" &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done

hwm() { awk '/VmHWM/ {print $2 " " $3}' "/proc/$SERVER_PID/status"; }
echo "server peak RSS after start:    $(hwm)"

head -c "$((SIZE_MB * 1024 * 1024))" /dev/urandom >"$WORK/big.bin"
curl -sf -X POST -H "Circle-Token: $TOKEN" -H 'content-type: application/json' \
    -d '{"branch":"main"}' "$URL/api/v2/project/gh/bench/big/pipeline" >/dev/null
JOB="$(curl -sf -X POST -H "Authorization: Bearer $RUNNER" "$URL/api/runner/v1/claim?wait=10" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

start=$(date +%s.%N)
curl -sf -X PUT -H "Authorization: Bearer $RUNNER" -H 'content-type: application/octet-stream' \
    -T "$WORK/big.bin" "$URL/api/runner/v1/jobs/$JOB/artifacts/out/big.bin"
up=$(date +%s.%N)
curl -sf -X POST -H "Authorization: Bearer $RUNNER" -H 'content-type: application/json' \
    -d '{"outcome":"success","message":null}' "$URL/api/runner/v1/jobs/$JOB/finish"
curl -sf -o "$WORK/down.bin" "$URL/artifacts/gh/bench/big/1/0/out/big.bin?circle-token=$TOKEN"
down=$(date +%s.%N)
cmp "$WORK/big.bin" "$WORK/down.bin"

echo "uploaded and downloaded ${SIZE_MB} MiB, identical"
printf 'upload %.1f s, download %.1f s\n' "$(echo "$up - $start" | bc)" "$(echo "$down - $up" | bc)"
echo "server peak RSS (VmHWM):        $(hwm)"
