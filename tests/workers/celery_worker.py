"""A real Celery worker process for tests, on this test session's database and broker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class CeleryWorker:
    """`celery -A webapp worker` as a child process; kill it, start it again, read its log."""

    def __init__(self, env: dict[str, str], log_path: Path, *, concurrency: int = 2) -> None:
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "CeleryWorker":
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "celery", "-A", "webapp", "worker",
                    "--loglevel", "INFO", "--concurrency", str(self.concurrency),
                    "--queues", "interactive,bulk", "--without-gossip", "--without-mingle",
                    "--hostname", f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
                ],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited early:\n{self.log_tail()}")
            if " ready." in self.log_path.read_text(errors="replace")[offset:]:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"the worker was not ready within {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the worker and every child process, as an OOM killer or a lost machine would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
