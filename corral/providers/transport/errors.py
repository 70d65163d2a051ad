"""Transport-level failures; `corral.providers.http` maps them to Corral's error tree."""

from __future__ import annotations


class TransportError(Exception):
    """A failure of the HTTP client itself, below HTTP statuses."""


class InvalidURL(TransportError):
    pass


class InvalidHeader(TransportError):
    pass


class ClientConnectorError(TransportError):
    """The TCP (or TLS) connection could not be opened."""

    def __init__(self, os_error: OSError):
        super().__init__(str(os_error))
        self.os_error = os_error


class ConnectionTimeoutError(TransportError, TimeoutError):
    """No connection, new or pooled, within the connect timeout."""


class SocketTimeoutError(TransportError, TimeoutError):
    """The server sent nothing for longer than the read timeout."""


class ServerDisconnectedError(TransportError):
    """The connection closed before the response headers were complete."""

    def __init__(self, message: str = "Server disconnected"):
        super().__init__(message)


class ClientPayloadError(TransportError):
    """The response body ended early, or its framing or encoding was broken."""


class ResponseError(TransportError):
    """The server's answer is not a valid HTTP/1.x response."""
