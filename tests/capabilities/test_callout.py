"""Callouts: one line with a status badge and a link to the full note, looked up by slug."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from tests.capabilities.conftest import add_usage
from webapp.capabilities import notes


def render(source: str, **context: object) -> str:
    return Template(source).render(Context(context))


@pytest.mark.parametrize("slug", ["campaign_builder", "email_history", "refunds"])
def test_callout_tag_renders_status_and_link(db, slug):
    note = notes.get(slug)
    out = render("{% load capabilities %}{% capability_callout slug %}", slug=slug)
    assert f'data-capability="{slug}"' in out
    assert f'class="status cap-status-{note.status.value}"' in out
    assert note.status.label in out
    assert f'href="/capabilities/{slug}/"' in out
    assert note.short.replace("'", "&#x27;") in out


def test_callout_tag_takes_a_literal_slug(db):
    out = render('{% load capabilities %}{% capability_callout "campaign_builder" %}')
    assert 'href="/capabilities/campaign_builder/"' in out
    assert "cap-status-partial" in out


def test_include_with_slug_renders_the_same_callout(db):
    out = render('{% include "capabilities/_callout.html" with slug="email_history" %}')
    assert 'data-capability="email_history"' in out
    assert "cap-status-partial" in out
    assert 'href="/capabilities/email_history/"' in out


def test_include_does_not_leak_note_into_the_page(db):
    out = render(
        '{% include "capabilities/_callout.html" with slug="refunds" %}[{{ note }}]', note="mine"
    )
    assert out.endswith("[mine]")


def test_throttling_callout_shows_todays_calls_against_the_daily_limit(developer_app):
    developer_app.limit_per_day = 20_000
    developer_app.save()
    add_usage(developer_app.client_id, 1_234)
    out = render('{% load capabilities %}{% capability_callout "throttling" %}')
    assert "Today: 1,234 of 20,000 calls." in out
    assert "cap-status-available" in out


def test_unknown_slug_fails_loudly(db):
    with pytest.raises(KeyError, match="campaign_builder"):
        render('{% load capabilities %}{% capability_callout "campaign-builder" %}')


def test_throttling_callout_on_a_quiet_day_reads_zero(developer_app):
    out = render('{% load capabilities %}{% capability_callout "throttling" %}')
    assert "Today: 0 of 150,000 calls." in out
