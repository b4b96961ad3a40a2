import pytest
from cryptography.fernet import Fernet

from webapp import encryption
from webapp.encryption import DecryptionError, KeyConfigurationError


@pytest.fixture
def keys(settings):
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [first]
    return first, second


def test_ciphertext_names_its_key_and_hides_the_plaintext(keys):
    sealed = encryption.encrypt("the-access-token")
    assert sealed.startswith(f"enc1:{encryption.key_id(keys[0])}:")
    assert "the-access-token" not in sealed
    assert encryption.decrypt(sealed) == "the-access-token"


def test_old_key_still_opens_after_a_new_key_is_put_first(keys, settings):
    sealed = encryption.encrypt("token")
    settings.TOKEN_ENCRYPTION_KEYS = [keys[1], keys[0]]
    assert encryption.decrypt(sealed) == "token"
    assert encryption.needs_reseal(sealed)
    assert not encryption.needs_reseal(encryption.encrypt("token"))


def test_value_sealed_with_a_key_no_longer_configured_is_an_error(keys, settings):
    sealed = encryption.encrypt("token")
    settings.TOKEN_ENCRYPTION_KEYS = [keys[1]]
    with pytest.raises(DecryptionError, match="not in TOKEN_ENCRYPTION_KEYS"):
        encryption.decrypt(sealed)


def test_tampered_or_foreign_values_are_errors_never_returned(keys):
    sealed = encryption.encrypt("token")
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(DecryptionError):
        encryption.decrypt(tampered)
    with pytest.raises(DecryptionError, match="not an Onramp ciphertext"):
        encryption.decrypt("plain-token-stored-by-mistake")


def test_malformed_key_configuration_is_reported_by_position(settings):
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-key"]
    with pytest.raises(KeyConfigurationError, match="Key number 2"):
        encryption.encrypt("token")
    settings.TOKEN_ENCRYPTION_KEYS = []
    with pytest.raises(KeyConfigurationError, match="empty"):
        encryption.encrypt("token")
