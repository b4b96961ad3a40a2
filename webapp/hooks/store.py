"""Storing Keap's deliveries the moment they arrive: many requests, one transaction.

A delivery is answered 200 only once it is committed, since Keap never sends it again after a
200. Committed one by one, each costs a flush of the database's log to disk (about 3 ms on this
project's machines), which caps the hook URL near 300 deliveries a second, while a burst from
every connection at once wants more. So each web process hands its deliveries to one writer
thread, which stores whatever has gathered in one INSERT, one transaction and one flush, then
wakes every request in it. Nothing is answered before it is stored; the flush is shared. Two
writers take turns, so a batch gathers while the one before it waits for the disk.

Why our own: neither Django nor psycopg batches the commits of separate requests (each request's
transaction is its own), and PostgreSQL's own group commit (commit_delay) is a server setting
that a deployment may not control.
"""

import logging
import os
import queue
import threading
from dataclasses import dataclass, field

from django.db import DatabaseError, close_old_connections
from django.db import connection as db

from webapp.hooks.models import HookDelivery

log = logging.getLogger(__name__)

MAX_BATCH = 500
# Writers per process: while one waits for its commit to reach the disk, the next batch is written
# (and the database flushes both at once).
WRITERS = 2
WAIT_SECONDS = 10.0


class NotStored(Exception):
    """The delivery could not be stored now (the database is away): Keap should send it again."""


@dataclass
class _Waiting:
    delivery: HookDelivery
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class _Writer:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new process (after fork) starts with no thread and nothing waiting."""
        self.waiting: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def store(self, delivery: HookDelivery) -> None:
        """Store the delivery; return once it is committed (NotStored if it cannot be)."""
        if db.in_atomic_block:  # inside a transaction already (a test): written with it
            delivery.save()
            return
        item = _Waiting(delivery)
        self._start()
        self.waiting.put(item)
        if not item.done.wait(WAIT_SECONDS):
            raise NotStored("the database did not take the delivery in time")
        if item.error is not None:
            raise NotStored(str(item.error)) from item.error

    def _start(self) -> None:
        if self.threads:
            return
        with self.lock:
            for n in range(WRITERS if not self.threads else 0):
                thread = threading.Thread(target=self._run, name=f"hook-writer-{n}", daemon=True)
                thread.start()
                self.threads.append(thread)

    def _run(self) -> None:
        while True:
            batch = [self.waiting.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                HookDelivery.objects.bulk_create([item.delivery for item in batch])
            except DatabaseError as exc:
                log.warning("Could not store %d hook deliveries: %s", len(batch), exc)
                for item in batch:
                    item.error = exc
                close_old_connections()  # a broken connection is replaced on the next batch
            finally:
                for item in batch:
                    item.done.set()


WRITER = _Writer()
os.register_at_fork(after_in_child=WRITER.reset)


def store(delivery: HookDelivery) -> None:
    WRITER.store(delivery)
