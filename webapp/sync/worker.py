"""Working one sync run: claim it, then page through Keap's contacts from its checkpoint.

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
watchdog (webapp.sync.flows.rescue_stale_runs) hands runs with a stale heartbeat to a new task,
which resumes at the checkpoint. How the pages arrive (the next one fetched while this one is
stored) is webapp.sync.pipeline's business.
"""

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from uuid import uuid4

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db import connection as db
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from webapp.connections.models import KeapConnection
from webapp.connections.tokens import ConnectionNotActive, NeedsReconnect, client_for
from webapp.keap.errors import KeapAuthError
from webapp.keap.results import ContactPage, filter_time
from webapp.limiter import Lane
from webapp.sync import changes, store
from webapp.sync.models import Contact, SyncRun
from webapp.sync.pipeline import TRANSIENT, PageFailed, Pages, describe, prefetch_allowed
from webapp.sync.wal import WalCheckpointer

log = logging.getLogger(__name__)

SKIPPED_REASONS_CAP = 50
ERROR_TEXT_CAP = 2000
Kind = SyncRun.Kind
Status = SyncRun.Status
FULL_KINDS = (Kind.INITIAL, Kind.RECONCILE)  # every contact, in id order: deletions found too


class Outcome(enum.Enum):
    FINISHED = "finished"  # succeeded, failed or cancelled: nothing more to do
    CONTINUE = "continue"  # the time slice ended at a checkpoint: queue the next slice now
    RETRY = "retry"  # a page kept failing: queue the run again after a backoff
    NOT_CLAIMED = "not_claimed"  # someone else has it, or it is already over


class LostLease(Exception):
    """Another task took the run over (the watchdog thought this one dead): stop at once."""


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
        slice_seconds = float(settings.SYNC_SLICE_SECONDS)
    with _heartbeat(run.pk, lease):
        try:
            return RunWorker(run, lease, deadline=time.monotonic() + slice_seconds).work()
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


class RunWorker:
    """One slice of work on a claimed run."""

    def __init__(self, run: SyncRun, lease: str, *, deadline: float) -> None:
        self.run = run
        self.lease = lease
        self.deadline = deadline
        self.full = run.kind in FULL_KINDS
        self.client = client_for(run.connection_id, lane=Lane.BULK)
        self.counted = 0  # of the client's calls, those already added to the run's

    def work(self) -> Outcome:
        run = self.run
        if run.kind == Kind.CHANGES:
            return changes.work(self)
        if not run.checkpoint.get("query"):
            self._plan()
        if self.full and run.total_estimate is None:
            self._estimate()
        return self.pages(run.checkpoint["query"])

    def pages(self, query: dict[str, str], *, also: Callable[[], None] | None = None) -> Outcome:
        """For each page: store it with the checkpoint; then stop if cancelled or out of time.
        Once the last page is stored, the run succeeds (with `also`, in the same transaction)."""
        run = self.run
        prefetch = prefetch_allowed()
        wal = WalCheckpointer.start() if prefetch else None
        try:
            with Pages(
                self.client,
                query=query,
                token=run.checkpoint.get("page_token", ""),
                prefetch=prefetch,
                on_error=self.record_error,
            ) as pages:
                for page in pages:
                    self.commit(page)
                    if wal is not None:
                        wal.after_commit()
                    if not page.next_page_token:
                        break
                    if stopped := self.stop_here():
                        return stopped
            return self.complete(also=also)
        finally:
            if wal is not None:
                wal.stop()

    def stop_here(self) -> Outcome | None:
        """Between pages: the run ends if it was cancelled, or hands on if its slice is over."""
        if self._cancel_requested():
            _finish(self.run, self.lease, Status.CANCELLED, error="Cancelled.")
            return Outcome.FINISHED
        if time.monotonic() > self.deadline:
            _release(self.run, self.lease, due_in=0)
            return Outcome.CONTINUE
        return None

    def _plan(self) -> None:
        """Fix the query for the whole run (a page token is only valid for the same query)."""
        run = self.run
        now = timezone.now()
        if self.full:
            query = {"filter": "", "order_by": "id asc"}
            run.since = None
            # Anything updated after this moment is for the next incremental run to find.
            run.watermark = now
        else:
            watermark = SyncRun.objects.last_watermark(run.connection_id) or now
            run.since = watermark - timedelta(seconds=float(settings.SYNC_OVERLAP_SECONDS))
            run.watermark = watermark
            query = {
                "filter": f"start_update_time=={filter_time(run.since)}",
                "order_by": "update_time asc",
            }
        run.checkpoint = {"query": query, "page_token": "", "last_id": 0}
        self.save(checkpoint=run.checkpoint, since=run.since, watermark=run.watermark)

    def _estimate(self) -> None:
        """One cheap v1 call (limit=1) for Keap's count of contacts: the progress bar's 100%."""
        try:
            total = self.client.list_contacts_v1(limit=1).total
        except TRANSIENT as exc:
            log.info("No contact count for sync run %s: %s", self.run.pk, exc)
            total = None
        self.run.total_estimate = total if total is not None else 0
        self.save(total_estimate=self.run.total_estimate)

    def commit(self, page: ContactPage) -> None:
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
            if run.kind == Kind.INCREMENTAL:
                newest = max((c.updated_at for c in page.contacts if c.updated_at), default=None)
                if newest and (run.watermark is None or newest > run.watermark):
                    run.watermark = changes["watermark"] = newest
            self.save(**changes)
        run.checkpoint = checkpoint
        run.fetched += result.fetched
        if settings.DEBUG:
            db.queries_log.clear()  # a development worker must not keep every page's SQL

    def complete(self, *, also: Callable[[], None] | None = None) -> Outcome:
        """The run succeeded: a full one deletes what Keap no longer listed."""
        run = self.run
        with transaction.atomic():
            deleted = 0
            if self.full and not run.checkpoint.get("unordered"):
                ids = run.missing_ids
                for start in range(0, len(ids), 500):
                    deleted += Contact.objects.filter(
                        connection_id=run.connection_id, keap_id__in=ids[start : start + 500]
                    ).delete()[0]
            if also is not None:
                also()
            self.save(
                status=Status.SUCCEEDED,
                finished_at=timezone.now(),
                deleted=F("deleted") + deleted,
                missing_ids=[],
                lease="",
                error="",
            )
        log.info("Sync run %s (%s) succeeded", run.pk, run.kind)
        return Outcome.FINISHED

    def _cancel_requested(self) -> bool:
        row = SyncRun.objects.filter(pk=self.run.pk).values("cancel_requested", "lease").first()
        if row is None or row["lease"] != self.lease:
            raise LostLease
        return bool(row["cancel_requested"])

    def record_error(self, exc: Exception) -> None:
        self.run.errors += 1
        log.warning("Sync run %s: a page failed: %s", self.run.pk, describe(exc))
        try:
            self.save(errors=F("errors") + 1, error=describe(exc)[:ERROR_TEXT_CAP])
        except DatabaseError:
            log.warning("Could not record the error on sync run %s", self.run.pk)

    def save(self, **changes: Any) -> None:
        """Write to the run only while this task still holds it (with the calls made since)."""
        made = self.client.calls - self.counted
        if made:
            changes["calls"] = F("calls") + made
        if not SyncRun.objects.filter(pk=self.run.pk, lease=self.lease).update(**changes):
            raise LostLease
        self.counted += made


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
    base = float(settings.SYNC_RETRY_BASE_SECONDS)
    cap = min(float(settings.SYNC_RETRY_MAX_SECONDS), 3000.0)
    ceiling = min(cap, base * 2**retries)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311


def _retry_later(run: SyncRun, lease: str, error: str) -> Outcome:
    """Queue the run again after a backoff, or give up after SYNC_MAX_RETRIES in a row."""
    retries = SyncRun.objects.filter(pk=run.pk).values_list("retries", flat=True).first() or 0
    if retries >= int(settings.SYNC_MAX_RETRIES):
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
    interval = float(settings.SYNC_HEARTBEAT_SECONDS)
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
