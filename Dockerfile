# Onramp's one image: web (gunicorn), migrations, Celery worker and beat, and the Keap sandbox all
# run from it (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    PATH="/opt/venv/bin:$PATH"

RUN pip install --no-cache-dir uv==0.13.8 \
    && useradd --create-home --uid 1000 onramp
WORKDIR /app

COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY manage.py ./
COPY webapp ./webapp
COPY templates ./templates
COPY static ./static
# Static files are collected into the image (hashed names, gzip and brotli copies) and whitenoise
# serves them. collectstatic loads the production settings, which refuse to start half-configured;
# these values exist only for this step and are never used at run time.
RUN DEBUG=false SECRET_KEY=build-only-not-used-at-run-time-0123456789abcdefghijklmnop \
    TOKEN_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtdXNlZC1hdC1ydW4tdGltZSE= \
    KEAP_CLIENT_SECRET=build-only ALLOWED_HOSTS=localhost SITE_URL=https://build.invalid \
    KEAP_AUTHORIZE_URL=https://build.invalid/authorize KEAP_TOKEN_URL=https://build.invalid/token \
    KEAP_API_URL=https://build.invalid/crm REDIS_URL=redis://build.invalid:6379/0 \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown onramp /app/var

USER onramp
EXPOSE 8000
# The web service's command; docker-compose.yml gives the same one with its tunables.
CMD ["gunicorn", "webapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "8", "--timeout", "60", "--graceful-timeout", "30", "--keep-alive", "5", "--max-requests", "2000", "--max-requests-jitter", "200", "--access-logfile", "-", "--access-logformat", "%(h)s \"%(m)s\" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s"]
