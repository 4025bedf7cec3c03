"""Run the emulator over HTTPS: bind, print the contract's JSON line, serve, save on exit."""

from __future__ import annotations

import ipaddress
import json
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from connector.emulator.app import create_app
from connector.emulator.auth import JwtKeys
from connector.emulator.bodylimit import MAX_BODY_BYTES
from connector.emulator.org import Org
from connector.emulator.outbound import OutboundDispatcher, parse_outbound_spec
from connector.emulator.tls import make_tls

__all__ = ["Emulator", "EmulatorOptions", "is_loopback", "serve_forever"]


@dataclass
class EmulatorOptions:
    """Everything ``emulator serve`` can set."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: str = "empty"
    records: int = 0
    state_dir: Path | None = None
    outbound: Sequence[str] = ()
    api_limit: int = 100_000
    session_ttl: float = 7200.0
    outbound_time_scale: float = 1.0
    max_body_bytes: int = MAX_BODY_BYTES


@dataclass
class Emulator:
    """A configured, not yet running emulator: org, app, TLS files and the bound socket."""

    options: EmulatorOptions
    org: Org = field(init=False)
    info: dict[str, Any] = field(init=False)
    server: uvicorn.Server = field(init=False)
    outbound: OutboundDispatcher = field(init=False)
    pubsub: Any = field(init=False, default=None)  # the PubSubServer, once started
    _sock: socket.socket = field(init=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        opts = self.options
        if opts.state_dir is not None:
            base = opts.state_dir
            base.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="prm-emulator-")
            base = Path(self._tmp.name)
        self.org = Org(
            seed=opts.seed,
            records=opts.records,
            api_limit=opts.api_limit,
            session_ttl=opts.session_ttl,
            state_dir=opts.state_dir,
        )
        tls = self._tls = make_tls(base / "tls")
        keys = JwtKeys()
        key_path = base / "jwt-private-key.pem"
        key_path.write_bytes(keys.private_pem())
        key_path.chmod(0o600)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((opts.host, opts.port))
        port = self._sock.getsockname()[1]
        url = f"https://{opts.host}:{port}"
        from connector.emulator.outbound import Clock

        self.outbound = OutboundDispatcher(
            self.org,
            Clock(opts.outbound_time_scale),
            organization_id=self.org.organization_id,
            instance_url=url,
        )
        for spec in opts.outbound:
            sobject, target, fields = parse_outbound_spec(spec)
            self.outbound.configure(sobject, target, list(fields) if fields else None)
        app = create_app(self.org, jwt_keys=keys, outbound=self.outbound,
                         max_body_bytes=opts.max_body_bytes)
        config = uvicorn.Config(
            app,
            ssl_certfile=str(tls.cert),
            ssl_keyfile=str(tls.key),
            log_level="warning",
            access_log=False,
            lifespan="off",
            # h11 writes header names as the app spells them (httptools lower-cases them),
            # and SalesforceHeaders spells them as Salesforce does; it adds Date itself.
            http="h11",
            server_header=False,
            date_header=False,
            timeout_keep_alive=30, timeout_graceful_shutdown=2,
            loop="uvloop" if _has_uvloop() else "asyncio",
        )
        self.server = uvicorn.Server(config)
        self._bus = app.state.pubsub_bus
        self.info = {
            "instance_url": url,
            "login_url": url,
            "organization_id": self.org.organization_id,
            "ca_bundle": str(tls.ca_bundle),
            "client_id": self.org.client_id,
            "client_secret": self.org.client_secret,
            "users": {k: u.public() for k, u in self.org.users.items()},
            "jwt_private_key": str(key_path),
            "api_version": "62.0",
        }

    def run(self, on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
        """Serve until ``stop()`` (or a signal when on the main thread); saves on the way out."""
        self._sock.listen(512)
        self.outbound.start()
        saver = threading.Thread(target=self._autosave, daemon=True)
        saver.start()
        # The gRPC server (Pub/Sub API) starts beside uvicorn, not before it: importing grpc
        # and binding take a moment the HTTPS side need not wait for.
        pubsub = threading.Thread(target=self._start_pubsub, daemon=True)
        pubsub.start()
        if on_ready is not None:
            threading.Thread(
                target=self._announce, args=(on_ready, pubsub), daemon=True
            ).start()
        try:
            self.server.run(sockets=[self._sock])
        finally:
            pubsub.join(30)
            if self.pubsub is not None:
                self.pubsub.stop()
            self.outbound.stop()
            self.org.save()
            if self._tmp is not None:
                self._tmp.cleanup()

    def _start_pubsub(self) -> None:
        from connector.emulator.pubsub.service import PubSubServer

        server = PubSubServer(self._bus, self.options.host, self._tls.cert, self._tls.key)
        server.start()
        self.pubsub = server
        self.info["pubsub_endpoint"] = server.endpoint

    def _announce(
        self, on_ready: Callable[[dict[str, Any]], None], pubsub: threading.Thread
    ) -> None:
        while not self.server.started and not self.server.should_exit:
            time.sleep(0.01)
        pubsub.join(60)
        if self.server.started and "pubsub_endpoint" in self.info:
            on_ready(self.info)

    def _autosave(self) -> None:
        while not self.server.should_exit:
            time.sleep(2)
            if self.org.dirty and self.org.state_dir is not None:
                self.org.save()

    def stop(self) -> None:
        """Shut the server down now (open keep-alive connections are not waited for)."""
        self.server.should_exit = True
        self.server.force_exit = True


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def serve_forever(options: EmulatorOptions) -> None:
    """``emulator serve``: print the JSON line when ready and serve until SIGTERM/SIGINT."""

    def announce(info: dict[str, Any]) -> None:
        print(json.dumps(info), flush=True)

    if not is_loopback(options.host):
        print(
            f"warning: the emulator listens on {options.host}, beyond this machine; its users and "
            "passwords are fixed and printed below, so anyone who can reach it can use the org",
            file=sys.stderr,
            flush=True,
        )
    # uvicorn re-raises the SIGTERM/SIGINT it caught once it has shut down; with the default
    # handlers that would kill the process before the org is saved. Ours let run() return.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: None)
    Emulator(options).run(on_ready=announce)
