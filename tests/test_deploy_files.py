"""docker-compose.yml, the Dockerfile and the documented deploy steps, checked against each other.

The deploy steps are docs/operations.md, "Deploying with docker-compose.yml".

No Docker engine runs here, so the compose file is read as data: every service, its command, health
check, environment and start order. What can run without Docker does run: the environment compose
would hand each app service passes Django's deploy checks, the web command starts gunicorn and
answers its own health check, and the Dockerfile's collectstatic step builds what whitenoise serves.
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from tests.test_settings import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING_APP_SERVICES = ("web", "worker", "beat")
ALL_SERVICES = {"postgres", "redis", *APP_SERVICES, "sandbox", "flower"}
# What production settings refuse to start without (tests/test_settings.py), plus the stores.
REQUIRED_ENV = (
    "DEBUG", "SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "ALLOWED_HOSTS", "SITE_URL", "KEAP_CLIENT_ID",
    "KEAP_CLIENT_SECRET", "KEAP_AUTHORIZE_URL", "KEAP_TOKEN_URL", "KEAP_API_URL", "DATABASE_URL",
    "REDIS_URL",
)  # fmt: skip
# What an operator fills in after `cp .env.example .env`.
FILLED_IN = {
    "SECRET_KEY": "k" * 20 + "-a-long-random-secret-for-the-compose-test-0123456789",
    "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "POSTGRES_PASSWORD": "pg-secret",
    "KEAP_CLIENT_ID": "our-keap-client",
    "KEAP_CLIENT_SECRET": "our-keap-secret",
    "METRICS_TOKEN": "scrape-me",
}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _services() -> dict:
    return _compose()["services"]


def _dotenv(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _sample_env() -> dict[str, str]:
    """.env as docs/operations.md says to make it: .env.example with the required blanks filled."""
    return {**_dotenv((ROOT / ".env.example").read_text()), **FILLED_IN}


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(Exception):
    pass


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = env.get(name)
        empty = value is None or (operator and operator.startswith(":") and value == "")
        if operator and operator.endswith("?") and empty:
            raise MissingVariable(argument or name)
        if operator and operator.endswith("-") and empty:
            return argument
        return value or ""

    return _VARIABLE.sub(replace, value)


def _service_env(name: str, dotenv: dict[str, str]) -> dict[str, str]:
    """The environment a container of `name` gets: env_file, then `environment` on top."""
    service = _services()[name]
    env = dict(dotenv) if service.get("env_file") == ".env" else {}
    for key, value in (service.get("environment") or {}).items():
        env[key] = _interpolate(str(value), dotenv)
    return env


def _command(name: str, dotenv: dict[str, str] | None = None) -> list[str]:
    command = _services()[name]["command"]
    args = shlex.split(command) if isinstance(command, str) else list(command)
    return [_interpolate(arg, dotenv if dotenv is not None else _sample_env()) for arg in args]


def _healthcheck(name: str) -> str:
    test = _services()[name]["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- services, commands, health checks ---------------------------------------------------------


def test_compose_has_the_whole_stack_and_every_service_has_a_health_check():
    services = _services()
    assert set(services) == ALL_SERVICES
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), f"{name}: {check['test']}"
        assert "interval" in check and "timeout" in check and "retries" in check, name


def test_health_checks_probe_what_each_service_is_for():
    assert "pg_isready -U onramp -d onramp" in _healthcheck("postgres")
    assert _services()["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "manage.py migrate --check" in _healthcheck("migrate")
    assert "http://127.0.0.1:8000/readyz" in _healthcheck("web")
    assert "ALLOWED_HOSTS" in _healthcheck("web")  # asks as an allowed host
    # $$ is compose's escape: the container's shell expands $HOSTNAME, the worker's own node name.
    assert "celery -A webapp inspect ping -d celery@$$HOSTNAME" in _healthcheck("worker")
    beat_check = _healthcheck("beat")
    schedule = _command("beat")[_command("beat").index("--schedule") + 1]
    assert f"find {Path(schedule).parent} " in beat_check
    assert f"-name '{Path(schedule).name}*' -mmin -10" in beat_check
    assert "http://127.0.0.1:8001/sandbox/api/stats" in _healthcheck("sandbox")
    assert "('127.0.0.1', 5555)" in _healthcheck("flower")


def test_each_service_runs_the_right_command():
    web = _command("web")
    assert web[:2] == ["gunicorn", "webapp.wsgi:application"]
    worker = _command("worker")
    assert worker[:4] == ["celery", "-A", "webapp", "worker"]
    assert worker[worker.index("--queues") + 1] == "interactive,bulk"
    assert worker[worker.index("--concurrency") + 1] == "4"  # WORKER_CONCURRENCY's default
    assert _command("beat")[:4] == ["celery", "-A", "webapp", "beat"]
    assert _command("migrate") == ["python", "manage.py", "migrate", "--noinput"]
    assert _command("sandbox")[:4] == ["python", "-m", "webapp.sandbox", "serve"]
    flower = _command("flower")
    assert flower[0] == "celery" and "flower" in flower
    assert f"--broker={_services()['web']['environment']['REDIS_URL']}" in flower


def test_the_web_command_is_a_valid_gunicorn_command_with_sensible_settings():
    from gunicorn.config import Config

    config = Config()
    parsed = config.parser().parse_args(_command("web")[1:])
    for key, value in vars(parsed).items():
        if value is not None and key != "args":
            config.set(key, value)
    assert parsed.args == ["webapp.wsgi:application"]
    assert config.bind == ["0.0.0.0:8000"]
    assert (config.workers, config.worker_class_str, config.threads) == (3, "gthread", 8)
    # Above one Keap call's 20 s timeout (the OAuth callback makes a few).
    assert config.timeout >= 60 and config.graceful_timeout > 0
    assert config.max_requests > 0 and config.max_requests_jitter > 0
    assert config.accesslog == "-"  # stdout
    # No path (OAuth codes travel in query strings, allauth's one-time keys in paths): the request
    # id leads to the app's own line, which logs the path scrubbed.
    assert "%(m)s" in config.access_log_format
    assert not {"%(U)s", "%(r)s", "%(q)s", "%({raw_uri}e)s"} & set(
        re.findall(r"%\([^)]*\)s", config.access_log_format)
    )
    assert "%({x-request-id}o)s" in config.access_log_format


# --- environment and start order -----------------------------------------------------------------


def test_app_services_get_production_settings_the_stores_and_the_env_file():
    dotenv = _sample_env()
    for name in APP_SERVICES:
        service = _services()[name]
        assert service["build"] == "." and service["image"] == "onramp:latest"
        assert service["env_file"] == ".env"
        env = _service_env(name, dotenv)
        assert set(REQUIRED_ENV) <= set(env), f"{name} lacks {set(REQUIRED_ENV) - set(env)}"
        assert env["DEBUG"] == "false"
        assert env["DATABASE_URL"] == "postgres://onramp:pg-secret@postgres:5432/onramp"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["SECRET_KEY"] == FILLED_IN["SECRET_KEY"]
        assert env["KEAP_TOKEN_URL"] == "https://api.infusionsoft.com/token"
        assert env["METRICS_TOKEN"] == "scrape-me"  # from the env file
        # The image's paths, not the empty values .env.example carries.
        assert (env["STATIC_ROOT"], env["ONRAMP_VAR_DIR"]) == ("/app/staticfiles", "/app/var")


@pytest.mark.parametrize(
    "name",
    ["SECRET_KEY", "TOKEN_ENCRYPTION_KEYS", "POSTGRES_PASSWORD", "KEAP_CLIENT_ID",
     "KEAP_CLIENT_SECRET", "ALLOWED_HOSTS", "SITE_URL"],
)  # fmt: skip
def test_compose_refuses_to_start_without_a_required_value_and_names_it(name):
    dotenv = {**_sample_env(), name: ""}
    with pytest.raises(MissingVariable, match=f"set {name} in .env"):
        _service_env("web", dotenv)


def test_app_services_start_after_healthy_stores_and_finished_migrations():
    services = _services()
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["postgres"]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name
    for name in LONG_RUNNING_APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["restart"] == "unless-stopped"
    assert "migrate" not in services["migrate"]["depends_on"]
    assert services["migrate"]["restart"] == "no"  # a one-shot job
    assert services["flower"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_environment_compose_hands_the_app_passes_djangos_deploy_checks(tmp_path):
    for name in ("web", "worker"):
        env = _service_env(name, _sample_env())
        # The image's paths do not exist here; the rest is exactly what the container gets.
        env.update(STATIC_ROOT=str(tmp_path / "static"), ONRAMP_VAR_DIR=str(tmp_path / "var"))
        result = subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=ROOT, env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, f"{name}: {result.stderr}"


def test_every_variable_compose_reads_is_listed_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    used = {m.group(1) for m in _VARIABLE.finditer(text) if m.group(1)}
    assert used >= {"POSTGRES_PASSWORD", "SECRET_KEY", "WEB_CONCURRENCY", "FLOWER_BASIC_AUTH"}
    assert used - set(_dotenv((ROOT / ".env.example").read_text())) == set()


def test_optional_services_are_profiles_on_loopback_without_onramps_secrets():
    services = _services()
    assert services["sandbox"]["profiles"] == ["sandbox"]
    assert services["flower"]["profiles"] == ["flower"]
    assert services["flower"]["image"].startswith("mher/flower:")
    for name in ("sandbox", "flower"):
        assert "env_file" not in services[name], f"{name} must not get .env's secrets"
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    for name in (*APP_SERVICES, "postgres", "redis"):
        assert not services[name].get("profiles"), f"{name} must start without a profile"
    sandbox = _service_env("sandbox", _sample_env())
    # The sandbox's one app is Onramp's, redirecting to the callbacks settings build from SITE_URL.
    assert sandbox["SANDBOX_CLIENT_ID"] == "our-keap-client"
    assert sandbox["SANDBOX_CLIENT_SECRET"] == "our-keap-secret"
    site = _sample_env()["SITE_URL"]
    assert sandbox["SANDBOX_REDIRECT_URIS"].split(",") == [
        f"{site}/connections/keap/callback",
        f"{site}/accounts/keap/login/callback/",
    ]
    assert sandbox["SANDBOX_SECRET_KEY"]  # never empty, which Django refuses


# --- the web command, run --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_web_command_serves_readiness_with_request_ids_in_both_logs(tmp_path):
    from tests.conftest import TEST_BROKER_DIR, database_url_for_children

    port = _free_port()
    command = _command("web", {**_sample_env(), "WEB_CONCURRENCY": "1", "WEB_THREADS": "2"})
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    env = _service_env("web", _sample_env())
    env.update(
        STATIC_ROOT=str(tmp_path / "static"),
        ONRAMP_VAR_DIR=str(tmp_path / "var"),
        # This test session's stores stand in for the postgres and redis services.
        DATABASE_URL=database_url_for_children(),
        REDIS_URL=os.environ.get("REDIS_URL") or PRODUCTION_ENV["REDIS_URL"],
        CELERY_FILESYSTEM_BROKER_DIR=str(TEST_BROKER_DIR),
        ALLOWED_HOSTS="onramp.example.com",
        LOG_LEVEL="DEBUG",  # the app logs probes' successes at DEBUG
    )
    log_path = tmp_path / "web.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / command[0]), *command[1:]],
            cwd=ROOT, env={"PATH": os.environ["PATH"], **env}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/readyz",
            headers={"Host": "onramp.example.com", "X-Request-ID": "probe-1"},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    body = json.loads(response.read())
                    request_id = response.headers["X-Request-ID"]
                break
            except (ConnectionError, urllib.error.URLError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(log_path.read_text()) from None
                time.sleep(0.3)
        assert body["status"] == "ok", body
        assert request_id == "probe-1"
        time.sleep(0.5)  # let gunicorn write the access line
        lines = log_path.read_text().splitlines()
        access = [line for line in lines if "rid=probe-1" in line and not line.startswith("{")]
        assert len(access) == 1 and '"GET" 200' in access[0] and "/readyz" not in access[0], lines
        app_lines = [json.loads(line) for line in lines if line.startswith("{")]
        assert any(
            line["logger"] == "webapp.request" and line["request_id"] == "probe-1"
            for line in app_lines
        ), lines
    finally:
        server.terminate()
        server.wait(20)


# --- the image -------------------------------------------------------------------------------------


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_image_installs_from_the_lock_file_and_runs_as_a_user():
    dockerfile = _dockerfile()
    assert "uv sync --frozen --no-dev" in dockerfile
    assert "WORKDIR /app" in dockerfile  # STATIC_ROOT's default is /app/staticfiles
    assert "mkdir -p /app/var && chown onramp /app/var" in dockerfile  # ONRAMP_VAR_DIR, beat's file
    assert re.search(r"^USER onramp$", dockerfile, re.MULTILINE)


def _collectstatic_env() -> dict[str, str]:
    """The variables the Dockerfile's collectstatic step sets."""
    step = re.search(r"RUN (DEBUG=false.*?collectstatic --noinput)", _dockerfile(), re.DOTALL)
    assert step, "the Dockerfile no longer collects static files"
    words = shlex.split(step.group(1).replace("\\\n", " "))
    return dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))


def test_static_files_collected_as_the_image_does_are_served_by_whitenoise(tmp_path):
    static_root = tmp_path / "staticfiles"
    base = {"PATH": os.environ["PATH"], "ONRAMP_VAR_DIR": str(tmp_path / "var")}
    build = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT, env={**base, **_collectstatic_env(), "STATIC_ROOT": str(static_root)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    css = manifest["css/onramp.css"]
    assert css != "css/onramp.css" and (static_root / f"{css}.gz").exists()

    # At run time, with the production settings compose gives web.
    env = {**base, **_service_env("web", _sample_env()), "STATIC_ROOT": str(static_root)}
    env["ALLOWED_HOSTS"] = "onramp.example.com"
    script = (
        "import django, json; django.setup(); from django.test import Client;"
        "from django.templatetags.static import static;"
        "r = Client().get(static('css/onramp.css'), HTTP_HOST='onramp.example.com', secure=True);"
        "print(json.dumps([static('css/onramp.css'), r.status_code, r.get('Cache-Control')]))"
    )
    served = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**env, "DJANGO_SETTINGS_MODULE": "webapp.settings"},
    )  # fmt: skip
    assert served.returncode == 0, served.stderr
    url, status, cache_control = json.loads(served.stdout.strip().splitlines()[-1])
    assert url == f"/static/{css}"
    assert status == 200
    assert "immutable" in cache_control  # hashed names are cached for good


# --- the deploy steps in docs/operations.md --------------------------------------------------------


def _deploy_section() -> str:
    doc = (ROOT / "docs" / "operations.md").read_text()
    start = doc.index("## Deploying with docker-compose.yml")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end != -1 else len(doc)]


def _deploy_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", _deploy_section(), re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_deploy_steps_go_from_env_file_to_a_running_stack():
    commands = _deploy_commands()
    docker = [c for c in commands if c.startswith("docker compose")]
    assert commands[0] == "cp .env.example .env"
    assert commands.index("docker compose build") < commands.index("docker compose up -d")
    assert "docker compose up -d --scale worker=3" in docker


def test_the_deploy_steps_name_only_services_and_profiles_the_compose_file_has():
    services = _services()
    profiles = {p for service in services.values() for p in service.get("profiles", [])}
    docker = [shlex.split(c) for c in _deploy_commands() if c.startswith("docker compose")]
    named_profiles = {
        words[words.index("--profile") + 1] for words in docker if "--profile" in words
    }
    assert named_profiles == profiles == {"sandbox", "flower"}
    for words in docker:
        if "--scale" in words:
            service, _, count = words[words.index("--scale") + 1].partition("=")
            assert service in services and service != "beat" and int(count) > 1
        if words[2] in ("run", "exec", "logs"):
            named = [w for w in words[3:] if not w.startswith("-")]
            assert named[0] in services, words
    # The service table lists exactly the compose services, and their profiles.
    table = re.findall(r"^\| `([a-z]+)` \| (.*?) \|", _deploy_section(), re.MULTILINE)
    assert {name for name, _ in table} == set(services)
    for name, what in table:
        for profile in services[name].get("profiles", []):
            assert f"profile `{profile}`" in what


def test_the_deploy_steps_name_real_variables_and_endpoints():
    section = _deploy_section()
    listed = set(_dotenv((ROOT / ".env.example").read_text()))
    named = set(re.findall(r"`([A-Z][A-Z0-9_]{2,})`", section))
    named |= {line.split("=")[0] for line in _deploy_commands() if re.match(r"^[A-Z_]+=", line)}
    assert named - listed == set(), "docs/operations.md names variables .env.example lacks"
    for path in ("/healthz", "/readyz", "/metrics"):
        assert f"`GET {path}`" in section
    # The settings docs/operations.md lists for trying the sandbox are all read by Onramp.
    sandbox_lines = dict(
        line.split("=", 1) for line in _deploy_commands() if re.match(r"^[A-Z_]+=", line)
    )
    assert sandbox_lines["KEAP_TOKEN_URL"].startswith("http://sandbox:8001/")
    assert "8001:8001" in _services()["sandbox"]["ports"][0]
