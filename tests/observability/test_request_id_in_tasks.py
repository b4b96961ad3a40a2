"""A request's id reaches the lines a real Celery worker logs for the tasks that request enqueued."""

import json
import logging
import time

import pytest
from django.urls import reverse

from tests.conftest import child_env
from tests.workers.celery_worker import CeleryWorker

pytestmark = pytest.mark.django_db(transaction=True)


def _json_lines(path) -> list[dict]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue  # Celery's start-up banner is printed, not logged
    return lines


def _wait_for_line(worker: CeleryWorker, predicate, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in _json_lines(worker.log_path):
            if predicate(line):
                return line
        time.sleep(0.2)
    raise AssertionError(f"no such worker log line within {timeout}s:\n{worker.log_tail()}")


def test_the_connect_request_and_the_sync_it_enqueued_log_the_same_request_id(
    keap, settings, owner_client, tmp_path, caplog
):
    env = {**child_env(settings), "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    worker = CeleryWorker(env, tmp_path / "worker.log").start()
    try:
        start = owner_client.post(reverse("connections:start"))
        params = keap.consent(start["Location"], app="ab123", email="alex@sandbox.keap.test")
        with caplog.at_level(logging.INFO):
            response = owner_client.get(
                reverse("connections:callback"), params, HTTP_X_REQUEST_ID="connect-rid-1"
            )
        assert response.status_code == 302
        assert response["X-Request-ID"] == "connect-rid-1"

        # In the web process: the flow's own line and the request line carry the id.
        web_lines = [r for r in caplog.records if r.request_id == "connect-rid-1"]
        assert any(
            "Connection" in r.getMessage() and "created" in r.getMessage() for r in web_lines
        )
        assert any(r.name == "webapp.request" for r in web_lines)

        # In the worker: the initial sync's lines, as JSON, carry the same id and name the task.
        done = _wait_for_line(
            worker, lambda line: "succeeded" in line["message"] and "Sync run" in line["message"]
        )
        assert done["request_id"] == "connect-rid-1"
        assert done["task_name"] == "webapp.sync.tasks.run_sync"
        assert done["task_id"]
        # Lines logged outside any task (the worker starting up) carry no request id.
        ready = _wait_for_line(worker, lambda line: line["message"].endswith(" ready."))
        assert ready["request_id"] is None
    finally:
        worker.stop()


def test_a_task_enqueued_outside_a_request_carries_no_request_id(settings, connection, tmp_path):
    from webapp.connections.tasks import keep_alive

    env = {**child_env(settings), "LOG_FORMAT": "plain", "LOG_LEVEL": "INFO"}
    worker = CeleryWorker(env, tmp_path / "worker.log").start()
    try:
        keep_alive.delay()
        deadline = time.monotonic() + 30
        while "Keep-alive queued" not in worker.log_tail() and time.monotonic() < deadline:
            time.sleep(0.2)
        # Plain lines: "<time> <level> <logger> [<request id>] <message>".
        [line] = [row for row in worker.log_tail().splitlines() if "Keep-alive queued" in row]
        assert "INFO webapp.connections.tasks [-] Keep-alive queued 0 refreshes" in line
    finally:
        worker.stop()


def test_an_eager_task_logs_with_its_callers_request_id_and_gives_it_back(eager_celery, caplog):
    from webapp.connections.tasks import keep_alive
    from webapp.observability.context import REQUEST_ID, TASK_ID

    token = REQUEST_ID.set("caller-rid")
    try:
        with caplog.at_level(logging.INFO, logger="webapp.connections.tasks"):
            keep_alive.delay()
        [line] = [r for r in caplog.records if "Keep-alive queued" in r.getMessage()]
        assert line.request_id == "caller-rid"
        assert line.task_name == "webapp.connections.tasks.keep_alive"
        # After the task: the caller's id is still set, and no task is.
        assert REQUEST_ID.get() == "caller-rid"
        assert TASK_ID.get() is None
    finally:
        REQUEST_ID.reset(token)
