"""Onramp's web server and Celery beat as real child processes for tests, beside CeleryWorker."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def production_access_log_format() -> str:
    """gunicorn's access line as the Dockerfile (and so docker-compose.yml) configures it."""
    cmd = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD ")
    )
    argv = json.loads(cmd.removeprefix("CMD "))
    return argv[argv.index("--access-logformat") + 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Child:
    """A child process in a session of its own, its output in `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def _spawn(self, argv: list[str]) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class WebServer(_Child):
    """gunicorn serving Onramp on a loopback port of its own."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(env, log_path)

    def start(self, timeout: float = 60) -> "WebServer":
        self._spawn([
            sys.executable, "-m", "gunicorn", "webapp.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--worker-class", "gthread",
            "--threads", "8", "--access-logfile", "-",
            "--access-logformat", production_access_log_format(),
        ])  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the web server exited early:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the web server did not answer within {timeout}s:\n{self.log_tail()}")


class CeleryBeat(_Child):
    """`celery -A webapp beat`, with its schedule file in the test's folder."""

    def start(self) -> "CeleryBeat":
        schedule = self.log_path.with_suffix(".schedule")
        self._spawn([
            sys.executable, "-m", "celery", "-A", "webapp", "beat", "--loglevel", "INFO",
            "--schedule", str(schedule),
        ])  # fmt: skip
        return self


class RedisServer(_Child):
    """A Redis of the test's own on a loopback port, to stop and start again (no persistence)."""

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        super().__init__(dict(os.environ), log_path)

    def start(self, timeout: float = 20) -> "RedisServer":
        self._spawn([
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
        ])  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not answer within {timeout}s:\n{self.log_tail()}")
