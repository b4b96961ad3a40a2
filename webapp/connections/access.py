"""Who may see a connection: its owner. Every customer view that takes a connection's id asks here."""

from django.shortcuts import get_object_or_404

from webapp.connections.models import KeapConnection
from webapp.http import CustomerRequest


def connection_for_user(request: CustomerRequest, pk: int) -> KeapConnection:
    """The connection if it belongs to the signed-in customer; 404 for anyone else's."""
    return get_object_or_404(KeapConnection.objects.owned_by(request.user), pk=pk)
