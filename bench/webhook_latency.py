#!/usr/bin/env python3
"""Webhook latency (issue 15): GitHub push received -> pipeline created -> first step started.

Measured end to end through `circlet serve` and one `circlet runner`.

Each delivery pushes a new commit: the client commits on `main` in the project's repository
(`git commit --allow-empty`), builds GitHub's push payload for it (the fixture
crates/core/tests/forge_payloads/github_push.json with `ref`, `after` and `head_commit.id`
replaced), signs it with the project's webhook secret (`X-Hub-Signature-256`, HMAC-SHA256 of
the raw body) and takes t0 just before it sends it (POST /api/hooks/github/gh/bench/lat, a new
connection per delivery, as a forge makes). t1 is when the 202 arrives: the pipeline exists by
then (the reply names it). The job's only step is `run: date +%s%N`; its output (nanoseconds
since the epoch, same host, same clock) is t2, read back through the v1.1 API once the
pipeline has finished. Deliveries go one after another, each waited for, so the figures hold
no queueing. Prints p50, p90, p99, min and max of (a) t1 - t0, the delivery's round trip, and
(b) t2 - t0, received -> first step started; one warm-up delivery is not counted. Every
delivery must get 202 with one pipeline at the pushed commit, and every job must succeed.

    bench/webhook_latency.py [--deliveries N] [--no-build]

The instance is runner_latency.py's (imported from it): SQLite in a temp data dir, `serve
--runners 0` on loopback, project gh/bench/lat read from a file:// git repository, one
`circlet runner` in its bubblewrap sandbox (the default), concurrency 1. The webhook secret is
made in the web UI, as the project's admin would: log in, Project settings -> Webhooks, Create
Secret. Needs python3 (standard library only), git, cargo, bwrap and the loopback interface;
builds the release binary unless `--no-build`. Everything it starts is stopped and the temp dir
removed at the end, also on Ctrl-C or an error (the logs are shown first when something failed).
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# No bench/__pycache__ from the import below: it would sit untracked beside the scripts.
sys.dont_write_bytecode = True
import runner_latency as rl  # noqa: E402  (the bench directory is not a package)

BenchError = rl.BenchError
PUSH_FIXTURE = os.path.join(rl.ROOT, "crates", "core", "tests", "forge_payloads",
                            "github_push.json")
HOOK_PATH = f"/api/hooks/github/{rl.PROJECT}"


# ---------------------------------------------------------------------------------------------
# The web UI: the webhook secret


class Browser:
    """The web UI as a browser sees it: cookies kept, redirects not followed."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, form=None):
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        for value in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            if re.search(r";\s*Max-Age=0\b", rest, re.I):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return resp.status, text

    def expect(self, status, method, path, form=None):
        got, text = self.request(method, path, form)
        if got != status:
            raise BenchError(f"{method} {path}: {got}, expected {status}:\n{text[:500]}")
        return text


def csrf_in(html, what):
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    if not m:
        raise BenchError(f"no csrf field in {what}")
    return m.group(1)


def webhook_secret(inst):
    """Makes the project's webhook secret in Project settings -> Webhooks; returns it."""
    b = Browser(inst.port)
    login = b.expect(200, "GET", "/login")
    b.expect(303, "POST", "/login", {"login": "bench", "password": rl.PASSWORD,
                                     "csrf": csrf_in(login, "the login page")})
    settings = f"/projects/{rl.PROJECT}/settings/webhooks"
    page = b.expect(200, "GET", settings)
    if HOOK_PATH not in page:
        raise BenchError(f"the webhooks page does not list {HOOK_PATH}")
    made = b.expect(200, "POST", settings + "/secret",
                    {"csrf": csrf_in(page, "the webhooks page")})
    m = re.search(r'id="secret-value">([0-9a-f]{64})<', made)
    if not m:
        raise BenchError("the webhooks page did not show a new secret")
    return m.group(1)


# ---------------------------------------------------------------------------------------------
# Deliveries


def push_payload(template, sha):
    p = json.loads(json.dumps(template))
    p["ref"] = "refs/heads/main"
    p["after"] = sha
    p["head_commit"]["id"] = sha
    return json.dumps(p).encode()


def deliver(port, secret, raw):
    """Sends one signed push delivery; returns (t0, t1, status, reply) with t0 taken just
    before the request and t1 when its reply has arrived."""
    sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push",
               "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": f"sha256={sig}",
               "User-Agent": "GitHub-Hookshot/bench"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        t0 = time.time_ns()
        conn.request("POST", HOOK_PATH, body=raw, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        t1 = time.time_ns()
    finally:
        conn.close()
    try:
        reply = json.loads(body)
    except ValueError:
        reply = body[:500]
    return t0, t1, resp.status, reply


def one_delivery(inst, secret, template, i):
    """Pushes a new commit and delivers it; returns (created ms, step ms, pipeline number)."""
    rl.git(inst.repo, "commit", "-q", "--allow-empty", "-m", f"delivery {i}")
    sha = rl.git(inst.repo, "rev-parse", "HEAD").strip()
    raw = push_payload(template, sha)
    # Let the runner get back to its claim (long poll) after the previous job's finish.
    time.sleep(0.1)
    t0, t1, status, reply = deliver(inst.port, secret, raw)
    if status != 202 or not isinstance(reply, dict):
        raise BenchError(f"delivery {i}: {status}, expected 202: {reply}")
    pipelines = reply.get("pipelines") or []
    if reply.get("outcome") != "built" or len(pipelines) != 1:
        raise BenchError(f"delivery {i}: expected one pipeline built: {reply}")
    pid, number = pipelines[0]["id"], pipelines[0]["number"]
    workflows = inst.wait_pipeline(pid, timeout=120, interval=0.05)
    if len(workflows) != 1 or workflows[0]["status"] != "success":
        raise BenchError(f"delivery {i}, pipeline {number}: workflows {workflows}")
    p = inst.api.get(f"/api/v2/pipeline/{pid}")
    if p["vcs"]["revision"] != sha or p["trigger"]["type"] != "webhook":
        raise BenchError(f"delivery {i}, pipeline {number}: built {p['vcs']['revision']} "
                         f"(trigger {p['trigger']['type']}), pushed {sha}")
    jobs = inst.jobs_of(workflows[0]["id"])
    if len(jobs) != 1:
        raise BenchError(f"delivery {i}, pipeline {number}: jobs {jobs}")
    t2 = inst.date_step_ns(jobs[0]["job_number"])  # raises unless the job succeeded
    return (t1 - t0) / 1e6, (t2 - t0) / 1e6, number, jobs[0]["job_number"]


# ---------------------------------------------------------------------------------------------
# Figures


def summary(values):
    v = sorted(values)
    return {"n": len(v), "p50": rl.percentile(v, 50), "p90": rl.percentile(v, 90),
            "p99": rl.percentile(v, 99), "min": v[0], "max": v[-1]}


def fmt_row(label, s):
    return (f"  {label:<36} n={s['n']:<4d} p50 {s['p50']:7.1f}  p90 {s['p90']:7.1f}  "
            f"p99 {s['p99']:7.1f}  min {s['min']:7.1f}  max {s['max']:7.1f}  (ms)")


def server_hook_ms(server_log):
    """The server's own time for each delivery (its request log's `latency_us`), in order."""
    pattern = re.compile(r"method=POST path=" + re.escape(HOOK_PATH)
                         + r" .*status=202 latency_us=(\d+)")
    with open(server_log, errors="replace") as f:
        return [int(m.group(1)) / 1e3 for m in map(pattern.search, f) if m]


def measure(binary, work, procs, deliveries):
    print(f"== webhook received -> pipeline created -> first step started, {deliveries} "
          "GitHub push deliveries one at a time, one sandboxed `circlet runner` "
          "(concurrency 1)", flush=True)
    with open(PUSH_FIXTURE) as f:
        template = json.load(f)
    inst = rl.Instance(binary, work, procs, "webhook")
    created, started = [], []
    try:
        inst.start(rl.ONE_JOB)
        secret = webhook_secret(inst)
        print("  webhook secret made in Project settings -> Webhooks", flush=True)
        inst.start_runner("hook", sandbox=True)
        time.sleep(1)
        inst.check_runners_alive()
        began = time.monotonic()
        for i in range(deliveries + 1):
            a, b, number, job = one_delivery(inst, secret, template, i)
            if i == 0:
                print(f"  warm-up delivery (not counted): pipeline {number} created in "
                      f"{a:.1f} ms, its step started after {b:.1f} ms", flush=True)
                said = rl.sandbox_line(inst, inst.build(job))
                if not said.startswith(rl.SANDBOX_SAYS[True]):
                    raise BenchError(f"the job did not run in the sandbox: {said}")
                print(f"  its first step: {said[:110]}", flush=True)
                began = time.monotonic()
                continue
            created.append(a)
            started.append(b)
            if i % 50 == 0:
                print(f"  {i} deliveries", flush=True)
        elapsed = time.monotonic() - began
    except Exception as e:
        inst.dump_logs()
        if isinstance(e, BenchError):
            raise
        raise BenchError(f"{type(e).__name__}: {e}") from e
    finally:
        inst.stop()

    print()
    print(f"webhook latency: {deliveries} GitHub push deliveries, each a new commit on main "
          f"(client t0 before the POST; `{rl.DATE_STEP}` in the step)")
    print(fmt_row("(a) received -> pipeline created", summary(created)))
    print(fmt_row("(b) received -> first step started", summary(started)))
    print(fmt_row("    (b) - (a), per delivery", summary([b - a for a, b in
                                                         zip(created, started)])))
    in_server = server_hook_ms(inst.server_log)[1:]  # the warm-up's first
    if len(in_server) == deliveries:
        print(fmt_row("    (a) in the server's request log", summary(in_server)))
    print(f"  all {deliveries} deliveries got 202 with one pipeline at the pushed commit; "
          f"every job succeeded; {elapsed:.1f} s in all")
    print(f"  {rl.load()} at the end")
    print("  logs:")
    for label, path in inst.logs:
        rl.log_summary(label, path)
    print(flush=True)


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--deliveries", type=int, default=200,
                    help="counted deliveries, after one warm-up (default 200)")
    ap.add_argument("--no-build", action="store_true",
                    help="use target/release/circlet as it is, without cargo build")
    args = ap.parse_args()
    if args.deliveries < 1:
        ap.error("--deliveries must be at least 1")
    if shutil.which("bwrap") is None:
        sys.exit("bwrap (bubblewrap) is not installed; the sandboxed runner needs it")

    rl.stop_on_signals()
    built = rl.release_binary(args.no_build)

    work = tempfile.mkdtemp(prefix="circlet-bench.")
    procs = rl.Procs()
    ok = True
    try:
        binary = os.path.join(work, "circlet")
        shutil.copy2(built, binary)
        print(f"binary: {built} ({rl.run([binary, '--version']).strip()}); "
              f"{os.cpu_count()} CPUs; temp dir {work}; {rl.load()}", flush=True)
        measure(binary, work, procs, args.deliveries)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        ok = False
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        ok = False
    finally:
        try:
            procs.stop_all()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
