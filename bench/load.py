"""Load test: signed-in customers on their dashboard and connection pages, against gunicorn.

Starts Onramp as production runs it (gunicorn serving webapp.wsgi with DEBUG off, its static files
collected for whitenoise) on a free loopback port, on PostgreSQL and Redis (see bench/_stack.py for
the databases it creates, flushes and drops) and the Keap sandbox. Seeds --customers customers,
each with a connection whose contacts were synced from the sandbox and with a few completed goals.
Then runs locust headless (bench/_load_locustfile.py, in its own process) with --users users for
--seconds: sign in (login form + credentials with CSRF; with --signed-in they arrive signed in),
then the dashboard, the connection page and its htmx panels (sync progress, contacts page and
search, usage, goals). tests/test_load.py runs it in CI: 50 signed-in users for 30 s, no errors.

Prints per-page requests per second and latency percentiles; the last line is a JSON object:
{"duration_s", "users", "gunicorn_workers", "requests", "pages": {name: {"requests", "rps",
"p50_ms", "p95_ms", "failures"}}, "errors"}. Any response other than 2xx/3xx (or a page without its
expected content) is an error; their details are printed above the JSON line.

Customers sign in at most --sign-ins-per-minute times a minute in all (allauth allows 30 login
POSTs a minute per IP, and every simulated customer comes from 127.0.0.1), so with more --users
than that, customers join over several minutes: give such runs a longer --seconds.

    DATABASE_URL=postgres://postgres@127.0.0.1/onramp_bench REDIS_URL=redis://127.0.0.1:6379/15 \\
        .venv/bin/python bench/load.py [--seconds 60] [--users 20] [--customers 40] [--workers 3]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._stack import Stack  # noqa: E402

LOCUSTFILE = ROOT / "bench" / "_load_locustfile.py"


def start_gunicorn(stack: Stack, workers: int) -> subprocess.Popen:
    """gunicorn as the Dockerfile runs it (gthread, 8 threads a worker), on this run's port."""
    log = open(stack.workdir / "gunicorn.log", "ab")  # noqa: SIM115 (lives as long as the server)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "webapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{stack.web_port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--access-logfile",
            str(stack.workdir / "access.log"),
        ],
        cwd=ROOT,
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited:\n{tail(stack.workdir / 'gunicorn.log')}")
        try:
            if requests.get(f"{stack.site_url}/accounts/login/", timeout=10).status_code == 200:
                return process
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"gunicorn did not answer:\n{tail(stack.workdir / 'gunicorn.log')}")


def check_cookies_are_secure(stack: Stack) -> None:
    """The benchmark must measure the production cookie policy, not a loosened one."""
    response = requests.get(f"{stack.site_url}/accounts/login/", timeout=10)
    cookies = response.raw.headers.getlist("Set-Cookie")
    csrf = [c for c in cookies if c.startswith("csrftoken=")]
    if not csrf or "secure" not in csrf[0].lower():
        raise SystemExit(f"expected a Secure csrftoken cookie from the login page, got {cookies}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_locust(
    stack: Stack,
    customers_file: Path,
    *,
    users: int,
    seconds: int,
    sign_ins_per_minute: int,
    signed_in: bool = False,
) -> Path:
    prefix = stack.workdir / "locust"
    env = {
        **os.environ,
        "ONRAMP_LOAD_CUSTOMERS": str(customers_file),
        "ONRAMP_LOAD_SIGNINS_PER_MINUTE": str(sign_ins_per_minute),
        "ONRAMP_LOAD_SIGNED_IN": "1" if signed_in else "0",
        "PYTHONPATH": str(ROOT),
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            stack.site_url,
            "--users",
            str(users),
            "--spawn-rate",
            str(max(1, users // 5)),
            "--run-time",
            f"{seconds}s",
            "--stop-timeout",
            "10",
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        check=False,  # locust exits 1 when any request failed; the CSVs say which
        stdout=subprocess.DEVNULL,
        stderr=open(stack.workdir / "locust.log", "ab"),  # noqa: SIM115
    )
    return prefix


def summarise(prefix: Path, *, users: int, seconds: int, workers: int) -> dict:
    pages, total = {}, 0
    with open(f"{prefix}_stats.csv") as rows:
        for row in csv.DictReader(rows):
            count = int(row["Request Count"])
            if row["Name"] == "Aggregated":
                total = count
                continue
            pages[row["Name"]] = {
                "requests": count,
                "rps": round(float(row["Requests/s"]), 2),
                "p50_ms": round(float(row["50%"])),
                "p95_ms": round(float(row["95%"])),
                "failures": int(row["Failure Count"]),
            }
    errors = 0
    with open(f"{prefix}_failures.csv") as rows:
        for row in csv.DictReader(rows):
            errors += int(row["Occurrences"])
            print(f"ERROR {row['Method']} {row['Name']} x{row['Occurrences']}: {row['Error']}")
    return {
        "duration_s": seconds,
        "users": users,
        "gunicorn_workers": workers,
        "requests": total,
        "pages": pages,
        "errors": errors,
        # Context for the figures: this machine's CPU count and load while locust ran.
        "cpus": os.cpu_count(),
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="how long locust runs")
    parser.add_argument("--users", type=int, default=20, help="concurrent simulated customers")
    parser.add_argument("--customers", type=int, default=40, help="customers seeded")
    parser.add_argument("--contacts", type=int, default=500, help="contacts per Keap app")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument(
        "--sign-ins-per-minute",
        type=int,
        default=24,
        help="sign-in budget, kept under allauth's per-IP login limit (30 a minute)",
    )
    parser.add_argument(
        "--signed-in",
        action="store_true",
        help="customers arrive signed in (sessions made as a sign-in makes them), so every user "
        "browses from the first second whatever the sign-in limit",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and temp files")
    args = parser.parse_args()

    with Stack(prefix="load", keep=args.keep) as stack:
        print(f"database {stack.database_url}, redis {stack.redis_url}", file=sys.stderr)
        stack.manage("migrate", "--no-input")
        stack.manage("collectstatic", "--no-input")
        stack.setup_django()
        started = time.monotonic()
        customers = stack.seed(customers=args.customers, contacts=args.contacts)
        print(
            f"seeded {len(customers)} customers in {time.monotonic() - started:.0f}s",
            file=sys.stderr,
        )
        customers_file = stack.write_json("customers.json", customers)
        server = start_gunicorn(stack, args.workers)
        try:
            check_cookies_are_secure(stack)
            prefix = run_locust(
                stack,
                customers_file,
                users=args.users,
                seconds=args.seconds,
                sign_ins_per_minute=args.sign_ins_per_minute,
                signed_in=args.signed_in,
            )
        finally:
            server.terminate()
            server.wait(30)
        result = summarise(prefix, users=args.users, seconds=args.seconds, workers=args.workers)
        if result["requests"] == 0:
            print(tail(stack.workdir / "locust.log"), file=sys.stderr)
        server_errors = [
            line
            for line in tail(stack.workdir / "gunicorn.log", 200).splitlines()
            if "ERROR" in line
        ]
        for line in server_errors[-20:]:
            print(f"gunicorn: {line}")
    for name, page in result["pages"].items():
        print(
            f"{name:16} {page['requests']:7d} req {page['rps']:7.1f}/s "
            f"p50 {page['p50_ms']:5d} ms p95 {page['p95_ms']:5d} ms failures {page['failures']}"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
