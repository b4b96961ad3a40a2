"""Queue depth per lane counts the task messages really waiting on the broker."""

import pytest
from django.urls import reverse

from webapp.celery import app as celery_app
from webapp.operations.queues import queue_depths

pytestmark = pytest.mark.django_db


def test_queue_depth_counts_enqueued_messages_per_lane(staff_client, empty_lanes):
    for _ in range(3):
        celery_app.send_task("operations.tests.never_run", queue="interactive")
    for _ in range(5):
        celery_app.send_task("operations.tests.never_run", queue="bulk")

    assert queue_depths() == {"interactive": 3, "bulk": 5}
    page = staff_client.get(reverse("operations:work"), HTTP_HX_REQUEST="true").content.decode()
    assert 'data-lane="interactive">3 waiting' in page
    assert 'data-lane="bulk">5 waiting' in page


def test_queue_depth_routes_real_tasks_to_their_lanes(empty_lanes):
    from webapp.sync.tasks import run_sync

    run_sync.apply_async(kwargs={"run_id": 0})
    assert queue_depths() == {"interactive": 0, "bulk": 1}
