"""Callouts: `{% load capabilities %}{% capability_callout "campaign_builder" %}`.

`capabilities/_callout.html` can also be included directly,
`{% include "capabilities/_callout.html" with slug="campaign_builder" %}`: it looks its note up
with `capability_note`. An unknown slug raises, so a typo fails the page's tests, not silently.
"""

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

from webapp.capabilities import limits, notes

register = template.Library()


@register.simple_tag
def capability_note(slug: str) -> notes.Note:
    """The note for `slug`, for `{% capability_note slug as note %}`."""
    return notes.get(slug)


@register.simple_tag
def capability_limits() -> limits.AppLimits:
    """This developer app's limits and today's calls, for `{% capability_limits as limits %}`."""
    return limits.current()


@register.inclusion_tag("capabilities/_callout.html")
def capability_callout(slug: str) -> dict[str, object]:
    """A one-line note with its status badge and a link to the full note."""
    notes.get(slug)  # raise now, with the known slugs, rather than inside the partial
    return {"slug": slug}


@register.filter
def limit_value(value: int | None) -> str:
    """A limit as people read it: "150,000", "no limit" (None), or "0 (calls stopped)"."""
    if value is None:
        return "no limit"
    if value == 0:
        return "0 (calls stopped)"
    return intcomma(value)
