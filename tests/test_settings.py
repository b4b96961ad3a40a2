"""Production settings refuse to start half-configured, and pass Django's deploy checks when complete."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-for-tests-0123456789",
    "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "KEAP_CLIENT_SECRET": "test-client-secret",
    "ALLOWED_HOSTS": "onramp.example.com",
    "SITE_URL": "https://onramp.example.com",
    "KEAP_AUTHORIZE_URL": "https://accounts.infusionsoft.com/app/oauth/authorize",
    "KEAP_TOKEN_URL": "https://api.infusionsoft.com/token",
    "KEAP_API_URL": "https://api.infusionsoft.com/crm",
    # This machine's Redis, a database no test flushes; the cache falls back to the database
    # where no Redis answers (webapp/cache.py).
    "REDIS_URL": "redis://127.0.0.1:6379/11",
}


def production_env(var: Path) -> dict[str, str]:
    """This process's environment as a production process would see it: PRODUCTION_ENV, and none
    of the test session's own stores or settings (its files go under `var`, a SQLite database)."""
    inherited = ("KEAP_", "DEBUG", "SECRET", "DJANGO_", "DATABASE_URL", "REDIS_URL", "CELERY_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    env.update(PRODUCTION_ENV, ONRAMP_VAR_DIR=str(var), DATABASE_URL=f"sqlite:///{var}/probe.db")
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    inherited = ("KEAP_", "DEBUG", "SECRET", "DJANGO_ALLOW_ASYNC_UNSAFE")
    base = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_no_issues_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY must be set"),
        ("TOKEN_ENCRYPTION_KEYS", "TOKEN_ENCRYPTION_KEYS must be set"),
        ("KEAP_CLIENT_SECRET", "KEAP_CLIENT_SECRET must be set"),
    ],
)
def test_production_refuses_to_start_without_a_secret(missing, message):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert message in result.stderr


def test_production_refuses_to_start_without_redis():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "REDIS_URL"}
    result = _manage("check", env={**env, "REDIS_URL": ""})
    assert result.returncode != 0
    assert "REDIS_URL must be set when DEBUG is off" in result.stderr
    knowingly = _manage("check", env={**env, "REDIS_URL": "", "EMBEDDED_STORES": "true"})
    assert knowingly.returncode == 0, knowingly.stderr


def test_production_refuses_plain_http_keap_urls():
    env = {**PRODUCTION_ENV, "KEAP_TOKEN_URL": "http://api.infusionsoft.com/token"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "KEAP_TOKEN_URL is plain HTTP" in result.stderr


def test_env_example_lists_every_variable_the_code_reads():
    read = set()
    for path in [ROOT / "webapp" / "settings.py", *sorted((ROOT / "webapp").rglob("settings.py"))]:
        text = path.read_text()
        read |= set(
            re.findall(
                r"""(?:environ\.get|env_bool|env_list|env_int|environ)\(\s*["']([A-Z_]+)["']""",
                text,
            )
        )
        read |= set(re.findall(r"""environ\[["']([A-Z_]+)["']\]""", text))
    read -= {"DJANGO_SETTINGS_MODULE", "OAUTHLIB_INSECURE_TRANSPORT"}
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    assert read, "found no variables; the pattern is wrong"
    assert read - listed == set()
