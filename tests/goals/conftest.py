"""Goal fixtures: a connection made through the Keap sandbox, with its goal record wiped clean."""

import uuid

import pytest
from django.urls import reverse


@pytest.fixture
def goal_connection(keap, connect, owner_client):
    """The owner's connection to ab123, made through the sandbox's consent and token exchange."""
    keap.clear_goal_achievements()
    return connect(owner_client, app="ab123")


def goal_form(**overrides) -> dict[str, str]:
    """What the panel's form posts: contact, call name, integration and a fresh key."""
    data = {
        "contact_id": "5",
        "call_name": "purchased",
        "integration": "ab123",
        "idempotency_key": uuid.uuid4().hex,
    }
    data.update({name: str(value) for name, value in overrides.items()})
    return data


def request_url(connection) -> str:
    return reverse("goals:request", args=[connection.pk])


def panel_url(connection) -> str:
    return reverse("goals:panel", args=[connection.pk])


@pytest.fixture
def eager_with_retries(eager_celery):
    """Tasks inline, with retries run inline too (Celery re-applies a retry only without
    propagation, so a task's errors show in what it recorded, not as exceptions here)."""
    eager_celery.conf.task_eager_propagates = False
    return eager_celery
