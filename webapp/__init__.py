"""Onramp: the web app a Keap marketplace integration runs on."""

from webapp.celery import app as celery_app

__all__ = ("celery_app",)
