"""Subscribe to the emulator's change events with pysfpubsub, a Pub/Sub API client from PyPI
that we did not write, unmodified. Runs inside bench/peers/.venv-pubsub (see .ci/run):

    bench/peers/.venv-pubsub/bin/python bench/peers/pysfpubsub_client.py '<json settings>'

Settings: url (the login URL), username, password, endpoint (host:port), ca_bundle, topic,
replay_id (hex; CUSTOM) or preset, count (events to wait for), timeout (seconds).

pysfpubsub logs in with the SOAP API (requests: the emulator's CA through REQUESTS_CA_BUNDLE)
and opens its gRPC channel with certifi's bundle, read when it is imported: certifi.where()
is pointed at a bundle that adds the emulator's CA first, as an admin would add a CA to the
machine's trust store. Prints each decoded event (its header and non-null fields) as a JSON
line, then ``{"done": N}``; exits 0 once ``count`` events arrived, 1 on timeout or error.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from typing import Any


def main() -> int:
    settings = json.loads(sys.argv[1])
    import certifi

    with (
        tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as bundle,
        open(certifi.where(), "rb") as system,
        open(settings["ca_bundle"], "rb") as emu,
    ):
        bundle.write(emu.read() + b"\n" + system.read())
    certifi.where = lambda: bundle.name
    os.environ["REQUESTS_CA_BUNDLE"] = settings["ca_bundle"]

    from pysfpubsub import Client

    host, _, port = settings["endpoint"].rpartition(":")
    client = Client(
        url=settings["url"],
        username=settings["username"],
        password=settings["password"],
        grpc_host=host,
        grpc_port=int(port),
        api_version="62.0",
    )
    client.auth()
    wanted = int(settings["count"])
    seen: list[dict[str, Any]] = []
    done = threading.Event()

    def on_response(response: Any, client: Any) -> None:
        if response.pending_num_requested == 0:
            client.release_subscription_semaphore()
        for evt in response.events:
            schema = client.get_schema_json(evt.event.schema_id)
            decoded = client.decode(schema, evt.event.payload)
            fields = {k: v for k, v in decoded.items() if v is not None}
            print(json.dumps(fields, default=str), flush=True)
            seen.append(fields)
        if len(seen) >= wanted:
            done.set()

    replay = bytes.fromhex(settings.get("replay_id", ""))
    preset = "CUSTOM" if replay else settings.get("preset", "EARLIEST")
    thread = threading.Thread(
        target=client.subscribe,
        args=(settings["topic"], preset, replay, 100, on_response),
        daemon=True,
    )
    thread.start()
    ok = done.wait(float(settings.get("timeout", 60)))
    print(json.dumps({"done": len(seen)}), flush=True)
    os.unlink(bundle.name)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
