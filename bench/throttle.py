"""Benchmark Onramp's shared Keap limiter: 8 worker processes, 20 tenants, Keap's real limits.

Starts its own Keap sandbox (a process on a free port, temporary database, Keap's limits: 25/s
spike, 1,500/min and 150,000/day per developer app; 10,000/min and 250,000/day per tenant), a
temporary SQLite database for Onramp, and uses Redis db 13 (flushed first and last) for the limiter,
usage buffer and Celery broker. Then, in one run:

1. Limiter latency: `try_acquire` on Onramp's Redis limiter beside the `limits` package's
   moving-window `hit()` (RedisStorage + MovingWindowRateLimiter) on the same Redis, alternating.
   Each is one round trip as it runs in production: Onramp's on the limiter's own connection (one
   per thread), `limits`' through redis-py's connection pool, as that library does.
2. Onramp: 8 bulk worker processes and 1 interactive process call the sandbox for `--seconds`
   through KeapClient (so through the shared limiter). Measured by the sandbox's own counts over
   the steady-state window (after the warm-up, before the last second).
3. Usage: flush Onramp's usage records and compare them, per tenant, with the sandbox's counts.
4. Baselines: Celery's own `rate_limit="25/s"` on a task making the same call, with Onramp's
   Celery settings on the Redis broker, for `--celery-seconds` each: one worker with
   `--concurrency 8` (`celery_rate_limit_per_s`: how Celery is deployed), then 8 single-process
   workers (`celery_8_nodes_*`: Celery's limit is per worker, so these add up past Keap's).

The workload (why fairness here must come from the limiter): the 8 workers take jobs (tenant,
items) from one shared queue, one job at a time, the way Celery workers take tasks. First 14 light
tenants' small jobs; then the 5 backlogged tenants' jobs of 2,000 calls each, queued A, B, A, C, A,
D, A, E, A: tenant A's backlog is 5 jobs, five times each other's. No worker can finish a job of
2,000 calls within the run, so once the light work is done, A holds 4 of the 8 workers and B-E one
each, and keeps that for the whole window. Without a fair-share rule A would get about four
times as many calls as each of the others (whoever asks most gets most); equal counts show the
limiter dividing the budget by tenant, not by worker. The 20th tenant is the interactive one.

The last line printed is a JSON object with every number above (keys as in the issue).

    .venv/bin/python bench/throttle.py [--seconds 60] [--celery-seconds 20]

Needs the `limits` package (a dev dependency) and Redis: THROTTLE_BENCH_REDIS_URL, by default
redis://127.0.0.1:6379/13, a database nothing else may use (it is flushed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

from bench._throttle_procs import Plan, bulk_worker, interactive_prober  # noqa: E402
from tests.sandbox.server import SandboxServer  # noqa: E402

REDIS_URL = os.environ.get("THROTTLE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
KEAP_LIMITS = {
    "app_limit_per_second": 25,
    "app_limit_per_minute": 1_500,
    "app_limit_per_day": 150_000,
    "tenant_limit_per_minute": 10_000,
    "tenant_limit_per_day": 250_000,
}
LIMIT_PER_S = KEAP_LIMITS["app_limit_per_second"]
KEAP_USER = "alex@sandbox.keap.test"
WORKERS = 8
TENANTS = [f"bt{n:03d}" for n in range(1, 21)]
BACKLOGGED = TENANTS[:5]  # A is the first
LIGHT = TENANTS[5:19]
INTERACTIVE = TENANTS[19]
CONTACTS = 5
LIGHT_ITEMS = 8
HEAVY_ITEMS = 2_000
A_JOBS = 5
LATENCY_CALLS = 10_000
# Apps (keys) the granted path cycles through. Its grants are never settled, and an unsettled grant
# counts in its app's second for a whole minute, so every call is granted only because each app is
# asked LATENCY_CALLS / LATENCY_APPS (20) times in all, fewer than its 25 a second.
LATENCY_APPS = 500
STARTED = time.time()


def log(message: str) -> None:
    print(f"[{time.time() - STARTED:5.1f}s] {message}", flush=True)


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def job_order() -> list[tuple[str, int]]:
    """The shared queue's jobs, in order: light tenants', then A, B, A, C, A, D, A, E, A."""
    jobs = [(tenant, LIGHT_ITEMS) for tenant in LIGHT]
    a, others = BACKLOGGED[0], BACKLOGGED[1:]
    for n in range(A_JOBS):
        jobs.append((a, HEAVY_ITEMS))
        if n < len(others):
            jobs.append((others[n], HEAVY_ITEMS))
    return jobs


def prepare_environment(workdir: Path) -> None:
    """What every process of the run (this one, workers, Celery) reads its settings from.

    Bytecode is cached in the work directory even where PYTHONDONTWRITEBYTECODE is set: a dozen
    processes each compiling Django from source would take a minute of CPU on a small machine.
    """
    sys.pycache_prefix = str(workdir / "pycache")
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.update(
        {
            "PYTHONPYCACHEPREFIX": sys.pycache_prefix,
            "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "REDIS_URL": REDIS_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "DATABASE_URL": f"sqlite:///{workdir / 'onramp.sqlite3'}",
            "ONRAMP_VAR_DIR": str(workdir / "var"),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(PROJECT_DIR),
        }
    )


def start_sandbox(workdir: Path) -> tuple[SandboxServer, Plan]:
    """The sandbox with Keap's limits and 20 tenants, each with a token for the developer app."""
    server = SandboxServer(workdir / "sandbox", env={"SANDBOX_SEED_CONTACTS": "0"})
    server.start()
    server.set_limits(**KEAP_LIMITS)
    tokens = {}
    for tenant in TENANTS:
        server.create_tenant(tenant, users=[KEAP_USER], contacts=CONTACTS)
        tokens[tenant] = server.issue_tokens(app=tenant, email=KEAP_USER)["access_token"]
    plan = Plan(
        api_url=f"{server.url}/crm", client_id=server.client_id, tokens=tokens, contacts=CONTACTS
    )
    return server, plan


# --- 1. Limiter latency ----------------------------------------------------------------------


def _p50_us(samples_ns: list[int]) -> float:
    return round(statistics.median(samples_ns) / 1000, 1)


def limiter_latency(calls: int = LATENCY_CALLS) -> dict[str, float]:
    """p50 of one decision: Onramp's `try_acquire` (all five limits, one Lua call) beside `limits`'
    moving-window `hit()` (one limit), alternating call by call on the same Redis.

    Granted path: LATENCY_APPS apps (keys) in turn, 20 calls each. The grants are never settled, so
    each stays in its app's second for a minute; every call is granted only because 20 < 25 (the
    shares granted are reported), and every window holds what it would in production.
    Refused path: one app (key) kept full. Both sides get the same calls, in alternating order.
    """
    from limits import parse
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    from webapp import limiter
    from webapp.limiter import Lane, Limits

    moving = MovingWindowRateLimiter(RedisStorage(REDIS_URL))
    spike = parse(f"{LIMIT_PER_S}/second")
    all_five = [parse(x) for x in ("25/second", "1500/minute", "150000/day")] + [
        parse(x) for x in ("10000/minute", "250000/day")
    ]
    ours = Limits()  # Keap's limits of today

    def onramp(app: str) -> bool:
        return limiter.try_acquire(
            app=app, tenant="bt-latency", lane=Lane.BULK, limits=ours
        ).granted

    def limits_lib(key: str) -> bool:
        return moving.hit(spike, "latency", key)

    def limits_lib_five(key: str) -> bool:
        # What the five limits would cost with `limits`: five round trips, and not atomic.
        return all(moving.hit(item, "latency5", key, str(n)) for n, item in enumerate(all_five))

    granted_calls = {"onramp": 0, "limits": 0, "limits5": 0}

    def timed(fn: Any, arg: str, out: list[int], name: str = "") -> None:
        began = time.perf_counter_ns()
        ok = fn(arg)
        out.append(time.perf_counter_ns() - began)
        if ok and name:
            granted_calls[name] += 1

    for warm in range(50):  # load the scripts and open the connections
        onramp(f"warm-{warm}")
        limits_lib(f"warm-{warm}")
        limits_lib_five(f"warm-{warm}")
    granted: dict[str, list[int]] = {"onramp": [], "limits": [], "limits5": []}
    # Unsettled grants stay in their app's second for a minute: each app's calls in all must fit.
    assert calls // LATENCY_APPS < ours.app_per_second, (calls, LATENCY_APPS)
    for n in range(calls):
        key = f"g{n % LATENCY_APPS}"
        pair = [(onramp, f"lat-{key}", "onramp"), (limits_lib, key, "limits")]
        for fn, arg, name in pair if n % 2 else reversed(pair):
            timed(fn, arg, granted[name], name)
        if n % 5 == 0:
            timed(limits_lib_five, key, granted["limits5"], "limits5")
    refused: dict[str, list[int]] = {"onramp": [], "limits": []}
    for n in range(calls):
        pair = [(onramp, "lat-full", "onramp"), (limits_lib, "full", "limits")]
        for fn, arg, name in pair if n % 2 else reversed(pair):
            timed(fn, arg, refused[name])
    return {
        "limiter_p50_us": _p50_us(granted["onramp"]),
        "limits_lib_p50_us": _p50_us(granted["limits"]),
        "limiter_refused_p50_us": _p50_us(refused["onramp"]),
        "limits_lib_refused_p50_us": _p50_us(refused["limits"]),
        "limits_lib_five_limits_p50_us": _p50_us(granted["limits5"]),
        "latency_samples": calls,
        "limiter_granted_share": round(granted_calls["onramp"] / calls, 4),
        "limits_lib_granted_share": round(granted_calls["limits"] / calls, 4),
    }


# --- 2. Onramp under load --------------------------------------------------------------------


def admitted_by_tenant(counts: dict) -> dict[str, int]:
    """Calls the sandbox let through (its 429s subtracted), per tenant."""
    return {
        tenant: sum(e["calls"] - e["throttled"] for e in endpoints.values())
        for tenant, endpoints in counts["tenants"].items()
    }


def calls_by_tenant(counts: dict) -> dict[str, int]:
    """Every metered call the sandbox saw (429s included: Onramp records those too), per tenant."""
    return {
        tenant: sum(e["calls"] for e in endpoints.values())
        for tenant, endpoints in counts["tenants"].items()
    }


def snapshot(server: SandboxServer) -> tuple[float, dict]:
    before = time.time()
    counts = server.counts()
    return (before + time.time()) / 2, counts


def worst_window(grants: list[float], width: float = 1.0) -> int:
    """The most grants in any half-open interval [t, t + width)."""
    grants = sorted(grants)
    worst, j = 0, 0
    for i, start in enumerate(grants):
        while j < len(grants) and grants[j] < start + width:
            j += 1
        worst = max(worst, j - i)
    return worst


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else float("nan")


def run_onramp(server: SandboxServer, plan: Plan, *, seconds: float, warmup: float) -> dict:
    # Forked after django.setup(), so each child starts at once instead of importing Django again
    # (seconds of CPU each on a small machine). Nothing is shared that matters: no thread runs yet,
    # no database connection is open, and redis-py's pools reconnect in a forked child.
    ctx = multiprocessing.get_context("fork")
    jobs, results, go, clock = ctx.Queue(), ctx.Queue(), ctx.Event(), ctx.Array("d", 2)
    for job in job_order():
        jobs.put(job)
    processes = [
        ctx.Process(target=bulk_worker, args=(n, plan, jobs, results, go, clock))
        for n in range(WORKERS)
    ]
    processes.append(
        ctx.Process(target=interactive_prober, args=(plan, INTERACTIVE, results, go, clock, warmup))
    )
    for process in processes:
        process.start()
    try:
        for _ in processes:
            results.get(timeout=120)  # ("ready", ...)
        log(f"{len(processes)} processes ready; go")
        start = time.time() + 0.2
        end = start + seconds
        clock[0], clock[1] = start, end
        go.set()
        cooldown = min(1.0, seconds / 20)
        sleep_until(start + warmup)
        window_start, before = snapshot(server)
        sleep_until(end - cooldown)
        window_end, after = snapshot(server)
        reports = [results.get(timeout=max(30.0, end + 60 - time.time())) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return {
        "start": start,
        "end": end,
        "window": (window_start, window_end),
        "before": before,
        "after": after,
        "bulk": [r for r in reports if r[0] == "bulk"],
        "interactive": next(r for r in reports if r[0] == "interactive"),
    }


def summarize_onramp(run: dict, final: dict) -> dict[str, Any]:
    window_start, window_end = run["window"]
    window = window_end - window_start
    before, after = admitted_by_tenant(run["before"]), admitted_by_tenant(run["after"])
    in_window = {t: after.get(t, 0) - before.get(t, 0) for t in after}
    achieved = sum(in_window.values()) / window
    backlogged = {t: in_window.get(t, 0) for t in BACKLOGGED}
    grants: list[float] = []
    errors: dict[str, int] = {}
    holding = {t: 0 for t in BACKLOGGED}  # workers on each backlogged tenant's job at the end
    for _, _, _, worker_errors, worker_grants, last_job in run["bulk"]:
        grants += worker_grants
        if last_job in holding:
            holding[last_job] += 1
        for name, n in worker_errors.items():
            errors[name] = errors.get(name, 0) + n
    _, samples, interactive_errors, interactive_grants = run["interactive"]
    grants += interactive_grants
    waits = [took for began, took in samples if window_start <= began <= window_end]
    for name, n in interactive_errors.items():
        errors[f"interactive {name}"] = n
    return {
        "limit_per_s": LIMIT_PER_S,
        "achieved_per_s": round(achieved, 2),
        "ratio": round(achieved / LIMIT_PER_S, 4),
        "worst_1s_window": worst_window(grants),
        "responses_429": final["throttled"],
        "interactive_wait_p95_s": round(p95(waits), 3),
        "interactive_wait_p50_s": round(statistics.median(waits), 3) if waits else None,
        "interactive_wait_max_s": round(max(waits), 3) if waits else None,
        "interactive_calls": len(waits),
        "fair_share_spread": round(max(backlogged.values()) / max(1, min(backlogged.values())), 3),
        "fair_share_calls": {
            f"{t} ({'ABCDE'[n]})": backlogged[t] for n, t in enumerate(BACKLOGGED)
        },
        "fair_share_workers": {f"{t} ({'ABCDE'[n]})": holding[t] for n, t in enumerate(BACKLOGGED)},
        "window_s": round(window, 2),
        "calls_in_window": sum(in_window.values()),
        "calls_total": final["calls"] - final["throttled"],
        "tenants_served": sum(1 for n in admitted_by_tenant(final).values() if n),
        "grants_total": len(grants),
        "client_errors": errors,
    }


# --- 3. Usage records against the sandbox's counts --------------------------------------------


def compare_usage(client_id: str, final: dict) -> dict[str, Any]:
    """Flush usage recording (Redis: every process's records) and compare per tenant."""
    from webapp.usage import recorder
    from webapp.usage.models import RawCall, UsageMinute

    flushed = recorder.flush()
    usage = {
        tenant: totals.calls
        for tenant, totals in UsageMinute.objects.for_app(client_id).by_tenant()
    }
    sandbox = {t: n for t, n in calls_by_tenant(final).items() if n}
    mismatched = {
        t: {"usage": usage.get(t, 0), "sandbox": sandbox.get(t, 0)}
        for t in sorted(set(usage) | set(sandbox))
        if usage.get(t, 0) != sandbox.get(t, 0)
    }
    return {
        "usage_matches_sandbox": not mismatched and bool(sandbox),
        "usage_calls_total": sum(usage.values()),
        "sandbox_calls_total": sum(sandbox.values()),
        "usage_raw_calls": RawCall.objects.filter(app=client_id).count(),
        "usage_records_flushed": flushed,
        "usage_mismatches": mismatched,
    }


# --- 4. Celery's rate_limit -------------------------------------------------------------------


def stop_workers(workers: list[subprocess.Popen], grace: float = 10.0) -> None:
    """Cold-stop each Celery worker we started (and its pool child: its own process group)."""
    for worker in workers:
        if worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGQUIT)
    deadline = time.time() + grace
    for worker in workers:
        try:
            worker.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(5)


def celery_baseline(
    server: SandboxServer,
    plan: Plan,
    *,
    seconds: float,
    workdir: Path,
    nodes: int = 1,
    concurrency: int = 1,
) -> dict:
    """Calls per second with Celery's rate_limit="25/s": `nodes` worker nodes of `concurrency`
    prefork processes each, on Onramp's Celery settings and Redis broker.

    A feeder thread keeps the queue topped up so the workers never run dry; the window starts
    once every worker is ready. `per_s` counts completed calls (2xx); `sent_per_s` every call,
    429s included (Celery's limit is per node, so nodes add up and Keap refuses the excess).
    """
    import threading

    import redis

    from bench import _celery_baseline as baseline

    store = redis.Redis.from_url(REDIS_URL)
    store.delete(baseline.READY_KEY, baseline.STATUS_KEY)
    server.reset_quota()  # the Onramp run has just used this minute's budget
    stop = threading.Event()
    sent = [0]

    def feed() -> None:
        with baseline.app.producer_or_acquire() as producer:
            while not stop.is_set():
                if store.llen(baseline.QUEUE) > 400:
                    stop.wait(0.05)
                    continue
                for _ in range(100):
                    n = sent[0] = sent[0] + 1
                    tenant = TENANTS[n % len(TENANTS)]
                    baseline.achieve_goal.apply_async(
                        kwargs={"api_url": plan.api_url, "token": plan.tokens[tenant],
                                "tenant": tenant, "contact_id": 1 + n % CONTACTS},
                        producer=producer,
                    )  # fmt: skip

    feeder = threading.Thread(target=feed, name="celery-feeder", daemon=True)
    feeder.start()
    workers: list[subprocess.Popen] = []
    with open(workdir / "celery.log", "ab") as out:
        for n in range(nodes):
            argv = [
                sys.executable, "-m", "celery", "-A", "bench._celery_baseline", "worker",
                "--concurrency", str(concurrency), "--pool", "prefork",
                "--queues", baseline.QUEUE, "--hostname", f"throttle{n}@%h",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel", "WARNING",
            ]  # fmt: skip
            # A session of its own, so stopping it stops its pool child too.
            workers.append(
                subprocess.Popen(
                    argv,
                    cwd=PROJECT_DIR,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
    try:
        deadline = time.time() + 90
        while int(store.get(baseline.READY_KEY) or 0) < nodes:
            if time.time() > deadline or any(w.poll() is not None for w in workers):
                raise RuntimeError(f"Celery workers did not start; see {workdir / 'celery.log'}")
            time.sleep(0.1)
        started, before = time.time(), store.hgetall(baseline.STATUS_KEY)
        sleep_until(started + seconds)
        ended, after = time.time(), store.hgetall(baseline.STATUS_KEY)
    finally:
        stop.set()
        stop_workers(workers)
        feeder.join(5)
    statuses = {int(k): int(v) - int(before.get(k, 0)) for k, v in after.items()}
    elapsed = ended - started
    completed = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {
        "per_s": round(completed / elapsed, 2),
        "sent_per_s": round(sum(statuses.values()) / elapsed, 2),
        "responses_429": statuses.get(429, 0),
        "seconds": round(elapsed, 1),
    }


# --- Main ------------------------------------------------------------------------------------


def targets_met(onramp: dict, latency: dict, usage: dict) -> dict[str, bool]:
    """The issue's targets (Done-when 2 and 4), each true or false."""
    return {
        "ratio >= 0.97": onramp["ratio"] >= 0.97,
        "worst_1s_window <= 25": onramp["worst_1s_window"] <= LIMIT_PER_S,
        "responses_429 == 0": onramp["responses_429"] == 0,
        "interactive_wait_p95_s <= 1.0": onramp["interactive_wait_p95_s"] <= 1.0,
        "fair_share_spread <= 1.2": onramp["fair_share_spread"] <= 1.2,
        "limiter_p50_us <= limits_lib_p50_us": (
            latency["limiter_p50_us"] <= latency["limits_lib_p50_us"]
        ),
        "usage_matches_sandbox": usage["usage_matches_sandbox"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the Onramp run")
    parser.add_argument("--celery-seconds", type=float, default=20, help="length of the baseline")
    args = parser.parse_args()
    warmup = min(10.0, args.seconds / 5)
    with tempfile.TemporaryDirectory(prefix="throttle-bench-") as tmp:
        workdir = Path(tmp)
        prepare_environment(workdir)
        import django
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        django.setup()
        import bench._celery_baseline  # noqa: F401 (compiled now, so the Celery workers start fast)

        migrate = subprocess.Popen(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=PROJECT_DIR
        )
        server, plan = start_sandbox(workdir)
        try:
            if migrate.wait(120) != 0:
                raise RuntimeError("manage.py migrate failed")
            log(f"sandbox at {server.url}: {len(TENANTS)} tenants with tokens; Onramp migrated")
            latency = limiter_latency()
            log(f"limiter latency: {latency}")
            log(f"Onramp: {WORKERS} bulk workers + 1 interactive for {args.seconds:.0f}s ...")
            run = run_onramp(server, plan, seconds=args.seconds, warmup=warmup)
            final = server.counts()
            onramp = summarize_onramp(run, final)
            log(f"Onramp: {onramp}")
            usage = compare_usage(plan.client_id, final)
            log(f"usage: {usage}")
            log(f"Celery rate_limit baselines, {args.celery_seconds:.0f}s each ...")
            one_node = celery_baseline(
                server, plan, seconds=args.celery_seconds, workdir=workdir, concurrency=WORKERS
            )
            log(f"Celery, 1 worker --concurrency {WORKERS}: {one_node}")
            nodes = celery_baseline(
                server, plan, seconds=args.celery_seconds, workdir=workdir, nodes=WORKERS
            )
            log(f"Celery, {WORKERS} workers --concurrency 1: {nodes}")
            celery = {
                "celery_rate_limit_per_s": one_node["per_s"],
                "celery_429s": one_node["responses_429"],
                "celery_8_nodes_per_s": nodes["per_s"],
                "celery_8_nodes_sent_per_s": nodes["sent_per_s"],
                "celery_8_nodes_429s": nodes["responses_429"],
                "celery_seconds": args.celery_seconds,
            }
        finally:
            server.stop()
            with contextlib.suppress(Exception):
                redis.Redis.from_url(REDIS_URL).flushdb()
    result = {
        "targets_met": targets_met(onramp, latency, usage),
        **{k: v for k, v in onramp.items() if k != "client_errors"},
        **celery,
        **latency,
        **{k: v for k, v in usage.items() if k != "usage_mismatches"},
        "usage_mismatches": usage["usage_mismatches"],
        "client_errors": onramp["client_errors"],
        "seconds": args.seconds,
        "warmup_s": warmup,
        "workers": WORKERS,
        "tenants": len(TENANTS),
        "bench_runtime_s": round(time.time() - STARTED, 1),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
