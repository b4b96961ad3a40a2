"""WSGI entry point of the Keap sandbox process (`gunicorn webapp.sandbox.wsgi:application`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.sandbox.settings")

application = get_wsgi_application()
