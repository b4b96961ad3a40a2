"""The production-like stack that bench/load.py and bench/soak.py run Onramp on.

- A PostgreSQL database of the benchmark's own (DATABASE_URL, default
  postgres://postgres@127.0.0.1:5432/onramp_bench): dropped and created empty at the start, dropped
  at the end.
- A Redis database of the benchmark's own (REDIS_URL, default redis://127.0.0.1:6379/15): FLUSHDB at
  the start and at the end, so give it a db number nothing else uses.
- The Keap sandbox as a real process (tests/sandbox/server.py), with seeded contacts.
- Onramp's environment as production sets it: DEBUG off, a generated SECRET_KEY and Fernet key, the
  sandbox's client secret. Only what plain HTTP on loopback forces differs: KEAP_ALLOW_HTTP=true
  (the sandbox speaks HTTP) and SECURE_SSL_REDIRECT=false (no TLS terminator in front).

`Stack` is a context manager; `seed()` makes customers and their connections through the app's own
code (factories for users, real sandbox tokens, real sync and goal flows run eagerly).
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sandbox.server import SandboxServer, free_port  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/onramp_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
TENANTS = ("ab123", "cd456")  # alex@sandbox.keap.test is seated in both
KEAP_USER = "alex@sandbox.keap.test"
PASSWORD = "bench-password-7Qx!vR2m"


def _admin_dsn(url: str) -> tuple[str, str]:
    """The maintenance database's DSN and the benchmark database's name."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or not parts.scheme.startswith("postgres"):
        raise SystemExit(f"DATABASE_URL must name a PostgreSQL database, not {url!r}")
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres")), name


def recreate_database(url: str) -> None:
    admin, name = _admin_dsn(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    admin, name = _admin_dsn(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Stack:
    """Database, Redis, sandbox and Onramp's environment for one benchmark run."""

    def __init__(self, *, prefix: str, keep: bool = False) -> None:
        self.database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        self.redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
        self.keep = keep
        self.workdir = Path(tempfile.mkdtemp(prefix=f"onramp-{prefix}-"))
        self.web_port = free_port()
        self.site_url = f"http://127.0.0.1:{self.web_port}"
        self.sandbox = SandboxServer(
            self.workdir / "sandbox",
            redirect_uris=[f"{self.site_url}/connections/keap/callback"],
        )
        self.env: dict[str, str] = {}

    # --- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> "Stack":
        recreate_database(self.database_url)
        self.redis().flushdb()
        self.sandbox.start()
        self.env = self._app_env()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.stop()
        if self.keep:
            print(f"kept: {self.workdir}, {self.database_url}", file=sys.stderr)
            return
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django never set up in this process
            pass
        drop_database(self.database_url)
        self.redis().flushdb()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def _app_env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
        env.update(
            DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(64),
            TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
            ALLOWED_HOSTS="127.0.0.1",
            SITE_URL=self.site_url,
            # No TLS on loopback; production keeps the default (true) behind its TLS terminator.
            SECURE_SSL_REDIRECT="false",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            ONRAMP_VAR_DIR=str(self.workdir / "var"),
            STATIC_ROOT=str(self.workdir / "static"),
            KEAP_CLIENT_ID=self.sandbox.client_id,
            KEAP_CLIENT_SECRET=self.sandbox.client_secret,
            KEAP_AUTHORIZE_URL=f"{self.sandbox.url}/app/oauth/authorize",
            KEAP_TOKEN_URL=f"{self.sandbox.url}/token",
            KEAP_API_URL=f"{self.sandbox.url}/crm",
            KEAP_ALLOW_HTTP="true",
            LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
            DJANGO_SETTINGS_MODULE="webapp.settings",
        )
        return env

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def setup_django(self) -> None:
        """Configure Django in this process (for seeding and reading results); tasks run eagerly
        here, so seeding goes through the same flows and tasks a worker would run."""
        os.environ.update(self.env)
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
        import django

        django.setup()
        from django.conf import settings

        settings.USAGE_FLUSH_INTERVAL_SECONDS = 0  # this process flushes when it chooses

    # --- seeding ----------------------------------------------------------------------------

    def seed(self, *, customers: int, contacts: int, goals: int = 3) -> list[dict]:
        """Customers with one connection each (tokens from the sandbox's real consent and code
        exchange), synced and with a few completed goals; returns their sign-in details."""
        from django.db import transaction

        from tests.factories import ConnectionFactory, UserFactory
        from webapp.goals import flows as goal_flows
        from webapp.goals.validation import GoalRequest
        from webapp.sync import flows as sync
        from webapp.usage import recorder

        for tenant in TENANTS:
            self.sandbox.seed_contacts(tenant, contacts)
        seeded = []
        for n in range(customers):
            tenant = TENANTS[n % len(TENANTS)]
            email = f"bench{n}@onramp.test"
            user = UserFactory(email=email, password=PASSWORD)
            tokens = self.sandbox.issue_tokens(app=tenant, email=KEAP_USER)
            connection = ConnectionFactory(
                owner=user,
                app_name=tenant,
                business_name=f"Bench business {n}",
                keap_user_email=KEAP_USER,
                tokens=(tokens["access_token"], tokens["refresh_token"]),
            )
            connection.store_tokens(
                access_token=tokens["access_token"],
                refresh_token=tokens["refresh_token"],
                expires_at=datetime.now(UTC) + timedelta(seconds=int(tokens["expires_in"])),
            )
            connection.save()
            with transaction.atomic():
                sync.start_sync(connection=connection)  # runs eagerly on commit
            for g in range(goals):
                with transaction.atomic():
                    goal_flows.request_goal(
                        connection=connection,
                        goal=GoalRequest.from_values(
                            {
                                "contact_id": g + 1,
                                "call_name": "purchased",
                                "idempotency_key": f"seed-{n}-{g}",
                            },
                            app_name=connection.app_name,
                        ),
                        requested_by=user,
                    )
            seeded.append({
                "email": email, "password": PASSWORD, "connection": connection.pk,
                "session": signed_in_session(user),
            })  # fmt: skip
        recorder.flush()
        return seeded

    def write_json(self, name: str, data: object) -> Path:
        path = self.workdir / name
        path.write_text(json.dumps(data))
        return path


def signed_in_session(user) -> str:
    """A session as a sign-in leaves it (in the database), for customers who arrive signed in."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)
