"""A stand-in Onramp worker process for tests: N threads each make one Keap call for a connection.

Usage: python -m tests.workers.call_keap <connection id> <threads> [--die-after-token-response]
Prints one JSON line: {"ok": n, "errors": [...]}.
With --die-after-token-response the process kills itself (SIGKILL) the moment Keap's token endpoint
has answered a refresh, before Onramp commits the new pair: the worst moment for a worker to die.
"""

import json
import os
import signal
import sys
import threading

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django.setup()

from django.db import connection as db  # noqa: E402

from webapp.connections.tokens import client_for  # noqa: E402
from webapp.keap import oauth  # noqa: E402


def main() -> None:
    connection_id, threads = int(sys.argv[1]), int(sys.argv[2])
    if "--die-after-token-response" in sys.argv:
        real_refresh = oauth.refresh

        def refresh_then_die(*args, **kwargs):
            real_refresh(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)

        oauth.refresh = refresh_then_die

    barrier = threading.Barrier(threads)
    results: list[str] = []

    def call() -> None:
        barrier.wait()
        try:
            client_for(connection_id).userinfo()
            results.append("ok")
        except Exception as exc:
            results.append(f"{type(exc).__name__}: {exc}")
        finally:
            db.close()

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    errors = [r for r in results if r != "ok"]
    print(json.dumps({"ok": len(results) - len(errors), "errors": errors}))


if __name__ == "__main__":
    main()
