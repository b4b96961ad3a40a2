"""The notes page, one page per note, and the JSON endpoint: public, searchable, live limits."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from tests.capabilities.conftest import add_usage
from tests.capabilities.faq import normalize, sentences, word_runs
from webapp.capabilities import notes

INDEX = "/capabilities/"
API = "/capabilities/api/notes"
HX = {"HTTP_HX_REQUEST": "true"}


def visible_text(response) -> str:
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_urls_are_where_the_issue_says():
    assert reverse("capabilities:index") == INDEX
    assert reverse("capabilities:api_notes") == API
    assert reverse("capabilities:detail", args=["refunds"]) == "/capabilities/refunds/"


def test_every_persona_can_read_the_page_with_every_note(any_client, db):
    response = any_client.get(INDEX)
    assert response.status_code == 200
    page = response.content.decode()
    for note in notes.NOTES:
        assert f'id="{note.slug}"' in page
        assert f'href="#{note.slug}"' in page
        assert f'class="status cap-status-{note.status.value}"' in page
        assert html.escape(note.title) in page
        for source in note.sources:
            assert f'href="{source.url}"' in page


def test_every_persona_can_read_each_note_on_its_own_page(any_client, db):
    for note in notes.NOTES:
        response = any_client.get(reverse("capabilities:detail", args=[note.slug]))
        assert response.status_code == 200
        text = visible_text(response)
        assert note.title in text and note.status.label in text
        assert html.unescape(html.escape(note.onramp)) in text


def test_unknown_note_is_404(anon_client, db):
    assert anon_client.get("/capabilities/no-such-note/").status_code == 404


def test_every_persona_gets_every_note_as_json(any_client, db):
    response = any_client.get(API)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert data["count"] == len(notes.NOTES)
    by_slug = {item["slug"]: item for item in data["notes"]}
    assert set(by_slug) == {note.slug for note in notes.NOTES}
    refunds = by_slug["refunds"]
    assert refunds["status"] == "unavailable"
    assert refunds["title"] and refunds["answer"] and refunds["details"]
    assert refunds["sources"][0] == {
        "title": "Keap API FAQ: refunding an order",
        "url": "https://developer.infusionsoft.com/faqs/",
    }
    assert refunds["url"] == "http://testserver/capabilities/refunds/"
    assert "limits" not in refunds
    assert by_slug["throttling"]["limits"]["per_day"] == 150_000


def test_views_only_answer_get(anon_client, db):
    assert anon_client.post(INDEX).status_code == 405
    assert anon_client.post(API).status_code == 405


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_search_keeps_only_matching_notes(anon_client, db, headers):
    response = anon_client.get(INDEX, {"q": "Refund"}, **headers)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="refunds"' in page
    assert 'id="campaign_builder"' not in page and 'id="throttling"' not in page
    assert "1 of 8 notes match" in page


def test_htmx_search_returns_only_the_results_fragment(anon_client, db):
    page = anon_client.get(INDEX, {"q": "sequence"}, **HX).content.decode()
    assert page.lstrip().startswith('<div id="results"')
    assert "<html" not in page and 'name="q"' not in page
    assert 'id="campaign_builder"' in page


def test_plain_search_renders_the_whole_page_with_the_query_kept(anon_client, db):
    page = anon_client.get(INDEX, {"q": "sequence"}).content.decode()
    assert "<html" in page
    assert 'name="q" value="sequence"' in page
    assert 'hx-trigger="keyup changed delay:300ms, search"' in page
    assert f'hx-get="{INDEX}"' in page


def test_htmx_history_restore_gets_the_whole_page(anon_client, db):
    page = anon_client.get(
        INDEX, {"q": "sequence"}, HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX
    ).content.decode()
    assert "<html" in page


def test_search_with_no_match_says_so(anon_client, db):
    page = anon_client.get(INDEX, {"q": "teleport"}).content.decode()
    assert "No note matches" in page
    assert 'class="card cap-note"' not in page


def test_json_search_filters_too(anon_client, db):
    data = anon_client.get(API, {"q": "OUTLOOK"}).json()
    assert [item["slug"] for item in data["notes"]] == ["email_history"]
    assert data["query"] == "OUTLOOK"


def test_throttling_shows_this_apps_limits_and_todays_calls(anon_client, developer_app):
    developer_app.limit_per_second = 7
    developer_app.limit_per_minute = 654
    developer_app.limit_per_day = 123_457
    developer_app.tenant_limit_per_minute = None
    developer_app.tenant_limit_per_day = 98_765
    developer_app.save()
    add_usage(developer_app.client_id, 4_000)
    add_usage(developer_app.client_id, 321, tenant="cd456")
    add_usage(developer_app.client_id, 99_999, days_ago=1)  # yesterday: not today
    add_usage("another-developer-app", 55_555)  # another app's budget

    text = " ".join(visible_text(anon_client.get("/capabilities/throttling/")).split())

    assert "Calls today (UTC) 4,321 of 123,457 (4%)" in text
    assert "Per second, all customers 7" in text
    assert "Per minute, all customers 654" in text
    assert "Per day, all customers 123,457" in text
    assert "Per minute, each Keap app no limit" in text
    assert "Per day, each Keap app 98,765" in text

    limits = anon_client.get(API, {"q": "throttling"}).json()["notes"][0]["limits"]
    assert limits["calls_today"] == 4_321
    assert limits["per_day"] == 123_457
    assert limits["left_today"] == 123_457 - 4_321
    assert limits["tenant_per_minute"] is None


def test_index_shows_the_live_limits_too(anon_client, developer_app):
    developer_app.apply_preset("legacy_faq")
    developer_app.save()
    add_usage(developer_app.client_id, 1_250)
    text = " ".join(visible_text(anon_client.get(INDEX)).split())
    assert "Calls today (UTC) 1,250 of 125,000 (1%)" in text


@pytest.mark.parametrize("path", [INDEX, "/capabilities/throttling/", API])
def test_rendered_text_does_not_copy_the_faq(anon_client, db, path):
    response = anon_client.get(path)
    text = normalize(visible_text(response) if path != API else response.content.decode())
    for sentence in sentences():
        assert sentence not in text
    assert not word_runs(text, 8) & word_runs("\n".join(sentences()), 8)


def test_a_day_without_calls_reads_zero_not_stopped(anon_client, developer_app):
    text = " ".join(visible_text(anon_client.get("/capabilities/throttling/")).split())
    assert "Calls today (UTC) 0 of 150,000 (0%)" in text


def test_a_zero_limit_reads_as_calls_stopped(anon_client, developer_app):
    developer_app.limit_per_minute = 0
    developer_app.save()
    text = " ".join(visible_text(anon_client.get("/capabilities/throttling/")).split())
    assert "Per minute, all customers 0 (calls stopped)" in text
