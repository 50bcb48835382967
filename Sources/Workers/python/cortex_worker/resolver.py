"""API-to-API name resolution.

A predictor reaches another API of the same `cortex serve` as `http://api-<name>:8888/predict` (that
is the Kubernetes Service name on AWS). Locally every API sits behind the one front, so the hook makes
any host `api-<name>` (any port) resolve to the front's address; the HTTP client still sends
`Host: api-<name>:<port>`, which the front uses to route. Every other host resolves as usual.
"""
from __future__ import annotations

import re
import socket

API_HOST = re.compile(r"^api-[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

_original_getaddrinfo = None


def is_api_host(host) -> bool:
    if isinstance(host, (bytes, bytearray)):
        try:
            host = bytes(host).decode("ascii")
        except UnicodeDecodeError:
            return False
    if not isinstance(host, str):
        return False
    if host.endswith("."):
        host = host[:-1]
    return API_HOST.match(host.lower()) is not None


def install(front_host: str, front_port: int) -> None:
    """Wrap socket.getaddrinfo (idempotent: a second call only changes the target)."""
    global _original_getaddrinfo
    if _original_getaddrinfo is None:
        _original_getaddrinfo = socket.getaddrinfo
    original = _original_getaddrinfo
    front_port = int(front_port)

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if is_api_host(host):
            return original(front_host, front_port, family, type, proto, flags)
        return original(host, port, family, type, proto, flags)

    getaddrinfo.__wrapped__ = original
    getaddrinfo.__doc__ = original.__doc__
    socket.getaddrinfo = getaddrinfo


def uninstall() -> None:
    global _original_getaddrinfo
    if _original_getaddrinfo is not None:
        socket.getaddrinfo = _original_getaddrinfo
        _original_getaddrinfo = None
