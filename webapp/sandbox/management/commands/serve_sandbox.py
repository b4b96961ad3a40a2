import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections


class Command(BaseCommand):
    help = "Migrate the Keap sandbox database, seed it if empty, then serve it with gunicorn."

    def add_arguments(self, parser: CommandParser) -> None:
        # Loopback by default: the simulator's control API has no authentication.
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("SANDBOX_WORKERS", 2))
        )
        parser.add_argument(
            "--threads", type=int, default=int(os.environ.get("SANDBOX_THREADS", 8))
        )

    def handle(
        self, *args: Any, host: str, port: int, workers: int, threads: int, **options: Any
    ) -> None:
        call_command("seed_sandbox", if_empty=True)  # migrates first
        connections.close_all()
        self.stdout.write(f"Keap sandbox on http://{host}:{port}/sandbox/")
        self.stdout.flush()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "webapp.sandbox.wsgi:application",
            "--chdir",
            str(settings.BASE_DIR),
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--worker-class",
            "gthread",
            "--graceful-timeout",
            "5",
            # gunicorn's largest request line, above Keap's gateway's 7 KB (gateway.py answers
            # that limit as Keap does); past 8190 bytes gunicorn answers its own 414 page.
            "--limit-request-line",
            "8190",
            # gunicorn's control socket has one default path per user; two sandboxes (dev and
            # tests) would fight over it, and nothing here uses it.
            "--no-control-socket",
        ]
        # exec, not a child process: SIGTERM/SIGINT from a supervisor reach gunicorn directly.
        os.execv(sys.executable, argv)  # noqa: S606 (fixed argv, no shell)
