"""Settings of the Keap sandbox process, read from the environment with development defaults.

Standalone on purpose: the sandbox must not import `webapp.settings`, so it can run (and be
pointed at by Onramp) exactly as a foreign server would.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


SECRET_KEY = os.environ.get("SANDBOX_SECRET_KEY", "sandbox-dev-secret-not-for-production")
DEBUG = os.environ.get("SANDBOX_DEBUG", "") == "1"
# A local simulator reached as localhost, 127.0.0.1 or a container name; it binds to loopback by
# default, which is what actually keeps it private.
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "webapp.sandbox",
]

MIDDLEWARE = [
    "webapp.sandbox.stats.RequestCounterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Keap's gateway authenticates before routing, so it sits ahead of everything app-level.
    "webapp.sandbox.gateway.KeapGatewayMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "webapp.sandbox.urls"
WSGI_APPLICATION = "webapp.sandbox.wsgi.application"
# Keap's paths are exact; a slash-appending redirect would hide client bugs.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_default_db = BASE_DIR / "var" / "sandbox.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("SANDBOX_DATABASE_URL", f"sqlite:///{_default_db}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # gunicorn runs several workers and threads against one file: WAL lets readers and the single
    # writer proceed together, IMMEDIATE takes the write lock up front so transactions queue
    # instead of failing with "database is locked" on upgrade.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

# Browsers share cookies across ports of one host: these names keep the sandbox's sign-in from
# clobbering Onramp's session (and CSRF cookie) when both run on localhost.
SESSION_COOKIE_NAME = "keap_sandbox_session"
CSRF_COOKIE_NAME = "keap_sandbox_csrftoken"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Only seeded demo users with public passwords sign in here; see DemoPasswordHasher.
PASSWORD_HASHERS = [
    "webapp.sandbox.credentials.DemoPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "/sandbox/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# The one registered developer app (Keap's "Key" and "Secret"), re-applied at every start.
SANDBOX_CLIENT_ID = os.environ.get("SANDBOX_CLIENT_ID", "onramp-sandbox-client")
SANDBOX_CLIENT_SECRET = os.environ.get("SANDBOX_CLIENT_SECRET", "sandbox-secret-change-me")
SANDBOX_REDIRECT_URIS = [
    uri.strip()
    for uri in os.environ.get(
        "SANDBOX_REDIRECT_URIS",
        "http://localhost:8000/connections/keap/callback,"
        "http://127.0.0.1:8000/connections/keap/callback",
    ).split(",")
    if uri.strip()
]

# Lifetimes from keap/API.md 1.6 (24 h access, 45 d refresh); the code lifetime is our choice.
SANDBOX_ACCESS_TOKEN_SECONDS = _env_int("SANDBOX_ACCESS_TOKEN_SECONDS", 24 * 3600)
SANDBOX_REFRESH_TOKEN_SECONDS = _env_int("SANDBOX_REFRESH_TOKEN_SECONDS", 45 * 24 * 3600)
SANDBOX_CODE_SECONDS = _env_int("SANDBOX_CODE_SECONDS", 600)
