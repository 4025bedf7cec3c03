"""Serve an ASGI app with uvicorn on a background thread (the daemon's main thread keeps the
signals): bind first, so port 0 picks a free port the caller can read back."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from connector.daemon.shedding import ClientLimits, protocol_class

__all__ = ["HttpServer", "parse_listen"]


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port); IPv6 hosts may be bracketed."""
    host, _, port = value.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class HttpServer:
    """One uvicorn server on its own thread."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        limits: ClientLimits | None = None,
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,  # the path may carry the outbound secret: never log it
            lifespan="off",
            # slow and idle clients are shed (see shedding.py): read timeouts, a connection cap
            http=protocol_class(limits or ClientLimits()),
            timeout_keep_alive=max(1, round((limits or ClientLimits()).keep_alive)),
            timeout_graceful_shutdown=2,
            log_config=None,  # uvicorn's loggers go through the daemon's logging setup
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:8080."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; returns once the server accepts connections."""
        self._sock.listen(512)
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, name="http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the receiver did not start on {self.url}")
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (requests in flight get ``timeout_graceful_shutdown`` to finish)."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.server.force_exit = True
                self._thread.join(timeout)
        self._sock.close()
