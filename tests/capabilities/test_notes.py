"""The notes as data: they cover Keap's FAQ, each with a status and sources, and search works."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.capabilities.faq import FAQ_ITEMS, sentences, word_runs
from webapp.capabilities import notes
from webapp.capabilities.notes import Status

EXPECTED_STATUS = {
    "refunds": Status.UNAVAILABLE,
    "email_history": Status.PARTIAL,
    "campaign_builder": Status.PARTIAL,
    "throttling": Status.AVAILABLE,
    "oauth_api_keys": Status.AVAILABLE,
    "sandbox_accounts": Status.AVAILABLE,
    "sync_tokens": Status.PARTIAL,
}


def _text(note: notes.Note) -> str:
    return " ".join(
        (note.title, note.question, note.answer, note.short, *note.details, note.onramp)
    )


@pytest.mark.parametrize(("faq_question", "slug"), FAQ_ITEMS.items())
def test_every_faq_item_has_a_note_with_status_and_source(faq_question, slug):
    note = notes.get(slug)
    assert note.status in Status
    assert note.answer and note.details and note.onramp and note.short
    assert note.sources, f"{slug} ({faq_question}) cites nothing"
    for source in note.sources:
        assert source.title
        assert urlparse(source.url).scheme == "https"
        assert urlparse(source.url).netloc


@pytest.mark.parametrize(("slug", "status"), EXPECTED_STATUS.items())
def test_each_topic_has_the_status_keap_allows(slug, status):
    assert notes.get(slug).status is status


def test_notes_cite_keaps_faq_and_specs():
    urls = {source.url for note in notes.NOTES for source in note.sources}
    assert "https://developer.infusionsoft.com/faqs/" in urls
    assert "https://crm.infusionsoft.com/app/v3/api-docs/V1" in urls
    assert "https://developer.infusionsoft.com/api-token-quota-and-usage-measurements/" in urls
    assert "https://community.keap.com/t/apigee-migration-update/74173" in urls


def test_slugs_are_unique_and_usable_as_anchors():
    slugs = [note.slug for note in notes.NOTES]
    assert len(slugs) == len(set(slugs))
    assert all(slug.replace("_", "").isalnum() and slug.islower() for slug in slugs)


def test_notes_state_the_facts_the_issue_asks_for():
    assert "/v1/emails" in _text(notes.get("email_history"))
    assert "/v2/emails" in _text(notes.get("email_history"))
    assert "saved searches" in _text(notes.get("email_history"))
    assert "sequence" in _text(notes.get("campaign_builder"))
    assert "X-Keap-API-Key" in _text(notes.get("oauth_api_keys"))
    assert "marketplace" in _text(notes.get("oauth_api_keys"))
    throttling = _text(notes.get("throttling"))
    assert "125,000" in throttling and "out of date" in throttling
    assert "150,000" in throttling and "1,500" in throttling
    assert "simulator" in _text(notes.get("sandbox_accounts"))
    assert "last-updated" in _text(notes.get("sync_tokens"))
    assert notes.get("throttling").shows_limits


def test_no_note_copies_a_sentence_of_the_faq():
    own_words = " ".join(_text(note) for note in notes.NOTES)
    from tests.capabilities.faq import normalize

    for sentence in sentences():
        assert sentence not in normalize(own_words)


def test_no_note_shares_eight_words_in_a_row_with_the_faq():
    from tests.capabilities.faq import FAQ_TEXT

    faq_runs = word_runs(FAQ_TEXT, 8)
    for note in notes.NOTES:
        shared = word_runs(_text(note), 8) & faq_runs
        assert not shared, f"{note.slug} echoes the FAQ: {[' '.join(r) for r in shared]}"


def test_search_is_case_insensitive_and_needs_every_word():
    assert [n.slug for n in notes.search("REFUND")] == ["refunds"]
    assert "campaign_builder" in [n.slug for n in notes.search("sequence goal")]
    assert notes.search("refund sequence") == []
    assert notes.search("") == list(notes.NOTES)


def test_search_reads_question_and_details_too():
    assert [n.slug for n in notes.search("pasting")] == ["oauth_api_keys"]  # question
    assert "email_history" in [n.slug for n in notes.search("Outlook")]  # details


def test_unknown_slug_names_the_known_ones():
    with pytest.raises(KeyError, match="campaign_builder"):
        notes.get("campaign-builder")
