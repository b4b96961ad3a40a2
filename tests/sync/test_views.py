"""The sync panel's views: each persona, with and without htmx."""

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import ConnectionFactory
from webapp.sync.models import Contact, SyncRun
from webapp.sync.views import panel_context

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def contacts(connection):
    names = [("Ada", "Lovelace"), ("Zoë", "Ødegaard"), ("Grace", "Hopper")]
    rows = [
        Contact(connection=connection, keap_id=i, given_name=g, family_name=f"{f}{i}",
                email=f"{g.lower()}{i}@example.com",
                search_text=f"{g} {f}{i} {g.lower()}{i}@example.com".casefold())
        for i, (g, f) in enumerate(names * 20, start=1)
    ]  # fmt: skip
    return Contact.objects.bulk_create(rows)


@pytest.fixture
def running(connection):
    return SyncRun.objects.create(
        connection=connection, kind="initial", status="running", fetched=40, total_estimate=160
    )


def _urls(connection, run):
    return {
        "progress": ("get", reverse("sync:progress", args=[connection.pk])),
        "contacts": ("get", reverse("sync:contacts", args=[connection.pk])),
        "run": ("post", reverse("sync:run", args=[connection.pk])),
        "cancel": ("post", reverse("sync:cancel", args=[connection.pk, run.pk])),
    }


@pytest.mark.parametrize("name", ["progress", "contacts", "run", "cancel"])
def test_other_customers_and_staff_get_404_and_anonymous_is_sent_to_sign_in(
    name, connection, running, other_client, staff_client, anon_client
):
    method, url = _urls(connection, running)[name]
    assert getattr(other_client, method)(url).status_code == 404
    assert getattr(staff_client, method)(url, **HTMX).status_code == 404
    response = getattr(anon_client, method)(url)
    assert response.status_code == 302 and "/accounts/login" in response["Location"]
    assert SyncRun.objects.get(pk=running.pk).cancel_requested is False
    assert SyncRun.objects.count() == 1


def test_progress_polls_while_a_run_is_active_and_stops_when_it_ends(
    owner_client, connection, running
):
    url = reverse("sync:progress", args=[connection.pk])
    page = owner_client.get(url, {"run": running.pk}, **HTMX)
    html = page.content.decode()
    assert page.status_code == 200 and 'hx-trigger="every 1s"' in html
    assert (
        'value="25"' in html and "40 contacts read of about 160" in html and "Cancel sync" in html
    )
    assert "HX-Trigger" not in page

    SyncRun.objects.filter(pk=running.pk).update(status="succeeded", created=160)
    done = owner_client.get(url, {"run": running.pk}, **HTMX)
    html = done.content.decode()
    assert "every 1s" not in html and "Sync now" in html and "Succeeded" in html
    assert "sync-finished" in done["HX-Trigger"]  # the contacts table reloads itself


def test_progress_without_htmx_is_the_connection_page(owner_client, connection):
    response = owner_client.get(reverse("sync:progress", args=[connection.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("connections:detail", args=[connection.pk]) + "#sync"


def test_sync_now_starts_one_run_and_answers_htmx_with_the_fragment(
    owner_client, connection, django_capture_on_commit_callbacks
):
    url = reverse("sync:run", args=[connection.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        plain = owner_client.post(url)
    assert plain.status_code == 302 and plain["Location"].endswith("#sync")
    assert len(callbacks) == 1  # the task is sent once the run is committed
    run = SyncRun.objects.get(connection=connection)
    assert run.kind == "initial" and run.status == "queued"  # never synced: a full one

    htmx = owner_client.post(url, **HTMX)
    assert htmx.status_code == 200 and 'id="sync-progress"' in htmx.content.decode()
    assert "every 1s" in htmx.content.decode()
    assert SyncRun.objects.filter(connection=connection).count() == 1  # still one


def test_sync_now_is_a_get_free_zone(owner_client, connection):
    assert owner_client.get(reverse("sync:run", args=[connection.pk])).status_code == 405


def test_cancel_with_and_without_htmx(owner_client, connection, running):
    url = reverse("sync:cancel", args=[connection.pk, running.pk])
    response = owner_client.post(url, **HTMX)
    assert response.status_code == 200 and "stopping" in response.content.decode()
    assert SyncRun.objects.get(pk=running.pk).cancel_requested
    SyncRun.objects.filter(pk=running.pk).update(status="queued", cancel_requested=False)
    assert owner_client.post(url).status_code == 302
    assert SyncRun.objects.get(pk=running.pk).status == "cancelled"


def test_cancel_refuses_another_connections_run(owner_client, connection, owner):
    mine_too = ConnectionFactory(owner=owner)
    run = SyncRun.objects.create(connection=mine_too, kind="initial")
    url = reverse("sync:cancel", args=[connection.pk, run.pk])
    assert owner_client.post(url).status_code == 404
    assert SyncRun.objects.get(pk=run.pk).status == "queued"


def test_contacts_are_searched_and_paged(owner_client, connection, contacts):
    url = reverse("sync:contacts", args=[connection.pk])
    first = owner_client.get(url, **HTMX).content.decode()
    assert "Page 1 of 3 (60 contacts)" in first and "Next" in first
    found = owner_client.get(url, {"q": "ZOË"}, **HTMX).content.decode()
    assert found.count("@example.com") == 20 and "Lovelace" not in found and "Ødegaard" in found
    assert owner_client.get(url, {"q": "zoë 59"}, **HTMX).content.decode().count("<tr>") == 1 + 1
    second = owner_client.get(url, {"page": "2"}, **HTMX).content.decode()
    assert "Page 2 of 3" in second
    assert "No contacts match" in owner_client.get(url, {"q": "x" * 500}, **HTMX).content.decode()


def test_contacts_without_htmx_go_to_the_connection_page_with_the_search(owner_client, connection):
    response = owner_client.get(reverse("sync:contacts", args=[connection.pk]), {"q": "ada"})
    assert response["Location"] == (
        reverse("connections:detail", args=[connection.pk]) + "?q=ada#sync"
    )


def test_the_panel_renders_inside_the_connection_page(owner, connection, contacts, running):
    request = RequestFactory().get("/connections/1/", {"q": "grace", "page": "1"})
    request.user = owner
    html = render_to_string("sync/_panel.html", panel_context(request, connection), request)
    assert 'id="sync-progress"' in html and 'id="sync-contacts"' in html
    assert "Hopper" in html and "Lovelace" not in html
    assert f'action="/sync/connections/{connection.pk}/runs/{running.pk}/cancel"' in html
