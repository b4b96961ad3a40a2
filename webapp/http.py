"""The request types Onramp's views take, so a view's annotations say what it may rely on."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from webapp.accounts.models import User


class HtmxRequest(HttpRequest):
    """Any request through Onramp's middleware: django-htmx adds `htmx` (false without htmx)."""

    htmx: HtmxDetails


class CustomerRequest(HtmxRequest):
    """A request to a view behind @login_required: its user is signed in."""

    user: User
