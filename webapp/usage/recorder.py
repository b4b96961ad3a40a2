"""Record every call to Keap without a database round trip on the call's own path.

`record(call)` only appends to a buffer; `flush()` moves the buffer into the database (raw rows,
rollups, latest quota headers, see webapp.usage.store).

- With Redis (USAGE_REDIS_URL, else REDIS_URL): one RPUSH of a compact JSON line onto a shared list.
  The beat task `flush_usage` drains it. A flush claims a batch atomically (a Lua script moves it to a
  claim list of its own), writes it under the claim's id, then drops the claim; so two flushers never
  take the same record, a failed write puts its batch back, and a flusher killed mid-way leaves a
  claim that the next flush either re-queues or, if its id reached the database, just discards.
- Without Redis (the embedded default), or while Redis is unreachable: an in-process deque, flushed
  by a daemon thread every USAGE_FLUSH_INTERVAL_SECONDS and at exit. The thread starts lazily in the
  process that records, so each Celery prefork child and gunicorn worker gets its own after fork.

Use (the record type is webapp.usage.records.CallRecord):
    record(CallRecord(app=client_id, tenant="ab123", connection_id=7, operation="contacts.list.v1",
                      lane="bulk", status=200, latency_ms=84, quota=quota_from_snapshot(snapshot)))
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import uuid
from collections import deque
from pathlib import Path
from typing import cast

import redis
from django.conf import settings

from webapp.usage.records import CallRecord

logger = logging.getLogger(__name__)

# --- Redis buffer ---------------------------------------------------------------------------------

# The buffer's two scripts live in lua/ beside this module, read once at import.
_LUA_DIR = Path(__file__).with_name("lua")
_CLAIM_LUA = (_LUA_DIR / "claim.lua").read_text()
_REQUEUE_LUA = (_LUA_DIR / "requeue.lua").read_text()


class RedisBuffer:
    """The shared list of recorded calls, and the claims of flushes in progress.

    Keys (one hash tag, so a cluster keeps them in one slot):
        <prefix>:{buf}:pending       list of JSON lines, oldest first
        <prefix>:{buf}:claims        hash claim id -> epoch seconds it was claimed (Redis clock)
        <prefix>:{buf}:claim:<id>    list, the records one flush is writing
    """

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.pending = f"{prefix}:{{buf}}:pending"
        self.claims = f"{prefix}:{{buf}}:claims"
        self._claim_prefix = f"{prefix}:{{buf}}:claim:"
        self._claim = client.register_script(_CLAIM_LUA)
        self._requeue = client.register_script(_REQUEUE_LUA)

    def claim_key(self, claim_id: str) -> str:
        return self._claim_prefix + claim_id

    def push(self, line: str) -> None:
        self.client.rpush(self.pending, line)

    def backlog(self) -> int:
        """Records waiting to be flushed."""
        # redis-py types its sync and async clients' answers as one union: these are sync.
        return int(cast(int, self.client.llen(self.pending)))

    def requeue(self, claim_id: str) -> int:
        """Return a claim's records to the pending list (-1 if the claim is already gone)."""
        keys = [self.pending, self.claims, self.claim_key(claim_id)]
        return int(self._requeue(keys=keys, args=[claim_id]))

    def release(self, claim_id: str) -> None:
        """Forget a claim whose records are safely in the database."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hdel(self.claims, claim_id)
            pipe.delete(self.claim_key(claim_id))
            pipe.execute()

    def recover_stale(self, older_than_seconds: float) -> int:
        """Settle claims left by flushers that died: discard if written, else re-queue. Returns count."""
        from webapp.usage.models import FlushedBatch

        now = int(cast(tuple[int, int], self.client.time())[0])
        recovered = 0
        claims = cast(dict[bytes, bytes], self.client.hgetall(self.claims))
        for raw_id, raw_at in claims.items():
            claim_id = raw_id.decode()
            if now - int(raw_at) < older_than_seconds:
                continue
            if FlushedBatch.objects.filter(pk=claim_id).exists():
                self.release(claim_id)
                logger.warning("usage: discarded stale claim %s (already written)", claim_id)
            elif self.requeue(claim_id) >= 0:
                logger.warning("usage: re-queued stale claim %s", claim_id)
            recovered += 1
        return recovered

    def drain(self, max_items: int | None, batch_size: int) -> int:
        """Claim, write and release batches until the list is empty or max_items are taken."""
        from webapp.usage.store import store_records

        written = 0
        taken = 0
        while max_items is None or taken < max_items:
            want = batch_size if max_items is None else min(batch_size, max_items - taken)
            claim_id = uuid.uuid4().hex
            keys = [self.pending, self.claims, self.claim_key(claim_id)]
            lines = self._claim(keys=keys, args=[want, claim_id])
            if not lines:
                break
            taken += len(lines)
            try:
                written += store_records(_parse(lines), batch_id=claim_id)
            except BaseException:
                # Put the batch back for the next flush rather than lose it; the transaction rolled
                # back, so nothing of it was counted.
                self.requeue(claim_id)
                raise
            self.release(claim_id)
            if len(lines) < want:
                break
        return written


def _parse(lines: list[bytes]) -> list[CallRecord]:
    records = []
    for line in lines:
        try:
            records.append(CallRecord.from_json(line))
        except (ValueError, KeyError, TypeError):
            # A line we cannot read would otherwise come back forever; drop it, loudly.
            logger.error("usage: dropping unreadable record %r", line[:200])
    return records


_redis_lock = threading.Lock()
_redis_cached: tuple[tuple[str, str, float], RedisBuffer | None] | None = None


def _redis_settings() -> tuple[str, str, float]:
    return (
        settings.USAGE_REDIS_URL or settings.REDIS_URL,
        settings.USAGE_REDIS_PREFIX,
        float(settings.USAGE_REDIS_TIMEOUT_SECONDS),
    )


def redis_buffer() -> RedisBuffer | None:
    """The Redis buffer when Redis is configured, else None (records stay in process)."""
    global _redis_cached
    key = _redis_settings()
    cached = _redis_cached
    if cached is not None and cached[0] == key:
        return cached[1]
    with _redis_lock:
        if _redis_cached is None or _redis_cached[0] != key:
            url, prefix, timeout = key
            buffer = None
            if url:
                client = redis.Redis.from_url(
                    url, socket_timeout=timeout, socket_connect_timeout=timeout
                )
                buffer = RedisBuffer(client, prefix)
            _redis_cached = (key, buffer)
        return _redis_cached[1]


# --- In-process buffer ----------------------------------------------------------------------------


class LocalBuffer:
    """Records waiting in this process, and the daemon thread that flushes them.

    deque.append and popleft are atomic, so recording threads need no lock; the lock only guards
    starting the thread. After a fork the child starts empty (the parent still owns and flushes what
    it had) with no thread, and starts its own on its first record.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.items: deque[CallRecord] = deque()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.dropped = 0

    def push(self, call: CallRecord) -> None:
        if len(self.items) >= int(settings.USAGE_LOCAL_BUFFER_MAX):
            # The database has been unreachable for a long while; bound memory, keep the newest.
            with contextlib.suppress(IndexError):  # another thread may have just drained it
                self.items.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                logger.error("usage: in-process buffer full; %d records dropped", self.dropped)
        self.items.append(call)
        if self.thread is None:
            self.start_thread()

    def start_thread(self) -> None:
        interval = float(settings.USAGE_FLUSH_INTERVAL_SECONDS)
        if interval <= 0:
            return  # flushing only when told (tests), or by flush_usage
        with self.lock:
            if self.thread is not None:
                return
            self.stopping.clear()
            self.thread = threading.Thread(
                target=self._run, args=(interval,), name="usage-flusher", daemon=True
            )
            self.thread.start()

    def _run(self, interval: float) -> None:
        from django.db import close_old_connections

        while not self.stopping.wait(interval):
            if not self.items:
                continue
            try:
                self.drain(None)
            except Exception:
                logger.exception("usage: flush failed; the records stay buffered")
            finally:
                # This thread owns its own connection: honour CONN_MAX_AGE and drop broken ones.
                close_old_connections()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (waiting for a flush in progress), for exit and tests."""
        self.stopping.set()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.thread = None

    def drain(self, max_items: int | None, batch_size: int = 5000) -> int:
        """Write buffered records to the database; on failure they go back to the front."""
        from webapp.usage.store import store_records

        written = 0
        while max_items is None or written < max_items:
            want = batch_size if max_items is None else min(batch_size, max_items - written)
            batch: list[CallRecord] = []
            try:
                while len(batch) < want:
                    batch.append(self.items.popleft())
            except IndexError:
                pass
            if not batch:
                break
            try:
                written += store_records(batch)
            except BaseException:
                self.items.extendleft(reversed(batch))
                raise
        return written


LOCAL = LocalBuffer()
os.register_at_fork(after_in_child=LOCAL.reset)


# --- Public API -----------------------------------------------------------------------------------


def record(call: CallRecord) -> None:
    """Buffer one call for the usage tables. Never touches the database; never raises for Redis."""
    buffer = redis_buffer()
    if buffer is not None:
        line = call.to_json()
        try:
            buffer.push(line)
            return
        except redis.RedisError as exc:
            # Nothing lost: this process writes it to the database itself.
            logger.warning(
                "usage: Redis unreachable (%s); buffering in process", type(exc).__name__
            )
    LOCAL.push(call)


def flush(*, max_items: int | None = None) -> int:
    """Move buffered records (this process's, and Redis's when configured) into the database.

    Returns how many records were written. `max_items` bounds the work of one call (per buffer).
    """
    batch_size = int(settings.USAGE_FLUSH_BATCH)
    written = LOCAL.drain(max_items, batch_size)
    buffer = redis_buffer()
    if buffer is not None:
        buffer.recover_stale(float(settings.USAGE_CLAIM_TIMEOUT_SECONDS))
        written += buffer.drain(max_items, batch_size)
    return written


def on_process_shutdown(**kwargs: object) -> None:
    """Stop the flusher thread and write what this process still holds (atexit, Celery child exit)."""
    LOCAL.stop()
    if not LOCAL.items:
        return
    try:
        LOCAL.drain(None)
    except Exception:
        logger.exception("usage: could not write %d records at exit", len(LOCAL.items))


atexit.register(on_process_shutdown)
