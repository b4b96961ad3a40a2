"""Typed errors raised by the Keap client. Messages never include tokens or secrets."""


class KeapError(Exception):
    """Base for every failure talking to Keap."""


class KeapUnavailable(KeapError):
    """Keap did not answer in time, the connection failed, or it answered 5xx: worth retrying."""


class KeapProtocolError(KeapError):
    """Keap answered with something that is not what its protocol promises."""


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
