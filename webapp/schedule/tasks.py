"""Acting on the day's plan: the work it names, and the changes Keap pushed.

In the bulk lane. What to start, and why, is webapp.schedule.planner's; reading the database for
it is webapp.schedule.today's.
"""

import logging

from celery import shared_task
from django.db import transaction
from django.db.models import Exists, OuterRef

from webapp.connections.models import KeapConnection
from webapp.hooks.models import HookDelivery
from webapp.keap.models import DeveloperApp
from webapp.schedule import today
from webapp.sync import flows
from webapp.sync.models import SyncRun

log = logging.getLogger(__name__)

# Connections whose waiting changes are started in one go (the next beat takes the rest).
CHANGES_PER_TICK = 500


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def act_on_plan() -> int:
    """Beat: plan each developer app's day and start the polls, syncs and checks now due."""
    started = 0
    for app in DeveloperApp.objects.filter(connections__isnull=False).distinct():
        started += len(today.act(app))
    if started:
        log.info("Started %d pieces of planned work", started)
    return started


@shared_task(ignore_result=True, time_limit=60, soft_time_limit=50)
def start_changes() -> int:
    """Beat (every few seconds): a `changes` run for each connection Keap pushed changes for."""
    waiting = HookDelivery.objects.filter(connection_id=OuterRef("pk"), applied_at__isnull=True)
    busy = SyncRun.objects.active().filter(connection=OuterRef("pk"))
    connections = (
        KeapConnection.objects.active()
        .filter(Exists(waiting))
        .exclude(Exists(busy))
        .order_by("pk")[:CHANGES_PER_TICK]
    )
    started = 0
    for connection in connections:
        with transaction.atomic():
            run = flows.start_sync(connection=connection, kind=SyncRun.Kind.CHANGES)
        started += run is not None and run.kind == SyncRun.Kind.CHANGES
    return started
