"""A small Pub/Sub API client for the emulator's contract tests: one Subscribe call whose
FetchRequests the test sends when it wants, responses read from a queue, payloads decoded."""

from __future__ import annotations

import base64
import queue
import threading
from typing import Any

import grpc

from connector.emulator.pubsub import pubsub_api_pb2 as pb
from connector.emulator.pubsub import pubsub_api_pb2_grpc as pb_grpc
from connector.emulator.pubsub.avro import decode
from connector.emulator.testing import EmulatorHandle

PRESETS = {"LATEST": pb.LATEST, "EARLIEST": pb.EARLIEST, "CUSTOM": pb.CUSTOM}


def stub_for(emu: EmulatorHandle) -> pb_grpc.PubSubStub:
    """A stub over TLS that trusts the emulator's CA."""
    with open(emu.ca_bundle, "rb") as fh:
        creds = grpc.ssl_channel_credentials(fh.read())
    return pb_grpc.PubSubStub(grpc.secure_channel(emu.pubsub_endpoint, creds))


def metadata(emu: EmulatorHandle, user: str = "integration") -> tuple[tuple[str, str], ...]:
    """The documented auth metadata for ``user``'s session."""
    return (
        ("accesstoken", emu.token(user)),
        ("instanceurl", emu.instance_url),
        ("tenantid", emu.organization_id),
    )


def pubsub_faults(emu: EmulatorHandle, **settings: Any) -> dict[str, Any]:
    """``POST /_emulator/faults`` with a ``pubsub`` object; returns the bus's state."""
    out: dict[str, Any] = emu.call("POST", "/_emulator/faults", json={"pubsub": settings})
    return dict(out["pubsub"])


def latest_replay_id(emu: EmulatorHandle) -> bytes:
    """The newest replay id now: CUSTOM from it sees only later changes."""
    return base64.b64decode(pubsub_faults(emu)["latest_replay_id"])


class Subscription:
    """One Subscribe call."""

    def __init__(
        self,
        emu: EmulatorHandle,
        topic: str,
        *,
        preset: str = "CUSTOM",
        replay_id: bytes = b"",
        num_requested: int = 100,
        md: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        self.stub = stub_for(emu)
        self.meta = md if md is not None else metadata(emu)
        self._requests: queue.Queue[Any] = queue.Queue()
        self.responses: queue.Queue[Any] = queue.Queue()
        self._schemas: dict[str, str] = {}
        self._requests.put(
            pb.FetchRequest(
                topic_name=topic,
                replay_preset=PRESETS[preset],
                replay_id=replay_id,
                num_requested=num_requested,
            )
        )
        self.call = self.stub.Subscribe(iter(self._requests.get, None), metadata=self.meta)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.responses.put(response)
        except grpc.RpcError as err:
            self.responses.put(err)

    def request(self, n: int) -> None:
        """Ask for ``n`` more events."""
        self._requests.put(pb.FetchRequest(num_requested=n))

    def next(self, timeout: float = 20) -> Any:
        """The next FetchResponse (raises the call's RpcError when it ended with one)."""
        item = self.responses.get(timeout=timeout)
        if isinstance(item, grpc.RpcError):
            raise item
        return item

    def events(self, n: int, timeout: float = 20) -> list[dict[str, Any]]:
        """The next ``n`` events, decoded, each with ``_replay_id`` added."""
        out: list[dict[str, Any]] = []
        while len(out) < n:
            response = self.next(timeout)
            out += [self.decode(e) for e in response.events]
        return out

    def decode(self, consumer_event: Any) -> dict[str, Any]:
        """One ConsumerEvent's payload, decoded with its schema (GetSchema, cached)."""
        schema_id = consumer_event.event.schema_id
        if schema_id not in self._schemas:
            info = self.stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=self.meta)
            self._schemas[schema_id] = info.schema_json
        event = decode(self._schemas[schema_id], consumer_event.event.payload)
        event["_replay_id"] = consumer_event.replay_id
        return event

    def close(self) -> None:
        """End the call."""
        self._requests.put(None)
        self.call.cancel()


def trailer(err: grpc.RpcError) -> str:
    """The ``error-code`` trailer of a failed call."""
    call: Any = err
    return dict(call.trailing_metadata() or ()).get("error-code", "")
