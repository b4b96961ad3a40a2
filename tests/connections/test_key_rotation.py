"""Rotating the token encryption key: old keys still open, the command re-seals every row."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from tests.factories import ConnectionFactory
from webapp import encryption
from webapp.connections.models import KeapConnection
from webapp.encryption import DecryptionError

pytestmark = pytest.mark.django_db

KEY_1, KEY_2, KEY_3 = (Fernet.generate_key().decode() for _ in range(3))


def test_write_with_key_1_read_with_2_and_1_reseal_then_read_with_2_alone(settings, capsys):
    settings.TOKEN_ENCRYPTION_KEYS = [KEY_1]
    first = ConnectionFactory(tokens=("access-one", "refresh-one"))
    second = ConnectionFactory(tokens=("access-two", "refresh-two"))
    gone = ConnectionFactory(tokens=("x", "y"))
    gone.forget_tokens()
    gone.save()

    settings.TOKEN_ENCRYPTION_KEYS = [KEY_2, KEY_1]
    first.refresh_from_db()
    assert first.access_token() == "access-one"
    assert encryption.sealed_with(first.access_token_sealed) == encryption.key_id(KEY_1)

    call_command("reencrypt_tokens")
    report = capsys.readouterr().out
    # Three connections (four tokens, two empty) and the developer app's client secret.
    assert (
        "4 rows checked, 5 values re-encrypted, 0 already on the newest key, 2 empty, 0 failed"
        in report
    )

    settings.TOKEN_ENCRYPTION_KEYS = [KEY_2]
    for connection, access, refresh in (
        (first, "access-one", "refresh-one"),
        (second, "access-two", "refresh-two"),
    ):
        connection.refresh_from_db()
        assert (connection.access_token(), connection.refresh_token()) == (access, refresh)
        assert encryption.sealed_with(connection.refresh_token_sealed) == encryption.key_id(KEY_2)

    assert first.developer_app.client_secret() == settings.KEAP_CLIENT_SECRET
    call_command("reencrypt_tokens")
    assert "0 values re-encrypted, 5 already on the newest key" in capsys.readouterr().out


def test_a_wrong_key_is_a_clear_error_never_ciphertext(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [KEY_1]
    connection = ConnectionFactory(tokens=("access-one", "refresh-one"))
    settings.TOKEN_ENCRYPTION_KEYS = [KEY_3]
    connection = KeapConnection.objects.get(pk=connection.pk)
    with pytest.raises(DecryptionError, match="not in TOKEN_ENCRYPTION_KEYS"):
        connection.access_token()
    with pytest.raises(CommandError, match="could not be opened"):
        call_command("reencrypt_tokens")
    settings.TOKEN_ENCRYPTION_KEYS = [KEY_1]
    connection.refresh_from_db()
    assert connection.access_token() == "access-one"  # left exactly as it was


def test_two_factor_secrets_are_resealed_too_and_still_verify_codes(settings, capsys):
    import pyotp
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP

    from tests.factories import UserFactory

    settings.TOKEN_ENCRYPTION_KEYS = [KEY_1]
    user = UserFactory(email="staff-rotation@example.com", is_staff=True)
    secret = pyotp.random_base32()
    TOTP.activate(user, secret)
    codes = RecoveryCodes.activate(user).get_unused_codes()

    settings.TOKEN_ENCRYPTION_KEYS = [KEY_2, KEY_1]
    call_command("reencrypt_tokens")
    assert "0 failed" in capsys.readouterr().out

    settings.TOKEN_ENCRYPTION_KEYS = [KEY_2]  # the old key is gone
    totp = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    assert encryption.sealed_with(totp.data["secret"]) == encryption.key_id(KEY_2)
    assert TOTP(totp).validate_code(pyotp.TOTP(secret).now())
    recovery = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    assert RecoveryCodes(recovery).get_unused_codes() == codes
