#!/usr/bin/env bash
# Saving and restoring a large dependency cache (issue 14): by default 500 MiB in 20,000 files of
# random bytes (zstd cannot shrink them, so the archive is as large as the files). Prints how
# long `save_cache` and `restore_cache` took (their own step output) and the peak resident
# memory (VmHWM) of the separate `circlet runner` process, whose memory must stay flat (target:
# under 64 MB) whatever the cache's size: archives are streamed, never held.
#
#   bench/cache_rss.sh [TOTAL_MB] [FILES]    (needs git, curl, python3, bwrap, a release build)
#
# It builds the release binary, starts a fresh instance on loopback (SQLite, temp data dir,
# artifacts on local disk, no embedded runner) and one `circlet runner` in the bubblewrap
# sandbox (as jobs run by default), runs pipeline 1 (make the files, save_cache) and pipeline 2
# (restore_cache, check one file), and stops and removes everything at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TOTAL_MB="${1:-500}"
FILES="${2:-20000}"
PER_FILE=$((TOTAL_MB * 1024 * 1024 / FILES))

cargo build --release -q -p circlet
BIN="$PWD/target/release/circlet"
WORK="$(mktemp -d /tmp/circlet-bench.XXXXXX)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/repo/.circleci"
cat >"$WORK/repo/.circleci/config.yml" <<EOF
version: 2.1
jobs:
  save:
    steps:
      - run:
          name: make the files
          command: |
            python3 -c '
            import os
            os.makedirs(os.path.expanduser("~/deps"), exist_ok=True)
            for i in range($FILES):
                d = os.path.expanduser("~/deps/d%03d" % (i % 200))
                os.makedirs(d, exist_ok=True)
                with open("%s/f%05d" % (d, i), "wb") as f:
                    f.write(os.urandom($PER_FILE))
            '
            du -sh ~/deps
      - save_cache:
          key: bench-{{ .Revision }}
          paths: [~/deps]
  restore:
    steps:
      - restore_cache:
          keys: [bench-]
      - run: test "\$(find ~/deps -type f | wc -l)" = $FILES && du -sh ~/deps
workflows:
  main:
    jobs:
      - save
      - restore: {requires: [save]}
EOF
git -C "$WORK/repo" init -q -b main
git -C "$WORK/repo" -c user.name=b -c user.email=b@example.com add -A
git -C "$WORK/repo" -c user.name=b -c user.email=b@example.com commit -q -m config

D=(--data-dir "$WORK/data")
echo "correct horse battery" | "$BIN" "${D[@]}" admin user create bench --admin --password-stdin >/dev/null
"$BIN" "${D[@]}" admin project create gh/bench/cache --owner bench --repo-url "file://$WORK/repo" >/dev/null
TOKEN="$("$BIN" "${D[@]}" admin token create --user bench --name bench | tail -n 1)"
RUNNER="$("$BIN" "${D[@]}" admin runner-token create bench | tail -n 1)"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" "${D[@]}" serve --listen "127.0.0.1:$PORT" --runners 0 2>"$WORK/server.log" &
PIDS+=($!)
URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.1; done
CIRCLET_RUNNER_TOKEN="$RUNNER" "$BIN" runner --server "$URL" --work-dir "$WORK/runner" \
    --hide "$WORK/data" 2>"$WORK/runner.log" &
RUNNER_PID=$!
PIDS+=("$RUNNER_PID")

hwm() { awk '/VmHWM/ {print $2 " " $3}' "/proc/$RUNNER_PID/status"; }
sleep 1
echo "runner peak RSS after start: $(hwm)"

curl -sf -X POST -H "Circle-Token: $TOKEN" -H 'content-type: application/json' \
    -d '{"branch":"main"}' "$URL/api/v2/project/gh/bench/cache/pipeline" >/dev/null

# Waits for build $1 to finish; prints its status and the output of its steps.
build() {
    python3 - "$URL" "$TOKEN" "$1" <<'PY'
import json, sys, time, urllib.request
url, token, n = sys.argv[1], sys.argv[2], sys.argv[3]
def get(u):
    req = urllib.request.Request(u, headers={"Circle-Token": token})
    return json.load(urllib.request.urlopen(req))
deadline = time.time() + 1800
while True:
    b = get(f"{url}/api/v1.1/project/gh/bench/cache/{n}")
    if b["lifecycle"] == "finished":
        break
    if time.time() > deadline:
        sys.exit(f"build {n} did not finish")
    time.sleep(0.5)
print("status", b["status"])
for s in b["steps"]:
    a = s["actions"][0]
    if a.get("output_url"):
        out = get(a["output_url"])
        print("".join(m["message"] for m in out), end="")
PY
}
echo "--- build 1 (make ${FILES} files, ${TOTAL_MB} MiB; save_cache)"
build 1 | grep -E "^status|Stored cache|files,|Error" || true
echo "runner peak RSS after save:    $(hwm)"
echo "--- build 2 (restore_cache)"
build 2 | grep -E "^status|Found a cache|Size:|Restored|Error|M\s" || true
echo "runner peak RSS after restore: $(hwm)"
