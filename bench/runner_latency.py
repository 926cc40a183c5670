#!/usr/bin/env python3
"""Runner latency and throughput (issue 14), measured end to end through `circlet runner`.

(A) Trigger -> first step started. The client takes t0 just before it sends the v2 trigger
    (POST /api/v2/project/gh/bench/lat/pipeline); the job's only step is `run: date +%s%N`,
    whose output (nanoseconds since the epoch, same host, same clock) is read back through the
    v1.1 API afterwards. Pipelines run one after another, each waited for, so the figure holds
    no queueing. Measured for a one-job workflow and for a two-job workflow (`b` requires `a`;
    trigger -> b's step), each with one `circlet runner` in its bubblewrap sandbox (the
    default) and one with `--sandbox none`; prints p50, p90, min, max and the sandbox's cost
    per job (the difference of the p50s). One warm-up pipeline per series is not counted.

(B) Throughput: 1,000 jobs (100-job workflows, 10 pipelines; a pipeline holds at most 500
    jobs) queued with no runner at all, then 8 `circlet runner` processes (sandboxed,
    concurrency 1 each) started at once; prints the time until every job had finished and the
    jobs per second, and checks every job succeeded, ran once (each prints one line,
    `ran-<build num> <date +%s%N>`; the runners' logs show each job claimed once and ended
    once) and ran in the sandbox (its first step says so).

    bench/runner_latency.py [--pipelines N] [--jobs N] [--runners N]
                            [--skip-latency] [--skip-throughput] [--no-build]

Needs python3 (standard library only), git, cargo, bwrap (Debian's `bubblewrap`) and the loopback
interface. It builds the release binary (`cargo build --release -q -p circlet`; `--no-build`
uses target/release/circlet as it is) and copies it into a temp dir, so a rebuild meanwhile
changes nothing. Each part gets a fresh instance on loopback (SQLite, temp data dir, `serve
--runners 0`, project gh/bench/lat read from a file:// git repository); everything it starts
is stopped and the temp dir removed at the end, also on Ctrl-C or an error (the server's and
runners' logs are shown first when something failed). Warnings and errors in those logs are
summarised after each part.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = "gh/bench/lat"
DATE_STEP = "date +%s%N"
PASSWORD = "correct horse battery"  # user bench's, for benchmarks that log in to the web UI
TERMINAL_WORKFLOW = {"success", "failed", "error", "canceled", "not_run", "unauthorized"}


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Processes and files


class Procs:
    """Every process the benchmark started, stopped by its own pid."""

    def __init__(self):
        self.procs = []

    def start(self, argv, log_path, env=None):
        log = open(log_path, "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        self.procs.append(p)
        return p

    def stop(self, p, timeout=10):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        # Runners first, then servers (the reverse of the order they were started in).
        for p in list(reversed(self.procs)):
            self.stop(p)


def clean_env(**extra):
    """The caller's environment without CIRCLET_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCLET_")}
    env.update(extra)
    return env


def run(argv, stdin=None, cwd=None):
    r = subprocess.run(argv, input=stdin, cwd=cwd, capture_output=True, text=True,
                       env=clean_env())
    if r.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr}{r.stdout}")
    return r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(repo, *args):
    return run(["git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@example.com",
                *args])


def commit_config(repo, config, branch="main"):
    """Commits `config` as .circleci/config.yml on `branch` (made from main if new)."""
    if not os.path.isdir(os.path.join(repo, ".git")):
        os.makedirs(os.path.join(repo, ".circleci"))
        git(repo, "init", "-q", "-b", "main")
    else:
        have = git(repo, "branch", "--list", branch).strip()
        git(repo, "checkout", "-q", *([] if have else ["-b"]), branch)
    with open(os.path.join(repo, ".circleci", "config.yml"), "w") as f:
        f.write(config)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", f"config {time.time_ns()}")


def log_summary(label, path, quiet_patterns=()):
    """Prints how many WARN/ERROR lines a log holds and the distinct messages among them."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    bad = [l for l in lines if (" WARN " in l or " ERROR " in l or "panicked" in l)
           and not any(q in l for q in quiet_patterns)]
    if not bad:
        print(f"  {label}: no warnings or errors")
        return
    distinct = {}
    for l in bad:
        # Strip the timestamp and job ids so repeats of one message count together.
        key = l.split("Z ", 1)[-1]
        distinct.setdefault(key, 0)
        distinct[key] += 1
    print(f"  {label}: {len(bad)} warning/error lines")
    for key, n in list(distinct.items())[:8]:
        print(f"    {n:5d} x {key[:200]}")


def load():
    """The host's load averages: other work on the machine skews every figure here."""
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return f"({e})\n"


# ---------------------------------------------------------------------------------------------
# HTTP


class Api:
    """A kept-alive connection to the server, with the personal token."""

    def __init__(self, port, token):
        self.port = port
        self.token = token
        self.conn = None

    def request(self, method, path, body=None):
        headers = {"Circle-Token": self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        if resp.status >= 300:
            raise BenchError(f"{method} {path}: {resp.status} {raw[:500]!r}")
        return json.loads(raw) if raw else None

    def get(self, path_or_url):
        u = urllib.parse.urlsplit(path_or_url)
        path = u.path + ("?" + u.query if u.query else "")
        return self.request("GET", path)

    def trigger(self, branch="main"):
        return self.request("POST", f"/api/v2/project/{PROJECT}/pipeline", {"branch": branch})


# ---------------------------------------------------------------------------------------------
# An instance


class Instance:
    """A fresh `circlet serve --runners 0` with user bench, project gh/bench/lat and a repo."""

    def __init__(self, binary, work, procs, name):
        self.binary = binary
        self.dir = os.path.join(work, name)
        self.data = os.path.join(self.dir, "data")
        self.repo = os.path.join(self.dir, "repo")
        self.procs = procs
        self.runners = []
        self.logs = []
        os.makedirs(self.dir)

    def admin(self, *args, stdin=None):
        return run([self.binary, "--data-dir", self.data, "admin", *args], stdin=stdin)

    def start(self, config):
        commit_config(self.repo, config)
        self.admin("user", "create", "bench", "--admin", "--password-stdin",
                   stdin=PASSWORD + "\n")
        self.admin("project", "create", PROJECT, "--owner", "bench",
                   "--repo-url", "file://" + self.repo)
        token = self.admin("token", "create", "--user", "bench", "--name", "bench")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_log = os.path.join(self.dir, "server.log")
        self.logs.append(("server", self.server_log))
        self.server = self.procs.start(
            [self.binary, "--data-dir", self.data, "serve", "--listen",
             f"127.0.0.1:{self.port}", "--runners", "0"],
            self.server_log, env=clean_env())
        self.api = Api(self.port, token.strip().splitlines()[-1])
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                self.api.get("/healthz")
                break
            except (OSError, BenchError):
                if self.server.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("the server did not start:\n" + tail(self.server_log))
                time.sleep(0.05)

    def start_runner(self, name, sandbox=True):
        token = self.admin("runner-token", "create", name).strip().splitlines()[-1]
        log = os.path.join(self.dir, f"runner-{name}.log")
        self.logs.append((f"runner {name}", log))
        argv = [self.binary, "runner", "--server", self.url,
                "--work-dir", os.path.join(self.dir, "work-" + name), "--name", name,
                "--concurrency", "1", "--hide", self.data]
        if not sandbox:
            argv += ["--sandbox", "none"]
        p = self.procs.start(argv, log, env=clean_env(CIRCLET_RUNNER_TOKEN=token))
        p.bench_name, p.bench_log = name, log
        self.runners.append(p)
        return p

    def check_runners_alive(self):
        for p in self.runners:
            if p.poll() is not None:
                raise BenchError(f"runner {p.bench_name} exited ({p.returncode}):\n"
                                 + tail(p.bench_log))
        if self.server.poll() is not None:
            raise BenchError(f"the server exited ({self.server.returncode}):\n"
                             + tail(self.server_log))

    def stop_runner(self, p):
        self.procs.stop(p)
        self.runners.remove(p)

    def stop(self):
        for p in list(self.runners):
            self.stop_runner(p)
        self.procs.stop(self.server)

    def dump_logs(self):
        for label, path in self.logs:
            print(f"--- last lines of the {label} log ({path})", file=sys.stderr)
            sys.stderr.write(tail(path))

    # -- reading builds back

    def build(self, num):
        return self.api.get(f"/api/v1.1/project/{PROJECT}/{num}")

    def step_output(self, build, name_test):
        """The text of the first step of `build` whose name passes `name_test`."""
        for step in build["steps"]:
            if name_test(step["name"]):
                out = self.api.get(step["actions"][0]["output_url"])
                return "".join(m["message"] for m in out)
        raise BenchError(f"build {build['build_num']} has no such step; its steps: "
                         f"{[s['name'] for s in build['steps']]}")

    def date_step_ns(self, num):
        b = self.build(num)
        if b["status"] != "success":
            raise BenchError(f"build {num} ended {b['status']}")
        text = self.step_output(b, lambda n: n == DATE_STEP).strip()
        try:
            return int(text.splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"build {num}: unexpected output of `{DATE_STEP}`: {text!r}")

    def workflows(self, pipeline_id):
        return self.api.get(f"/api/v2/pipeline/{pipeline_id}/workflow")["items"]

    def wait_pipeline(self, pipeline_id, timeout, interval):
        """Waits until every workflow of the pipeline has ended; returns the workflows."""
        deadline = time.monotonic() + timeout
        while True:
            items = self.workflows(pipeline_id)
            if items and all(w["status"] in TERMINAL_WORKFLOW for w in items):
                return items
            if not items:
                p = self.api.get(f"/api/v2/pipeline/{pipeline_id}")
                if p.get("state") == "errored" or p.get("errors"):
                    raise BenchError(f"pipeline {pipeline_id} errored: {p.get('errors')}")
            if time.monotonic() > deadline:
                raise BenchError(f"pipeline {pipeline_id} did not finish within {timeout} s "
                                 f"(workflows: {[w['status'] for w in items]})")
            self.check_runners_alive()
            time.sleep(interval)

    def jobs_of(self, workflow_id):
        return self.api.get(f"/api/v2/workflow/{workflow_id}/job")["items"]


# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(1, -(-len(sorted_values) * p // 100))  # ceil(n * p / 100), at least 1
    return sorted_values[int(k) - 1]


def summary(values):
    v = sorted(values)
    return {"n": len(v), "p50": percentile(v, 50), "p90": percentile(v, 90),
            "min": v[0], "max": v[-1], "mean": sum(v) / len(v)}


def fmt_row(label, s):
    return (f"  {label:<38} n={s['n']:<4d} p50 {s['p50']:7.1f}  p90 {s['p90']:7.1f}  "
            f"min {s['min']:7.1f}  max {s['max']:7.1f}  mean {s['mean']:7.1f}  (ms)")


# ---------------------------------------------------------------------------------------------
# (A) latency

ONE_JOB = f"""version: 2.1
jobs:
  a:
    steps:
      - run: {DATE_STEP}
workflows:
  main:
    jobs: [a]
"""

TWO_JOBS = f"""version: 2.1
jobs:
  a:
    steps:
      - run: {DATE_STEP}
  b:
    steps:
      - run: {DATE_STEP}
workflows:
  main:
    jobs:
      - a
      - b:
          requires: [a]
"""


SANDBOX_SAYS = {True: "steps run in a bubblewrap sandbox",
                False: "steps run WITHOUT a sandbox"}


def sandbox_line(inst, build):
    """The line of a job's first step that says how its steps ran."""
    spin = inst.step_output(build, lambda n: n == "Spin up environment")
    lines = [l for l in spin.splitlines() if l.startswith("steps run ")]
    return lines[0] if lines else f"(no `steps run` line in: {spin!r})"


def latency_series(inst, pipelines, job_names, sandbox):
    """Runs 1 + `pipelines` pipelines one after another; for each counted one returns
    {job name: ms from trigger to that job's step}."""
    results = []
    for i in range(pipelines + 1):
        # Let the runner get back to its claim (long poll) after the previous job's finish.
        time.sleep(0.1)
        t0 = time.time_ns()
        p = inst.api.trigger()
        workflows = inst.wait_pipeline(p["id"], timeout=120, interval=0.05)
        if any(w["status"] != "success" for w in workflows):
            raise BenchError(f"pipeline {p['number']}: workflow {workflows}")
        jobs = {j["name"]: j["job_number"] for j in inst.jobs_of(workflows[0]["id"])}
        row = {}
        for name in job_names:
            row[name] = (inst.date_step_ns(jobs[name]) - t0) / 1e6
        if i == 0:
            print("    warm-up pipeline (not counted): "
                  + ", ".join(f"{n} {row[n]:.1f} ms" for n in job_names), flush=True)
            for name in job_names:
                said = sandbox_line(inst, inst.build(jobs[name]))
                if not said.startswith(SANDBOX_SAYS[sandbox]):
                    raise BenchError(f"job {name} did not run as asked: {said}")
            print(f"    its first step: {said[:110]}", flush=True)
        else:
            results.append(row)
    return results


def part_latency(binary, work, procs, pipelines):
    print(f"== (A) trigger -> first step started, {pipelines} pipelines per series, "
          "one at a time, one `circlet runner` (concurrency 1)", flush=True)
    inst = Instance(binary, work, procs, "latency")
    try:
        inst.start(ONE_JOB)
        figures = {}
        for config_name, config, job_names in (("one job", ONE_JOB, ["a"]),
                                               ("two jobs", TWO_JOBS, ["a", "b"])):
            commit_config(inst.repo, config)
            for sandbox in (True, False):
                mode = "bubblewrap" if sandbox else "--sandbox none"
                print(f"  -- {config_name}, {mode}", flush=True)
                runner = inst.start_runner(
                    f"lat-{config_name.replace(' ', '')}-{'bwrap' if sandbox else 'none'}",
                    sandbox)
                time.sleep(1)
                inst.check_runners_alive()
                started = time.monotonic()
                rows = latency_series(inst, pipelines, job_names, sandbox)
                print(f"    {pipelines} pipelines in {time.monotonic() - started:.1f} s",
                      flush=True)
                inst.stop_runner(runner)
                figures[(config_name, sandbox)] = {n: summary([r[n] for r in rows])
                                                  for n in job_names}
    except BenchError:
        inst.dump_logs()
        raise
    finally:
        inst.stop()

    print()
    print(f"(A) trigger -> step started (client t0 before the POST; `{DATE_STEP}` in the step)")
    for sandbox in (True, False):
        mode = "bubblewrap sandbox" if sandbox else "--sandbox none"
        print(fmt_row(f"one job, {mode}", figures[("one job", sandbox)]["a"]))
    d50 = figures[("one job", True)]["a"]["p50"] - figures[("one job", False)]["a"]["p50"]
    dmean = figures[("one job", True)]["a"]["mean"] - figures[("one job", False)]["a"]["mean"]
    print(f"  sandbox cost per job: {d50:+.1f} ms at p50 ({dmean:+.1f} ms in the mean)")
    for sandbox in (True, False):
        mode = "bubblewrap sandbox" if sandbox else "--sandbox none"
        f = figures[("two jobs", sandbox)]
        print(fmt_row(f"two jobs, b's step, {mode}", f["b"]))
        print(fmt_row(f"  (a's step in the same runs)", f["a"]))
    d50b = figures[("two jobs", True)]["b"]["p50"] - figures[("two jobs", False)]["b"]["p50"]
    print(f"  sandbox cost, two jobs: {d50b:+.1f} ms at p50 "
          f"(~{d50b / 2:.1f} ms per job); older figure without sandbox: ~55 ms")
    print(f"  {load()} at the end")
    print("  logs:")
    for label, path in inst.logs:
        log_summary(label, path, quiet_patterns=("steps run WITHOUT a sandbox",))
    print(flush=True)


# ---------------------------------------------------------------------------------------------
# (B) throughput


def many_jobs_config(n):
    lines = ["version: 2.1", "jobs:"]
    for i in range(n):
        lines += [f"  j{i:03d}:", "    steps:",
                  "      - run: echo ran-$CIRCLE_BUILD_NUM $(date +%s%N)"]
    lines += ["workflows:", "  main:", "    jobs:"]
    lines += [f"      - j{i:03d}" for i in range(n)]
    return "\n".join(lines) + "\n"


def list_builds(inst):
    builds, offset = [], 0
    while True:
        page = inst.api.get(f"/api/v1.1/project/{PROJECT}?limit=100&offset={offset}")
        builds += page
        if len(page) < 100:
            return builds
        offset += 100


def part_throughput(binary, work, procs, jobs, runners):
    per = min(100, jobs)
    full, rest = divmod(jobs, per)
    print(f"== (B) {jobs} queued jobs ({full} pipelines of {per}"
          + (f" and one of {rest}" if rest else "")
          + f"), then {runners} sandboxed `circlet runner`s, concurrency 1 each", flush=True)
    inst = Instance(binary, work, procs, "throughput")
    try:
        if rest:
            inst.start(many_jobs_config(rest))
            git(inst.repo, "branch", "-m", "main", "rest")
            commit_config(inst.repo, many_jobs_config(per), branch="main")
        else:
            inst.start(many_jobs_config(per))
        # Queue everything with no runner online.
        t = time.monotonic()
        pipelines = [inst.api.trigger("main") for _ in range(full)]
        if rest:
            pipelines.append(inst.api.trigger("rest"))
        queued = 0
        deadline = time.monotonic() + 120
        while queued < jobs:
            queued = sum(1 for b in list_builds(inst) if b["lifecycle"] == "queued")
            if time.monotonic() > deadline:
                raise BenchError(f"only {queued} of {jobs} jobs were queued")
            if queued < jobs:
                time.sleep(0.5)
        print(f"  queued {queued} jobs in {len(pipelines)} pipelines in "
              f"{time.monotonic() - t:.1f} s", flush=True)

        # Start the runners and time until every job has ended.
        t_start_ns = time.time_ns()
        t_start = time.monotonic()
        for i in range(runners):
            inst.start_runner(f"tp-{i}", sandbox=True)
        polls = 0
        for p in pipelines:  # in order: the oldest are claimed first
            while True:
                items = inst.workflows(p["id"])
                polls += 1
                if items and all(w["status"] in TERMINAL_WORKFLOW for w in items):
                    break
                if time.monotonic() - t_start > 1800:
                    raise BenchError("the jobs did not finish within 30 minutes")
                inst.check_runners_alive()
                time.sleep(0.5)
        # A failed workflow may end before all of its jobs: confirm every build has finished.
        while True:
            builds = list_builds(inst)
            polls += 1
            if all(b["lifecycle"] == "finished" for b in builds):
                break
            if time.monotonic() - t_start > 1800:
                raise BenchError("the jobs did not finish within 30 minutes")
            time.sleep(0.5)
        elapsed = time.monotonic() - t_start
        print(f"  all jobs ended {elapsed:.2f} s after the runners were started "
              f"({polls} status requests, one every 0.5 s)", flush=True)

        # Check: every job succeeded, ran once, and which runner ran it.
        problems = []
        nums = [b["build_num"] for b in builds]
        if len(builds) != jobs or len(set(nums)) != jobs:
            problems.append(f"{len(builds)} builds listed ({len(set(nums))} distinct), "
                            f"expected {jobs}")
        statuses = {}
        for b in builds:
            statuses[b["status"]] = statuses.get(b["status"], 0) + 1
        per_runner = {}
        step_ns = []
        for b in builds:
            full_b = inst.build(b["build_num"])
            if full_b["status"] != "success":
                problems.append(f"build {b['build_num']} ({b['job_name']}) "
                                f"ended {full_b['status']}")
            names = [s["name"] for s in full_b["steps"]]
            if names.count("Spin up environment") != 1 or len(names) != 2:
                problems.append(f"build {b['build_num']}: steps {names}")
            out = inst.step_output(full_b, lambda n: n.startswith("echo ran-"))
            lines = [l.split() for l in out.splitlines() if l.strip()]
            if len(lines) != 1 or len(lines[0]) != 2 or lines[0][0] != f"ran-{b['build_num']}":
                problems.append(f"build {b['build_num']}: run step printed {out!r}")
            else:
                step_ns.append(int(lines[0][1]))
            spin = inst.step_output(full_b, lambda n: n == "Spin up environment")
            if SANDBOX_SAYS[True] not in spin:
                problems.append(f"build {b['build_num']} did not say it ran sandboxed: "
                                f"{spin!r}")
            who = [l.split("circlet runner ", 1)[1] for l in spin.splitlines()
                   if l.startswith("circlet runner ")]
            key = who[0] if len(who) == 1 else repr(who)
            per_runner[key] = per_runner.get(key, 0) + 1
        # The runners' own account: each names every job it ended, with its id.
        ended, claimed = {}, {}
        for p in inst.runners:
            with open(p.bench_log, errors="replace") as f:
                for line in f:
                    if "job ended:" in line and "job=" in line:
                        jid = line.split("job=", 1)[1].split()[0].rstrip(":")
                        ended.setdefault(jid, []).append(p.bench_name)
                    elif f"claimed {PROJECT} #" in line:
                        num = line.split(f"claimed {PROJECT} #", 1)[1].split()[0]
                        claimed.setdefault(num, []).append(p.bench_name)
        for what, seen in (("ended", ended), ("claimed", claimed)):
            twice = {j: r for j, r in seen.items() if len(r) > 1}
            if twice:
                problems.append(f"{len(twice)} jobs {what} more than once in the runners' "
                                f"logs: {list(twice.items())[:5]}")
            if len(seen) != jobs:
                problems.append(f"the runners' logs name {len(seen)} {what} jobs, "
                                f"expected {jobs}")
    except BenchError:
        inst.dump_logs()
        raise
    finally:
        inst.stop()

    print()
    print(f"(B) throughput: {jobs} jobs, {runners} sandboxed runners (concurrency 1)")
    print(f"  {elapsed:.2f} s from starting the runners to every job ended "
          f"(poll granularity 0.5 s, runner start-up included)")
    print(f"  {jobs / elapsed:.1f} jobs/s ({elapsed / jobs * 1000 * runners:.1f} ms per job "
          f"per runner)")
    if step_ns:
        first = (min(step_ns) - t_start_ns) / 1e9
        last = (max(step_ns) - t_start_ns) / 1e9
        print(f"  run steps (their `date +%s%N`): first {first:.3f} s, last {last:.3f} s after "
              f"the runners were started; {len(step_ns) / last:.1f} jobs/s by the last step")
    print(f"  statuses: {statuses}")
    print("  jobs per runner (from each job's first step): "
          + ", ".join(f"{k} {v}" for k, v in sorted(per_runner.items())))
    if problems:
        print(f"  PROBLEMS ({len(problems)}):")
        for p in problems[:20]:
            print(f"    {p}")
    else:
        print(f"  all {jobs} jobs succeeded, each ran exactly once "
              "(one `ran-N` line each; each claimed and ended once in the runners' logs)")
    print(f"  {load()} at the end")
    print("  logs:")
    for label, path in inst.logs:
        log_summary(label, path)
    print(flush=True)
    return not problems


# ---------------------------------------------------------------------------------------------


def stop_on_signals():
    """SIGTERM (and SIGHUP) end the run like Ctrl-C does: through the caller's cleanup."""
    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)


def release_binary(no_build):
    """Builds the release binary unless `no_build`; returns its path."""
    if not no_build:
        print("building: cargo build --release -q -p circlet", flush=True)
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "circlet"], cwd=ROOT,
                       check=True)
    built = os.path.join(ROOT, "target", "release", "circlet")
    if not os.path.exists(built):
        sys.exit(f"{built} does not exist")
    return built


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pipelines", type=int, default=100,
                    help="pipelines per latency series (default 100)")
    ap.add_argument("--jobs", type=int, default=1000,
                    help="jobs queued for the throughput part (default 1000)")
    ap.add_argument("--runners", type=int, default=8,
                    help="runner processes for the throughput part (default 8)")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--no-build", action="store_true",
                    help="use target/release/circlet as it is, without cargo build")
    args = ap.parse_args()
    if args.pipelines < 1 or args.jobs < 1 or args.runners < 1:
        ap.error("--pipelines, --jobs and --runners must be at least 1")
    if shutil.which("bwrap") is None:
        sys.exit("bwrap (bubblewrap) is not installed; the sandboxed runs need it")

    stop_on_signals()
    built = release_binary(args.no_build)

    work = tempfile.mkdtemp(prefix="circlet-bench.")
    procs = Procs()
    ok = True
    try:
        binary = os.path.join(work, "circlet")
        shutil.copy2(built, binary)
        print(f"binary: {built} ({run([binary, '--version']).strip()}); "
              f"{os.cpu_count()} CPUs; temp dir {work}; {load()}", flush=True)
        if not args.skip_latency:
            part_latency(binary, work, procs, args.pipelines)
        if not args.skip_throughput:
            ok = part_throughput(binary, work, procs, args.jobs, args.runners)
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
