"""Every connection view, tried by each persona: owner, another customer, staff, anonymous."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from tests.factories import ConnectionFactory
from webapp.connections.models import ConnectionEvent, KeapConnection

pytestmark = pytest.mark.django_db


def _login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize(
    ("method", "name", "needs_pk"),
    [
        ("get", "connections:dashboard", False),
        ("post", "connections:start", False),
        ("get", "connections:callback", False),
        ("get", "connections:detail", True),
        ("get", "connections:disconnect", True),
        ("post", "connections:disconnect", True),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(anon_client, connection, method, name, needs_pk):
    url = reverse(name, args=[connection.pk] if needs_pk else [])
    response = getattr(anon_client, method)(url)
    assert _login_redirect(response)
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE


def test_landing_page_invites_anonymous_visitors_and_forwards_customers(anon_client, owner_client):
    page = anon_client.get(reverse("pages:landing"))
    assert page.status_code == 200
    assert b"Create an account" in page.content
    assert owner_client.get(reverse("pages:landing"))["Location"] == reverse(
        "connections:dashboard"
    )


def test_owner_sees_their_connection_on_the_dashboard(owner_client, connection):
    page = owner_client.get(reverse("connections:dashboard"))
    assert page.status_code == 200
    assert b"ab123" in page.content
    assert b"Acme Bakery" in page.content
    assert b"Connect Keap account" in page.content


def test_another_customer_sees_none_of_it(other_client, connection):
    page = other_client.get(reverse("connections:dashboard"))
    assert page.status_code == 200
    assert b"ab123" not in page.content
    assert b"No Keap account connected yet" in page.content


@pytest.mark.parametrize("client_name", ["other_client", "staff_client"])
@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "connections:detail"),
        ("get", "connections:disconnect"),
        ("post", "connections:disconnect"),
    ],
)
def test_someone_elses_connection_answers_404(request, connection, client_name, method, name):
    client = request.getfixturevalue(client_name)
    response = getattr(client, method)(reverse(name, args=[connection.pk]))
    assert response.status_code == 404
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.ACTIVE
    assert connection.has_tokens


def test_owner_sees_detail_without_any_token(owner_client, connection):
    page = owner_client.get(reverse("connections:detail", args=[connection.pk]))
    assert page.status_code == 200
    assert b"Acme Bakery" in page.content
    assert b"factory-access-token" not in page.content
    assert b"factory-refresh-token" not in page.content


def test_disconnect_asks_first_then_deletes_the_tokens(owner_client, owner, connection):
    confirm = owner_client.get(reverse("connections:disconnect", args=[connection.pk]))
    assert confirm.status_code == 200
    assert b"Disconnect Keap app ab123?" in confirm.content
    connection.refresh_from_db()
    assert connection.has_tokens  # a GET changes nothing

    response = owner_client.post(reverse("connections:disconnect", args=[connection.pk]))
    assert response["Location"] == reverse("connections:dashboard")
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.DISCONNECTED
    assert connection.access_token_sealed == "" and connection.refresh_token_sealed == ""
    event = connection.events.get()
    assert event.kind == ConnectionEvent.Kind.DISCONNECTED and event.actor == owner
    page = owner_client.get(reverse("connections:dashboard"))
    assert b"Disconnected Keap app ab123" in page.content


def test_start_sends_the_owner_to_keap_with_state_and_pkce(owner_client, settings):
    response = owner_client.post(reverse("connections:start"))
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == settings.KEAP_AUTHORIZE_URL
    query = parse_qs(url.query)
    assert query["client_id"] == [settings.KEAP_CLIENT_ID]
    assert query["redirect_uri"] == [settings.KEAP_REDIRECT_URI]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["full"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["state"][0]) >= 20
    assert query["state"][0] in owner_client.session["keap_oauth_pending"]


def test_start_only_accepts_post(owner_client):
    assert owner_client.get(reverse("connections:start")).status_code == 405


def test_staff_use_the_admin_and_customers_cannot(
    staff_client, owner_client, anon_client, connection
):
    assert staff_client.get(reverse("admin:index")).status_code == 200
    change = staff_client.get(
        reverse("admin:connections_keapconnection_change", args=[connection.pk])
    )
    assert change.status_code == 200
    assert b"Acme Bakery" in change.content
    assert b"enc1:" not in change.content and b"factory-access-token" not in change.content
    for client in (owner_client, anon_client):
        response = client.get(reverse("admin:index"))
        assert response.status_code == 302
        assert "login" in response["Location"]


def test_sign_in_with_a_foreign_next_lands_on_the_dashboard(anon_client, owner, password):
    response = anon_client.post(
        reverse("account_login") + "?next=https://evil.example/steal",
        {"login": owner.email, "password": password, "next": "https://evil.example/steal"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("connections:dashboard")


def test_disconnect_can_also_delete_the_synced_contacts(owner_client, connection):
    from webapp.sync.models import Contact

    Contact.objects.create(
        connection=connection, keap_id=1, given_name="Ada", email="ada@example.com"
    )
    Contact.objects.create(connection=connection, keap_id=2, given_name="Bo")
    keep = ConnectionFactory(owner=connection.owner, app_name="cd456")
    Contact.objects.create(connection=keep, keap_id=1, given_name="Kept")

    response = owner_client.post(
        reverse("connections:disconnect", args=[connection.pk]), {"delete_data": "yes"}
    )

    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == KeapConnection.Status.DISCONNECTED and not connection.has_tokens
    assert not Contact.objects.filter(connection=connection).exists()
    assert Contact.objects.filter(connection=keep).count() == 1
    assert connection.events.get().detail == "Deleted 2 synced contacts."
    page = owner_client.get(reverse("connections:dashboard")).content.decode()
    assert "Its tokens and 2 synced contacts are deleted." in page


def test_plain_disconnect_keeps_the_synced_contacts(owner_client, connection):
    from webapp.sync.models import Contact

    Contact.objects.create(connection=connection, keap_id=1, given_name="Ada")
    owner_client.post(
        reverse("connections:disconnect", args=[connection.pk]), {"delete_data": "no"}
    )
    assert Contact.objects.filter(connection=connection).count() == 1
