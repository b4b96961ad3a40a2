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


def test_every_oauth_parameter_of_a_callback_or_authorization_url_is_redacted():
    line = (
        '"GET /connections/keap/callback?code=C0DE&scope=full%7Cab123.infusionsoft.com'
        '&state=ST4TE HTTP/1.1" 302 '
        "https://keap.test/app/oauth/authorize?response_type=code&client_id=cid"
        "&state=ST8&code_challenge=CH4LL&code_challenge_method=S256 "
        '{"state": "JS0N", "session_state": "SS1"} X-Hook-Secret: H00K'
    )
    cleaned = redact(line)
    for secret in ("C0DE", "ST4TE", "ST8", "CH4LL", "JS0N", "SS1", "H00K"):
        assert secret not in cleaned
    assert "scope=full%7Cab123.infusionsoft.com" in cleaned  # not a credential
    assert "code_challenge_method=S256" in cleaned


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
