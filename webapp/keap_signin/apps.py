from django.apps import AppConfig


class KeapSigninConfig(AppConfig):
    """Sign in with Keap: an allauth provider, and connecting the Keap app in the same step."""

    name = "webapp.keap_signin"
    label = "keap_signin"
    verbose_name = "Sign in with Keap"

    def ready(self) -> None:
        from webapp.keap_signin import receivers  # noqa: F401 -- connects the signal handlers
