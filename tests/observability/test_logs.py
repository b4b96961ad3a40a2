"""Request ids on log lines, JSON output, and secrets staying redacted in both formats."""

import io
import json
import logging

import pytest

from webapp.observability.context import REQUEST_ID
from webapp.observability.logs import JsonFormatter, PlainFormatter

pytestmark = pytest.mark.django_db


def _emit(formatter: logging.Formatter, emit) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.observability.emit")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_json_lines_carry_level_logger_message_and_the_request_id():
    token = REQUEST_ID.set("req-42")
    try:
        out = _emit(
            JsonFormatter(), lambda log: log.info("Synced %d contacts", 3, extra={"run": 9})
        )
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(out)
    assert line["level"] == "INFO"
    assert line["logger"] == "tests.observability.emit"
    assert line["message"] == "Synced 3 contacts"
    assert line["request_id"] == "req-42"
    assert line["task_id"] is None
    assert line["run"] == 9
    assert line["time"].endswith("+00:00")


def test_json_output_redacts_secrets_in_message_extras_and_tracebacks():
    def emit(log):
        try:
            raise ValueError("refused refresh_token=RT-SECRET-1")
        except ValueError:
            log.exception(
                "Token response %s",
                '{"access_token": "AT-SECRET-2"}',
                extra={"headers": {"Authorization": "Bearer AT-SECRET-3"}},
            )

    out = _emit(JsonFormatter(), emit)
    for secret in ("RT-SECRET-1", "AT-SECRET-2", "AT-SECRET-3"):
        assert secret not in out
    line = json.loads(out)
    assert "refresh_token=[redacted]" in line["exc_info"]
    assert line["headers"] == {"Authorization": "Bearer [redacted]"}


def test_plain_lines_show_the_request_id_or_a_dash():
    token = REQUEST_ID.set("req-7")
    try:
        with_id = _emit(PlainFormatter(), lambda log: log.warning("code=abc123 rejected"))
    finally:
        REQUEST_ID.reset(token)
    without = _emit(PlainFormatter(), lambda log: log.warning("no request here"))
    assert "WARNING tests.observability.emit [req-7] code=[redacted] rejected" in with_id
    assert "[-] no request here" in without


def test_a_valid_incoming_request_id_is_kept_and_returned(anon_client, caplog):
    with caplog.at_level(logging.DEBUG, logger="webapp.request"):
        response = anon_client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234.abc_DEF:9")
    assert response["X-Request-ID"] == "lb-1234.abc_DEF:9"
    [line] = [r for r in caplog.records if r.name == "webapp.request"]
    assert line.request_id == "lb-1234.abc_DEF:9"
    assert (line.method, line.path, line.status) == ("GET", "/healthz", 200)
    assert line.levelno == logging.DEBUG  # a probe's success


def test_pages_are_logged_at_info_with_status_and_duration(anon_client, caplog):
    with caplog.at_level(logging.INFO, logger="webapp.request"):
        anon_client.get("/no-such-page")
    [line] = [r for r in caplog.records if r.name == "webapp.request"]
    assert line.levelno == logging.INFO
    assert line.getMessage() == "GET /no-such-page 404"
    assert line.duration_ms >= 0


@pytest.mark.parametrize(
    "incoming", ["", "x" * 65, "has space", "semi;colon", "new\nline", "ünïcode", "-leading-dash"]
)
def test_an_unsafe_incoming_request_id_is_replaced(anon_client, incoming):
    response = anon_client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    returned = response["X-Request-ID"]
    assert returned != incoming
    assert len(returned) == 32 and returned.isalnum()


def test_each_request_gets_its_own_id_and_it_is_cleared_afterwards(anon_client):
    first = anon_client.get("/healthz")["X-Request-ID"]
    second = anon_client.get("/healthz")["X-Request-ID"]
    assert first != second
    assert REQUEST_ID.get() is None


def test_django_warnings_for_a_404_carry_the_request_id(anon_client, caplog):
    """django.request logs 4xx after the middleware returns; the id must still be on that line."""
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = anon_client.get("/no-such-page?code=SECRET1", HTTP_X_REQUEST_ID="rid-404")
    assert response.status_code == 404
    [line] = [r for r in caplog.records if r.name == "django.request"]
    assert line.request_id == "rid-404"
    # As JSON, the request object on that line becomes its method and path, without the query.
    out = json.loads(JsonFormatter().format(line))
    assert out["request"] == "GET /no-such-page"
    assert "SECRET1" not in json.dumps(out)


def test_redacting_twice_changes_nothing():
    from webapp.redaction import redact

    once = redact('code=abc&client_secret=s3c {"refresh_token": "rt"} Bearer xyz')
    assert redact(once) == once


def test_one_time_keys_in_links_stay_out_of_the_request_line(anon_client, caplog):
    with caplog.at_level(logging.INFO, logger="webapp.request"):
        anon_client.get("/accounts/password/reset/key/1a-SECRETKEY123/")
        anon_client.get("/accounts/confirm-email/MAILKEY456/")
    lines = [r for r in caplog.records if r.name == "webapp.request"]
    assert len(lines) == 2
    text = " ".join(r.getMessage() + r.path for r in lines)
    assert "SECRETKEY123" not in text and "MAILKEY456" not in text
    assert lines[1].path == "/accounts/confirm-email/(?P<key>[-:\\w]+)/"
