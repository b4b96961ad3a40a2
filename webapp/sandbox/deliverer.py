"""The REST hook deliverer: queued changes become batches, batches are sent Keap's way.

Keap's policy (docs/keap/API.md §2.5, every number a setting): the first attempt 30-60 s after the change,
at most 1,000 objects a delivery, four attempts with retries 30-60 s, 5 min and 30 min apart;
an attempt fails with no answer within 30 s or a status outside 200-399; after the fourth
failure, or at once on a 410, the subscription turns Inactive.

Every gunicorn worker runs one deliverer thread (started from `wsgi.py`) and a pool of sending
threads. All state is in the database and every step that moves it is a transaction under the
sandbox's write lock with conditional UPDATEs, so however many workers run, each due change
goes into exactly one batch and each batch is claimed by exactly one sender. A claim is a lease
in real time: if its worker dies mid-send, the batch is sent again once the lease lapses (the
one way a receiver can see a batch twice without an injected fault).

Within one subscription batches go one at a time, oldest first, so a receiver sees its changes
in order; a batch waiting for a retry does not hold up newer ones. A receiver that never
answers holds one sending thread and its own subscription, nobody else's.
"""

import json
import logging
import os
import random
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings as django_settings
from django.db import close_old_connections, connection, transaction
from django.db.backends.utils import CursorWrapper

from webapp.sandbox import contact_fields, hooks, play, switches
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import (
    ContactPlayer,
    HookDelivery,
    HookEvent,
    HookFault,
    HookSubscription,
)

logger = logging.getLogger(__name__)

# A claim outlives the longest send it covers by this much before another sender may take it.
LEASE_MARGIN_SECONDS = 30
# Bounds on one transaction's work; whatever is left waits for the next tick.
MAX_EVENTS_PER_TICK = 20_000
MAX_CANDIDATES = 5_000

_start_lock = threading.Lock()
_started_pid: int | None = None


def start() -> None:
    """Start this process's deliverer once (gunicorn imports the WSGI app in every worker)."""
    global _started_pid
    senders = django_settings.SANDBOX_HOOK_SENDERS
    with _start_lock:
        if senders <= 0 or _started_pid == os.getpid():
            return
        _started_pid = os.getpid()
    loop = _Loop(senders)
    threading.Thread(target=loop.run, name="hook-deliverer", daemon=True).start()


@dataclass
class Job:
    """One claimed batch on its way to a receiver."""

    delivery_id: int
    claim: str
    url: str
    body: bytes
    timeout: float
    offset: float
    duplicate: bool = False
    pretend: dict[str, Any] | None = None
    notes: list[dict[str, Any]] = field(default_factory=list)


class _Loop:
    """The deliverer thread of one worker process and its pool of senders."""

    def __init__(self, senders: int) -> None:
        self.senders = senders
        self.pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="hook-send")
        self.in_flight = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        while True:
            pause = 0.25
            try:
                pause = self.tick()
            except Exception:
                logger.exception("REST hook deliverer tick failed")
            finally:
                close_old_connections()
            time.sleep(pause)

    def tick(self) -> float:
        """Play due web-app edits, batch due changes, claim and send due batches."""
        values, offset = switches.current_with_clock()
        real = time.time()
        now = real + offset
        with connection.cursor() as cursor:
            # Reads only (no lock): most ticks find nothing to do and stop here.
            cursor.execute(
                "SELECT (SELECT MIN(due_ts) FROM sandbox_hookevent), "
                "(SELECT MIN(next_ts) FROM sandbox_hookdelivery WHERE state = %s), "
                "(SELECT MIN(lease_until) FROM sandbox_hookdelivery WHERE state = %s), "
                "(SELECT COUNT(*) FROM sandbox_contactplayer WHERE state = %s)",
                [HookDelivery.PENDING, HookDelivery.SENDING, ContactPlayer.RUNNING],
            )
            due_event, due_delivery, lease, players = cursor.fetchone()
        if players:
            play.advance(now)
        if due_event is not None and due_event <= now and form_batches(now, values):
            due_delivery = now
        with self.lock:
            free = self.senders - self.in_flight
        due = due_delivery is not None and due_delivery <= now
        lapsed = lease is not None and lease < real
        if free > 0 and (due or lapsed):
            for job in claim(now=now, real=real, offset=offset, values=values, limit=free):
                with self.lock:
                    self.in_flight += 1
                self.pool.submit(self._send, job)
        return float(values["hook_poll_seconds"])

    def _send(self, job: Job) -> None:
        try:
            send(job)
        except Exception:
            logger.exception("REST hook delivery %s failed", job.delivery_id)
        finally:
            close_old_connections()
            with self.lock:
                self.in_flight -= 1


def object_key(api_base: str, object_id: int, changed_ms: int) -> dict[str, Any]:
    """One entry of `object_keys`: the id, where to read the record, when it changed."""
    return {
        "id": object_id,
        "apiUrl": f"{api_base}/crm/rest/v1/contacts/{object_id}",
        "timestamp": contact_fields.v1_time(changed_ms),
    }


# Changes due by now, of subscriptions with no batch in flight: while a receiver is busy its
# changes wait and then go out together, rather than as a queue of small batches.
DUE_EVENTS = (
    "SELECT e.id, e.subscription_id, e.object_id, e.changed_ms, s.status, s.event_key, "
    "s.api_base, t.app_name FROM sandbox_hookevent e "
    "JOIN sandbox_hooksubscription s ON s.id = e.subscription_id "
    "JOIN sandbox_tenant t ON t.id = s.tenant_id "
    "WHERE e.due_ts <= %s AND NOT EXISTS (SELECT 1 FROM sandbox_hookdelivery x "
    "  WHERE x.subscription_id = e.subscription_id AND x.state = 'sending') "
    "ORDER BY e.subscription_id, e.changed_ms, e.id LIMIT %s"
)


def form_batches(now: float, values: dict[str, Any]) -> int:
    """Turn the changes due by `now` into batches: per subscription, everything due at once,
    split at `hook_batch_size`. Changes of a subscription that is no longer Verified are
    dropped, as Keap sends nothing while a subscription is not Verified. Returns batches made."""
    with connection.cursor() as cursor:
        # A read first, without the lock: ticks that only find busy subscriptions stop here.
        cursor.execute(DUE_EVENTS, [now, 1])
        if cursor.fetchone() is None:
            return 0
    size = values["hook_batch_size"]
    with write_lock(), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(DUE_EVENTS, [now, MAX_EVENTS_PER_TICK])
        rows = cursor.fetchall()
        groups: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in rows:
            groups[row[1]].append(row)
        batches = []
        for subscription_id, events in groups.items():
            _, _, _, _, status, event_key, api_base, app_name = events[0]
            if status != HookSubscription.VERIFIED:
                continue
            for start in range(0, len(events), size):
                chunk = events[start : start + size]
                batches.append(
                    HookDelivery(
                        subscription_id=subscription_id,
                        tenant=app_name,
                        event_key=event_key,
                        object_keys=[object_key(api_base, e[2], e[3]) for e in chunk],
                        first_change_ms=chunk[0][3],
                        formed_ts=now,
                        next_ts=now,
                    )
                )
        HookDelivery.objects.bulk_create(batches)
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 500):
            HookEvent.objects.filter(pk__in=ids[start : start + 500]).delete()
    return len(batches)


def claim(
    *, now: float, real: float, offset: float, values: dict[str, Any], limit: int
) -> list[Job]:
    """Claim up to `limit` due batches, at most one per subscription and none for a
    subscription that has one in flight; apply delivery faults on the way."""
    jobs: list[Job] = []
    timeout = values["hook_timeout_seconds"]
    with write_lock(), transaction.atomic(), connection.cursor() as cursor:
        # A sender that died mid-send: its batch is due again.
        cursor.execute(
            "UPDATE sandbox_hookdelivery SET state = %s, claim = '' "
            "WHERE state = %s AND lease_until < %s",
            [HookDelivery.PENDING, HookDelivery.SENDING, real],
        )
        cursor.execute(
            "SELECT d.id, d.subscription_id, d.tenant, d.delayed, d.log, s.status, s.hook_url "
            "FROM sandbox_hookdelivery d "
            "JOIN sandbox_hooksubscription s ON s.id = d.subscription_id "
            "WHERE d.state = %s AND d.next_ts <= %s AND NOT EXISTS ("
            "  SELECT 1 FROM sandbox_hookdelivery x "
            "  WHERE x.subscription_id = d.subscription_id AND x.state = %s) "
            "ORDER BY d.id LIMIT %s",
            [HookDelivery.PENDING, now, HookDelivery.SENDING, MAX_CANDIDATES],
        )
        groups: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in cursor.fetchall():
            groups[row[1]].append(row)
        faults = _Faults()
        at_ms = int(now * 1000)
        for rows in groups.values():
            if len(jobs) >= limit:
                break
            status, tenant = rows[0][5], rows[0][2]
            if status != HookSubscription.VERIFIED:
                for row in rows:
                    _finish(cursor, row, HookDelivery.DISCARDED, now,
                            {"at_ms": at_ms, "outcome": "discarded", "why": status})  # fmt: skip
                continue
            row, notes = rows[0], []
            if len(rows) > 1 and faults.take("reorder", tenant):
                row = rows[-1]
                notes.append({"at_ms": at_ms, "outcome": "reordered", "ahead_of": rows[0][0]})
            if faults.take("drop", tenant):
                _finish(cursor, row, HookDelivery.DROPPED, now,
                        {"at_ms": at_ms, "outcome": "dropped"})  # fmt: skip
                continue
            delay = None if row[3] else faults.take("delay", tenant)
            if delay is not None:
                seconds = delay.get("seconds", 60)
                log = [*json.loads(row[4]), {"at_ms": at_ms, "outcome": "delayed",
                                             "seconds": seconds}]  # fmt: skip
                HookDelivery.objects.filter(pk=row[0]).update(
                    next_ts=now + seconds, delayed=True, log=log
                )
                continue
            duplicate = faults.take("duplicate", tenant) is not None
            pretend = faults.take("error", tenant) or faults.take("timeout", tenant)
            token = uuid.uuid4().hex
            lease = real + timeout * (2 if duplicate else 1) + LEASE_MARGIN_SECONDS
            claimed = HookDelivery.objects.filter(pk=row[0], state=HookDelivery.PENDING).update(
                state=HookDelivery.SENDING, claim=token, lease_until=lease
            )
            if not claimed:
                continue
            batch = HookDelivery.objects.values("event_key", "object_keys").get(pk=row[0])
            body = {
                "event_key": batch["event_key"],
                "object_type": batch["event_key"].split(".", 1)[0],
                "object_keys": batch["object_keys"],
            }
            jobs.append(
                Job(
                    delivery_id=row[0],
                    claim=token,
                    url=row[6],
                    body=json.dumps(body, separators=(",", ":")).encode(),
                    timeout=timeout,
                    offset=offset,
                    duplicate=duplicate,
                    pretend=pretend,
                    notes=notes,
                )
            )
    return jobs


def _finish(
    cursor: CursorWrapper, row: tuple[Any, ...], state: str, now: float, entry: dict[str, Any]
) -> None:
    log = [*json.loads(row[4]), entry]
    HookDelivery.objects.filter(pk=row[0]).update(state=state, finished_ts=now, log=log, claim="")


def send(job: Job) -> None:
    """POST one batch (twice under a duplicate fault) and record the outcome."""
    entries = []
    for copy in range(2 if job.duplicate else 1):
        at_ms = int((time.time() + job.offset) * 1000)
        if job.pretend and not job.pretend.get("sent", True):
            answer = hooks.Answer(None, {}, "not sent")
        else:
            answer = hooks.post(
                job.url,
                body=job.body,
                headers={"Content-Type": "application/json"},
                timeout=job.timeout,
            )
        entry = {
            "at_ms": at_ms,
            "status": answer.status,
            "error": answer.error,
            "elapsed_ms": answer.elapsed_ms,
            "outcome": _outcome(answer),
        }
        if copy:
            entry["duplicate"] = True
        entries.append(entry)
    if job.pretend:
        # The receiver's real answer is kept in the log; the sandbox acts on the pretended one.
        status = job.pretend.get("status") if job.pretend["kind"] == "error" else None
        entries[0].update(
            pretend=job.pretend["kind"] if status is None else f"{status}",
            outcome="gone" if status == 410 else "failed",
        )
    record(job, entries)


def _outcome(answer: hooks.Answer) -> str:
    if answer.status is None:
        return "failed"
    if answer.status == 410:
        return "gone"
    return "ok" if 200 <= answer.status <= 399 else "failed"


def record(job: Job, entries: list[dict[str, Any]]) -> None:
    """Store an attempt: delivered, retried later, or given up (and the subscription Inactive)."""
    values, offset = switches.current_with_clock()
    now = time.time() + offset
    outcome = entries[0]["outcome"]
    with write_lock(), transaction.atomic():
        row = (
            HookDelivery.objects.filter(pk=job.delivery_id, claim=job.claim, state="sending")
            .values("attempts", "log", "subscription_id")
            .first()
        )
        if row is None:
            return  # the lease lapsed and another sender has it, or the subscription is gone
        attempts = row["attempts"] + 1
        for entry in entries:
            entry["attempt"] = attempts
        fields = {"attempts": attempts, "log": [*row["log"], *job.notes, *entries], "claim": ""}
        if outcome == "ok":
            fields.update(state=HookDelivery.DELIVERED, finished_ts=now)
        elif outcome == "gone" or attempts >= values["hook_attempts"]:
            fields.update(state=HookDelivery.FAILED, finished_ts=now)
            reason = "410 Gone" if outcome == "gone" else f"{attempts} failed attempts"
            _deactivate(row["subscription_id"], reason, now)
        else:
            fields.update(state=HookDelivery.PENDING, next_ts=now + _retry_gap(attempts, values))
        HookDelivery.objects.filter(pk=job.delivery_id).update(**fields)


def _retry_gap(failed_attempts: int, values: dict[str, Any]) -> float:
    if failed_attempts == 1:
        low, high = values["hook_retry1_min_seconds"], values["hook_retry1_max_seconds"]
        return random.uniform(min(low, high), max(low, high))  # noqa: S311
    if failed_attempts == 2:
        return float(values["hook_retry2_seconds"])
    return float(values["hook_retry3_seconds"])


def _deactivate(subscription_id: int, reason: str, now: float) -> None:
    """Keap's Inactive: nothing more is sent until /verify succeeds, and what was waiting is
    not kept for later."""
    HookSubscription.objects.filter(pk=subscription_id, status=HookSubscription.VERIFIED).update(
        status=HookSubscription.INACTIVE,
        inactive_at=datetime.fromtimestamp(now, tz=UTC),
        inactive_reason=reason,
    )
    HookEvent.objects.filter(subscription_id=subscription_id).delete()
    HookDelivery.objects.filter(subscription_id=subscription_id, state=HookDelivery.PENDING).update(
        state=HookDelivery.DISCARDED, finished_ts=now
    )


class _Faults:
    """The delivery faults armed right now, consumed as they fire (inside the claim)."""

    def __init__(self) -> None:
        self.rows = list(HookFault.objects.order_by("pk")) if HookFault.objects.exists() else []

    def take(self, kind: str, tenant: str) -> dict[str, Any] | None:
        for fault in self.rows:
            if fault.kind != kind or (fault.tenant and fault.tenant != tenant):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
            elif fault.probability is not None and random.random() >= fault.probability:  # noqa: S311
                continue
            fault.seen += 1
            HookFault.objects.filter(pk=fault.pk).update(remaining=fault.remaining, seen=fault.seen)
            return {"kind": kind, **fault.params}
        return None
