import logging

from webapp.redaction import REDACTED, redact


def test_form_json_and_header_secrets_are_redacted():
    text = (
        "body grant_type=authorization_code&code=C0DE&code_verifier=V3R&client_secret=S3C "
        '{"access_token": "AT1", "refresh_token":"RT1"} '
        "{'Authorization': 'Bearer AT2', 'X-Keap-API-Key': 'KeapAK-1'} Basic dXNlcjpwYXNz"
    )
    cleaned = redact(text)
    for secret in ("C0DE", "V3R", "S3C", "AT1", "RT1", "AT2", "KeapAK-1", "dXNlcjpwYXNz"):
        assert secret not in cleaned
    assert cleaned.count(REDACTED) == 8


def test_harmless_words_survive():
    assert redact("status_code=200 token_type=bearer expires_in=86400") == (
        "status_code=200 token_type=bearer expires_in=86400"
    )


def test_every_log_record_is_redacted_at_creation(caplog):
    logger = logging.getLogger("some.library")
    with caplog.at_level(logging.DEBUG):
        logger.debug("Request body was %s", "code=abc123&client_secret=topsecret")
    assert "abc123" not in caplog.text
    assert "topsecret" not in caplog.text
    assert "code=[redacted]" in caplog.text
