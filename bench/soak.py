"""Soak: real Celery workers syncing contacts and completing goals for N minutes; memory and queues.

Runs on PostgreSQL, Redis (broker, cache, limiter, usage buffer) and the Keap sandbox, as set up by
bench/_stack.py (its own database and Redis db, created and dropped/flushed). Seeds --connections
customers with one connection each (synced once), then starts:

- a Celery worker as production runs it (`celery -A webapp worker --queues interactive,bulk`,
  prefork, --concurrency children) and Celery beat with the app's schedule (usage flushes, goal
  recovery, the sync watchdog, and incremental syncs every SYNC_INTERVAL_SECONDS, here 60 s);
- a driver loop in this process doing what customers and Keap do, through the app's own flows:
  about --goals-per-second goal completions (webapp.goals.flows.request_goal, as the goal form and
  the API do), a "Sync now" (webapp.sync.flows.start_sync, as the button does) on one connection
  every 15 s, and contacts changed in Keap (the sandbox's touch control) so incremental syncs
  have work.

Every --sample-seconds it samples the worker's memory (RSS of the main process plus its pool
children, and their USS and PSS: see worker_memory) and the queue depth per lane (see
queue_depths). The first --warmup-seconds are excluded from the memory baseline: imports, first
connections and caches filling are not growth. Start and end memory are each the mean of three
samples.

The last line printed is a JSON object: worker_rss_mb_start, worker_rss_mb_end, rss_growth_pct
(target <= 10), worker_uss_mb_start/end, worker_pss_mb_start/end, queue_depth_start/end/max
(messages waiting in both lanes, and per lane at the end; null where the broker could not be read,
the max over the samples that could), queue_depth_unread_samples (samples whose depth could not be
read), unacked_end/max (messages the worker holds), goals_completed, syncs_completed (both counted
in the database: succeeded), errors (the driver's own failures, ERROR lines in the worker and beat
logs, failed or uncertain goals, failed syncs).

    DATABASE_URL=postgres://postgres@127.0.0.1/onramp_bench REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python bench/soak.py --minutes 30
"""

import argparse
import itertools
import json
import random
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._stack import TENANTS, Stack  # noqa: E402
from webapp.operations.queues import LANES  # noqa: E402
from webapp.operations.queues import queue_depths as lane_depths  # noqa: E402

GOAL_CALL_NAMES = ("purchased", "trialstarted", "cancelled")


def start(stack: Stack, name: str, argv: list[str], **env: str) -> subprocess.Popen:
    log = open(stack.workdir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**stack.env, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen, timeout: float = 60) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # Celery's warm shutdown: finish running tasks
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def worker_memory(pid: int) -> tuple[float, float, float]:
    """(RSS, USS, PSS) in MiB of a process and all its descendants.

    RSS counts pages the pool children share with the parent once per process, so its sum cannot
    see shared pages becoming private (copy-on-write after a child writes to them, e.g. a full
    garbage collection touching every inherited object); USS counts only private pages, and PSS
    splits shared ones between their sharers, so the PSS sum is the worker's real footprint."""
    rss = uss = pss = 0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0.0, 0.0
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except psutil.NoSuchProcess:
            continue
        rss += info.rss
        uss += info.uss
        pss += info.pss
    return rss / 2**20, uss / 2**20, pss / 2**20


def queue_depths(stack: Stack) -> dict[str, int | None]:
    """Messages waiting per lane, as the operations page and metrics count them
    (webapp.operations.queues: None for a lane whose broker could not be read, never a made-up 0),
    and `unacked`: messages workers hold (reserved, running, or waiting for a retry's countdown)."""
    depths: dict[str, int | None] = dict(lane_depths(LANES))
    depths["unacked"] = int(stack.redis().hlen("unacked"))  # kombu's Redis transport's unacked hash
    return depths


def waiting(depths: dict[str, int | None]) -> int | None:
    """Messages waiting in both lanes; None when a lane's depth could not be read."""
    counts = [depths[lane] for lane in LANES]
    return None if None in counts else sum(c for c in counts if c is not None)


class Driver:
    """What customers and Keap do to the app during the soak, through the app's own flows."""

    def __init__(self, stack: Stack, connection_ids: list[int], contacts: int) -> None:
        self.stack = stack
        self.connection_ids = connection_ids
        self.contacts = contacts
        self.rng = random.Random(8)
        self.keys = itertools.count()
        self.goals_requested = 0
        self.syncs_requested = 0
        self.failures: list[str] = []

    def request_goal(self) -> None:
        from webapp.connections.models import KeapConnection
        from webapp.goals import flows
        from webapp.goals.validation import GoalRequest

        connection = KeapConnection.objects.get(pk=self.rng.choice(self.connection_ids))
        flows.request_goal(
            connection=connection,
            goal=GoalRequest.from_values(
                {
                    "contact_id": self.rng.randint(1, self.contacts),
                    "call_name": self.rng.choice(GOAL_CALL_NAMES),
                    "idempotency_key": f"soak-{next(self.keys)}",
                },
                app_name=connection.app_name,
            ),
            requested_by=connection.owner,
        )
        self.goals_requested += 1

    def sync_now(self) -> None:
        from webapp.connections.models import KeapConnection
        from webapp.sync import flows

        connection = KeapConnection.objects.get(pk=self.rng.choice(self.connection_ids))
        flows.start_sync(connection=connection)
        self.syncs_requested += 1

    def change_contacts_in_keap(self) -> None:
        for tenant in TENANTS:
            self.stack.sandbox.touch_contacts(
                tenant, count=self.rng.randint(5, 50), seed=self.rng.randint(0, 10**6)
            )

    def safely(self, action) -> None:
        try:
            action()
        except Exception as exc:  # a failure of the app's own flows is a finding, not a crash
            self.failures.append(f"{action.__name__}: {type(exc).__name__}: {exc}")


def outcome_counts(since: datetime) -> dict[str, int]:
    from webapp.goals.models import GoalCompletion
    from webapp.sync.models import SyncRun

    goals = GoalCompletion.objects.filter(created_at__gte=since)
    runs = SyncRun.objects.filter(created_at__gte=since)
    return {
        "goals_completed": goals.filter(status=GoalCompletion.Status.SUCCEEDED).count(),
        "goals_pending": goals.filter(
            status__in=(GoalCompletion.Status.QUEUED, GoalCompletion.Status.SENDING)
        ).count(),
        "goals_failed": goals.filter(
            status__in=(GoalCompletion.Status.FAILED, GoalCompletion.Status.UNCERTAIN)
        ).count(),
        "syncs_completed": runs.filter(status=SyncRun.Status.SUCCEEDED).count(),
        "syncs_failed": runs.filter(status=SyncRun.Status.FAILED).count(),
    }


def error_lines(path: Path) -> list[str]:
    text = path.read_text(errors="replace") if path.exists() else ""
    # Plain ("... ERROR name message") and JSON ('"level": "ERROR"') log lines alike.
    return [
        line
        for line in text.splitlines()
        if any(mark in line for mark in (" ERROR ", '"ERROR"', "CRITICAL"))
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30, help="how long the soak runs")
    parser.add_argument("--connections", type=int, default=6, help="customers and connections")
    parser.add_argument("--contacts", type=int, default=2000, help="contacts per Keap app")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool children")
    parser.add_argument("--goals-per-second", type=float, default=1.0)
    parser.add_argument("--warmup-seconds", type=float, default=60)
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database and temp files")
    args = parser.parse_args()

    with Stack(prefix="soak", keep=args.keep) as stack:
        print(f"database {stack.database_url}, redis {stack.redis_url}", file=sys.stderr)
        stack.manage("migrate", "--no-input")
        stack.setup_django()
        seeded = stack.seed(customers=args.connections, contacts=args.contacts, goals=0)
        from webapp.celery import app

        app.conf.task_always_eager = False  # from here on, the worker does the work
        connection_ids = [row["connection"] for row in seeded]
        soak_started = datetime.now(UTC)

        celery = [sys.executable, "-m", "celery", "-A", "webapp"]
        worker = start(
            stack,
            "worker",
            [
                *celery,
                "worker",
                "--queues",
                ",".join(LANES),
                "--concurrency",
                str(args.concurrency),
                "--hostname",
                f"soak-{stack.web_port}@%h",
                "--loglevel",
                "WARNING",
            ],
            SYNC_INTERVAL_SECONDS="60",
        )
        beat = start(
            stack,
            "beat",
            [
                *celery,
                "beat",
                "--schedule",
                str(stack.workdir / "celerybeat-schedule"),
                "--loglevel",
                "WARNING",
            ],
            SYNC_INTERVAL_SECONDS="60",
        )
        driver = Driver(stack, connection_ids, args.contacts)
        samples: list[dict] = []
        began = time.monotonic()
        end = began + args.minutes * 60
        next_sample = began
        next_sync = began + 15
        next_touch = began + 5
        try:
            while time.monotonic() < end:
                now = time.monotonic()
                if worker.poll() is not None or beat.poll() is not None:
                    raise SystemExit(f"worker or beat exited; see {stack.workdir}")
                if now >= next_sample:
                    rss, uss, pss = worker_memory(worker.pid)
                    depths = queue_depths(stack)
                    samples.append({"t": now - began, "rss": rss, "uss": uss, "pss": pss, **depths})
                    print(
                        f"{now - began:6.0f}s worker MiB rss {rss:.1f} uss {uss:.1f} pss {pss:.1f} "
                        f"queues {depths}",
                        file=sys.stderr,
                    )
                    next_sample += args.sample_seconds
                if now >= next_sync:
                    driver.safely(driver.sync_now)
                    next_sync += 15
                if now >= next_touch:
                    driver.safely(driver.change_contacts_in_keap)
                    next_touch += 20
                driver.safely(driver.request_goal)
                time.sleep(random.expovariate(args.goals_per_second))
            final_depths = queue_depths(stack)
            counts = outcome_counts(soak_started)
        finally:
            stop(beat)
            stop(worker)
        measured = [s for s in samples if s["t"] >= args.warmup_seconds] or samples
        head, tail = measured[:3], measured[-3:]
        rss_start = statistics.mean(s["rss"] for s in head)
        rss_end = statistics.mean(s["rss"] for s in tail)
        depth = [waiting(s) for s in measured]
        read = [d for d in depth if d is not None]
        worker_errors = error_lines(stack.workdir / "worker.log") + error_lines(
            stack.workdir / "beat.log"
        )
        for line in (driver.failures + worker_errors)[-20:]:
            print(f"ERROR {line}")
        result = {
            "minutes": args.minutes,
            "connections": len(connection_ids),
            "worker_concurrency": args.concurrency,
            "samples": len(measured),
            "worker_rss_mb_start": round(rss_start, 1),
            "worker_rss_mb_end": round(rss_end, 1),
            "worker_rss_mb_max": round(max(s["rss"] for s in measured), 1),
            "rss_growth_pct": round((rss_end - rss_start) / rss_start * 100, 2),
            "worker_uss_mb_start": round(statistics.mean(s["uss"] for s in head), 1),
            "worker_uss_mb_end": round(statistics.mean(s["uss"] for s in tail), 1),
            "worker_pss_mb_start": round(statistics.mean(s["pss"] for s in head), 1),
            "worker_pss_mb_end": round(statistics.mean(s["pss"] for s in tail), 1),
            "queue_depth_start": depth[0],
            "queue_depth_end": waiting(final_depths),
            "queue_depth_end_by_lane": {lane: final_depths[lane] for lane in LANES},
            "queue_depth_max": max(read, default=None),
            "queue_depth_unread_samples": len(depth) - len(read),
            "unacked_end": final_depths["unacked"],
            "unacked_max": max(s["unacked"] for s in measured),
            "goals_requested": driver.goals_requested,
            "syncs_requested": driver.syncs_requested,
            **counts,
            "errors": len(driver.failures)
            + len(worker_errors)
            + counts["goals_failed"]
            + counts["syncs_failed"],
        }

    print(json.dumps(result))


if __name__ == "__main__":
    main()
