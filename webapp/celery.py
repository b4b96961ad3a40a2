"""The one Celery app. Configuration lives in settings under the CELERY_ prefix."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

from webapp.observability import tasks as observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("onramp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Request ids travel with tasks; workers and beat log as the web process does.
observability.connect()


@worker_process_init.connect
def freeze_startup_objects(**_: object) -> None:
    """Leave what a worker process holds once started (Django, the app, their modules) out of
    every later garbage collection. A sync page's thousand contacts live long enough to reach
    the oldest generation, so its full collections come often, and each walked all of that
    again: about 80 ms apiece, 0.9 s of a 100,000-contact sync (bench/sync.py)."""
    gc.collect()
    gc.freeze()
