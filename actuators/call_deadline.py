"""A total deadline on every Kubernetes API call: connect, request, headers and the whole body.

The official client's `_request_timeout` is urllib3's timeout, which bounds each socket read,
not the call: a reply dribbled one byte a second never trips it, and the call (a scale read,
a Lease renewal, the caller's SIGTERM) waits for the whole reply. Here each call registers the
sockets its connections open (or reuse), and a timer shuts those sockets down at the deadline; the blocked read returns at once and the call raises CallDeadlineExceeded
(a urllib3 timeout, so callers report it as a timeout). The body is read inside the deadline
too (the client otherwise reads it after the call returns).

The deadline is `_request_timeout` when the caller gives one (a number, or the sum of a
(connect, read) pair), else `default_s`: no call is unbounded.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import urllib3
from kubernetes.client import rest
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from sla_planner.errors import SlaPlannerError

_RECHECK_S = 0.05  # after the deadline, how often a connection still connecting is re-checked


class CallDeadlineExceeded(SlaPlannerError, urllib3.exceptions.TimeoutError):
    """A Kubernetes API call ran past its total deadline; its connection was closed. A urllib3
    timeout, so the client's error handling treats it as one; and one of the project's
    errors, should it ever reach the command line."""


class _Call:
    """The sockets one call uses; `fire` shuts them down (and any opened after)."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []
        self.fired = threading.Event()
        self.done = threading.Event()
        self._lock = threading.Lock()

    def register(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self.socks.append(sock)
        if self.fired.is_set():
            _shutdown(sock)

    def fire(self) -> None:
        self.fired.set()
        while not self.done.is_set():  # a socket may still be connecting: until the call ends
            with self._lock:
                socks = list(self.socks)
            for sock in socks:
                _shutdown(sock)
            self.done.wait(_RECHECK_S)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


_current = threading.local()


def _register(sock: socket.socket | None) -> None:
    call = getattr(_current, "call", None)
    if call is not None:
        call.register(sock)


# The socket is registered when opened and when a kept-alive connection is checked out: a
# reply's body may outlive its connection object (HTTP/1.0, Connection: close), not its socket.
class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _register(self.sock)


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _register(self.sock)


class _Registering:
    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        _register(getattr(conn, "sock", None))
        return conn


class _HTTPPool(_Registering, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(_Registering, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def deadline_s(request_timeout: Any, default_s: float) -> float:
    """The call's total deadline from the client's `_request_timeout` argument."""
    if isinstance(request_timeout, bool) or request_timeout is None:
        return default_s
    if isinstance(request_timeout, (int, float)):
        return float(request_timeout) if request_timeout > 0 else default_s
    if isinstance(request_timeout, tuple) and len(request_timeout) == 2:
        parts = [float(x) for x in request_timeout if isinstance(x, (int, float))]
        return sum(parts) if parts and sum(parts) > 0 else default_s
    return default_s


class DeadlineRESTClient(rest.RESTClientObject):
    """The client's REST layer with a total deadline per call (see the module doc)."""

    def __init__(self, configuration: Any, default_s: float) -> None:
        super().__init__(configuration)
        self.default_s = float(default_s)
        pm = self.pool_manager
        if hasattr(pm, "pool_classes_by_scheme") and not _is_socks(pm):
            pm.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        limit = deadline_s(kwargs.get("_request_timeout"), self.default_s)
        call, outer = _Call(), getattr(_current, "call", None)
        _current.call = call
        timer = threading.Timer(limit, call.fire)
        timer.daemon = True
        timer.start()
        try:
            resp = super().request(method, url, *args, **kwargs)
            resp.read()  # the body under the deadline too (cached for the client)
            return resp
        except Exception as exc:
            if call.fired.is_set():
                raise CallDeadlineExceeded(
                    f"{method} {url}: no complete reply within {limit:g} s (total deadline)"
                ) from exc
            raise
        finally:
            call.done.set()
            timer.cancel()
            _current.call = outer


def _is_socks(pm: Any) -> bool:
    return type(pm).__name__ == "SOCKSProxyManager"  # its own pool classes: left as they are
