"""The operators' JSON API: bearer API keys, completing goals, polling, and every bad request."""

import json
import logging
import re

import pytest
from django.test import Client
from django.urls import reverse

from webapp.goals.models import ApiKey, GoalCompletion

pytestmark = pytest.mark.django_db(transaction=True)


def _create_key(client: Client, name: str = "order system") -> str:
    html = client.post(reverse("goals:api_keys"), {"name": name}).content.decode()
    match = re.search(r'<code id="new-api-key">([^<]+)</code>', html)
    assert match, "the new key is not shown"
    return match.group(1)


def _post(key: str | None, connection_id: int, body, **headers) -> "object":
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    url = reverse("goals:api_request_goal", args=[connection_id])
    return Client(enforce_csrf_checks=True).post(
        url, data, content_type="application/json", **headers
    )


def _poll(key: str, completion_id: int):
    url = reverse("goals:api_completion", args=[completion_id])
    return Client().get(url, HTTP_AUTHORIZATION=f"Bearer {key}")


BODY = {"contact_id": 5, "call_name": "purchased", "integration": "ab123", "idempotency_key": "o-1"}


def test_a_new_api_key_is_shown_once_and_stored_only_as_a_digest(owner_client, owner):
    key = _create_key(owner_client)

    listing = owner_client.get(reverse("goals:api_keys")).content.decode()
    stored = ApiKey.objects.get(owner=owner)
    assert key not in listing
    assert stored.shown_prefix in listing and "order system" in listing
    assert key not in (stored.key_digest, stored.prefix) and len(stored.key_digest) == 64
    assert ApiKey.authenticate(key) == stored


def test_the_api_completes_a_goal_and_the_completion_can_be_polled(
    owner_client, goal_connection, keap, eager_celery
):
    key = _create_key(owner_client)

    response = _post(key, goal_connection.pk, BODY)

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["idempotency_key"] == "o-1"
    assert response["Location"] == reverse("goals:api_completion", args=[body["id"]])
    polled = _poll(key, body["id"]).json()
    assert polled["status"] == "succeeded"
    [achieved] = keap.goal_achievements(tenant="ab123")
    assert [r["goal_id"] for r in polled["results"]] == achieved["goal_ids"]
    assert polled["answer"].startswith("Fired: campaign")
    assert GoalCompletion.objects.get().requester.startswith("API key order system")


def test_the_integration_is_optional_and_defaults_to_the_keap_app_name(
    owner_client, goal_connection, keap, eager_celery
):
    key = _create_key(owner_client)
    body = {k: v for k, v in BODY.items() if k != "integration"}

    response = _post(key, goal_connection.pk, body)

    assert response.status_code == 202 and response.json()["integration"] == "ab123"


def test_an_unknown_contact_is_reported_with_keaps_answer(
    owner_client, goal_connection, keap, eager_celery
):
    key = _create_key(owner_client)
    completion = _post(key, goal_connection.pk, {**BODY, "contact_id": 98765}).json()

    polled = _poll(key, completion["id"]).json()

    assert polled["status"] == "failed"
    assert "Contact with id 98765 was not found" in polled["error"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic b25yXzEyMzQ6eA==", "Bearer onr_nope_nope", "Token x"],
)
def test_requests_without_a_valid_key_get_401_and_change_nothing(connection, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}

    response = _post(None, connection.pk, BODY, **headers)

    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not GoalCompletion.objects.exists()


def test_a_revoked_or_wrong_key_gets_401_and_is_never_echoed(owner_client, connection, caplog):
    key = _create_key(owner_client)
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    caplog.set_level(logging.DEBUG)

    wrong = _post(forged, connection.pk, BODY)
    owner_client.post(reverse("goals:revoke_api_key", args=[ApiKey.objects.get().pk]))
    revoked = _post(key, connection.pk, BODY)

    assert wrong.status_code == revoked.status_code == 401
    for response in (wrong, revoked):
        assert key not in response.content.decode() and forged not in response.content.decode()
    assert key not in caplog.text and forged not in caplog.text
    assert not GoalCompletion.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("x" * 20_000, "larger than"),
    ],
)
def test_malformed_bodies_get_400_with_a_clear_message(owner_client, connection, body, message):
    key = _create_key(owner_client)

    response = _post(key, connection.pk, body)

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not GoalCompletion.objects.exists()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"call_name": "purchased", "idempotency_key": "a"}, "contact_id", "required"),
        ({"contact_id": 5, "call_name": "purchased"}, "idempotency_key", "required"),
        ({**BODY, "contact_id": "5"}, "contact_id", "whole number"),
        ({**BODY, "contact_id": True}, "contact_id", "whole number"),
        ({**BODY, "contact_id": 5.5}, "contact_id", "whole number"),
        ({**BODY, "call_name": 7}, "call_name", "must be a string"),
        ({**BODY, "idempotency_key": None}, "idempotency_key", "required"),
        ({**BODY, "idempotency_key": []}, "idempotency_key", "must be a string"),
        ({**BODY, "surprise": 1}, "body", "Unknown field(s): surprise"),
    ],
)
def test_mistyped_or_missing_fields_get_400_naming_the_field(
    owner_client, connection, body, field, message
):
    key = _create_key(owner_client)

    response = _post(key, connection.pk, body)

    assert response.status_code == 400
    answer = response.json()
    assert message.lower() in " ".join(answer["fields"][field]).lower()
    assert f"{field}: " in answer["error"]
    assert not GoalCompletion.objects.exists()


def test_every_invalid_field_is_reported_at_once(owner_client, connection):
    key = _create_key(owner_client)

    response = _post(key, connection.pk, {"contact_id": "5", "call_name": "a b", "extra": 1})

    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"contact_id", "call_name", "idempotency_key", "body"}
    assert not GoalCompletion.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("contact_id", 0, "positive"),
        ("contact_id", 2**63, "positive"),
        ("call_name", "", "required"),
        ("call_name", "a b", "Use letters, digits"),
        ("call_name", "x" * 101, "at most 100"),
        ("integration", "../ab123", "Use letters, digits"),
        ("idempotency_key", "", "required"),
        ("idempotency_key", "has space", "printable ASCII"),
    ],
)
def test_invalid_values_get_400_naming_the_field(owner_client, connection, field, value, message):
    key = _create_key(owner_client)

    response = _post(key, connection.pk, {**BODY, field: value})

    assert response.status_code == 400
    assert message in " ".join(response.json()["fields"][field])


def test_another_customers_connection_and_completions_are_404(
    owner_client, other_client, goal_connection, keap, eager_celery
):
    owners_key = _create_key(owner_client)
    others_key = _create_key(other_client)
    completion = _post(owners_key, goal_connection.pk, BODY).json()

    response = _post(others_key, goal_connection.pk, {**BODY, "idempotency_key": "o-2"})

    assert response.status_code == 404
    assert _poll(others_key, completion["id"]).status_code == 404
    assert GoalCompletion.objects.count() == 1
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_the_same_key_and_body_return_the_same_completion_and_fire_once(
    owner_client, goal_connection, keap, eager_celery
):
    key = _create_key(owner_client)

    first = _post(key, goal_connection.pk, BODY)
    second = _post(key, goal_connection.pk, BODY)

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_an_idempotency_key_reused_with_other_parameters_is_409(
    owner_client, goal_connection, keap, eager_celery
):
    key = _create_key(owner_client)
    _post(key, goal_connection.pk, BODY)

    response = _post(key, goal_connection.pk, {**BODY, "call_name": "cancelled"})

    assert response.status_code == 409
    assert "already used" in response.json()["error"]
    assert GoalCompletion.objects.count() == 1
    assert len(keap.goal_achievements(tenant="ab123")) == 1


def test_only_the_bearer_api_is_csrf_exempt(owner, goal_connection, keap):
    session_client = Client(enforce_csrf_checks=True)
    session_client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")

    form = session_client.post(
        reverse("goals:request", args=[goal_connection.pk]),
        {"contact_id": "5", "call_name": "purchased", "idempotency_key": "csrf-1"},
    )
    api_with_session_only = session_client.post(
        reverse("goals:api_request_goal", args=[goal_connection.pk]),
        json.dumps(BODY),
        content_type="application/json",
    )

    assert form.status_code == 403
    assert api_with_session_only.status_code == 401  # a session cookie is not an API key
    assert not GoalCompletion.objects.exists()
