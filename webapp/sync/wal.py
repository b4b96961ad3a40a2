"""SQLite in WAL mode: checkpointing the write-ahead log off the syncing thread.

A page's commit writes more than the WAL's automatic checkpoint threshold, so nearly every page's
commit would also copy the WAL into the database and fsync it (about 20 ms) on the syncing
thread. While a run works, its connection leaves that to a thread of its own, which checkpoints
(PASSIVE: never waiting for, nor blocking, the writer) after each page, in SQLite's C code with
the GIL free, while the next page is read. On PostgreSQL, or SQLite not in WAL mode, there is
nothing to do and `WalCheckpointer.start()` gives None.
"""

import logging
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import DatabaseError
from django.db import connection as db

log = logging.getLogger(__name__)


class WalCheckpointer:
    """Checkpoints the WAL in a thread of its own after each commit, while a run works."""

    def __init__(self, previous: int) -> None:
        self.previous = previous
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-wal")
        self.pending: Future[None] | None = None

    @classmethod
    def start(cls) -> "WalCheckpointer | None":
        """Turn this connection's automatic checkpoint off and take it over; None if not SQLite
        in WAL mode."""
        if db.vendor != "sqlite":
            return None
        with db.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() != "wal":
                return None
            cursor.execute("PRAGMA wal_autocheckpoint")
            previous = int(cursor.fetchone()[0])
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
        return cls(previous)

    def after_commit(self) -> None:
        """Checkpoint now in the background, unless the previous checkpoint is still going."""
        if self.pending is None or self.pending.done():
            self.pending = self.executor.submit(_checkpoint)

    def stop(self) -> None:
        """Give the automatic checkpoint back to the connection, and end the thread."""
        try:
            with db.cursor() as cursor:
                cursor.execute(f"PRAGMA wal_autocheckpoint = {int(self.previous)}")
        except DatabaseError as exc:  # a broken connection is closed anyway: nothing to restore
            log.info("Could not restore the WAL's automatic checkpoint: %s", exc)
        self.executor.submit(lambda: db.close()).result()  # the thread's own connection
        self.executor.shutdown(wait=True)


def _checkpoint() -> None:
    try:
        with db.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except DatabaseError as exc:  # the next one, or SQLite's own on another connection, will do
        log.info("WAL checkpoint skipped: %s", exc)
