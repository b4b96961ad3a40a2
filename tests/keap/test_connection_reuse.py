"""Keep-alive connections to Keap: reused while busy, never after sitting idle past the limit.

A server closes idle connections on its own timer; a request sent on one it is closing at that
moment gets no answer. So the client drops a connection idle longer than KEAP_HTTP_IDLE_SECONDS
instead of betting on it. The server here tells us which connection each request came on.
"""

import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.loopback import serving
from webapp.keap import transport


class _KeepAlive(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep the connection open between requests
    server: "_Server"

    def do_GET(self) -> None:
        self.server.peers.append(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _KeepAlive)
        self.peers: list[int] = []


@pytest.fixture
def server():
    with serving(_Server()) as httpd:
        yield httpd


def test_a_busy_connection_is_reused_and_an_idle_one_is_replaced(server, settings):
    settings.KEAP_HTTP_IDLE_SECONDS = 0.3
    url = f"http://127.0.0.1:{server.server_address[1]}/crm/rest/v1/oauth/connect/userinfo"
    session = transport.session()
    for pause in (0.0, 0.1, 0.1, 0.5, 0.1):
        time.sleep(pause)
        assert session.get(url, timeout=5).status_code == 200
    first, second, third, after_idle, fifth = server.peers
    assert first == second == third  # back within the limit: the same connection
    assert after_idle != third  # idle for 0.5 s: a new one, though the server kept the old open
    assert fifth == after_idle
