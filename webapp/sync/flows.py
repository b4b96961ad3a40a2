"""Syncing a connection's Keap contacts: starting runs, working them page by page, rescuing them.

Paging: REST v2 page tokens, not v1 offsets. A v2 token is a cursor (Keap continues strictly after
the last row it sent), so contacts deleted or created while a sync runs never shift a page and no
contact is skipped or listed twice; v1 offsets shift under deletions. v2 has no total, so a full
sync asks v1 once with limit=1 for its `count`, only to size the progress bar.

- Full syncs (initial, reconcile) page every contact in id order. Because pages come in id order,
  a local contact inside a page's id range that the page does not list was deleted in Keap; those
  are collected on the run and deleted when, and only when, the run completes.
- Incremental syncs ask only for contacts updated since the last watermark, minus an overlap for
  clock skew: v2 `filter=start_update_time==...` with `order_by=update_time asc`, 1,000 a page, so
  1,000 changed contacts take one or two list calls.

A run is worked by one task at a time: the task claims it with a conditional UPDATE and a fresh
`lease`, and every write after that is conditional on the lease, so a second copy of the task
(broker redelivery, the watchdog) can never commit a page twice. Each page's upserts and the
checkpoint after it commit in one transaction. A heartbeat thread proves the worker alive; the
watchdog hands runs with a stale heartbeat to a new task, which resumes at the checkpoint.
"""

import enum
import logging
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db import connection as db
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from webapp.connections.models import KeapConnection
from webapp.connections.tokens import ConnectionNotActive, NeedsReconnect, client_for
from webapp.keap.client import KeapClient, Lane, Reservation, SentCall
from webapp.keap.errors import (
    KeapAuthError,
    KeapLimiterUnavailable,
    KeapProtocolError,
    KeapThrottled,
    KeapUnavailable,
)
from webapp.keap.results import ContactPage
from webapp.sync import store
from webapp.sync.models import Contact, SyncRun

log = logging.getLogger(__name__)

SKIPPED_REASONS_CAP = 50
ERROR_TEXT_CAP = 2000
# Failures worth trying again: Keap down, slow, throttled or talking nonsense; our database blipping.
TRANSIENT = (
    KeapUnavailable,
    KeapThrottled,
    KeapProtocolError,
    KeapLimiterUnavailable,
    DatabaseError,
)
Kind = SyncRun.Kind
Status = SyncRun.Status


def setting(name: str, default: Any) -> Any:
    """A SYNC_* setting (declared in webapp/settings.py from the environment), cast to the
    default's type; tests override them with fractions of a second."""
    value = getattr(settings, name, None)
    if value is None:
        return default
    if isinstance(default, bool) and isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int | float) and not isinstance(default, bool):
        return type(default)(float(value))
    return type(default)(value)


class Outcome(enum.Enum):
    FINISHED = "finished"  # succeeded, failed or cancelled: nothing more to do
    CONTINUE = "continue"  # the time slice ended at a checkpoint: queue the next slice now
    RETRY = "retry"  # a page kept failing: queue the run again after a backoff
    NOT_CLAIMED = "not_claimed"  # someone else has it, or it is already over


class LostLease(Exception):
    """Another task took the run over (the watchdog thought this one dead): stop at once."""


class PageFailed(Exception):
    """A page kept failing for a reason that may pass; the run is retried from its checkpoint."""


# --- Starting runs -----------------------------------------------------------------------------


def start_initial_sync(connection: KeapConnection) -> SyncRun | None:
    """Queue the first full sync of a newly connected (or reconnected) Keap app."""
    return start_sync(connection=connection, kind=Kind.INITIAL)


def start_sync(
    *, connection: KeapConnection, kind: str = Kind.INCREMENTAL, countdown: float = 0
) -> SyncRun | None:
    """Queue a run unless one is already active; returns the active run (new or not).

    An incremental run with nothing to be incremental from (no successful run yet) is a full one.
    The task is enqueued after the surrounding transaction commits.
    """
    if connection.status != KeapConnection.Status.ACTIVE:
        return None
    if kind == Kind.INCREMENTAL and last_watermark(connection.pk) is None:
        kind = Kind.INITIAL
    try:
        with transaction.atomic():
            run = SyncRun.objects.create(
                connection=connection,
                kind=kind,
                due_at=timezone.now() + timedelta(seconds=countdown),
            )
    except IntegrityError:  # one_active_sync_per_connection: someone started one first
        return SyncRun.objects.active().filter(connection=connection).first()
    enqueue_after_commit(run.pk, countdown=countdown)
    return run


def enqueue_after_commit(run_id: int, *, countdown: float = 0) -> None:
    """Send the run's task once the transaction that made it visible has committed."""

    def send() -> None:
        from webapp.sync.tasks import run_sync

        try:
            run_sync.apply_async(kwargs={"run_id": run_id}, countdown=countdown or None)
        except Exception:  # the broker is down: the watchdog re-enqueues overdue queued runs
            log.exception("Could not enqueue sync run %s; the watchdog will", run_id)

    transaction.on_commit(send)


def last_watermark(connection_id: int) -> datetime | None:
    """Where the next incremental run starts: the newest successful run's watermark."""
    return (
        SyncRun.objects.filter(
            connection_id=connection_id, status=Status.SUCCEEDED, watermark__isnull=False
        )
        .order_by("-finished_at", "-pk")
        .values_list("watermark", flat=True)
        .first()
    )


def cancel_run(*, run: SyncRun) -> bool:
    """Cancel a queued run at once, or ask a running one to stop after its current page."""
    now = timezone.now()
    if SyncRun.objects.filter(pk=run.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, cancel_requested=True, finished_at=now, error="Cancelled."
    ):
        return True
    return bool(
        SyncRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(cancel_requested=True)
    )


# --- Working a run -----------------------------------------------------------------------------


def work_on_run(*, run_id: int, slice_seconds: float | None = None) -> Outcome:
    """Claim the run and work it from its checkpoint until it ends or its time slice does."""
    lease = uuid4().hex
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        lease=lease,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), now),
    )
    if not claimed:
        return Outcome.NOT_CLAIMED
    run = SyncRun.objects.select_related("connection").get(pk=run_id)
    if run.cancel_requested:
        _finish(run, lease, Status.CANCELLED, error="Cancelled.")
        return Outcome.FINISHED
    if slice_seconds is None:
        slice_seconds = float(setting("SYNC_SLICE_SECONDS", 600))
    with _heartbeat(run.pk, lease):
        try:
            return _Worker(run, lease, deadline=time.monotonic() + slice_seconds).work()
        except LostLease:
            log.warning("Sync run %s was taken over by another task; stopping", run.pk)
            return Outcome.NOT_CLAIMED
        except NeedsReconnect:
            _finish(run, lease, Status.FAILED, error="Keap revoked access: reconnect to sync.")
        except ConnectionNotActive:
            status = KeapConnection.objects.filter(pk=run.connection_id).values_list(
                "status", flat=True
            )
            _finish(
                run,
                lease,
                Status.CANCELLED,
                error=f"Stopped: the connection is {status.first() or 'gone'}.",
            )
        except KeapAuthError as exc:
            _finish(run, lease, Status.FAILED, error=f"Keap refused the access token: {exc}")
        except PageFailed as exc:
            return _retry_later(run, lease, str(exc))
        except SoftTimeLimitExceeded:
            _release(run, lease, due_in=0)
            return Outcome.CONTINUE
        except Exception as exc:  # a bug: record it on the run rather than retry forever
            log.exception("Sync run %s failed", run.pk)
            _finish(run, lease, Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    return Outcome.FINISHED


class _Worker:
    """One slice of work on a claimed run."""

    def __init__(self, run: SyncRun, lease: str, *, deadline: float) -> None:
        self.run = run
        self.lease = lease
        self.deadline = deadline
        self.full = run.kind != Kind.INCREMENTAL
        self.prefetch = _prefetch_allowed()

    def work(self) -> Outcome:
        run = self.run
        client = client_for(run.connection_id, lane=Lane.BULK)
        if not run.checkpoint.get("query"):
            self._plan(client)
        if self.full and run.total_estimate is None:
            self._estimate(client)
        query = run.checkpoint["query"]
        # With prefetch, a thread sends the request for page k+1, waits on the socket (the GIL
        # free) and reads the answer into contacts while this thread stores page k. This thread
        # takes the limiter's grants (one page early) and settles each answer: every database
        # write stays here, so on SQLite the two never queue for its one write lock.
        executor = ThreadPoolExecutor(max_workers=1) if self.prefetch else None
        ahead: Future[SentCall] | None = None
        reserved: Reservation | None = None
        wal = _WalCheckpointer.start() if self.prefetch else None
        try:
            token = run.checkpoint.get("page_token", "")
            page, ahead = self._fetch(client, query, token, None, None, None)
            while True:
                if page.next_page_token and executor is not None and ahead is None:
                    ahead = _send_ahead(executor, client, query, page.next_page_token)
                # The grant for the page after the one on its way, taken before this page is
                # stored, so that its request goes out the moment that page names it. (One that
                # goes unused, as on the last page, is released: counted, never sent.)
                reserved = _reserve(client) if ahead is not None else None
                self._commit(page)
                if wal is not None:
                    wal.after_commit()
                if not page.next_page_token:
                    self._complete()
                    return Outcome.FINISHED
                if self._cancel_requested():
                    self._finish_cancelled()
                    return Outcome.FINISHED
                if time.monotonic() > self.deadline:
                    _release(run, self.lease, due_in=0)
                    return Outcome.CONTINUE
                # _fetch owns both from here: it reads (or discards) the page sent ahead and
                # sends the next on the reserved grant, or releases it.
                sending, ahead, handed, reserved = ahead, None, reserved, None
                page, ahead = self._fetch(
                    client, query, page.next_page_token, sending, executor, handed
                )
        finally:
            if reserved is not None:  # taken for a page this run will not fetch
                client.release(reserved)
            if executor is not None:
                if ahead is not None:  # sent, never read: Keap counted it all the same
                    _discard(client, ahead)
                executor.shutdown(wait=True)
            if wal is not None:
                wal.stop()

    def _plan(self, client: KeapClient) -> None:
        """Fix the query for the whole run (a page token is only valid for the same query)."""
        run = self.run
        now = timezone.now()
        if self.full:
            query = {"filter": "", "order_by": "id asc"}
            run.since = None
            # Anything updated after this moment is for the next incremental run to find.
            run.watermark = now
        else:
            watermark = last_watermark(run.connection_id) or now
            overlap = timedelta(seconds=float(setting("SYNC_OVERLAP_SECONDS", 300)))
            run.since = watermark - overlap
            run.watermark = watermark
            query = {
                "filter": f"start_update_time=={keap_time(run.since)}",
                "order_by": "update_time asc",
            }
        run.checkpoint = {"query": query, "page_token": "", "last_id": 0}
        self._save(checkpoint=run.checkpoint, since=run.since, watermark=run.watermark)

    def _estimate(self, client: KeapClient) -> None:
        """One cheap v1 call (limit=1) for Keap's count of contacts: the progress bar's 100%."""
        try:
            total = client.list_contacts_v1(limit=1).total
        except TRANSIENT as exc:
            log.info("No contact count for sync run %s: %s", self.run.pk, exc)
            total = None
        self.run.total_estimate = total if total is not None else 0
        self._save(total_estimate=self.run.total_estimate)

    def _fetch(
        self,
        client: KeapClient,
        query: dict[str, str],
        token: str,
        ahead: Future[SentCall] | None,
        executor: ThreadPoolExecutor | None,
        reserved: Reservation | None,
    ) -> tuple[ContactPage, Future[SentCall] | None]:
        """The page at `token` (its request already sent when `ahead` is given), tried again with
        backoff when it fails; each failure recorded. With `ahead` and an executor, also the
        request for the page after it (on the `reserved` grant), sent as soon as the answer names
        that page, before this one is settled: the fetching thread waits on nothing here."""
        attempts = max(1, int(setting("SYNC_PAGE_ATTEMPTS", 3)))
        try:
            for attempt in range(1, attempts + 1):
                following: Future[SentCall] | None = None
                try:
                    sent = None
                    if ahead is not None:
                        future, ahead = ahead, None
                        sent = future.result()
                        after = sent.next_page_token()
                        if after and executor is not None:
                            following = _send_ahead(executor, client, query, after, reserved)
                            reserved = None
                    return _list(client, query, token, sent), following
                except BaseException as exc:
                    if following is not None:  # sent ahead for a page this call will not read
                        _discard(client, following)
                    if not isinstance(exc, TRANSIENT):
                        raise
                    self._record_error(exc)
                    if attempt == attempts:
                        raise PageFailed(_describe(exc)) from exc
                    base = float(setting("SYNC_PAGE_BACKOFF_SECONDS", 1.0))
                    time.sleep(random.uniform(0, min(30.0, base * 2**attempt)))  # noqa: S311
        finally:
            if reserved is not None:  # no page after this one was sent ahead on it
                client.release(reserved)
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit(self, page: ContactPage) -> None:
        """Store the page and move the checkpoint past it, in one transaction."""
        run = self.run
        checkpoint = dict(run.checkpoint)
        low = int(checkpoint.get("last_id") or 0)
        ids = [c.id for c in page.contacts]
        id_range = None
        if self.full and not checkpoint.get("unordered"):
            if ids and (min(ids) <= low or ids != sorted(ids)):
                # Not in id order after all: deletions cannot be inferred from this run.
                checkpoint["unordered"] = True
            elif ids or not page.next_page_token:
                id_range = (low, max(ids) if page.next_page_token else None)
        # The rows are made before the transaction opens: on SQLite it holds the one write lock,
        # which the prefetching thread's limiter needs meanwhile.
        prepared = store.prepare_page(connection_id=run.connection_id, records=page.contacts)
        with transaction.atomic():
            result = store.store_page(
                connection_id=run.connection_id,
                records=page.contacts,
                id_range=id_range,
                prepared=prepared,
            )
            checkpoint["page_token"] = page.next_page_token
            if ids:
                checkpoint["last_id"] = max(low, max(ids))
            changes: dict[str, Any] = {
                "checkpoint": checkpoint,
                "fetched": F("fetched") + result.fetched,
                "created": F("created") + result.created,
                "updated": F("updated") + result.updated,
                "unchanged": F("unchanged") + result.unchanged,
                "skipped": F("skipped") + result.skipped,
                "pages": F("pages") + 1,
                "retries": 0,
                "heartbeat_at": timezone.now(),
            }
            if result.skipped_reasons and len(run.skipped_reasons) < SKIPPED_REASONS_CAP:
                room = SKIPPED_REASONS_CAP - len(run.skipped_reasons)
                run.skipped_reasons = run.skipped_reasons + result.skipped_reasons[:room]
                changes["skipped_reasons"] = run.skipped_reasons
            if result.missing_ids:
                run.missing_ids = run.missing_ids + result.missing_ids
                changes["missing_ids"] = run.missing_ids
            if not self.full:
                newest = max((c.updated_at for c in page.contacts if c.updated_at), default=None)
                if newest and (run.watermark is None or newest > run.watermark):
                    run.watermark = changes["watermark"] = newest
            self._save(**changes)
        run.checkpoint = checkpoint
        run.fetched += result.fetched
        if settings.DEBUG:
            db.queries_log.clear()  # a development worker must not keep every page's SQL

    def _complete(self) -> None:
        run = self.run
        with transaction.atomic():
            deleted = 0
            if self.full and not run.checkpoint.get("unordered"):
                ids = run.missing_ids
                for start in range(0, len(ids), 500):
                    deleted += Contact.objects.filter(
                        connection_id=run.connection_id, keap_id__in=ids[start : start + 500]
                    ).delete()[0]
            self._save(
                status=Status.SUCCEEDED,
                finished_at=timezone.now(),
                deleted=deleted,
                missing_ids=[],
                lease="",
                error="",
            )
        log.info("Sync run %s (%s) succeeded", run.pk, run.kind)

    def _cancel_requested(self) -> bool:
        row = SyncRun.objects.filter(pk=self.run.pk).values("cancel_requested", "lease").first()
        if row is None or row["lease"] != self.lease:
            raise LostLease
        return row["cancel_requested"]

    def _finish_cancelled(self) -> None:
        _finish(self.run, self.lease, Status.CANCELLED, error="Cancelled.")

    def _record_error(self, exc: Exception) -> None:
        self.run.errors += 1
        log.warning("Sync run %s: a page failed: %s", self.run.pk, _describe(exc))
        try:
            self._save(errors=F("errors") + 1, error=_describe(exc)[:ERROR_TEXT_CAP])
        except DatabaseError:
            log.warning("Could not record the error on sync run %s", self.run.pk)

    def _save(self, **changes: Any) -> None:
        """Write to the run only while this task still holds it."""
        if not SyncRun.objects.filter(pk=self.run.pk, lease=self.lease).update(**changes):
            raise LostLease


class _WalCheckpointer:
    """SQLite in WAL mode: a page's commit writes more than the WAL's automatic checkpoint
    threshold, so nearly every page's commit would also copy the WAL into the database and
    fsync it (about 20 ms) on the syncing thread. While a run works, its connection leaves that
    to a thread of its own, which checkpoints (PASSIVE: never waiting for, nor blocking, the
    writer) after each page, in SQLite's C code with the GIL free, while the next page is read.
    """

    def __init__(self, previous: int) -> None:
        self.previous = previous
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-wal")
        self.pending: Future[None] | None = None

    @classmethod
    def start(cls) -> "_WalCheckpointer | None":
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
        if self.pending is None or self.pending.done():
            self.pending = self.executor.submit(_checkpoint_wal)

    def stop(self) -> None:
        try:
            with db.cursor() as cursor:
                cursor.execute(f"PRAGMA wal_autocheckpoint = {int(self.previous)}")
        except DatabaseError as exc:  # a broken connection is closed anyway: nothing to restore
            log.info("Could not restore the WAL's automatic checkpoint: %s", exc)
        self.executor.submit(lambda: db.close()).result()  # the thread's own connection
        self.executor.shutdown(wait=True)


def _checkpoint_wal() -> None:
    try:
        with db.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except DatabaseError as exc:  # the next one, or SQLite's own on another connection, will do
        log.info("WAL checkpoint skipped: %s", exc)


def _prefetch_allowed() -> bool:
    """Whether a thread may send the request for page k+1 while this one stores page k.

    SYNC_PREFETCH: "auto" (default), true or false; "auto" is on except inside an outer
    transaction (eager tests), where the sync stays in one thread. The fetching thread sends
    the request, waits for the answer and reads it; the limiter's grant and settle run in the
    storing thread (KeapClient.start_list_contacts_v2), so on SQLite the two never queue for
    its one write lock.
    """
    if db.in_atomic_block:
        return False
    choice = str(setting("SYNC_PREFETCH", "auto")).strip().lower()
    return choice == "auto" or choice in ("1", "true", "yes", "on")


def _page_params(query: dict[str, str], token: str) -> dict[str, Any]:
    return {
        "page_size": int(setting("SYNC_PAGE_SIZE", 1000)),
        "page_token": token,
        "filter": query["filter"],
        "order_by": query["order_by"],
    }


def _list(
    client: KeapClient, query: dict[str, str], token: str, sent: SentCall | None = None
) -> ContactPage:
    return client.list_contacts_v2(**_page_params(query, token), sent=sent)


def _reserve(client: KeapClient) -> Reservation | None:
    try:
        return client.reserve()
    except TRANSIENT as exc:
        log.info("No grant ahead: %s", _describe(exc))
        return None


def _send_ahead(
    executor: ThreadPoolExecutor,
    client: KeapClient,
    query: dict[str, str],
    token: str,
    reserved: Reservation | None = None,
) -> Future[SentCall] | None:
    """Begin the call for the page at `token` here (token, limiter grant unless `reserved`), and
    leave sending it and reading the answer to the executor's thread. None when no grant came
    now: the page is then fetched the ordinary way, with its retries."""
    try:
        sent = client.start_list_contacts_v2(**_page_params(query, token), reserved=reserved)
    except TRANSIENT as exc:
        log.info("Not fetching ahead: %s", _describe(exc))
        if reserved is not None:
            client.release(reserved)
        return None
    return executor.submit(sent.send)


def _discard(client: KeapClient, ahead: Future[SentCall]) -> None:
    try:
        sent = ahead.result()
    except Exception:  # sending raised (a bug): nothing went out to settle
        return
    try:
        client.discard(sent)
    except Exception:
        log.warning("Could not settle a page sent ahead and never read", exc_info=True)


def keap_time(moment: datetime) -> str:
    """ISO-8601 with milliseconds and Z, as v2's filter wants it."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _finish(run: SyncRun, lease: str, status: str, *, error: str = "") -> None:
    SyncRun.objects.filter(pk=run.pk, lease=lease).update(
        status=status, finished_at=timezone.now(), lease="", error=error[:ERROR_TEXT_CAP]
    )
    log.info("Sync run %s ended %s %s", run.pk, status, error)


def _release(run: SyncRun, lease: str, *, due_in: float) -> None:
    """Hand the run back to the queue at its checkpoint, due in `due_in` seconds."""
    SyncRun.objects.filter(pk=run.pk, lease=lease).update(
        status=Status.QUEUED,
        lease="",
        due_at=timezone.now() + timedelta(seconds=due_in),
    )


def retry_countdown(retries: int) -> float:
    """Exponential backoff with jitter, never past the broker's visibility timeout."""
    base = float(setting("SYNC_RETRY_BASE_SECONDS", 30))
    cap = min(float(setting("SYNC_RETRY_MAX_SECONDS", 900)), 3000.0)
    ceiling = min(cap, base * 2**retries)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311


def _retry_later(run: SyncRun, lease: str, error: str) -> Outcome:
    """Queue the run again after a backoff, or give up after SYNC_MAX_RETRIES in a row."""
    retries = SyncRun.objects.filter(pk=run.pk).values_list("retries", flat=True).first() or 0
    if retries >= int(setting("SYNC_MAX_RETRIES", 6)):
        _finish(run, lease, Status.FAILED, error=f"Gave up after {retries + 1} tries: {error}")
        return Outcome.FINISHED
    countdown = retry_countdown(retries)
    SyncRun.objects.filter(pk=run.pk, lease=lease).update(
        status=Status.QUEUED,
        lease="",
        retries=F("retries") + 1,
        due_at=timezone.now() + timedelta(seconds=countdown),
    )
    return Outcome.RETRY


@contextmanager
def _heartbeat(run_id: int, lease: str) -> Iterator[None]:
    """Touch the run's heartbeat from a thread while the task works (also while it waits on Keap
    or the limiter), so the watchdog only rescues runs whose worker is really gone."""
    interval = float(setting("SYNC_HEARTBEAT_SECONDS", 10))
    if interval <= 0 or db.in_atomic_block:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    SyncRun.objects.filter(pk=run_id, lease=lease).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError as exc:
                    log.warning("Sync run %s: heartbeat failed: %s", run_id, exc)
        finally:
            db.close()

    thread = threading.Thread(target=beat, name=f"sync-heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)


# --- Scheduling and rescue -----------------------------------------------------------------------


def schedule_syncs(*, kind: str, spread_seconds: float) -> int:
    """Queue a run of `kind` for every active connection without one, spread over a while."""
    spread = max(0.0, min(spread_seconds, 3000.0))  # below the broker's visibility timeout
    queued = 0
    for connection in KeapConnection.objects.active().exclude(
        sync_runs__status__in=(Status.QUEUED, Status.RUNNING)
    ):
        countdown = random.uniform(0, spread) if spread else 0  # noqa: S311
        with transaction.atomic():
            run = start_sync(connection=connection, kind=kind, countdown=countdown)
        queued += run is not None
    return queued


def rescue_stale_runs() -> list[int]:
    """Watchdog: give runs whose worker died (stale heartbeat) or whose task message was lost
    (queued, long overdue) to a new task, which resumes at the checkpoint."""
    now = timezone.now()
    stale = now - timedelta(seconds=float(setting("SYNC_STALE_SECONDS", 90)))
    lost = now - timedelta(seconds=float(setting("SYNC_LOST_SECONDS", 600)))
    rescued = []
    for run in SyncRun.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale):
        with transaction.atomic():
            taken = SyncRun.objects.filter(
                pk=run.pk, status=Status.RUNNING, lease=run.lease, heartbeat_at__lt=stale
            ).update(status=Status.QUEUED, lease="", due_at=now)
            if taken:
                log.warning("Sync run %s: worker gone since %s; resuming", run.pk, run.heartbeat_at)
                enqueue_after_commit(run.pk)
                rescued.append(run.pk)
    for run_id in SyncRun.objects.filter(status=Status.QUEUED, due_at__lt=lost).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            if SyncRun.objects.filter(pk=run_id, status=Status.QUEUED, due_at__lt=lost).update(
                due_at=now
            ):
                log.warning("Sync run %s: queued but never picked up; enqueueing again", run_id)
                enqueue_after_commit(run_id)
                rescued.append(run_id)
    return rescued
