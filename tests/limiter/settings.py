"""Kept for the limiter's own runs with --ds; webapp.limiter is in INSTALLED_APPS now."""

from webapp.settings import *  # noqa: F403
