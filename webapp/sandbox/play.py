"""Edits made in Keap's own web app: contacts added, edited and deleted by people, not the API.

Onramp never sees these calls, only their REST hook events and the changed records, which is
exactly what a sync has to cope with. `play_once` makes a given number of each now;
a `ContactPlayer` keeps making them at a steady rate, advanced by every worker's deliverer loop.
"""

import random
from collections import Counter
from typing import Any

from django.db import connection, transaction

from webapp.sandbox import contact_fields, hooks, seed
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import Contact, ContactPlayer, Tenant

# A tick plays at most this many of a player's changes; the rest wait for the next tick.
MAX_PER_TICK = 1000
JOB_TITLES = ["Owner", "Manager", "Designer", "Engineer", "Buyer", "Director", "Assistant"]


def play_once(
    tenant: Tenant,
    *,
    adds: int = 0,
    edits: int = 0,
    deletes: int = 0,
    rng: random.Random | None = None,
    clamp: bool = False,
) -> dict[str, Any]:
    """Add, edit and delete contacts of the tenant in one go, queueing their hook events.

    Edited and deleted contacts are distinct ones that existed before; added ones get fresh ids
    (above every id the tenant had, as Keap never reuses one). Without `clamp`, asking to edit
    or delete more contacts than exist is a ValueError; with it, the shortfall is skipped.
    Returns the ids by kind, the number skipped, and the time stamped on them.
    """
    rng = rng or random.Random()  # noqa: S311 (test data)
    with write_lock(), transaction.atomic():
        return _play(tenant, adds, edits, deletes, rng, clamp)


def _play(
    tenant: Tenant, adds: int, edits: int, deletes: int, rng: random.Random, clamp: bool
) -> dict[str, Any]:
    # The caller holds the write lock, inside a transaction.
    existing = list(Contact.objects.filter(tenant=tenant).values_list("keap_id", flat=True))
    skipped = max(0, edits + deletes - len(existing))
    if skipped and not clamp:
        raise ValueError(
            f"tenant {tenant.app_name} has {len(existing)} contacts; "
            f"cannot edit {edits} and delete {deletes}"
        )
    edits = min(edits, len(existing))
    deletes = min(deletes, len(existing) - edits)
    picked = rng.sample(existing, edits + deletes)
    edited, deleted = sorted(picked[:edits]), sorted(picked[edits:])
    stamp = contact_fields.now_ms()
    _edit(tenant, edited, stamp, rng)
    for start in range(0, len(deleted), 500):
        Contact.objects.filter(tenant=tenant, keap_id__in=deleted[start : start + 500]).delete()
    added = list(tenant.issue_contact_ids(adds))
    rows = [seed.contact_row(tenant.pk, keap_id, rng, stamp=stamp) for keap_id in added]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 5000):
            cursor.executemany(seed.INSERT_CONTACT, rows[start : start + 5000])
    hooks.queue_changes(tenant.pk, hooks.CONTACT_ADD, added, stamp)
    hooks.queue_changes(tenant.pk, hooks.CONTACT_EDIT, edited, stamp)
    hooks.queue_changes(tenant.pk, hooks.CONTACT_DELETE, deleted, stamp)
    return {
        "added": added,
        "edited": edited,
        "deleted": deleted,
        "skipped": skipped,
        "updated_ms": stamp,
        "update_time": contact_fields.v2_time(stamp),
    }


def _edit(tenant: Tenant, ids: list[int], stamp: int, rng: random.Random) -> None:
    """What a person changes by hand: a job title, sometimes a phone number."""
    for start in range(0, len(ids), 500):
        changed = []
        for contact in Contact.objects.filter(tenant=tenant, keap_id__in=ids[start : start + 500]):
            contact.data["job_title"] = rng.choice(JOB_TITLES)
            if rng.random() < 0.3:
                number = f"{rng.randint(201, 989)}-555-{rng.randint(0, 9999):04d}"
                contact.data["phones"] = [{"number": number, "field": "PHONE1", "type": "Mobile"}]
            contact.updated_ms = max(stamp, contact.created_ms)
            changed.append(contact)
        Contact.objects.bulk_update(changed, ["data", "updated_ms"])


def advance(now: float) -> None:
    """Play every running player's changes due by `now` (sandbox epoch seconds).

    A read finds the players with work; then one transaction under the write lock re-reads
    them and plays, counts and moves `played` forward, so when several workers advance the same
    player every change is played once, and a finished player's counts are final.
    """
    running = ContactPlayer.objects.filter(state=ContactPlayer.RUNNING)
    busy = [player.pk for player in running if _due(player, now) or _ends(player, now)]
    if not busy:
        return
    with write_lock(), transaction.atomic():
        for player in running.filter(pk__in=busy).select_related("tenant"):
            _step(player, now)


def _due(player: ContactPlayer, now: float) -> int:
    end = now if player.ends_ts is None else min(now, player.ends_ts)
    target = int((end - player.started_ts) * player.rate)
    return max(0, min(target - player.played, MAX_PER_TICK))


def _ends(player: ContactPlayer, now: float) -> bool:
    return player.ends_ts is not None and now >= player.ends_ts


def _step(player: ContactPlayer, now: float) -> None:
    due = _due(player, now)
    if due:
        rng = random.Random()  # noqa: S311 (test data)
        kinds = Counter(
            rng.choices(
                ["adds", "edits", "deletes"],
                weights=[player.adds, player.edits, player.deletes],
                k=due,
            )
        )
        result = _play(player.tenant, kinds["adds"], kinds["edits"], kinds["deletes"], rng, True)
        player.played += due
        player.added += len(result["added"])
        player.edited += len(result["edited"])
        player.deleted += len(result["deleted"])
        player.skipped += result["skipped"]
    if _ends(player, now) and not _due(player, now):
        player.state = ContactPlayer.FINISHED
    elif not due:
        return
    player.save(update_fields=["played", "added", "edited", "deleted", "skipped", "state"])


def to_json(player: ContactPlayer) -> dict[str, Any]:
    return {
        "id": player.pk,
        "tenant": player.tenant.app_name,
        "rate": player.rate,
        "mix": {"adds": player.adds, "edits": player.edits, "deletes": player.deletes},
        "duration": None if player.ends_ts is None else player.ends_ts - player.started_ts,
        "state": player.state,
        "played": player.played,
        "added": player.added,
        "edited": player.edited,
        "deleted": player.deleted,
        "skipped": player.skipped,
        "started_ms": int(player.started_ts * 1000),
        "ends_ms": None if player.ends_ts is None else int(player.ends_ts * 1000),
    }
