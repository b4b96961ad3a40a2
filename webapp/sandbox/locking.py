"""One write lock for the whole sandbox, across gunicorn's worker processes and threads.

SQLite allows one writer; a second writer that finds the database locked sleeps in SQLite's busy
handler with growing back-off (1, 2, 5 ... 100 ms), which wrecks throughput and latency under
load. Hot write paths (quota admission, goal achievements) therefore queue on this lock instead:
a thread lock inside a process and an `flock` on a file next to the database between processes.
Both wake the next waiter at once. It also makes the quota transaction exact on any database
engine, as long as all workers run on one machine.
"""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

_thread_lock = threading.Lock()
_file: BinaryIO | None = None
_file_pid: int | None = None


def _lock_path() -> Path:
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return Path(f"{database['NAME']}.lock")
    return Path(settings.BASE_DIR) / "var" / "sandbox-write.lock"


def _lock_file() -> BinaryIO:
    global _file, _file_pid
    # A file object inherited across fork() would share the lock with the parent: reopen.
    if _file is None or _file_pid != os.getpid():
        path = _lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        _file = open(path, "a+b")  # noqa: SIM115 (held for the life of the process)
        _file_pid = os.getpid()
    return _file


@contextmanager
def write_lock() -> Iterator[None]:
    """Hold the sandbox's single write lock for the duration of the block."""
    with _thread_lock:
        handle = _lock_file()
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
