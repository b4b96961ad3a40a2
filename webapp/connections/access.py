"""Who may see a connection: its owner. Every customer view that takes a connection's id asks here."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from webapp.connections.models import KeapConnection


def connection_for_user(request: HttpRequest, pk: int) -> KeapConnection:
    """The connection if it belongs to the signed-in customer; 404 for anyone else's."""
    return get_object_or_404(KeapConnection.objects.owned_by(request.user), pk=pk)
