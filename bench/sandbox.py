"""Benchmark the Keap sandbox: small goal calls per second, and 1000-contact pages per second.

Starts its own sandbox process (2 gunicorn workers, temp database, limits raised far above
Keap's) through tests/sandbox/server.py, then drives it over real HTTP from several client
processes with keep-alive connections. The last line printed is a JSON object:
`{"small_calls_per_s": ..., "page_1000_per_s": ..., ...}`.

    .venv/bin/python bench/sandbox.py [--seconds 8] [--clients 3] [--threads 4]
"""

import argparse
import http.client
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sandbox.server import SandboxServer

ROOMY = {
    "app_limit_per_second": 10_000_000,
    "app_limit_per_minute": 100_000_000,
    "app_limit_per_day": 1_000_000_000,
    "tenant_limit_per_minute": 100_000_000,
    "tenant_limit_per_day": 1_000_000_000,
}


def _goal_worker(port: int, token: str, contact_id: int, threads: int, until: float, out) -> None:
    import threading

    counts = []

    def run() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        body = json.dumps({"contact_id": contact_id})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        done = errors = 0
        while time.monotonic() < until:
            try:
                connection.request(
                    "POST", "/crm/rest/v1/campaigns/goals/ab123/purchased", body, headers
                )
                response = connection.getresponse()
                response.read()
                if response.status == 201:
                    done += 1
                else:
                    errors += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        counts.append((done, errors))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put((sum(c[0] for c in counts), sum(c[1] for c in counts)))


def small_calls(server: SandboxServer, token: str, contact_id: int, *, seconds, clients, threads):
    queue = multiprocessing.Queue()
    start = time.monotonic() + 0.5  # let every client connect before the clock starts
    until = start + seconds
    processes = [
        multiprocessing.Process(
            target=_goal_worker, args=(server.port, token, contact_id, threads, until, queue)
        )
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    results = [queue.get() for _ in processes]
    for process in processes:
        process.join()
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return done / (until - start + 0.5) if done else 0.0, done, errors


def pages(server: SandboxServer, token: str, *, seconds: float) -> tuple[float, int]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    done, offset, started = 0, 0, time.monotonic()
    token_v2 = ""
    while time.monotonic() - started < seconds:
        # Alternate v1 offset pages and v2 token pages, 1000 contacts each.
        if done % 2 == 0:
            connection.request(
                "GET", f"/crm/rest/v1/contacts?limit=1000&offset={offset}", headers=headers
            )
            offset = (offset + 1000) % 20_000
        else:
            query = "page_size=1000" + (f"&page_token={token_v2}" if token_v2 else "")
            connection.request("GET", f"/crm/rest/v2/contacts?{query}", headers=headers)
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 200 and len(body["contacts"]) == 1000, response.status
        if done % 2 == 1:
            token_v2 = body.get("next_page_token", "")
            if not token_v2 or len(token_v2) > 200:
                token_v2 = ""
        done += 1
    return done / (time.monotonic() - started), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=3, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per client process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as workdir:
        server = SandboxServer(Path(workdir), env={"SANDBOX_SEED_CONTACTS": "0"})
        server.seed_offline(20_000, ["ab123"])
        server.start()
        try:
            server.set_limits(**ROOMY)
            token = server.issue_tokens(app="ab123")["access_token"]
            rate, done, errors = small_calls(
                server, token, 1, seconds=args.seconds, clients=args.clients, threads=args.threads
            )
            print(f"goal calls: {done} in {args.seconds:.0f}s ({errors} errors)", flush=True)
            page_rate, page_count = pages(server, token, seconds=args.seconds)
            print(f"1000-contact pages: {page_count}", flush=True)
            achieved = server.counts()["goals_achieved"]
        finally:
            server.stop()
    print(
        json.dumps(
            {
                "small_calls_per_s": round(rate, 1),
                "page_1000_per_s": round(page_rate, 2),
                "goal_calls": done,
                "goal_errors": errors,
                "goals_recorded": achieved,
                "client_processes": args.clients,
                "threads_per_client": args.threads,
                "sandbox_workers": 2,
            }
        )
    )


if __name__ == "__main__":
    main()
