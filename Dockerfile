# Onramp's one image: web (gunicorn), Celery worker and beat, and the Keap sandbox all run from it.
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
# collectstatic needs settings that pass the production checks; these values exist only at build time.
RUN DEBUG=false SECRET_KEY=build-only-not-used-at-run-time-0123456789abcdefghijklmnop \
    TOKEN_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtdXNlZC1hdC1ydW4tdGltZSE= \
    KEAP_CLIENT_SECRET=build-only ALLOWED_HOSTS=localhost SITE_URL=https://build.invalid \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var && chown onramp /app/var

USER onramp
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
