"""Run by test_production.py in a child process with production settings (DEBUG off).

Signs a customer in over HTTPS with Django's test client against a fresh SQLite database, and prints
what the browser would be told: the headers of the sign-in page and of the signed-in dashboard, the
flags of every cookie set on the way, and where a plain-HTTP request is sent. One JSON object.
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django.setup()

from allauth.account.models import EmailAddress  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from webapp.accounts.models import User  # noqa: E402

HOST = "onramp.example.com"
HEADERS = (
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "Referrer-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Cross-Origin-Opener-Policy",
)


def _seen(response) -> dict:
    return {
        "status": response.status_code,
        "location": response.headers.get("Location"),
        "headers": {name: response.headers.get(name) for name in HEADERS},
        "cookies": {
            name: {
                "secure": bool(morsel["secure"]),
                "httponly": bool(morsel["httponly"]),
                "samesite": morsel["samesite"],
                # Django deletes a cookie by setting it empty and expired: nothing to protect.
                "deleted": morsel.value == "" and str(morsel["max-age"]) == "0",
            }
            for name, morsel in response.cookies.items()
        },
    }


def main() -> None:
    setup_test_environment()
    call_command("migrate", verbosity=0, interactive=False)
    user = User.objects.create_user("probe@example.com", "a-long-and-unusual-passphrase")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client = Client(HTTP_HOST=HOST)
    result = {
        "plain_http": _seen(client.get("/accounts/login/")),
        "sign_in_page": _seen(client.get("/accounts/login/", secure=True)),
        "sign_in": _seen(
            client.post(
                "/accounts/login/",
                {"login": user.email, "password": "a-long-and-unusual-passphrase"},
                secure=True,
            )
        ),
        "dashboard": _seen(client.get("/connections/", secure=True)),
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    # Production serves static files from collectstatic's manifest; the probe has not run
    # collectstatic and needs only the pages' headers, so plain static URLs will do.
    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ):
        main()
