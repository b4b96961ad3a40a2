"""Onramp's settings: read from the environment, with defaults that run on a fresh clone.

Without DATABASE_URL and REDIS_URL everything is embedded: SQLite, a filesystem Celery broker and a file
cache under var/. With them set: PostgreSQL, and Redis as broker and cache. With DEBUG off, a real
SECRET_KEY and TOKEN_ENCRYPTION_KEYS are required and start-up fails loudly without them.
`.env.example` lists every variable read here.
"""

import os
from pathlib import Path
from typing import TypeVar

import dj_database_url
import django_stubs_ext
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

# Django's generic classes (ModelAdmin[Model], QuerySet[Model]...) subscriptable at run time, as
# their type stubs have them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ONRAMP_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


_N = TypeVar("_N", int, float)


def _env_number(name: str, default: _N, read: type[_N], what: str) -> _N:
    value = os.environ.get(name, "")
    try:
        return read(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {what}, not {value!r}") from None


DEBUG = env_bool("DEBUG", True)

# Development-only values. Production (DEBUG off) refuses to start with them.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-0123456789"
# A Fernet key that is public by being in this file: fine for a local demo, refused in production.
_DEV_TOKEN_KEY = "ZGV2LW9ubHktb25yYW1wLXRva2VuLWtleS0wMDAwMDA="

SECRET_KEY = os.environ.get("SECRET_KEY") or _DEV_SECRET_KEY
TOKEN_ENCRYPTION_KEYS = env_list("TOKEN_ENCRYPTION_KEYS") or [_DEV_TOKEN_KEY]

if not DEBUG:
    if SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off."
        )
    if _DEV_TOKEN_KEY in TOKEN_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "TOKEN_ENCRYPTION_KEYS must be set (comma-separated Fernet keys, newest first) "
            "when DEBUG is off; the development key is refused."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.mfa",
    "csp",
    "django_htmx",
    "template_partials",
    "webapp.accounts",
    "webapp.keap",
    "webapp.limiter",
    "webapp.connections",
    "webapp.sync",
    "webapp.hooks",
    "webapp.schedule",
    "webapp.goals",
    "webapp.capabilities",
    "webapp.usage",
    "webapp.operations",
    "webapp.pages",
    "webapp.keap_signin",
]

MIDDLEWARE = [
    # First, so every line logged for a request (and every task it enqueues) carries its id.
    "webapp.observability.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "webapp.accounts.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "webapp.accounts.middleware.StaffMFARequiredMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'onramp.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL lets the web process read while a worker writes; IMMEDIATE transactions take the write
    # lock up front, so two writers queue instead of failing with "database is locked" mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so that tests can run separate processes against the test database.
    # Named per process, so two test runs on one machine never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-onramp-{os.getpid()}.sqlite3")}
    # The usage indexes carry extra columns on PostgreSQL (index-only scans for the operations
    # page); SQLite keeps the index without them, which is fine for the embedded default.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # An unreachable database fails a request (and /readyz) in seconds instead of hanging it.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and broker ---------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
# Without Redis the limiter, cache and broker are the embedded ones (the database, files on this
# machine): fine on one machine, wrong on two, where each would keep its own sign-in limits and
# queues. With DEBUG off that takes saying so.
EMBEDDED_STORES = env_bool("EMBEDDED_STORES", False)
if not DEBUG and not REDIS_URL and not EMBEDDED_STORES:
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DEBUG is off: the limiter, the cache behind sign-in limits "
        "and Celery's broker need a store every process shares. (On one machine only, "
        "EMBEDDED_STORES=true runs without it.)"
    )
if REDIS_URL:
    # Redis, and the database's cache table while Redis is unreachable (webapp/cache.py), so that
    # sign-in and its brute-force limits keep working without Redis.
    CACHES = {
        "default": {
            "BACKEND": "webapp.cache.RedisOrDatabaseCache",
            "OPTIONS": {"PRIMARY": "redis", "FALLBACK": "database", "RETRY_SECONDS": 5},
        },
        "redis": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "onramp",
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        },
        "database": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "onramp_cache",
            "KEY_PREFIX": "onramp",
        },
    }
else:
    # A file cache, not local memory: allauth's rate limits must hold across the web, worker and
    # beat processes that `make run` starts.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = Path(os.environ.get("CELERY_FILESYSTEM_BROKER_DIR") or VAR_DIR / "broker")
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    # kombu's filesystem transport: one folder is both inbox and outbox, so every process on this
    # machine shares the queues without a broker server.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Keep every countdown below this: a task not acknowledged within it is delivered again.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    if CELERY_BROKER_URL.startswith("redis://"):
        # kombu's Redis transport with a fix that keeps the consumer alive when Redis restarts
        # (see the module's docstring).
        CELERY_BROKER_TRANSPORT = "webapp.broker:Transport"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# A connection without healthy hooks is polled (an incremental sync) at most this often; the day's
# plan may poll it less often when the budget is short (webapp/schedule).
SYNC_INTERVAL_SECONDS = env_int("SYNC_INTERVAL_SECONDS", 900)
# Contact sync tuning (webapp/sync/), in seconds unless named otherwise.
SYNC_PAGE_SIZE = env_int("SYNC_PAGE_SIZE", 1000)  # contacts per v2 list call (Keap's maximum)
SYNC_SLICE_SECONDS = env_float("SYNC_SLICE_SECONDS", 600)  # one task's share before the next one
SYNC_OVERLAP_SECONDS = env_float("SYNC_OVERLAP_SECONDS", 300)  # incremental look-back (clock skew)
SYNC_PAGE_ATTEMPTS = env_int("SYNC_PAGE_ATTEMPTS", 3)  # tries of one page within a task
SYNC_PAGE_BACKOFF_SECONDS = env_float("SYNC_PAGE_BACKOFF_SECONDS", 1)  # base of their backoff
SYNC_RETRY_BASE_SECONDS = env_float("SYNC_RETRY_BASE_SECONDS", 30)  # a failed run's first retry
SYNC_RETRY_MAX_SECONDS = env_float("SYNC_RETRY_MAX_SECONDS", 900)  # and its longest
SYNC_MAX_RETRIES = env_int("SYNC_MAX_RETRIES", 6)  # failed tries in a row before giving up
SYNC_HEARTBEAT_SECONDS = env_float("SYNC_HEARTBEAT_SECONDS", 10)  # a working run's heartbeat
SYNC_STALE_SECONDS = env_float("SYNC_STALE_SECONDS", 90)  # no heartbeat this long: worker gone
SYNC_LOST_SECONDS = env_float("SYNC_LOST_SECONDS", 600)  # queued this long past due: message lost
# Finished sync runs are kept this many days (each connection's latest of each kind, always).
SYNC_RUN_RETENTION_DAYS = env_int("SYNC_RUN_RETENTION_DAYS", 30)
# Fetch the next page while storing this one: "auto" (on, except inside an outer transaction),
# True or False (webapp/sync/pipeline.py).
SYNC_PREFETCH: bool | str = (
    "auto"
    if (os.environ.get("SYNC_PREFETCH") or "auto").strip().lower() == "auto"
    else env_bool("SYNC_PREFETCH", True)
)
# --- REST hooks (webapp/hooks) and the day's plan (webapp/schedule) -------------------------------
# Subscribe each connection to Keap's contact events (needs SITE_URL reachable by Keap, over HTTPS).
HOOKS_ENABLED = env_bool("HOOKS_ENABLED", True)
# Contacts asked for by id in one list call, when fetching what hooks said changed.
# Keap's URL limit is not documented; 250 ids keep the request line near 3 KB.
HOOKS_IDS_PER_CALL = env_int("HOOKS_IDS_PER_CALL", 250)
# A connection whose subscriptions Keap has not confirmed is checked again after this many
# seconds, doubling each time, up to the maximum (it is polled meanwhile).
HOOKS_RETRY_BASE_SECONDS = env_float("HOOKS_RETRY_BASE_SECONDS", 300)
HOOKS_RETRY_MAX_SECONDS = env_float("HOOKS_RETRY_MAX_SECONDS", 6 * 3600)
# Healthy subscriptions are checked this often (one call each): sooner for a connection Keap pushed
# changes for in the last day, since a subscription Keap gave up on loses its changes until then.
HOOKS_CHECK_SECONDS = env_float("HOOKS_CHECK_SECONDS", 86_400)
HOOKS_CHECK_ACTIVE_SECONDS = env_float("HOOKS_CHECK_ACTIVE_SECONDS", 4 * 3600)
HOOKS_DELIVERY_RETENTION_DAYS = env_int("HOOKS_DELIVERY_RETENTION_DAYS", 2)  # applied ones kept
# Seconds a web process believes a hook URL's secret (or that it is no longer in use) before it
# reads it again; a replaced secret or a disconnect answers as before for at most this long.
HOOKS_SECRET_CACHE_SECONDS = env_float("HOOKS_SECRET_CACHE_SECONDS", 5)
# The plan spends at most this share of the developer app's daily limit (the rest is headroom).
SCHEDULE_TARGET_SHARE = env_float("SCHEDULE_TARGET_SHARE", 0.9)
# Connections without healthy hooks are polled no less often than this (if the budget allows
# less, they are polled this often all the same, and the operations page says so).
SCHEDULE_POLL_MAX_SECONDS = env_float("SCHEDULE_POLL_MAX_SECONDS", 6 * 3600)
# No connection is reconciled (a full sync that finds deletions) twice within this.
SCHEDULE_RECONCILE_MIN_SECONDS = env_float("SCHEDULE_RECONCILE_MIN_SECONDS", 86_400)
SCHEDULE_TICK_SECONDS = env_float("SCHEDULE_TICK_SECONDS", 60)  # how often the plan is acted on

CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Refresh tokens of connections idle for 30 days, well inside Keap's 45-day refresh lifetime.
    "keep-alive": {"task": "webapp.connections.tasks.keep_alive", "schedule": 3600.0},
    # Move buffered usage records into the database; `expires` drops a backlog of flushes.
    "flush-usage": {
        "task": "webapp.usage.tasks.flush_usage",
        "schedule": 5.0,
        "options": {"expires": 10},
    },
    "prune-usage": {"task": "webapp.usage.tasks.prune_usage", "schedule": 6 * 3600.0},
    # The day's plan (webapp/schedule): polls, initial syncs, reconciles and hook checks, started
    # as the budget allows; and the changes Keap pushed, applied within seconds.
    "schedule": {
        "task": "webapp.schedule.tasks.act_on_plan",
        "schedule": SCHEDULE_TICK_SECONDS,
        "options": {"expires": SCHEDULE_TICK_SECONDS},
    },
    "apply-changes": {
        "task": "webapp.schedule.tasks.start_changes",
        "schedule": 2.0,
        "options": {"expires": 4},
    },
    "prune-sync-runs": {
        "task": "webapp.sync.tasks.prune_runs",
        "schedule": crontab(hour=4, minute=50),
    },
    "prune-hook-deliveries": {
        "task": "webapp.hooks.tasks.prune_deliveries",
        "schedule": crontab(hour=4, minute=40),
    },
    # Goals (webapp/goals): re-queue completions whose message was lost; settle stuck ones.
    "recover-goals": {
        "task": "webapp.goals.tasks.recover_goals",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # Contact sync (webapp/sync): resume runs whose worker died, from their checkpoint.
    "sync-watchdog": {
        "task": "webapp.sync.tasks.rescue_stale_runs",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
}

# --- Usage recording (webapp/usage) ---
# Raw call records are kept this many days; per-minute and per-day rollups are kept forever.
USAGE_RAW_RETENTION_DAYS = env_int("USAGE_RAW_RETENTION_DAYS", 14)
# The Redis list that buffers call records (webapp/usage/recorder.py); empty: REDIS_URL, and
# without either the records wait in each process's memory.
USAGE_REDIS_URL = os.environ.get("USAGE_REDIS_URL", "")
USAGE_REDIS_PREFIX = os.environ.get("USAGE_REDIS_PREFIX", "onramp:usage")  # its key prefix
USAGE_REDIS_TIMEOUT_SECONDS = env_float("USAGE_REDIS_TIMEOUT_SECONDS", 1.0)  # per Redis command
# Records one process holds while the database is away; past this the oldest are dropped.
USAGE_LOCAL_BUFFER_MAX = env_int("USAGE_LOCAL_BUFFER_MAX", 200_000)
# Seconds between a process's flushes of its in-memory records (0: only flush_usage does).
USAGE_FLUSH_INTERVAL_SECONDS = env_float("USAGE_FLUSH_INTERVAL_SECONDS", 1.0)
USAGE_FLUSH_BATCH = env_int("USAGE_FLUSH_BATCH", 5000)  # records written per transaction
# A flush claim older than this (seconds) belongs to a flusher that died: settled by the next.
USAGE_CLAIM_TIMEOUT_SECONDS = env_float("USAGE_CLAIM_TIMEOUT_SECONDS", 300)

# --- The quota limiter (webapp/limiter) ---
# Redis for the limiter's counts; empty: REDIS_URL, and without either the database limiter.
LIMITER_REDIS_URL = os.environ.get("LIMITER_REDIS_URL", "")
LIMITER_KEY_PREFIX = os.environ.get("LIMITER_KEY_PREFIX", "onramp:limiter")  # its key prefix
# Per Redis command; past it (after one quick retry) no call is sent to Keap.
LIMITER_REDIS_TIMEOUT_SECONDS = env_float("LIMITER_REDIS_TIMEOUT_SECONDS", 2.0)
# A refused caller stays registered as waiting this long past its wake time, so the lanes and
# fairness hold for it while it comes back to ask (webapp/limiter/base.py).
LIMITER_GRACE_SECONDS = env_float("LIMITER_GRACE_SECONDS", 0.2)
# Added to a wait for another caller's turn (the interactive lane's, a fairer tenant's).
LIMITER_POLL_SECONDS = env_float("LIMITER_POLL_SECONDS", 0.01)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Two lanes, as the limiter has them: calls a person waits for, and bulk work (syncs).
CELERY_TASK_DEFAULT_QUEUE = "bulk"
CELERY_TASK_ROUTES = {
    "webapp.goals.tasks.*": {"queue": "interactive"},
    "webapp.sync.tasks.*": {"queue": "bulk"},
    "webapp.hooks.tasks.*": {"queue": "bulk"},
    "webapp.schedule.tasks.*": {"queue": "bulk"},
}
# A child killed mid-task (OOM, SIGKILL) gives its message back instead of losing it; only tasks
# marked acks_late (the idempotent ones) are affected.
CELERY_TASK_REJECT_ON_WORKER_LOST = True

# --- Accounts (django-allauth) ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Onramp] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
# allauth's defaults, spelled out so an operator sees them: failed logins are limited per IP and per
# account, and password resets and confirmation mails per address.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
}
# Whose address the per-IP limits count. With 0 trusted proxies X-Forwarded-For is ignored and the
# socket's address counts, so a client cannot dodge the limits by inventing the header. Behind N proxies
# that each append to X-Forwarded-For, set N: the Nth address from the right is the client. Or name the
# header a single trusted proxy sets to the client's address (e.g. X-Real-IP).
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = os.environ.get("TRUSTED_CLIENT_IP_HEADER") or None
# Two-factor sign-in (allauth.mfa): optional for customers, required for staff
# (webapp.accounts.middleware.StaffMFARequiredMiddleware sends staff to set it up).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Onramp"
MFA_ADAPTER = "webapp.accounts.adapter.MFAAdapter"  # secrets sealed with TOKEN_ENCRYPTION_KEYS
# A right two-factor code takes back only its own attempt, never the address's failed sign-ins.
MFA_FORMS = {
    "authenticate": "webapp.accounts.forms.AuthenticateForm",
    "reauthenticate": "webapp.accounts.forms.ReauthenticateForm",
    "activate_totp": "webapp.accounts.forms.ActivateTOTPForm",
}
# Sign in with Keap (webapp/keap_signin): the provider's credentials are the Keap developer app's.
SOCIALACCOUNT_ADAPTER = "webapp.keap_signin.adapter.SocialAccountAdapter"
SOCIALACCOUNT_STORE_TOKENS = False  # Onramp seals them on the connection instead
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False  # a POST starts the flow, so a link cannot sign anyone in
SOCIALACCOUNT_ONLY = False
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "connections:dashboard"
LOGOUT_REDIRECT_URL = "pages:landing"

# --- Email ---------------------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Onramp <onramp@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Keap ----------------------------------------------------------------------------------------
# Defaults point at the Keap sandbox that `make run` starts. For real Keap set the three URLs to
# https://accounts.infusionsoft.com/app/oauth/authorize, https://api.infusionsoft.com/token and
# https://api.infusionsoft.com/crm, with the client id and secret of your developer app.
KEAP_CLIENT_ID = os.environ.get("KEAP_CLIENT_ID", "onramp-sandbox-client")
KEAP_CLIENT_SECRET = os.environ.get("KEAP_CLIENT_SECRET", "sandbox-secret-change-me")
KEAP_AUTHORIZE_URL = os.environ.get(
    "KEAP_AUTHORIZE_URL", "http://localhost:8001/app/oauth/authorize"
)
KEAP_TOKEN_URL = os.environ.get("KEAP_TOKEN_URL", "http://localhost:8001/token")
KEAP_API_URL = os.environ.get("KEAP_API_URL", "http://localhost:8001/crm").rstrip("/")
# Fixed by configuration and registered with Keap: never built from the request's Host header.
KEAP_REDIRECT_URI = os.environ.get("KEAP_REDIRECT_URI", f"{SITE_URL}/connections/keap/callback")
# Sign in with Keap comes back here; register it with Keap beside KEAP_REDIRECT_URI.
KEAP_SIGNIN_REDIRECT_URI = os.environ.get(
    "KEAP_SIGNIN_REDIRECT_URI", f"{SITE_URL}/accounts/keap/login/callback/"
)
KEAP_HTTP_TIMEOUT_SECONDS = float(os.environ.get("KEAP_HTTP_TIMEOUT_SECONDS", "20"))
# A keep-alive connection to Keap idle for longer than this is not reused (webapp/keap/client.py):
# below the idle timeout of the server (the sandbox's gunicorn: 2 s).
KEAP_HTTP_IDLE_SECONDS = float(os.environ.get("KEAP_HTTP_IDLE_SECONDS", "1.5"))


# Real Keap is HTTPS only. Plain HTTP is for the sandbox (on by default only with DEBUG on); oauthlib
# refuses it unless told, so the decision is made here, once, and loudly.
KEAP_ALLOW_HTTP = env_bool("KEAP_ALLOW_HTTP", DEBUG)
_keap_urls = {
    "KEAP_AUTHORIZE_URL": KEAP_AUTHORIZE_URL,
    "KEAP_TOKEN_URL": KEAP_TOKEN_URL,
    "KEAP_API_URL": KEAP_API_URL,
    "KEAP_REDIRECT_URI": KEAP_REDIRECT_URI,
    "KEAP_SIGNIN_REDIRECT_URI": KEAP_SIGNIN_REDIRECT_URI,
}
for _name, _url in _keap_urls.items():
    if not _url.startswith(("https://", "http://")):
        raise ImproperlyConfigured(f"{_name} must be an http(s) URL, not {_url!r}")
    if _url.startswith("http://") and not KEAP_ALLOW_HTTP:
        raise ImproperlyConfigured(f"{_name} is plain HTTP; use https or set KEAP_ALLOW_HTTP=true.")
if KEAP_ALLOW_HTTP:
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
if not DEBUG and KEAP_CLIENT_SECRET == "sandbox-secret-change-me":
    raise ImproperlyConfigured("KEAP_CLIENT_SECRET must be set when DEBUG is off.")

# --- Security ------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # htmx gets the token from <body hx-headers>, never from the cookie
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"  # OAuth callbacks send no-referrer (accounts.decorators)
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# No inline script or style anywhere (htmx is configured for it in templates/base.html). `form-action`
# also gets KEAP_AUTHORIZE_URL's origin, added per request by accounts.middleware.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # data: for the TOTP QR code allauth draws
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Probes and the metrics scraper come over plain HTTP from inside the deployment's network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    # Only behind a proxy that sets this header itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Static files --------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging -------------------------------------------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
# json: one JSON object per line (webapp.observability.logs), the production default; plain: for people.
LOG_FORMAT = (os.environ.get("LOG_FORMAT") or ("plain" if DEBUG else "json")).lower()
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "webapp.observability.logs.JsonFormatter"},
        "plain": {"()": "webapp.observability.logs.PlainFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # oauthlib logs request bodies (codes, verifiers, secrets) at DEBUG; never let it.
        "oauthlib": {"level": "WARNING"},
        "requests_oauthlib": {"level": "WARNING"},
        # Django's runserver line duplicates webapp.request's, without the request id.
        "django.server": {"level": "WARNING"},
    },
}

# --- Observability (webapp/observability) ----------------------------------------------------------
# GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>`. Unset: /metrics is a 404, except with
# DEBUG on, when it answers requests from loopback without a token.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

from webapp.observability.context import install_record_factory as install_context  # noqa: E402

install_context()

from webapp.redaction import install_record_factory  # noqa: E402

install_record_factory()
