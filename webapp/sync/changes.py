"""Applying what Keap pushed for a connection: a `changes` run over its waiting hook deliveries.

A run takes the deliveries waiting when it starts (webapp.hooks stores them as they came) and
reads them by contact, whatever order they came in: a contact whose last event is a deletion is
deleted here, with no call to Keap; every other one is fetched as it is now. They are fetched
by id, `HOOKS_IDS_PER_CALL` in a call (`filter=contact_ids==...`), or, when that costs fewer
calls, as every contact updated since the oldest change (a window, paged like an incremental
sync): webapp.schedule.planner.change_fetch chooses. A contact fetched by id that Keap no
longer lists was deleted meanwhile, and is deleted here too. The deliveries are marked applied
in the transaction that ends the run.

Duplicates and reordering change nothing: what is stored is what Keap says now. A run that fails
leaves its deliveries waiting, so the next run applies them; applying a delivery twice stores
the same contact twice, which changes nothing either. The run's checkpoint holds its plan (which
deliveries, which ids, how far), so a run rescued by the watchdog resumes where it stopped.
"""

import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from webapp.hooks.models import HookDelivery, HookEndpoint
from webapp.keap.results import Contact as KeapContact
from webapp.keap.results import filter_time, parse_timestamp
from webapp.schedule.planner import Policy, change_fetch
from webapp.sync import store
from webapp.sync.models import Contact
from webapp.sync.pipeline import TRANSIENT, PageFailed, describe

if TYPE_CHECKING:
    from webapp.sync.worker import Outcome, RunWorker

log = logging.getLogger(__name__)

DELETE = "contact.delete"
# A run takes at most this many deliveries; the rest wait for the next one.
MAX_DELIVERIES = 2000


def work(worker: "RunWorker") -> "Outcome":
    """Work a `changes` run from its checkpoint (see the module docstring)."""
    run = worker.run
    if "up_to" not in run.checkpoint:
        _plan(worker)
    checkpoint = run.checkpoint
    if not checkpoint.get("deleted_done"):
        deleted = _delete(run.connection_id, checkpoint["deletes"])
        checkpoint = {**checkpoint, "deleted_done": True}
        worker.save(checkpoint=checkpoint, deleted=deleted)
        run.checkpoint, run.deleted = checkpoint, deleted

    def mark_applied() -> None:
        applied = HookDelivery.objects.filter(
            connection_id=run.connection_id, pk__lte=checkpoint["up_to"], applied_at__isnull=True
        )
        last = applied.aggregate(last=Max("received_at"))["last"]
        applied.update(applied_at=timezone.now())
        if last is not None:  # how busy Keap's pushes are: the subscriptions' check interval
            HookEndpoint.objects.filter(connection_id=run.connection_id).update(
                last_delivery_at=Greatest(Coalesce("last_delivery_at", last), last)
            )

    if checkpoint["how"] == "window":
        return worker.pages(checkpoint["query"], also=mark_applied)
    ids: list[int] = checkpoint["upserts"]
    per_call = int(settings.HOOKS_IDS_PER_CALL)
    while checkpoint["done"] < len(ids):
        batch = ids[checkpoint["done"] : checkpoint["done"] + per_call]
        contacts = _retrying(worker.client.contacts_by_ids, batch, on_error=worker.record_error)
        listed = {c.id for c in contacts}
        gone = [keap_id for keap_id in batch if keap_id not in listed]
        with transaction.atomic():
            result = store.store_page(connection_id=run.connection_id, records=contacts)
            removed = _delete(run.connection_id, gone)
            checkpoint = {**checkpoint, "done": checkpoint["done"] + len(batch)}
            worker.save(
                checkpoint=checkpoint,
                fetched=run.fetched + result.fetched,
                created=run.created + result.created,
                updated=run.updated + result.updated,
                unchanged=run.unchanged + result.unchanged,
                deleted=run.deleted + removed,
                pages=run.pages + 1,
                heartbeat_at=timezone.now(),
            )
        run.checkpoint = checkpoint
        run.fetched += result.fetched
        run.created += result.created
        run.updated += result.updated
        run.unchanged += result.unchanged
        run.deleted += removed
        run.pages += 1
        if checkpoint["done"] < len(ids) and (stopped := worker.stop_here()):
            return stopped
    return worker.complete(also=mark_applied)


def _plan(worker: "RunWorker") -> None:
    """Take the waiting deliveries and decide what to delete, what to fetch, and how."""
    run = worker.run
    waiting = HookDelivery.objects.filter(connection_id=run.connection_id, applied_at__isnull=True)
    up_to = waiting.aggregate(last=Max("pk"))["last"] or 0
    rows = waiting.filter(pk__lte=up_to).order_by("pk")[:MAX_DELIVERIES]
    up_to = 0
    last: dict[int, str] = {}  # each contact's last event, in the order Keap sent them
    oldest: datetime | None = None
    for row in rows:
        up_to = max(up_to, row.pk)
        for keap_id, stamp in row.ids:
            last[int(keap_id)] = row.event_key
            when = parse_timestamp(stamp) or row.received_at
            oldest = when if oldest is None or when < oldest else oldest
    deletes = sorted(k for k, event in last.items() if event == DELETE)
    upserts = sorted(k for k, event in last.items() if event != DELETE)
    since = (oldest or timezone.now()) - timedelta(seconds=float(settings.SYNC_OVERLAP_SECONDS))
    window = _changed_since(run.connection_id, since)
    how, _calls = change_fetch(len(upserts), window, _policy())
    checkpoint: dict[str, Any] = {
        "up_to": up_to,
        "deletes": deletes,
        "upserts": upserts if how == "ids" else [],
        "how": how,
        "done": 0,
        "query": {
            "filter": f"start_update_time=={filter_time(since)}",
            "order_by": "update_time asc",
        },
        "page_token": "",
    }
    run.checkpoint = checkpoint
    run.since = since if how == "window" else None
    run.total_estimate = len(upserts)
    worker.save(checkpoint=checkpoint, since=run.since, total_estimate=run.total_estimate)


def _policy() -> Policy:
    return Policy(ids_per_call=int(settings.HOOKS_IDS_PER_CALL), page_size=settings.SYNC_PAGE_SIZE)


def _changed_since(connection_id: int, since: datetime) -> int:
    """How many contacts Keap said changed since `since` (what a window would list): the ids in
    this connection's deliveries since then, applied or not."""
    seen: set[int] = set()
    for ids in HookDelivery.objects.filter(
        connection_id=connection_id, received_at__gte=since
    ).values_list("ids", flat=True):
        seen.update(int(keap_id) for keap_id, _ in ids)
    return len(seen)


def _delete(connection_id: int, keap_ids: list[int]) -> int:
    deleted = 0
    for start in range(0, len(keap_ids), 500):
        deleted += Contact.objects.filter(
            connection_id=connection_id, keap_id__in=keap_ids[start : start + 500]
        ).delete()[0]
    return deleted


def _retrying(
    fetch: Callable[[list[int]], list[KeapContact]],
    ids: list[int],
    *,
    on_error: Callable[[Exception], None],
) -> list[KeapContact]:
    """`fetch(ids)`, tried SYNC_PAGE_ATTEMPTS times with backoff when it fails for a reason that
    may pass; each failure reported to `on_error`; PageFailed in the end."""
    attempts = max(1, int(settings.SYNC_PAGE_ATTEMPTS))
    for attempt in range(1, attempts + 1):
        try:
            return fetch(ids)
        except TRANSIENT as exc:
            on_error(exc)
            if attempt == attempts:
                raise PageFailed(describe(exc)) from exc
            base = float(settings.SYNC_PAGE_BACKOFF_SECONDS)
            time.sleep(random.uniform(0, min(30.0, base * 2**attempt)))  # noqa: S311
    raise AssertionError("unreachable")  # pragma: no cover
