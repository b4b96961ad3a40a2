"""factory_boy factories for Onramp's models."""

from datetime import UTC, datetime, timedelta

import factory
from allauth.account.models import EmailAddress

from webapp.accounts.models import User
from webapp.connections.models import KeapConnection
from webapp.keap.models import DeveloperApp

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"customer{n}@example.com")

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or PASSWORD)
        if create:
            self.save()
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class ConnectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KeapConnection
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    developer_app = factory.LazyFunction(lambda: DeveloperApp.objects.current())
    app_name = factory.Sequence(lambda n: f"zz{n:03d}")
    business_name = "Factory Business"
    scope = factory.LazyAttribute(lambda o: f"full|{o.app_name}.infusionsoft.com")

    @factory.post_generation
    def tokens(self, create: bool, extracted: tuple[str, str] | None, **kwargs: object) -> None:
        access, refresh = extracted or ("factory-access-token", "factory-refresh-token")
        self.store_tokens(
            access_token=access,
            refresh_token=refresh,
            expires_at=datetime.now(UTC) + timedelta(hours=24),
        )
        if create:
            self.save()
