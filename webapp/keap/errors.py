"""Typed errors raised by the Keap client. Messages never include tokens or secrets."""


class KeapError(Exception):
    """Base for every failure talking to Keap."""


class KeapUnavailable(KeapError):
    """Keap did not answer in time, the connection failed, or it answered 5xx: worth retrying.

    `landed` is False only when the request provably never reached Keap (the connection was
    refused), which is what lets a non-idempotent call such as a goal be sent again safely.
    """

    def __init__(self, message: str, *, landed: bool = True) -> None:
        super().__init__(message)
        self.landed = landed


class KeapProtocolError(KeapError):
    """Keap answered with something that is not what its protocol promises."""


class KeapScopeError(KeapProtocolError):
    """Keap granted less than the full access Onramp asked for (its answer's scope says so)."""


class KeapAuthError(KeapError):
    """Keap refused the access token (401 fault)."""

    def __init__(self, message: str, *, errorcode: str = "") -> None:
        super().__init__(message)
        self.errorcode = errorcode


class KeapTokenError(KeapError):
    """The token endpoint refused a grant (4xx). For a refresh this means the customer must reconnect."""

    def __init__(self, message: str, *, status: int, error: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class KeapNotFound(KeapError):
    """Keap answered 404: the contact (or other thing) does not exist there."""


class KeapRejected(KeapError):
    """Keap refused the request itself (400, 403, 409, an XML-RPC fault...): retrying won't help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class KeapThrottled(KeapError):
    """No budget for the call in time (the limiter said wait longer), or Keap kept answering 429."""

    def __init__(self, message: str, *, wait_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.wait_seconds = wait_seconds


class KeapLimiterUnavailable(KeapError):
    """The shared limiter (Redis) cannot be reached, so nothing was sent to Keap."""
