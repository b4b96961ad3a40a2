"""The one Celery app. Configuration lives in settings under the CELERY_ prefix."""

import os

from celery import Celery

from webapp.observability import tasks as observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("onramp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Request ids travel with tasks; workers and beat log as the web process does.
observability.connect()
