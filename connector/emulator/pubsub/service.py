"""``eventbus.v1.PubSub`` over gRPC with TLS: Subscribe, GetTopic, GetSchema.

Every call authenticates with the metadata Salesforce documents: ``accesstoken`` (a session
of the org), ``instanceurl`` and ``tenantid`` (the org id). Errors end the call with a gRPC
status and an ``error-code`` trailer as Salesforce sends them.

Subscribe is pull-based: each FetchRequest adds its ``num_requested`` to what the server may
still send (at most 100 outstanding). The first request names the topic and where to start
(LATEST, EARLIEST or CUSTOM after a replay id). With nothing to send for
``keepalive_seconds``, the server sends an empty response carrying the latest replay id the
subscription has passed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from connector.emulator.pubsub import pubsub_api_pb2 as pb
from connector.emulator.pubsub import pubsub_api_pb2_grpc as pb_grpc
from connector.emulator.pubsub.bus import BadReplayId, EventBus

__all__ = ["ERROR_CODES", "MAX_REQUESTED", "PubSubServer"]

MAX_REQUESTED = 100
# The error-code trailers. auth, replay and limit are the codes Salesforce documents; topic,
# schema, argument and publish are the emulator's own spelling for cases it leaves open.
ERROR_CODES = {
    "auth": "sfdc.platform.eventbus.grpc.service.auth.error",
    "replay": "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted",
    "limit": "sfdc.platform.eventbus.grpc.subscription.limit.exceeded",
    "topic": "sfdc.platform.eventbus.grpc.subscription.topic.notfound",
    "schema": "sfdc.platform.eventbus.grpc.schema.notfound",
    "argument": "sfdc.platform.eventbus.grpc.service.invalid.argument",
    "publish": "sfdc.platform.eventbus.grpc.publish.not.allowed",
}


def _abort(context: grpc.ServicerContext, status: grpc.StatusCode, kind: str, msg: str) -> Any:
    rpc_id = str(uuid.uuid4())
    context.set_trailing_metadata((("error-code", ERROR_CODES[kind]), ("rpc-id", rpc_id)))
    context.abort(status, f"{msg} rpcId: {rpc_id}")


class _Servicer(pb_grpc.PubSubServicer):
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.stopping = threading.Event()

    def _auth(self, context: grpc.ServicerContext) -> str:
        meta = {k.lower(): v for k, v in context.invocation_metadata()}
        org = self.bus.org
        token = str(meta.get("accesstoken", ""))
        tenant = str(meta.get("tenantid", ""))
        user = org.user_for_token(token) if token else None
        if user is None or not meta.get("instanceurl") or tenant[:15] != org.organization_id[:15]:
            _abort(context, grpc.StatusCode.UNAUTHENTICATED, "auth",
                   "The session is invalid or expired, or the tenant id is not this org's.")
        assert user is not None
        return user

    def GetTopic(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        try:
            entities = self.bus.entities_of(request.topic_name)
        except KeyError:
            _abort(context, grpc.StatusCode.NOT_FOUND, "topic",
                   f"Topic {request.topic_name} does not exist or is not enabled.")
        schema_id = self.bus.schema(next(iter(entities))).schema_id if entities else ""
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=self.bus.org.organization_id,
            can_publish=False,
            can_subscribe=True,
            schema_id=schema_id,
            rpc_id=str(uuid.uuid4()),
        )

    def GetSchema(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        found = self.bus.schema_by_id(request.schema_id)
        if found is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, "schema",
                   f"No schema with id {request.schema_id}.")
        assert found is not None
        return pb.SchemaInfo(schema_json=found.json, schema_id=found.schema_id,
                             rpc_id=str(uuid.uuid4()))

    def Publish(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._auth(context)
        _abort(context, grpc.StatusCode.PERMISSION_DENIED, "publish",
               "Change events cannot be published; the emulator has no platform events.")

    def Subscribe(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[Any]:
        self._auth(context)
        bus = self.bus
        try:
            first = next(request_iterator)
        except StopIteration:
            return
        topic = first.topic_name
        try:
            entities = bus.entities_of(topic)
        except KeyError:
            _abort(context, grpc.StatusCode.NOT_FOUND, "topic",
                   f"Topic {topic} does not exist or is not enabled.")
        if first.replay_preset == pb.CUSTOM:
            try:
                cursor = bus.position(first.replay_id)
            except BadReplayId as err:
                _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "replay",
                       f"The Replay ID validation failed ({err}).")
        elif first.replay_preset == pb.EARLIEST:
            cursor = bus.earliest()
        else:
            cursor = bus.seq
        if bus.exhausted():
            _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "limit",
                   "You have exceeded the event delivery limit for your org.")
        state = _Flow(min(max(first.num_requested, 0), MAX_REQUESTED))
        reader = threading.Thread(
            target=state.read, args=(request_iterator, topic, bus), daemon=True,
            name="pubsub-fetch-reader",
        )
        reader.start()
        last_sent = _now()
        while context.is_active() and not self.stopping.is_set():
            if state.error is not None:
                _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "argument", state.error)
            if state.closed:
                return
            pending = state.pending
            events: list[Any] = []
            if pending > 0:
                found, passed = bus.after(cursor, entities, pending)
                allowed = bus.allow(len(found))
                if allowed < len(found):
                    found = found[:allowed]
                    passed = found[-1].seq if found else cursor
                if found:
                    cursor = passed
                    state.take(len(found))
                    events = [
                        pb.ConsumerEvent(
                            event=pb.ProducerEvent(
                                id=f"{e.pending.header['transactionKey']}-"
                                   f"{e.pending.header['sequenceNumber']}",
                                schema_id=bus.schema(e.pending.entity).schema_id,
                                payload=e.payload,
                            ),
                            replay_id=bus.replay_id(e.seq),
                        )
                        for e in found
                    ]
                    yield pb.FetchResponse(
                        events=events,
                        latest_replay_id=bus.replay_id(cursor),
                        rpc_id=str(uuid.uuid4()),
                        pending_num_requested=state.pending,
                    )
                    last_sent = _now()
                    continue
                if allowed == 0 and bus.exhausted() and bus.after(cursor, entities, 1)[0]:
                    _abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "limit",
                           "You have exceeded the event delivery limit for your org.")
                cursor = max(cursor, passed)
            if _now() - last_sent >= bus.keepalive_seconds:
                yield pb.FetchResponse(
                    latest_replay_id=bus.replay_id(cursor),
                    rpc_id=str(uuid.uuid4()),
                    pending_num_requested=state.pending,
                )
                last_sent = _now()
                continue
            wait = max(0.0, min(1.0, bus.keepalive_seconds - (_now() - last_sent)))
            bus.wait(cursor if state.pending else 1 << 62, wait)


def _now() -> float:
    return time.monotonic()


class _Flow:
    """How many events the subscriber still wants, fed by its FetchRequests."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.closed = False
        self.error: str | None = None
        self._lock = threading.Lock()

    def read(self, requests: Iterator[Any], topic: str, bus: EventBus) -> None:
        try:
            for request in requests:
                if request.topic_name and request.topic_name != topic:
                    self.error = (f"topic_name {request.topic_name} differs from the "
                                  f"subscription's {topic}")
                elif request.num_requested < 0:
                    self.error = "num_requested must not be negative"
                with self._lock:
                    self.pending = min(self.pending + max(request.num_requested, 0),
                                       MAX_REQUESTED)
                bus.wake()
        except Exception:  # the client went away: the call ends
            pass
        self.closed = True
        bus.wake()

    def take(self, n: int) -> None:
        with self._lock:
            self.pending -= n


class PubSubServer:
    """The gRPC server of one emulator: TLS with the emulator's certificate, its own port."""

    def __init__(self, bus: EventBus, host: str, cert: Path, key: Path) -> None:
        self.bus = bus
        self.servicer = _Servicer(bus)
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=128, thread_name_prefix="pubsub"),
            options=[("grpc.so_reuseport", 0)],
        )
        pb_grpc.add_PubSubServicer_to_server(self.servicer, self.server)
        creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        self.port = self.server.add_secure_port(f"{host}:0", creds)
        self.endpoint = f"{host}:{self.port}"

    def start(self) -> None:
        """Serve in the background."""
        self.server.start()

    def stop(self) -> None:
        """Stop now: open subscriptions end."""
        self.servicer.stopping.set()
        self.bus.wake()
        self.server.stop(grace=None)

