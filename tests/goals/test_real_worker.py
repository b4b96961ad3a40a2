"""Goals through real Celery worker processes: SIGKILL mid-goal, and 1,000 goals for 10 tenants.

Counted by the Keap sandbox, which records every achieve-goal call it receives.
"""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import child_env
from tests.workers.celery_worker import CeleryWorker
from webapp.goals import flows, tasks
from webapp.goals.models import GoalCompletion
from webapp.goals.validation import GoalRequest

pytestmark = pytest.mark.django_db(transaction=True)
Status = GoalCompletion.Status
GOAL_PATH = "/crm/rest/v1/campaigns/goals"


def _wait_for(condition, *, timeout: float, what: str, worker: CeleryWorker | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    tail = f"\nworker log:\n{worker.log_tail()}" if worker else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")


def _goal_calls(keap, tenant: str) -> int:
    endpoints = keap.counts()["tenants"].get(tenant, {})
    return sum(row["calls"] for name, row in endpoints.items() if "goal" in name)


def _status(pk: int) -> str:
    return GoalCompletion.objects.values_list("status", flat=True).get(pk=pk)


def test_a_worker_killed_mid_goal_leaves_that_goal_achieved_exactly_once(
    goal_connection, keap, settings, tmp_path
):
    worker = CeleryWorker(child_env(settings), tmp_path / "worker.log").start()
    try:
        keap.reset_stats()
        # Keap holds the goal call for 5 s before it fires the goal: the kill lands mid-request.
        keap.inject("latency", path_prefix=GOAL_PATH, ms=5000, count=1)
        completion, _ = flows.request_goal(
            connection=goal_connection,
            goal=GoalRequest.from_values(
                {"contact_id": 8, "call_name": "purchased", "idempotency_key": "kill-1"},
                app_name=goal_connection.app_name,
            ),
            requested_by=goal_connection.owner,
        )
        _wait_for(
            lambda: _status(completion.pk) == Status.SENDING and _goal_calls(keap, "ab123") == 1,
            timeout=60, what="the goal call to reach Keap", worker=worker,
        )  # fmt: skip

        worker.kill()

        # Keap finishes the call it received; nobody is left to record its answer.
        _wait_for(
            lambda: keap.goal_achievements(tenant="ab123"), timeout=15, what="Keap to fire the goal"
        )
        assert _status(completion.pk) == Status.SENDING
        # While no worker runs, another goal is requested: the new worker must deliver it.
        later, _ = flows.request_goal(
            connection=goal_connection,
            goal=GoalRequest.from_values(
                {"contact_id": 9, "call_name": "trialstarted", "idempotency_key": "kill-2"},
                app_name=goal_connection.app_name,
            ),
            requested_by=goal_connection.owner,
        )

        worker.start()
        _wait_for(
            lambda: _status(later.pk) == Status.SUCCEEDED,
            timeout=60, what="the new worker to deliver the later goal", worker=worker,
        )  # fmt: skip
        # The watchdog runs after the killed attempt's time limit would have ended it.
        GoalCompletion.objects.filter(pk=completion.pk).update(
            claimed_at=timezone.now() - tasks.SENDING_STALE - timedelta(seconds=1)
        )
        tasks.recover_goals.delay()
        _wait_for(
            lambda: _status(completion.pk) == Status.UNCERTAIN,
            timeout=60, what="the watchdog to mark the dead send uncertain", worker=worker,
        )  # fmt: skip
        time.sleep(2)  # anything that would resend it has had time to
    finally:
        worker.stop()

    completion.refresh_from_db()
    assert completion.attempts == 1
    achieved = Counter((a["contact_id"], a["call_name"]) for a in keap.goal_achievements("ab123"))
    assert achieved == {(8, "purchased"): 1, (9, "trialstarted"): 1}
    assert _goal_calls(keap, "ab123") == 2


TENANTS = ["ab123", "cd456", "ef789", *(f"gl{n:03d}" for n in range(7))]
PER_TENANT = 100


def test_a_thousand_goals_for_ten_tenants_each_succeed_exactly_once_without_a_429(
    keap, connect, owner_client, settings, tmp_path
):
    for tenant in TENANTS[3:]:
        keap.create_tenant(tenant, users=["alex@sandbox.keap.test"], contacts=PER_TENANT)
    connections = [
        connect(
            owner_client,
            app=t,
            email="sam@sandbox.keap.test" if t == "ef789" else "alex@sandbox.keap.test",
        )
        for t in TENANTS
    ]
    keap.clear_goal_achievements()
    keap.reset_stats()
    keap.reset_quota()
    # Keap's real limits on both sides: 25 calls a second for the developer app, across tenants.
    assert keap.settings()["app_limit_per_second"] == 25
    assert connections[0].developer_app.limit_per_second == 25
    worker = CeleryWorker(child_env(settings), tmp_path / "worker.log", concurrency=8).start()
    try:
        started = time.monotonic()
        for contact_id in range(1, PER_TENANT + 1):
            for connection in connections:  # interleaved, as customers' requests would be
                flows.request_goal(
                    connection=connection,
                    goal=GoalRequest.from_values(
                        {
                            "contact_id": contact_id,
                            "call_name": "trialstarted",
                            "idempotency_key": f"bulk-{contact_id}",
                        },
                        app_name=connection.app_name,
                    ),
                    requested_by=connection.owner,
                )
        total = len(TENANTS) * PER_TENANT
        _wait_for(
            lambda: GoalCompletion.objects.filter(
                status__in=(Status.SUCCEEDED, Status.FAILED, Status.UNCERTAIN)
            ).count() == total,
            timeout=300, what=f"{total} goals to finish", worker=worker,
        )  # fmt: skip
        elapsed = time.monotonic() - started
    finally:
        worker.stop()

    statuses = Counter(GoalCompletion.objects.values_list("status", flat=True))
    assert statuses == {Status.SUCCEEDED: total}, GoalCompletion.objects.exclude(
        status=Status.SUCCEEDED
    ).values_list("error", flat=True)[:5]
    achieved = Counter((a["tenant"], a["contact_id"]) for a in keap.goal_achievements())
    assert len(achieved) == total and set(achieved.values()) == {1}
    assert {tenant for tenant, _ in achieved} == set(TENANTS)
    # 1,000 calls at 25 a second cannot take less than 40 s: the limiter really held the rate.
    assert elapsed >= (total - 25) / 25
    print(f"\n{total} goals for {len(TENANTS)} tenants in {elapsed:.1f}s")
    # Never a 429: grants still in flight hold their slot of the second until their answer is in,
    # so even a worker starved of CPU between grant and send cannot let Keap see 26 in a second.
    assert keap.counts()["throttled"] == 0
