"""Delivering a goal to Keap: once, and only once, whatever fails (webapp.goals.flows' rule)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.connections.models import KeapConnection
from webapp.goals import delivery, flows, tasks
from webapp.goals.models import GoalCompletion
from webapp.goals.validation import GoalRequest
from webapp.keap.models import DeveloperApp

pytestmark = pytest.mark.django_db(transaction=True)
Status = GoalCompletion.Status
GOAL_PATH = "/crm/rest/v1/campaigns/goals"


def _request(connection, *, key="k1", contact_id=5, call_name="purchased"):
    completion, _ = flows.request_goal(
        connection=connection,
        goal=GoalRequest.from_values(
            {"contact_id": contact_id, "call_name": call_name, "idempotency_key": key},
            app_name=connection.app_name,
        ),
        requested_by=connection.owner,
    )
    completion.refresh_from_db()
    return completion


def _queued(connection, **values) -> GoalCompletion:
    """A completion written straight to the table, as if its message were still on its way."""
    fields = {
        "contact_id": 5,
        "integration": "ab123",
        "call_name": "purchased",
        "idempotency_key": "k",
    }
    return GoalCompletion.objects.create(connection=connection, **{**fields, **values})


def test_a_completion_found_already_sending_is_marked_uncertain_and_not_resent(
    goal_connection, keap, eager_celery
):
    # A previous attempt claimed it and died mid-call: Keap may or may not have it.
    completion = _queued(
        goal_connection, status=Status.SENDING, attempts=1, claimed_at=timezone.now()
    )

    tasks.achieve_goal.delay(completion_id=completion.pk)

    completion.refresh_from_db()
    assert completion.status == Status.UNCERTAIN
    assert "may or may not have fired" in completion.error
    assert completion.attempts == 1
    assert keap.goal_achievements(tenant="ab123") == []


def test_send_again_after_uncertain_sends_it_once_more(goal_connection, keap, eager_celery):
    completion = _queued(goal_connection, status=Status.UNCERTAIN, attempts=1)

    assert flows.send_again(completion=completion)

    completion.refresh_from_db()
    assert completion.status == Status.SUCCEEDED and completion.attempts == 2
    assert len(keap.goal_achievements(tenant="ab123")) == 1
    assert not flows.send_again(completion=completion)  # a succeeded goal is not sent again


def test_a_read_timeout_after_sending_marks_the_goal_uncertain_without_resending(
    goal_connection, keap, eager_celery, settings
):
    settings.KEAP_HTTP_TIMEOUT_SECONDS = 1
    keap.inject("timeout", path_prefix=GOAL_PATH, seconds=2, processed=True)

    completion = _request(goal_connection)

    assert completion.status == Status.UNCERTAIN
    assert "may have fired" in completion.error
    assert completion.attempts == 1
    assert len(keap.goal_achievements(tenant="ab123")) == 1  # it did land: not sent twice


def test_a_5xx_after_sending_marks_the_goal_uncertain(goal_connection, keap, eager_celery):
    keap.inject("error", path_prefix=GOAL_PATH, status=502)

    completion = _request(goal_connection)

    assert completion.status == Status.UNCERTAIN and completion.attempts == 1
    assert keap.counts()["tenants"]["ab123"]  # Keap saw exactly one goal call
    assert (
        sum(
            row["calls"]
            for name, row in keap.counts()["tenants"]["ab123"].items()
            if "goal" in name
        )
        == 1
    )


def test_an_unreadable_answer_marks_the_goal_uncertain(goal_connection, keap, eager_celery):
    keap.inject("malformed", path_prefix=GOAL_PATH, mode="truncated")

    completion = _request(goal_connection)

    assert completion.status == Status.UNCERTAIN
    assert "could not be read" in completion.error
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_no_budget_is_retried_with_backoff_then_succeeds(
    goal_connection, keap, eager_with_retries, monkeypatch
):
    app = DeveloperApp.objects.get(pk=goal_connection.developer_app_id)
    DeveloperApp.objects.filter(pk=app.pk).update(limit_per_second=0)  # nothing may be sent
    waits = []

    def operator_restores_budget(attempts: int, wait_hint: float = 0.0) -> float:
        waits.append(tasks.retry_countdown.__wrapped__(attempts, wait_hint))
        DeveloperApp.objects.filter(pk=app.pk).update(limit_per_second=25)
        return 0.0

    operator_restores_budget.__wrapped__ = tasks.retry_countdown
    monkeypatch.setattr(tasks, "retry_countdown", operator_restores_budget)

    completion = _request(goal_connection)

    assert completion.status == Status.SUCCEEDED
    assert completion.attempts == 2 and len(waits) == 1
    # The limiter said "never" (a zero limit): the wait is capped below the visibility timeout.
    assert waits == [tasks.BACKOFF_CAP_SECONDS]
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_retries_stop_at_a_maximum_and_record_the_reason(goal_connection, keap, eager_with_retries):
    DeveloperApp.objects.filter(pk=goal_connection.developer_app_id).update(limit_per_second=0)

    completion = _request(goal_connection)

    assert completion.status == Status.FAILED
    assert completion.attempts == tasks.MAX_ATTEMPTS
    assert "Gave up" in completion.error and "No budget" in completion.error
    assert keap.goal_achievements(tenant="ab123") == []


def test_countdowns_grow_with_jitter_and_never_pass_the_visibility_timeout():
    for attempts in range(1, 40):
        for _ in range(20):
            countdown = tasks.retry_countdown(attempts, wait_hint=10**7)
            assert 0 <= countdown <= tasks.BACKOFF_CAP_SECONDS < 3600
    spread = {round(tasks.retry_countdown(4), 3) for _ in range(50)}
    assert len(spread) > 10  # jittered, not lock-step
    assert max(tasks.retry_countdown(1) for _ in range(200)) <= tasks.BACKOFF_BASE_SECONDS


def test_a_refused_connection_is_retried_because_it_never_reached_keap(
    goal_connection, keap, eager_with_retries, monkeypatch
):
    app = DeveloperApp.objects.get(pk=goal_connection.developer_app_id)
    DeveloperApp.objects.filter(pk=app.pk).update(api_url="http://127.0.0.1:9/crm")

    def keap_is_back(attempts: int, wait_hint: float = 0.0) -> float:
        DeveloperApp.objects.filter(pk=app.pk).update(api_url=app.api_url)
        return 0.0

    monkeypatch.setattr(tasks, "retry_countdown", keap_is_back)

    completion = _request(goal_connection)

    assert completion.status == Status.SUCCEEDED and completion.attempts == 2
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_a_goal_for_a_disconnected_connection_fails_with_the_reason(
    goal_connection, keap, eager_celery
):
    KeapConnection.objects.filter(pk=goal_connection.pk).update(
        status=KeapConnection.Status.DISCONNECTED, access_token_sealed="", refresh_token_sealed=""
    )

    completion = _request(goal_connection)

    assert completion.status == Status.FAILED
    assert "not active" in completion.error and "nothing was sent" in completion.error
    assert keap.goal_achievements(tenant="ab123") == []


@pytest.mark.parametrize(("goal_api", "seen_as"), [("rest_v2", "v2"), ("xmlrpc", "xmlrpc")])
def test_rest_v2_and_xmlrpc_are_selectable_per_developer_app(
    goal_connection, keap, eager_celery, goal_api, seen_as
):
    DeveloperApp.objects.filter(pk=goal_connection.developer_app_id).update(goal_api=goal_api)
    goal_connection.refresh_from_db()

    completion = _request(goal_connection)

    assert completion.status == Status.SUCCEEDED and completion.api == goal_api
    [achieved] = keap.goal_achievements(tenant="ab123")
    assert achieved["api"] == seen_as and len(achieved["goal_ids"]) == 2
    assert len(completion.fired) == 2


@pytest.mark.parametrize("goal_api", ["rest_v1", "rest_v2", "xmlrpc"])
def test_an_unknown_contact_fails_with_keaps_message_on_every_api(
    goal_connection, keap, eager_celery, goal_api
):
    DeveloperApp.objects.filter(pk=goal_connection.developer_app_id).update(goal_api=goal_api)
    goal_connection.refresh_from_db()

    completion = _request(goal_connection, contact_id=424242)

    assert completion.status == Status.FAILED
    assert "424242" in completion.error
    assert keap.goal_achievements(tenant="ab123") == []


def test_the_watchdog_requeues_lost_messages_and_marks_dead_sends_uncertain(
    goal_connection, keap, eager_celery
):
    long_ago = timezone.now() - timedelta(hours=1)
    lost = _queued(goal_connection, idempotency_key="lost", next_attempt_at=long_ago)
    dead = _queued(
        goal_connection, idempotency_key="dead", status=Status.SENDING, attempts=1,
        claimed_at=long_ago,
    )  # fmt: skip
    waiting = _queued(goal_connection, idempotency_key="waiting")  # its message is on its way
    live = _queued(
        goal_connection, idempotency_key="live", status=Status.SENDING, attempts=1,
        claimed_at=timezone.now(),
    )  # fmt: skip

    assert tasks.recover_goals.delay().get() == {"requeued": 1, "uncertain": 1}

    states = dict(GoalCompletion.objects.values_list("idempotency_key", "status"))
    assert states == {
        "lost": Status.SUCCEEDED,
        "dead": Status.UNCERTAIN,
        "waiting": Status.QUEUED,
        "live": Status.SENDING,
    }
    assert len(keap.goal_achievements(tenant="ab123")) == 1
    assert {lost.pk, dead.pk, waiting.pk, live.pk}


def test_a_late_answer_for_the_same_attempt_replaces_uncertain(goal_connection):
    completion = _queued(goal_connection, status=Status.UNCERTAIN, attempts=2)

    delivery._finish(completion.pk, 2, Status.SUCCEEDED, results=[])
    delivery._finish(completion.pk, 1, Status.FAILED, error="an older attempt")

    completion.refresh_from_db()
    assert completion.status == Status.SUCCEEDED and completion.error == ""
