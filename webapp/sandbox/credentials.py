"""Random secrets (codes, tokens) and the one-way digest the sandbox stores instead of them."""

import hashlib
import secrets
import string

from django.contrib.auth.hashers import PBKDF2PasswordHasher

_ALPHABET = string.ascii_letters + string.digits


def new_secret(length: int = 32) -> str:
    """Return a random alphanumeric string, the shape Keap's codes and tokens have."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def digest(value: str) -> str:
    """Return the sha256 hex digest stored in place of a code, token or client secret."""
    return hashlib.sha256(value.encode()).hexdigest()


class DemoPasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 with a low work factor, for the sandbox's demo users only.

    Their passwords are public (the sign-in page prints them), so a high work factor would
    protect nothing and only make every simulated sign-in, and the test suite, slower.
    """

    algorithm = "pbkdf2_sha256_sandbox"
    iterations = 10_000
