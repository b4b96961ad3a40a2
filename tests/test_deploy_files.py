"""docker-compose.yml cannot run here (no Docker engine), so it is read and checked as data."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_whole_stack_each_with_a_command_and_health_check():
    services = _compose()["services"]
    assert set(services) >= {"postgres", "redis", "web", "worker", "beat", "sandbox"}
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"], f"{name} has an empty health check"
    for name in (*APP_SERVICES, "sandbox"):
        assert services[name].get("command"), f"{name} has no command"
    assert "gunicorn webapp.wsgi:application" in services["web"]["command"]
    assert "migrate" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "webapp", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "webapp", "beat"]
    assert services["sandbox"]["profiles"] == ["sandbox"]


def test_app_services_get_postgres_redis_and_the_env_file():
    services = _compose()["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["env_file"] == ".env"
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in service["environment"]["DATABASE_URL"]
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["build"] == "."


def test_the_image_the_stack_builds_exists():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen --no-dev" in dockerfile
    assert "collectstatic" in dockerfile
