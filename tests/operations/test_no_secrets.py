"""No admin page and no staff page renders a token or a client secret, plain or sealed."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialApp
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from tests.conftest import STAFF_TOTP_SECRET
from tests.factories import ConnectionFactory
from tests.operations.conftest import calls, record
from webapp.connections.models import ConnectionEvent
from webapp.goals.models import GoalCompletion
from webapp.keap.models import DeveloperApp
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db

ACCESS = "plain-access-token-7f3a9c"
REFRESH = "plain-refresh-token-2b8e1d"
CLIENT_SECRET = "plain-client-secret-91c4aa"
SOCIAL_SECRET = "plain-social-secret-55d0ee"


@pytest.fixture
def secrets(db, earlier_today, staff):
    app = DeveloperApp(name="Secretive", client_id="secretive-client")
    app.set_client_secret(CLIENT_SECRET)
    app.apply_preset("keap_oauth_today")
    app.save()
    connection = ConnectionFactory(app_name="s3cret", developer_app=app, tokens=(ACCESS, REFRESH))
    ConnectionEvent.objects.create(connection=connection, kind="connected", detail="hello")
    SyncRun.objects.create(connection=connection, kind="initial", status="failed", error="x")
    GoalCompletion.objects.create(
        connection=connection, contact_id=1, integration="s3cret", call_name="purchased",
        idempotency_key="key-1", status="failed", finished_at=timezone.now(),
    )  # fmt: skip
    SocialApp.objects.create(
        provider="keap", name="Keap", client_id="social-id", secret=SOCIAL_SECRET
    )
    record(calls(3, app=app.client_id, tenant="s3cret", connection_id=connection.pk, at=earlier_today,
                 quota={"app_day": {"limit": 150000, "used": 3}}))  # fmt: skip
    connection.refresh_from_db()
    app.refresh_from_db()
    sealed = [connection.access_token_sealed, connection.refresh_token_sealed,
              app.client_secret_sealed]  # fmt: skip
    assert all(sealed)
    # Staff's authenticator app and recovery codes, sealed as stored and as their owner sees them.
    two_factor = [STAFF_TOTP_SECRET]
    for authenticator in Authenticator.objects.filter(user=staff):
        two_factor += [value for value in authenticator.data.values() if isinstance(value, str)]
        if authenticator.type == Authenticator.Type.RECOVERY_CODES:
            two_factor += authenticator.wrap().get_unused_codes()
    assert len(two_factor) > 3
    return [ACCESS, REFRESH, CLIENT_SECRET, SOCIAL_SECRET, *sealed, *two_factor]


def _admin_pages() -> list[str]:
    """Every registered ModelAdmin's changelist and add view; the change, history and delete
    confirmation views of each of its objects."""
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        base = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls += [reverse(f"{base}_changelist"), reverse(f"{base}_add")]
        for pk in model._default_manager.values_list("pk", flat=True)[:20]:
            urls += [
                reverse(f"{base}_{view}", args=[pk]) for view in ("change", "history", "delete")
            ]
    return urls


def _assert_clean(body: str, secrets: list[str], url: str) -> None:
    for secret in secrets:
        assert secret not in body, f"{url} shows a secret"


def test_no_admin_page_renders_a_token_or_client_secret(staff_client, secrets):
    seen = 0
    for url in _admin_pages():
        response = staff_client.get(url)
        assert response.status_code in (200, 302, 403), url
        if response.status_code == 200:
            seen += 1
            _assert_clean(response.content.decode(), secrets, url)
    # The walk really saw the pages that hold the secrets' rows.
    assert seen >= 2 * len(admin.site._registry)


def test_connection_and_developer_app_change_pages_render_without_their_secrets(
    staff_client, secrets
):
    from webapp.connections.models import KeapConnection

    connection = KeapConnection.objects.get(app_name="s3cret")
    app = DeveloperApp.objects.get(client_id="secretive-client")
    for url, marker in (
        (reverse("admin:connections_keapconnection_change", args=[connection.pk]), "s3cret"),
        (reverse("admin:keap_developerapp_change", args=[app.pk]), "secretive-client"),
        (reverse("admin:socialaccount_socialapp_change", args=[SocialApp.objects.get().pk]),
         "social-id"),
    ):  # fmt: skip
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert marker in response.content.decode(), url
        _assert_clean(response.content.decode(), secrets, url)


def test_no_staff_page_renders_a_token_or_client_secret(staff_client, secrets):
    for url, headers in (
        (reverse("operations:index"), {}),
        (reverse("operations:apps"), {"HTTP_HX_REQUEST": "true"}),
        (reverse("operations:work"), {"HTTP_HX_REQUEST": "true"}),
        (reverse("operations:usage_csv"), {}),
    ):
        response = staff_client.get(url, **headers)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "s3cret" in body, url  # the seeded connection's data is on it
        _assert_clean(body, secrets, url)
