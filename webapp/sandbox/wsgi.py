"""WSGI entry point of the Keap sandbox process (`gunicorn webapp.sandbox.wsgi:application`).

gunicorn loads it in every worker after forking, so each worker starts its own REST hook
deliverer thread here (deliverer.py explains why several are safe).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.sandbox.settings")

application = get_wsgi_application()

from webapp.sandbox import deliverer  # noqa: E402 (needs the app set up first)

deliverer.start()
