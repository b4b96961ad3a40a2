"""allauth.mfa hooks: TOTP secrets and recovery-code seeds are sealed at rest like Keap tokens."""

from allauth.mfa.adapter import DefaultMFAAdapter

from webapp import encryption


class MFAAdapter(DefaultMFAAdapter):
    """Seal authenticator secrets with TOKEN_ENCRYPTION_KEYS (allauth stores them in the clear)."""

    def encrypt(self, text: str) -> str:
        return encryption.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return encryption.decrypt(encrypted_text)
