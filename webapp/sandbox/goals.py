"""Achieving API goals (REST v1, REST v2, XML-RPC FunnelService) and remembering each call."""

import json
from typing import NamedTuple

from django.db import connection, transaction

from webapp.sandbox import clock
from webapp.sandbox.api_errors import BadInput
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import Tenant


class FiredGoal(NamedTuple):
    pk: int
    campaign_id: int


class UnknownContact(BadInput):
    """The contact id names no contact of this tenant."""


def achieve(
    *,
    tenant: Tenant,
    contact_id: int,
    api: str,
    integration: str = "",
    call_name: str = "",
    campaign_id: int | None = None,
    goal_id: int | None = None,
) -> list[FiredGoal]:
    """Fire every published API goal matching (integration, call name) or (campaign, goal id).

    Matching is case-insensitive, as Campaign Builder lower-cases call names. No match fires
    nothing and is not an error (Keap answers 201 with an empty array). The call is recorded
    either way, with the goals it fired.
    """
    # Raw SQL: this is the benchmark's hot path, and ORM query building dominated it.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM sandbox_contact WHERE tenant_id = %s AND keap_id = %s",
            [tenant.pk, contact_id],
        )
        if cursor.fetchone() is None:
            raise UnknownContact(f"Contact with id {contact_id} was not found")
        match = "g.campaign_id = %s AND g.id = %s"
        params: list[int | str | None] = [campaign_id, goal_id]
        if campaign_id is None:
            match = "lower(g.integration) = lower(%s) AND lower(g.call_name) = lower(%s)"
            params = [integration, call_name]
        cursor.execute(
            "SELECT g.id, g.campaign_id FROM sandbox_goal g "  # noqa: S608 (fixed fragments)
            "JOIN sandbox_campaign c ON c.id = g.campaign_id "
            f"WHERE c.tenant_id = %s AND c.published AND {match} ORDER BY g.campaign_id, g.id",
            [tenant.pk, *params],
        )
        fired = [FiredGoal(*row) for row in cursor.fetchall()]
        moment = connection.ops.adapt_datetimefield_value(clock.now())
        with write_lock(), transaction.atomic():
            cursor.execute(
                "INSERT INTO sandbox_goalachievement (tenant_id, contact_id, integration, "
                "call_name, goal_ids, api, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [tenant.pk, contact_id, integration, call_name,
                 json.dumps([goal.pk for goal in fired]), api, moment],
            )  # fmt: skip
    return fired
