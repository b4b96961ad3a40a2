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


def _seconds(value: str | None, default: float) -> float | int:
    """A duration from the environment: fractions allowed, so tests can run hooks fast."""
    if value is None or not value.strip():
        return default
    number = float(value)
    return int(number) if number.is_integer() else number


SECRET_KEY = os.environ.get("SANDBOX_SECRET_KEY", "sandbox-dev-secret-not-for-production")
DEBUG = os.environ.get("SANDBOX_DEBUG", "") == "1"
# A local simulator reached as localhost, 127.0.0.1 or a container name; it binds to loopback by
# default, which is what actually keeps it private.
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
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
    # Persistent per-thread connections: opening a file and running the PRAGMAs on every
    # request costs more than the request itself at benchmark rates.
    DATABASES["default"]["CONN_MAX_AGE"] = 600
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
        "http://127.0.0.1:8000/connections/keap/callback,"
        "http://localhost:8000/accounts/keap/login/callback/",
    ).split(",")
    if uri.strip()
]

# Lifetimes from docs/keap/API.md §1.6 (24 h access, 45 d refresh); the code lifetime is our choice.
SANDBOX_ACCESS_TOKEN_SECONDS = _env_int("SANDBOX_ACCESS_TOKEN_SECONDS", 24 * 3600)
SANDBOX_REFRESH_TOKEN_SECONDS = _env_int("SANDBOX_REFRESH_TOKEN_SECONDS", 45 * 24 * 3600)
SANDBOX_CODE_SECONDS = _env_int("SANDBOX_CODE_SECONDS", 600)

# Switches and limits: the environment gives the defaults, `PUT /sandbox/api/settings` overrides
# them at run time (stored in the database, so every worker sees the same values). `switches.py`
# validates both. Limits are from docs/keap/API.md §4.1; the other choices are where it says
# UNCONFIRMED.
SANDBOX_DEFAULTS = {
    "access_token_seconds": SANDBOX_ACCESS_TOKEN_SECONDS,
    "refresh_token_seconds": SANDBOX_REFRESH_TOKEN_SECONDS,
    "app_limit_per_second": _env_int("SANDBOX_APP_LIMIT_PER_SECOND", 25),
    "app_limit_per_minute": _env_int("SANDBOX_APP_LIMIT_PER_MINUTE", 1500),
    "app_limit_per_day": _env_int("SANDBOX_APP_LIMIT_PER_DAY", 150_000),
    "tenant_limit_per_minute": _env_int("SANDBOX_TENANT_LIMIT_PER_MINUTE", 10_000),
    "tenant_limit_per_day": _env_int("SANDBOX_TENANT_LIMIT_PER_DAY", 250_000),
    "key_limit_per_second": _env_int("SANDBOX_KEY_LIMIT_PER_SECOND", 10),
    "key_limit_per_minute": _env_int("SANDBOX_KEY_LIMIT_PER_MINUTE", 240),
    "key_limit_per_day": _env_int("SANDBOX_KEY_LIMIT_PER_DAY", 30_000),
    "throttle_body": os.environ.get("SANDBOX_THROTTLE_BODY", "keap"),
    "retry_after": os.environ.get("SANDBOX_RETRY_AFTER", "0") == "1",
    "refresh_error": os.environ.get("SANDBOX_REFRESH_ERROR", "invalid_request"),
    "refresh_revokes_access_token": os.environ.get("SANDBOX_REFRESH_REVOKES_ACCESS_TOKEN") == "1",
    "xmlrpc_throttle": os.environ.get("SANDBOX_XMLRPC_THROTTLE", "quota"),
    "legacy_bucket_size": _env_int("SANDBOX_LEGACY_BUCKET_SIZE", 10_000),
    "legacy_refill_ms": _env_int("SANDBOX_LEGACY_REFILL_MS", 500),
    "legacy_max_throttled": _env_int("SANDBOX_LEGACY_MAX_THROTTLED", 4),
    "page_size_overflow": os.environ.get("SANDBOX_PAGE_SIZE_OVERFLOW", "reject"),
    "v2_default_page_size": _env_int("SANDBOX_V2_DEFAULT_PAGE_SIZE", 1000),
    "v1_nulls": os.environ.get("SANDBOX_V1_NULLS", "0") == "1",
    "goal_unknown_contact_status": _env_int("SANDBOX_GOAL_UNKNOWN_CONTACT_STATUS", 400),
    # Keap's older docs show `?access_token=<token>` on REST and XML-RPC, and older clients send
    # nothing else (docs/keap/API.md §2.1, §3.3).
    "query_access_token": os.environ.get("SANDBOX_QUERY_ACCESS_TOKEN", "1") == "1",
    # Keap ignores PKCE (docs/keap/API.md §1.2). On, a code whose authorization request carried a
    # code_challenge is exchanged only with the code_verifier whose S256 matches it.
    "enforce_pkce": os.environ.get("SANDBOX_ENFORCE_PKCE", "0") == "1",
    # REST hooks (docs/keap/API.md §2.5): Keap's delivery policy. The first attempt comes 30-60 s after a
    # change; a failed attempt is retried 30-60 s, 5 min and 30 min later (four attempts); an
    # attempt fails with no answer in 30 s. Tests and benchmarks shorten these at run time.
    "hook_first_delay_min_seconds": _seconds(
        os.environ.get("SANDBOX_HOOK_FIRST_DELAY_MIN_SECONDS"), 30
    ),
    "hook_first_delay_max_seconds": _seconds(
        os.environ.get("SANDBOX_HOOK_FIRST_DELAY_MAX_SECONDS"), 60
    ),
    "hook_retry1_min_seconds": _seconds(os.environ.get("SANDBOX_HOOK_RETRY1_MIN_SECONDS"), 30),
    "hook_retry1_max_seconds": _seconds(os.environ.get("SANDBOX_HOOK_RETRY1_MAX_SECONDS"), 60),
    "hook_retry2_seconds": _seconds(os.environ.get("SANDBOX_HOOK_RETRY2_SECONDS"), 300),
    "hook_retry3_seconds": _seconds(os.environ.get("SANDBOX_HOOK_RETRY3_SECONDS"), 1800),
    "hook_attempts": _env_int("SANDBOX_HOOK_ATTEMPTS", 4),
    "hook_timeout_seconds": _seconds(os.environ.get("SANDBOX_HOOK_TIMEOUT_SECONDS"), 30),
    "hook_batch_size": _env_int("SANDBOX_HOOK_BATCH_SIZE", 1000),
    # How often each worker's deliverer looks for due work (our choice, not Keap's).
    "hook_poll_seconds": _seconds(os.environ.get("SANDBOX_HOOK_POLL_SECONDS"), 0.25),
}

# Each gunicorn worker runs one hook deliverer thread with this many sending threads (a receiver
# that never answers holds one of them for `hook_timeout_seconds`). 0 turns the deliverer off.
SANDBOX_HOOK_SENDERS = _env_int("SANDBOX_HOOK_SENDERS", 32)

# Contacts per tenant that `seed` creates in an empty database (`seed --contacts N` overrides).
SANDBOX_SEED_CONTACTS = _env_int("SANDBOX_SEED_CONTACTS", 250)
