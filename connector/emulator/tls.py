"""The emulator's TLS: a local CA and a server certificate for 127.0.0.1 and localhost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["TlsFiles", "make_tls"]


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the CA bundle clients trust and of the server's certificate and key."""

    ca_bundle: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    """Issue a fresh CA and server certificate into ``directory`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="prm-connector emulator")
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    ca.cert_pem.write_to_path(str(files.ca_bundle))
    server.cert_chain_pems[0].write_to_path(str(files.cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(files.cert), append=True)
    server.private_key_pem.write_to_path(str(files.key))
    files.key.chmod(0o600)
    return files
