"""A connection's subscriptions to Keap's contact events: made, checked, made again, removed.

- `subscribe` (on connect and reconnect, and whenever a subscription is found gone): a new URL
  secret, Keap's old subscriptions for this connection deleted, one subscription per event key
  made. Keap confirms the URL before it answers (it posts `X-Hook-Secret`, which the intake
  echoes), so each comes back Verified or not at once.
- `check` (upkeep, about once a day, and when a subscription is not Verified): one call lists
  the tenant's subscriptions; any of ours that is not Verified is verified again (Keap confirms
  the URL again; that is how an Inactive one returns), and if one is gone they are all made
  afresh.
- `unsubscribe` (on disconnect): the URL dies at once (410, which Keap answers by making a
  subscription Inactive), and the subscriptions are deleted while the tokens still work.

While any subscription is not Verified the connection is `failing`: it is polled instead
(webapp.schedule), and checked again with a growing backoff until Keap confirms it. When it
returns, an incremental sync picks up what Keap could not push meanwhile.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.connections.models import KeapConnection
from webapp.connections.tokens import ConnectionNotActive, client_for
from webapp.hooks.models import (
    EVENT_KEYS,
    HookEndpoint,
    HookSubscription,
    hook_url,
    hook_url_prefix,
)
from webapp.keap.errors import KeapError
from webapp.limiter import Lane
from webapp.sync import flows as sync_flows

log = logging.getLogger(__name__)

Status = HookEndpoint.Status
VERIFIED = HookSubscription.Status.VERIFIED


def subscribe(*, connection_id: int) -> HookEndpoint:
    """Make this connection's subscriptions afresh, under a new URL secret."""
    client = client_for(connection_id, lane=Lane.BULK)
    endpoint, _ = HookEndpoint.objects.get_or_create(connection_id=connection_id)
    secret = endpoint.new_secret()
    endpoint.status = Status.SUBSCRIBING
    # Saved before Keap is asked: Keap confirms the new URL while the subscription is made.
    endpoint.save()
    prefix = hook_url_prefix(connection_id)
    for hook in client.list_hooks():
        if hook.hook_url.startswith(prefix):  # ours, under a secret no longer in use
            client.delete_hook(hook.key)
    endpoint.subscriptions.all().delete()
    url = hook_url(connection_id, secret)
    for event_key in EVENT_KEYS:
        hook = client.create_hook(event_key=event_key, hook_url=url)
        HookSubscription.objects.create(
            endpoint=endpoint, event_key=event_key, key=hook.key, status=hook.status
        )
    return _settle(endpoint, checked=True)


def check(*, connection_id: int) -> HookEndpoint:
    """Look at the subscriptions at Keap; verify again those not Verified; remake any gone."""
    endpoint = HookEndpoint.objects.filter(connection_id=connection_id).first()
    if endpoint is None or endpoint.status == Status.UNSUBSCRIBED:
        return subscribe(connection_id=connection_id)
    ours = list(endpoint.subscriptions.all())
    if {s.event_key for s in ours} != set(EVENT_KEYS):
        return subscribe(connection_id=connection_id)
    client = client_for(connection_id, lane=Lane.BULK)
    at_keap = {hook.key: hook for hook in client.list_hooks()}
    if any(s.key not in at_keap for s in ours):
        return subscribe(connection_id=connection_id)
    lapsed = False  # Keap had stopped delivering some of them
    for subscription in ours:
        hook = at_keap[subscription.key]
        if hook.status != VERIFIED:
            lapsed = True
            hook = client.verify_hook(subscription.key)
        if hook.status != subscription.status:
            subscription.status = hook.status
            subscription.save(update_fields=["status", "updated_at"])
    endpoint = _settle(endpoint, checked=True)
    if lapsed and endpoint.status == Status.VERIFIED:
        _catch_up(connection_id)  # what Keap did not deliver while they were not Verified
    return endpoint


def unsubscribe(*, connection_id: int) -> None:
    """At disconnect, while the tokens still work: the URL dies, the subscriptions are deleted.

    Best effort, one try each: Keap unreachable or the connection already without tokens leaves
    them to the dead URL, whose 410 makes Keap stop at its next delivery."""
    endpoint = HookEndpoint.objects.filter(connection_id=connection_id).first()
    if endpoint is None:
        return
    HookEndpoint.objects.filter(pk=endpoint.pk).update(
        status=Status.UNSUBSCRIBED, secret_digest="", next_check_at=None, detail=""
    )
    keys = list(endpoint.subscriptions.values_list("key", flat=True))
    try:
        client = client_for(connection_id, lane=Lane.INTERACTIVE)
        client.max_attempts = 1  # the customer is waiting for the disconnect, not for this
        for key in keys:
            client.delete_hook(key)
    except (KeapError, ConnectionNotActive, KeapConnection.DoesNotExist) as exc:
        log.info("Connection %s: hook subscriptions left to expire: %s", connection_id, exc)
    endpoint.subscriptions.all().delete()


def _settle(endpoint: HookEndpoint, *, checked: bool) -> HookEndpoint:
    """Verified when every subscription is; otherwise failing, with the next check backed off."""
    now = timezone.now()
    statuses = list(endpoint.subscriptions.values_list("status", flat=True))
    was = HookEndpoint.objects.filter(pk=endpoint.pk).values_list("status", flat=True).first()
    if checked:
        endpoint.checked_at = now
    if len(statuses) == len(EVENT_KEYS) and all(s == VERIFIED for s in statuses):
        endpoint.status = Status.VERIFIED
        endpoint.verified_at = endpoint.verified_at if was == Status.VERIFIED else now
        endpoint.failing_since = None
        endpoint.attempts = 0
        endpoint.detail = ""
        endpoint.next_check_at = now + timedelta(seconds=check_interval(endpoint, now))
    else:
        endpoint.status = Status.FAILING
        endpoint.failing_since = endpoint.failing_since or now
        endpoint.attempts += 1
        endpoint.next_check_at = now + timedelta(seconds=retry_delay(endpoint.attempts))
        not_verified = len(statuses) - statuses.count(VERIFIED)
        endpoint.detail = (
            f"Keap has not confirmed {not_verified} of {len(EVENT_KEYS)} subscriptions "
            "(it could not reach this site's hook URL, or gave up on it)."
        )
    endpoint.save()
    if endpoint.status == Status.VERIFIED and was == Status.FAILING:
        _catch_up(endpoint.connection_id)
    return endpoint


def check_interval(endpoint: HookEndpoint, now: datetime) -> float:
    """Seconds until healthy subscriptions are looked at again: sooner while Keap is pushing
    this connection's changes (a subscription Keap gives up on loses them until the check)."""
    recent = endpoint.last_delivery_at is not None and now - endpoint.last_delivery_at < timedelta(
        days=1
    )
    return float(settings.HOOKS_CHECK_ACTIVE_SECONDS if recent else settings.HOOKS_CHECK_SECONDS)


def retry_delay(attempts: int) -> float:
    """Seconds until a failing connection's subscriptions are checked again: doubling, capped."""
    base = float(settings.HOOKS_RETRY_BASE_SECONDS)
    return float(min(base * 2 ** max(attempts - 1, 0), float(settings.HOOKS_RETRY_MAX_SECONDS)))


def _catch_up(connection_id: int) -> None:
    """Back on hooks after failing: one incremental sync finds what Keap could not push."""
    connection = KeapConnection.objects.filter(pk=connection_id).first()
    if connection is not None:
        with transaction.atomic():
            sync_flows.start_sync(connection=connection)
