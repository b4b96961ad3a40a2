"""The goal panel on the connection page: the form, Keap's answers, and a double submit."""

import re

import pytest
from django.urls import reverse

from tests.goals.conftest import goal_form, panel_url, request_url
from webapp.goals.models import GoalCompletion
from webapp.goals.views import panel_context

pytestmark = pytest.mark.django_db(transaction=True)
HX = {"HTTP_HX_REQUEST": "true"}


def _key_in(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match, "no idempotency key in the form"
    return match.group(1)


def test_completing_a_goal_from_the_form_fires_it_and_shows_keaps_answer(
    owner_client, goal_connection, keap, eager_celery
):
    response = owner_client.post(request_url(goal_connection), goal_form(contact_id=5))

    assert response.status_code == 302
    assert response["Location"] == reverse("connections:detail", args=[goal_connection.pk])
    [achieved] = keap.goal_achievements(tenant="ab123")
    assert (achieved["contact_id"], achieved["call_name"], achieved["api"]) == (
        5,
        "purchased",
        "v1",
    )
    assert len(achieved["goal_ids"]) == 2
    page = owner_client.get(panel_url(goal_connection)).content.decode()
    fired = ", ".join(f"goal {goal}" for goal in achieved["goal_ids"])
    assert "Succeeded" in page
    assert re.search(r"Fired: campaign \d+ goal \d+, campaign \d+ goal \d+", page)
    for goal in achieved["goal_ids"]:
        assert f"goal {goal}" in page, fired


def test_completing_a_goal_with_htmx_returns_the_panel_with_keaps_answer_and_a_new_key(
    owner_client, goal_connection, keap, eager_celery
):
    data = goal_form(contact_id=7, call_name="trialstarted")

    response = owner_client.post(request_url(goal_connection), data, **HX)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="goal-panel"' in html and "<html" not in html
    assert re.search(r"Fired: campaign \d+ goal \d+", html)
    assert _key_in(html) != data["idempotency_key"]  # the next submit is a new goal
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_a_goal_for_an_unknown_contact_shows_keaps_answer(
    owner_client, goal_connection, keap, eager_celery
):
    html = owner_client.post(
        request_url(goal_connection), goal_form(contact_id=99999), **HX
    ).content.decode()

    completion = GoalCompletion.objects.get()
    assert completion.status == GoalCompletion.Status.FAILED
    assert "Contact with id 99999 was not found" in completion.error
    assert "Failed" in html and "Contact with id 99999 was not found" in html
    assert keap.goal_achievements(tenant="ab123") == []


def test_a_call_name_that_matches_no_goal_shows_no_goal_matched(
    owner_client, goal_connection, keap, eager_celery
):
    html = owner_client.post(
        request_url(goal_connection), goal_form(call_name="nosuchgoal"), **HX
    ).content.decode()

    assert GoalCompletion.objects.get().status == GoalCompletion.Status.SUCCEEDED
    assert "No goal matched" in html
    [achieved] = keap.goal_achievements(tenant="ab123")
    assert achieved["goal_ids"] == []


def test_a_double_submit_of_one_form_achieves_the_goal_once(
    owner_client, goal_connection, keap, eager_celery
):
    data = goal_form(contact_id=11)

    first = owner_client.post(request_url(goal_connection), data)
    second = owner_client.post(request_url(goal_connection), data)

    assert first.status_code == second.status_code == 302
    assert GoalCompletion.objects.count() == 1
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_a_reused_key_with_other_values_is_refused_and_sends_nothing_more(
    owner_client, goal_connection, keap, eager_celery
):
    data = goal_form(contact_id=11)
    owner_client.post(request_url(goal_connection), data)

    html = owner_client.post(
        request_url(goal_connection), {**data, "contact_id": "12"}, **HX
    ).content.decode()

    assert "already used for contact 11" in html
    assert GoalCompletion.objects.count() == 1
    assert len(keap.goal_achievements(tenant="ab123")) == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("contact_id", "0", "Must be a positive Keap contact id"),
        ("contact_id", "abc", "Enter a whole number"),
        ("call_name", "", "This field is required"),
        ("call_name", "bad name/..", "Use letters, digits"),
        ("call_name", "x" * 101, "at most 100 characters"),
        ("integration", "ab 123", "Use letters, digits"),
    ],
)
def test_bad_form_input_is_shown_and_sends_nothing(
    owner_client, goal_connection, keap, eager_celery, field, value, message
):
    data = goal_form(**{field: value})

    html = owner_client.post(request_url(goal_connection), data, **HX).content.decode()
    plain = owner_client.post(request_url(goal_connection), data, follow=True).content.decode()

    assert message in html
    assert message in plain  # shown as a message on the connection page
    assert not GoalCompletion.objects.exists()
    assert keap.goal_achievements(tenant="ab123") == []


def test_the_integration_defaults_to_the_keap_app_name(
    owner_client, goal_connection, keap, eager_celery
):
    owner_client.post(request_url(goal_connection), goal_form(integration=""))

    assert GoalCompletion.objects.get().integration == "ab123"
    assert keap.goal_achievements(tenant="ab123")[0]["integration"] == "ab123"


def test_each_render_of_the_panel_carries_a_new_idempotency_key_and_the_api_note(
    owner_client, goal_connection, rf
):
    request = rf.get("/")
    first, second = (panel_context(request, goal_connection) for _ in range(2))
    assert first["goal_form"]["integration"].value() == "ab123"
    assert (
        first["goal_form"]["idempotency_key"].value()
        != second["goal_form"]["idempotency_key"].value()
    )
    page = owner_client.get(panel_url(goal_connection)).content.decode()
    assert "Campaign Builder beyond goals is not available through the API" in page
    fragment = owner_client.get(panel_url(goal_connection), **HX).content.decode()
    assert 'id="goal-panel"' in fragment and "<html" not in fragment


def test_the_completions_fragment_polls_only_while_a_goal_is_pending(owner_client, goal_connection):
    url = reverse("goals:completions", args=[goal_connection.pk])
    assert "hx-trigger" not in owner_client.get(url, **HX).content.decode()

    GoalCompletion.objects.create(
        connection=goal_connection, contact_id=3, integration="ab123", call_name="x",
        idempotency_key="k1",
    )  # fmt: skip

    html = owner_client.get(url, **HX).content.decode()
    assert 'hx-trigger="every 2s"' in html and "Queued" in html


@pytest.mark.django_db
def test_the_connection_page_carries_the_goal_form_and_its_note(owner_client, connection):
    from django.urls import reverse as url_for

    page = owner_client.get(url_for("connections:detail", args=[connection.pk])).content.decode()
    assert 'name="call_name"' in page and 'name="idempotency_key"' in page
    assert "Campaign Builder" in page
