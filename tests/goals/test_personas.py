"""Every goals view, tried by each persona: owner, another customer, staff, anonymous."""

import pytest
from django.urls import reverse

from webapp.goals.models import ApiKey, GoalCompletion

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def completion(connection):
    return GoalCompletion.objects.create(
        connection=connection, contact_id=5, integration="ab123", call_name="purchased",
        idempotency_key="k", status=GoalCompletion.Status.UNCERTAIN, attempts=1,
        error="It may have fired.",
    )  # fmt: skip


@pytest.fixture
def owners_key(owner):
    key, _ = ApiKey.issue(owner=owner, name="owner's system")
    return key


def _connection_views(connection, completion):
    pk = connection.pk
    return [
        ("get", reverse("goals:panel", args=[pk])),
        ("get", reverse("goals:completions", args=[pk])),
        ("post", reverse("goals:request", args=[pk])),
        ("post", reverse("goals:send_again", args=[pk, completion.pk])),
    ]


def test_the_owner_sees_the_panel_page_and_fragments(owner_client, connection, completion):
    page = owner_client.get(reverse("goals:panel", args=[connection.pk]))
    fragment = owner_client.get(reverse("goals:completions", args=[connection.pk]), **HX)

    assert page.status_code == fragment.status_code == 200
    for response in (page, fragment):
        html = response.content.decode()
        assert "Uncertain" in html and "May or may not have fired" in html
        assert "Send again" in html


@pytest.mark.parametrize("client_name", ["other_client", "staff_client"])
def test_other_customers_and_staff_get_404_for_someone_elses_connection(
    request, client_name, connection, completion
):
    client = request.getfixturevalue(client_name)
    for method, url in _connection_views(connection, completion):
        assert getattr(client, method)(url).status_code == 404, url
    completion.refresh_from_db()
    assert completion.status == GoalCompletion.Status.UNCERTAIN  # not sent again


def test_anonymous_visitors_are_sent_to_sign_in(anon_client, connection, completion):
    for method, url in [
        *_connection_views(connection, completion),
        ("get", reverse("goals:api_keys")),
        ("post", reverse("goals:api_keys")),
        ("post", reverse("goals:revoke_api_key", args=[1])),
    ]:
        response = getattr(anon_client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login"))


def test_send_again_needs_a_post(owner_client, connection, completion):
    url = reverse("goals:send_again", args=[connection.pk, completion.pk])

    assert owner_client.get(url).status_code == 405
    completion.refresh_from_db()
    assert completion.status == GoalCompletion.Status.UNCERTAIN


def test_send_again_without_htmx_goes_back_to_the_connection_page_and_queues_it(
    owner_client, connection, completion, django_capture_on_commit_callbacks
):
    url = reverse("goals:send_again", args=[connection.pk, completion.pk])

    with django_capture_on_commit_callbacks() as queued:
        response = owner_client.post(url)

    assert response["Location"] == reverse("connections:detail", args=[connection.pk])
    completion.refresh_from_db()
    assert completion.status == GoalCompletion.Status.QUEUED
    assert len(queued) == 1  # its delivery, enqueued once the transaction commits


@pytest.mark.parametrize("client_name", ["owner_client", "other_client", "staff_client"])
def test_each_customer_sees_and_revokes_only_their_own_api_keys(
    request, client_name, owner, owners_key
):
    client = request.getfixturevalue(client_name)
    listing = client.get(reverse("goals:api_keys")).content.decode()
    revoke = client.post(reverse("goals:revoke_api_key", args=[owners_key.pk]))

    owners_key.refresh_from_db()
    if client_name == "owner_client":
        assert owners_key.shown_prefix in listing
        assert revoke.status_code == 302 and owners_key.revoked_at is not None
    else:
        assert owners_key.shown_prefix not in listing
        assert revoke.status_code == 404 and owners_key.revoked_at is None


@pytest.mark.parametrize(
    "client_name", ["owner_client", "other_client", "staff_client", "anon_client"]
)
def test_the_json_api_takes_only_api_keys_never_a_session(
    request, client_name, connection, completion
):
    client = request.getfixturevalue(client_name)

    post = client.post(
        reverse("goals:api_request_goal", args=[connection.pk]),
        "{}",
        content_type="application/json",
    )
    poll = client.get(reverse("goals:api_completion", args=[completion.pk]))

    assert post.status_code == poll.status_code == 401


def test_staff_see_completions_and_keys_in_the_admin_without_digests(
    staff_client, owner_client, completion, owners_key
):
    listing = staff_client.get(reverse("admin:goals_goalcompletion_changelist"))
    change = staff_client.get(reverse("admin:goals_goalcompletion_change", args=[completion.pk]))
    key_page = staff_client.get(reverse("admin:goals_apikey_change", args=[owners_key.pk]))

    assert listing.status_code == change.status_code == key_page.status_code == 200
    assert "It may have fired." in change.content.decode()
    assert owners_key.shown_prefix in key_page.content.decode()
    assert owners_key.key_digest not in key_page.content.decode()
    assert owner_client.get(reverse("admin:goals_apikey_changelist")).status_code == 302
