"""What staff can do to a connection: pause, resume, force a sync, force a token refresh.

Each records a ConnectionEvent naming the member of staff, and returns a sentence for the message.
Pausing is a status (KeapConnection.Status.PAUSED): everything that calls Keap asks for a token
through webapp.connections.tokens, which refuses any connection that is not active, and beat's
syncs and keep-alive only pick active connections; so a paused connection's queued jobs stop
without calling Keap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from webapp.connections import tokens
from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.keap.errors import KeapError

Status = KeapConnection.Status
Kind = ConnectionEvent.Kind


@dataclass(frozen=True)
class Outcome:
    done: bool
    message: str


def _record(connection_id: int, kind: str, actor: Any, detail: str) -> None:
    ConnectionEvent.objects.create(
        connection_id=connection_id, kind=kind, actor=actor, detail=detail[:500]
    )


def pause(*, connection: KeapConnection, actor: Any) -> Outcome:
    """Stop all work on an active connection until staff resume it; its tokens are kept."""
    return _move(connection, actor, Status.ACTIVE, Status.PAUSED, Kind.PAUSED, "paused",
                 detail="Syncs, goals and keep-alive stop.")  # fmt: skip


def resume(*, connection: KeapConnection, actor: Any) -> Outcome:
    """Let work on a paused connection go on."""
    return _move(connection, actor, Status.PAUSED, Status.ACTIVE, Kind.RESUMED, "resumed")


def _move(connection: KeapConnection, actor: Any, source: str, target: str, kind: str, done: str,
          *, detail: str = "") -> Outcome:  # fmt: skip
    """Move the connection from `source` to `target` and record it, only if it is still in
    `source` (a connection that turned "needs reconnect" meanwhile is left as it is)."""
    with transaction.atomic():
        changed = KeapConnection.objects.filter(pk=connection.pk, status=source).update(
            status=target
        )
        if changed:
            _record(connection.pk, kind, actor, detail)
    if changed:
        return Outcome(True, f"{connection.app_name}: {done}.")
    return Outcome(False, f"{connection.app_name}: not {done} (it is {connection.status}).")


def force_sync(*, connection: KeapConnection, actor: Any) -> Outcome:
    """Queue an incremental sync now through the sync flow (a run already queued is kept)."""
    from webapp.sync import flows

    if connection.status != Status.ACTIVE:
        return Outcome(False, f"{connection.app_name}: no sync, it is {connection.status}.")
    with transaction.atomic():
        run = flows.start_sync(connection=connection)
        if run is None:
            return Outcome(False, f"{connection.app_name}: the sync could not be started.")
        _record(connection.pk, Kind.SYNC_FORCED, actor, f"Sync run {run.pk} ({run.kind}).")
    return Outcome(True, f"{connection.app_name}: sync run {run.pk} queued ({run.kind}).")


def force_refresh(*, connection: KeapConnection, actor: Any) -> Outcome:
    """Refresh the tokens now, single-flight under the row lock like every other refresh."""
    try:
        refreshed = tokens.force_refresh(connection.pk, reason="forced by staff")
    except (KeapError, tokens.ConnectionNotActive) as exc:  # Keap refused, failed, or 401
        # Recorded after the refresh's own transaction: any failure it recorded stays.
        _record(connection.pk, Kind.REFRESH_FORCED, actor, f"Failed: {exc}")
        return Outcome(False, f"{connection.app_name}: the refresh failed ({exc}).")
    if not refreshed:
        connection.refresh_from_db(fields=["status"])
        return Outcome(False, f"{connection.app_name}: no refresh, it is {connection.status}.")
    _record(connection.pk, Kind.REFRESH_FORCED, actor, "Refreshed.")
    return Outcome(True, f"{connection.app_name}: tokens refreshed.")
