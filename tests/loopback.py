"""A stand-in HTTP server on loopback for tests that need a server behaving as no sandbox does."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import HTTPServer


@contextmanager
def serving(httpd: HTTPServer) -> Iterator[HTTPServer]:
    """Serve `httpd` in a thread for the block's duration, then shut it down and close it."""
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
