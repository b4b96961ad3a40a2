"""The one Celery app. Configuration lives in settings under the CELERY_ prefix."""

import functools
import gc
import logging
import os
from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.contrib.django.task import DjangoTask
from celery.signals import worker_process_init
from django.db import transaction

from webapp.observability import tasks as observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

log = logging.getLogger(__name__)


# celery-types makes Task generic in its arguments and result; Celery's own class is not.
if TYPE_CHECKING:
    _Base = DjangoTask[Any, Any]
else:
    _Base = DjangoTask


class Task(_Base):
    """Every Onramp task. Enqueued after commit (delay_on_commit, apply_async_on_commit), a task
    whose broker is down is logged, not raised: the request that queued it has committed its
    row, and each kind of row queued this way has a watchdog that finds it waiting and enqueues
    it again (sync runs, goal completions)."""

    # celery-types says both return an AsyncResult; Celery's own return None (nothing is sent
    # until the transaction commits).
    def apply_async_on_commit(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        transaction.on_commit(functools.partial(self._enqueue_or_log, args, kwargs))

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.apply_async_on_commit(args, kwargs)

    def _enqueue_or_log(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self.apply_async(*args, **kwargs)
        except Exception:  # the broker is down: the watchdog enqueues it later
            log.exception("Could not enqueue %s; its watchdog will", self.name)


app = Celery("onramp", task_cls=Task)
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
