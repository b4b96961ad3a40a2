"""Changes Keap pushes, end to end on real processes: how fast they reach Onramp's copy, at what
cost in calls, and how many deliveries the hook URL takes a second.

Runs Onramp as production does (gunicorn as the Dockerfile starts it, a Celery worker, beat;
PostgreSQL and Redis, see bench/_stack.py), the Keap sandbox as a process, and 100 connections,
each to a tenant of its own, connected through Onramp's connect flow (so subscribed to Keap's
REST hooks, which Keap confirms through gunicorn). The sandbox then plays edits made in Keap's
web app: five busy connections changing steadily, and single edits here and there among the rest.

1. Keap's delivery delay shortened (first attempt 0.5-1 s after a change) for `--quick` seconds:
   `delivery_to_copy_p50_s`, `_p95_s`, from a delivery reaching the hook URL to its changes being
   in the copy: Onramp's own part (intake, the start_changes beat, a changes run on the worker).
2. Keap's documented delay (first attempt 30-60 s after a change, so Keap batches what changes
   meanwhile) for `--window` seconds (default 900, one polling interval):
   - `change_to_copy_p50_s`, `_p95_s`, from the change in Keap to the copy (reported);
   - `calls_per_1000_changes`: Onramp's calls for those changes (changes runs, and hook checks
     that fall in the window) per 1,000 contacts changed;
   - `polling_calls_per_1000_changes`: the same changes fetched the way today's schedule would,
     one round of incremental syncs of every connection (what polling every 15 minutes spends
     in a 15-minute window), run after the window and its calls counted.
3. `intake_deliveries_per_s`: wrk posts well-formed deliveries to the 100 hook URLs for `--blast`
   seconds through gunicorn, the worker and beat paused meanwhile (then they apply them):
   deliveries stored per second, each answered 200 only once committed.
At the end every connection's copy is compared with its tenant in Keap: `contacts_mismatched`.

    .venv/bin/python bench/realtime.py [--connections 100] [--quick 120] [--window 900] [--blast 15]

Needs PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/onramp_bench,
dropped and created), Redis at REDIS_URL (default redis://127.0.0.1:6379/15, flushed), and wrk
(Debian's package `wrk`). The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._stack import KEAP_USER, PASSWORD, Stack  # noqa: E402

# gunicorn as the Dockerfile and docker-compose.yml run it (3 processes x 8 threads).
GUNICORN = [
    *("--workers", "3", "--worker-class", "gthread", "--threads", "8"),
    *("--timeout", "60", "--keep-alive", "5", "--access-logfile", "-"),
    *("--access-logformat", '%(h)s "%(m)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'),
]
QUICK = {"hook_first_delay_min_seconds": 0.5, "hook_first_delay_max_seconds": 1.0}
DOCUMENTED = {"hook_first_delay_min_seconds": 30, "hook_first_delay_max_seconds": 60}
WRK_SCRIPT = """
local paths = {}
for line in io.lines(os.getenv("HOOK_PATHS")) do paths[#paths + 1] = line end
local body = os.getenv("HOOK_BODY")
local headers = {["Content-Type"] = "application/json"}
request = function()
  return wrk.format("POST", paths[math.random(#paths)], headers, body)
end
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--quick", type=float, default=120.0)
    parser.add_argument("--window", type=float, default=900.0)
    parser.add_argument("--blast", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    with Stack(prefix="realtime") as stack:
        print(json.dumps(Run(stack, args).run()))


class Run:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack = stack
        self.args = args
        self.rng = random.Random(args.seed)
        self.processes: list[subprocess.Popen] = []
        self.tenants = [f"rt{n:03d}" for n in range(args.connections)]

    # --- the stack --------------------------------------------------------------------------

    def start(self, name: str, argv: list[str], **env: str) -> None:
        out = open(self.stack.workdir / f"{name}.log", "ab")  # noqa: SIM115 (lives as the process)
        self.processes.append(
            subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.stack.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    def pause(self, how: signal.Signals) -> None:
        """Stop (or continue) the worker and beat, with every process they started."""
        for name, process in zip(("web", "worker", "beat"), self.processes, strict=True):
            if name != "web":
                os.killpg(process.pid, how)

    def run(self) -> dict:
        stack = self.stack
        stack.env["LOG_LEVEL"] = "WARNING"
        stack.manage("migrate", "--noinput")
        bind = f"127.0.0.1:{stack.web_port}"
        self.start("web", [sys.executable, "-m", "gunicorn", "webapp.wsgi:application",
                           "--bind", bind, *GUNICORN])  # fmt: skip
        self.start("worker", [sys.executable, "-m", "celery", "-A", "webapp", "worker",
                              "--loglevel", "WARNING", "--concurrency", "4",
                              "--queues", "interactive,bulk"])  # fmt: skip
        self.start("beat", [sys.executable, "-m", "celery", "-A", "webapp", "beat",
                            "--loglevel", "WARNING",
                            "--schedule", str(stack.workdir / "beat-schedule")])  # fmt: skip
        try:
            self.wait_for_web()
            stack.setup_django()
            self.connect_all()
            results = {**self.quick(), **self.window(), **self.blast()}
            results["contacts_mismatched"] = self.mismatched()
            results["connections"] = len(self.tenants)
            return results
        finally:
            for process in self.processes:
                os.killpg(process.pid, signal.SIGTERM)
            for process in self.processes:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)

    def wait_for_web(self) -> None:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.stack.site_url}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise SystemExit("gunicorn did not answer /healthz")

    def connect_all(self) -> None:
        """Each tenant connected through Onramp's own connect flow (hooks subscribed, the first
        sync run, eagerly here), with the sandbox confirming every hook URL through gunicorn."""
        from tests.factories import UserFactory
        from webapp.connections import flows
        from webapp.hooks.models import HookEndpoint
        from webapp.keap import oauth
        from webapp.keap.models import DeveloperApp
        from webapp.keap.results import AccountProfile, UserInfo

        sandbox = self.stack.sandbox
        sandbox.set_settings(**QUICK)
        app = DeveloperApp.objects.current()
        log(f"connecting {len(self.tenants)} tenants")
        for n, tenant in enumerate(self.tenants):
            sandbox.create_tenant(tenant, name=f"Realtime {n}", users=[KEAP_USER], contacts=200)
            user = UserFactory(email=f"rt{n}@onramp.test", password=PASSWORD)
            token = sandbox.issue_tokens(app=tenant, email=KEAP_USER)
            tokens = oauth.TokenSet(
                access_token=token["access_token"],
                refresh_token=token["refresh_token"],
                expires_at=datetime.now(UTC) + timedelta(seconds=int(token["expires_in"])),
                scope=token["scope"],
            )
            flows.save_connection(
                app=app, user=user, tokens=tokens,
                userinfo=UserInfo(email=KEAP_USER, given_name="", family_name="",
                                  global_user_id=None, sub=KEAP_USER),
                profile=AccountProfile(name=f"Realtime {n}", email="", phone="", website="",
                                       time_zone=""),
            )  # fmt: skip
        verified = HookEndpoint.objects.filter(status="verified").count()
        log(f"{verified} of {len(self.tenants)} connections verified by Keap")
        if verified != len(self.tenants):
            raise SystemExit("not every subscription was verified; see the web log")

    # --- 1. Onramp's part, Keap's delay shortened ------------------------------------------------

    def quick(self) -> dict:
        """Many deliveries, each timed from the hook URL to the copy."""
        from webapp.hooks.models import HookDelivery

        sandbox = self.stack.sandbox
        sandbox.set_settings(**QUICK)
        started = datetime.now(UTC)
        log(f"Keap's delay shortened: playing edits for {self.args.quick:.0f}s")
        self.play(self.args.quick, busy_every=5.0, single_every=2.0)
        self.settle()
        lags = sorted(
            (d.applied_at - d.received_at).total_seconds()
            for d in HookDelivery.objects.filter(received_at__gte=started).exclude(applied_at=None)
        )
        return {
            "deliveries": len(lags),
            "delivery_to_copy_p50_s": _q(lags, 0.5),
            "delivery_to_copy_p95_s": _q(lags, 0.95),
        }

    # --- 2. a polling interval, at Keap's documented delay -----------------------------------------

    def window(self) -> dict:
        """`--window` seconds of edits in Keap at its documented delay: change to copy, and the
        calls spent, beside what polling every 15 minutes spends on the same changes."""
        from django.db.models import Sum

        from webapp.hooks.models import HookDelivery
        from webapp.keap.results import parse_timestamp
        from webapp.sync.models import SyncRun

        sandbox = self.stack.sandbox
        sandbox.set_settings(**DOCUMENTED)
        started = datetime.now(UTC)
        log(f"Keap's documented delay: playing edits for {self.args.window:.0f}s")
        changed = self.play(self.args.window, busy_every=30.0, single_every=60.0)
        self.settle(timeout=300)
        deliveries = HookDelivery.objects.filter(received_at__gte=started)
        lags = sorted(
            (d.applied_at - when).total_seconds()
            for d in deliveries.exclude(applied_at=None)
            for _, stamp in d.ids
            if (when := parse_timestamp(stamp)) is not None
        )
        runs = SyncRun.objects.filter(kind="changes", created_at__gte=started)
        hook_calls = int(runs.aggregate(calls=Sum("calls"))["calls"] or 0) + self.checks(started)
        log(f"{changed} changes, {hook_calls} calls; now one poll round")
        poll_calls = self.poll_round()
        per_window = self.args.window / 900.0  # polling rounds a 15-minute schedule makes in it
        return {
            "window_s": self.args.window,
            "changes": changed,
            "change_to_copy_p50_s": _q(lags, 0.5),
            "change_to_copy_p95_s": _q(lags, 0.95),
            "calls_per_1000_changes": round(1000 * hook_calls / max(changed, 1), 1),
            "polling_calls_per_1000_changes": round(
                1000 * poll_calls * per_window / max(changed, 1), 1
            ),
            "hook_calls": hook_calls,
            "polling_calls": round(poll_calls * per_window),
        }

    def play(self, seconds: float, *, busy_every: float, single_every: float) -> int:
        """Edits made in Keap's web app: five busy connections changing steadily (a change every
        `busy_every` seconds each, adds, edits and deletes), and a single edit every
        `single_every` seconds somewhere among the rest; returns how many contacts changed."""
        sandbox = self.stack.sandbox
        busy, rest = self.tenants[:5], self.tenants[5:] or self.tenants
        for tenant in busy:
            sandbox.play(tenant, rate=1 / busy_every, duration=seconds, adds=1, edits=3, deletes=1)
        changed = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(
                min(self.rng.expovariate(1 / single_every), max(deadline - time.monotonic(), 0))
            )
            changed += len(sandbox.play(self.rng.choice(rest), edits=1)["edited"])
        for tenant in busy:
            _wait(lambda t=tenant: all(p["state"] != "running" for p in sandbox.players(t)), 60)
            for player in sandbox.players(tenant):
                changed += player["added"] + player["edited"] + player["deleted"]
            sandbox.stop_players(tenant)
        return changed

    def checks(self, since: datetime) -> int:
        from django.db.models import Sum

        from webapp.usage import recorder
        from webapp.usage.models import UsageMinute

        recorder.flush()
        return int(
            UsageMinute.objects.filter(minute__gte=since, operation__startswith="hooks.").aggregate(
                calls=Sum("calls")
            )["calls"]
            or 0
        )

    def poll_round(self) -> int:
        """One incremental sync of every connection (the task run in this process, eagerly, as
        the worker would run it); the calls they made."""
        from django.db import transaction
        from django.db.models import Sum

        from webapp.connections.models import KeapConnection
        from webapp.sync import flows
        from webapp.sync.models import SyncRun

        ids = []
        for connection in KeapConnection.objects.all():
            with transaction.atomic():
                run = flows.start_sync(connection=connection, kind="incremental")
            if run is not None:
                ids.append(run.pk)
        _wait(lambda: not SyncRun.objects.filter(pk__in=ids, finished_at=None).exists(), 600)
        return int(SyncRun.objects.filter(pk__in=ids).aggregate(c=Sum("calls"))["c"] or 0)

    def settle(self, timeout: float = 300) -> None:
        """Until Keap has sent every delivery and Onramp has applied every one."""
        from webapp.hooks.models import HookDelivery

        sandbox = self.stack.sandbox

        def keap_done() -> bool:
            subscriptions = sandbox.hooks()
            return not any(s["queued_events"] or s["pending_deliveries"] for s in subscriptions)

        _wait(keap_done, timeout)
        _wait(lambda: not HookDelivery.objects.filter(applied_at=None).exists(), timeout)

    # --- 3. the hook URL under load ---------------------------------------------------------------

    def blast(self) -> dict:
        from webapp.hooks.models import HookDelivery

        sandbox = self.stack.sandbox
        paths = sorted({s["hookUrl"].removeprefix(self.stack.site_url) for s in sandbox.hooks()})
        paths_file = self.stack.workdir / "hook-paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        script = self.stack.workdir / "deliver.lua"
        script.write_text(WRK_SCRIPT)
        body = json.dumps({
            "event_key": "contact.edit", "object_type": "contact",
            "object_keys": [{"id": 1, "apiUrl": "", "timestamp": "2026-01-01T00:00:00.000+0000"}],
        })  # fmt: skip
        before = HookDelivery.objects.count()
        log(f"wrk: {len(paths)} hook URLs for {self.args.blast:.0f}s (worker and beat paused)")
        # The intake alone on the machine's two cores: the worker and beat, which would apply the
        # deliveries meanwhile, wait until it is over (and then apply them).
        self.pause(signal.SIGSTOP)
        try:
            out = subprocess.run(
                ["wrk", "-t2", "-c48", f"-d{int(self.args.blast)}s", "-s", str(script),
                 self.stack.site_url],
                capture_output=True, text=True, check=True,
                env={**os.environ, "HOOK_PATHS": str(paths_file), "HOOK_BODY": body},
            )  # fmt: skip
        finally:
            self.pause(signal.SIGCONT)
        stored = HookDelivery.objects.count() - before
        errors = [line for line in out.stdout.splitlines() if "Non-2xx" in line or "errors" in line]
        self.settle()
        return {
            "intake_deliveries_per_s": round(stored / self.args.blast),
            "intake_non_2xx": errors,
            "wrk": [line.strip() for line in out.stdout.splitlines() if "Requests/sec" in line],
        }

    # --- the copy --------------------------------------------------------------------------------

    def mismatched(self) -> int:
        """Contacts whose copy differs from Keap (missing, extra, or not as Keap last changed)."""
        import requests

        from webapp.connections.models import KeapConnection
        from webapp.keap.results import parse_timestamp
        from webapp.sync.models import Contact

        sandbox = self.stack.sandbox
        wrong = 0
        for connection in KeapConnection.objects.all():
            token = sandbox.issue_tokens(app=connection.app_name, email=KEAP_USER)["access_token"]
            remote: dict[int, object] = {}
            page = ""
            while True:
                body = requests.get(
                    f"{sandbox.url}/crm/rest/v2/contacts",
                    params={"page_size": 1000, "fields": "update_time", "page_token": page},
                    headers={"Authorization": f"Bearer {token}"}, timeout=30,
                ).json()  # fmt: skip
                remote.update(
                    {int(c["id"]): parse_timestamp(c["update_time"]) for c in body["contacts"]}
                )
                page = body.get("next_page_token") or ""
                if not page:
                    break
            local = dict(
                Contact.objects.filter(connection=connection).values_list(
                    "keap_id", "keap_updated_at"
                )
            )
            wrong += len(set(local) ^ set(remote))
            wrong += sum(1 for k in set(local) & set(remote) if local[k] != remote[k])
        return wrong


def _wait(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout:.0f}s")


def _q(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


if __name__ == "__main__":
    main()
