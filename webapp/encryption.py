"""Encryption at rest for Keap tokens and client secrets, with a key id in every ciphertext.

Fernet (from `cryptography`) does the sealing. What no library gives us is the envelope around it:
`enc1:<key id>:<fernet token>`, so that a value names the key that sealed it, keys can rotate
(TOKEN_ENCRYPTION_KEYS lists them newest first; older ones still open what they sealed), and a
re-encryption command can tell which rows still use an old key. A value that no configured key opens
raises DecryptionError: ciphertext is never handed on as if it were a token.
"""

import hashlib
from dataclasses import dataclass
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

PREFIX = "enc1"


class EncryptionError(Exception):
    """Base for every failure to seal or open a secret."""


class KeyConfigurationError(EncryptionError):
    """TOKEN_ENCRYPTION_KEYS is missing or holds something that is not a Fernet key."""


class DecryptionError(EncryptionError):
    """A stored value could not be opened with the configured keys."""


@dataclass(frozen=True)
class Key:
    id: str
    fernet: Fernet


def key_id(raw_key: str) -> str:
    """A short, stable, non-secret name for a key: the start of its SHA-256."""
    return hashlib.sha256(raw_key.encode()).hexdigest()[:8]


@cache
def _keys(raw_keys: tuple[str, ...]) -> tuple[Key, ...]:
    if not raw_keys:
        raise KeyConfigurationError("TOKEN_ENCRYPTION_KEYS is empty: no key to seal tokens with.")
    keys = []
    for position, raw in enumerate(raw_keys, start=1):
        try:
            keys.append(Key(id=key_id(raw), fernet=Fernet(raw.encode())))
        except (ValueError, TypeError):
            raise KeyConfigurationError(
                f"Key number {position} in TOKEN_ENCRYPTION_KEYS is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with `python manage.py "
                "generate_encryption_key`)."
            ) from None
    return tuple(keys)


def configured_keys() -> tuple[Key, ...]:
    """The keys from settings, newest first."""
    return _keys(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """Seal plaintext with the newest key."""
    newest = configured_keys()[0]
    return f"{PREFIX}:{newest.id}:{newest.fernet.encrypt(plaintext.encode()).decode()}"


def sealed_with(ciphertext: str) -> str:
    """The id of the key that sealed a value (without opening it)."""
    return _split(ciphertext)[1]


def decrypt(ciphertext: str) -> str:
    """Open a value sealed by encrypt(), with whichever configured key sealed it."""
    _, kid, token = _split(ciphertext)
    for key in configured_keys():
        if key.id == kid:
            try:
                return key.fernet.decrypt(token.encode()).decode()
            except InvalidToken:
                raise DecryptionError(
                    f"The value sealed with key {kid} failed its integrity check."
                ) from None
    raise DecryptionError(
        f"The value was sealed with key {kid}, which is not in TOKEN_ENCRYPTION_KEYS."
    )


def needs_reseal(ciphertext: str) -> bool:
    """True when a value is sealed with a key other than the newest."""
    return sealed_with(ciphertext) != configured_keys()[0].id


def _split(ciphertext: str) -> tuple[str, str, str]:
    parts = ciphertext.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        raise DecryptionError("The stored value is not an Onramp ciphertext.")
    return parts[0], parts[1], parts[2]
