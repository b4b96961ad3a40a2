"""Server-rendered SVG geometry for the event charts (no chart library, nothing from a CDN)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from webapp.operations.reports import EventBucket

WIDTH, HEIGHT = 720, 120


@dataclass(frozen=True)
class EventBar:
    x: float
    width: float
    throttled_y: float
    throttled_height: float
    errors_y: float
    errors_height: float
    bucket: EventBucket


def event_bars(buckets: list[EventBucket]) -> list[EventBar]:
    """Throttled calls stacked on errors, one bar per bucket, scaled to the tallest bucket."""
    peak = max((b.throttled + b.errors for b in buckets), default=0) or 1
    step = WIDTH / max(len(buckets), 1)
    bars = []
    for i, b in enumerate(buckets):
        errors_h = HEIGHT * b.errors / peak
        throttled_h = HEIGHT * b.throttled / peak
        bars.append(
            EventBar(
                x=round(i * step, 2),
                width=round(max(step - 1, 1), 2),
                errors_y=round(HEIGHT - errors_h, 2),
                errors_height=round(errors_h, 2),
                throttled_y=round(HEIGHT - errors_h - throttled_h, 2),
                throttled_height=round(throttled_h, 2),
                bucket=b,
            )
        )
    return bars


def event_svg(buckets: list[EventBucket], title: str) -> SafeString:
    """The chart as SVG markup (built here rather than in a template loop: it is redrawn on every
    10-second refresh, and a template loop over every bar costs more than the queries behind it)."""
    parts = []
    for bar in event_bars(buckets):
        b = bar.bucket
        tip = f"{b.label}: {b.throttled} throttled ({b.responses_429} answered 429), {b.errors} errors"
        parts.append(f"<g><title>{escape(tip)}</title>")
        # Numbers and fixed class names only below: nothing to escape.
        if bar.throttled_height:
            parts.append(_rect(bar.x, bar.throttled_y, bar.width, bar.throttled_height, "bar"))
        if bar.errors_height:
            parts.append(_rect(bar.x, bar.errors_y, bar.width, bar.errors_height, "bar-errors"))
        parts.append("</g>")
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
        'preserveAspectRatio="none"><title>{}</title>{}</svg>',
        WIDTH, HEIGHT, title, title, mark_safe("".join(parts)),  # noqa: S308 (escaped above)
    )  # fmt: skip


def _rect(x: float, y: float, width: float, height: float, css: str) -> str:
    return f'<rect x="{x:g}" y="{y:g}" width="{width:g}" height="{height:g}" class="{css}"></rect>'
