"""Scrub credentials out of every log record, whoever logs it.

requests-oauthlib and oauthlib log request bodies, headers and token responses at DEBUG, and urllib3
logs request lines. Setting their levels is not enough (an operator may turn everything to DEBUG), so
Onramp rewrites each record's message as it is created. No library offers this for the stdlib
logging module, hence this small module.
"""

import logging
import re
from typing import Any

REDACTED = "[redacted]"

# Every OAuth parameter that would let someone finish or replay a flow (the state binds a callback
# to a browser session; the challenge is derived from the verifier), and every credential.
_SECRET_KEYS = (
    "access_token|refresh_token|code|code_verifier|code_challenge|state|session_state|"
    "client_secret|id_token|password|api_key|x-keap-api-key|x-hook-secret|token"
)
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (\b["']?(?:{_SECRET_KEYS})["']?   # the key, maybe quoted
    \s*[:=]\s*
    ["']?)                            # the opening quote of the value, if any
    (?!\[redacted\](?![^"'&\s,}}\]]))  # not exactly the marker (log formatters redact again)
    [^"'&\s,}}\]]+                    # the value itself
    """
)
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+")
# A connection's hook URL ends in the secret that is Keap's only credential (webapp.hooks).
_HOOK_URL = re.compile(r"(/hooks/keap/\d+/)(?!\[redacted\])[^/?#\s\"']+")


def redact(text: str) -> str:
    """Return text with token-like values replaced by a marker."""
    text = _KEY_VALUE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _HOOK_URL.sub(lambda m: m.group(1) + REDACTED, text)
    return _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def install_record_factory() -> None:
    """Make every LogRecord carry an already-redacted message. Safe to call more than once."""
    current = logging.getLogRecordFactory()
    if getattr(current, "redacts", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call; leave it to logging to report
            return record
        record.msg, record.args = redact(message), ()
        return record

    factory.redacts = True  # type: ignore[attr-defined]  # a marker: installed once, never twice
    logging.setLogRecordFactory(factory)
