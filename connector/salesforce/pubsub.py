"""The Pub/Sub API client: Change Data Capture events over gRPC with TLS.

Salesforce's ``eventbus.v1.PubSub`` service, reached at ``salesforce.pubsub_endpoint`` with the
integration user's session (metadata ``accesstoken``, ``instanceurl``, ``tenantid``). The wire
contract (the .proto and its generated modules) lives with the emulator, which serves it; this
module is the connector's only user of it.

``Subscription.batches()`` yields what each FetchResponse brought, decoded: change events with
their header fields, or an empty batch (a keepalive) with the newest replay id. Flow control
follows the consumer: the next events are asked for only once the previous ones were handed
over. Failures become the error a caller acts on: ``ReplayRefused`` (a replay id corrupted or
past retention), ``DeliveryLimitExceeded``, ``SessionExpired`` and ``ApiUnavailable``.
"""

from __future__ import annotations

import io
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import grpc

from connector.emulator.pubsub import pubsub_api_pb2 as pb
from connector.emulator.pubsub import pubsub_api_pb2_grpc as pb_grpc
from connector.salesforce.errors import ApiUnavailable, SalesforceApiError, SessionExpired

__all__ = [
    "BATCH",
    "ChangeEvent",
    "DeliveryLimitExceeded",
    "EventBatch",
    "PubSubClient",
    "ReplayRefused",
    "Subscription",
    "topic_of",
]

BATCH = 100  # the most events one FetchRequest may ask for
AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
REPLAY_ERROR = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
REPLAY_INVALID = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
LIMIT_ERROR = "sfdc.platform.eventbus.grpc.subscription.limit.exceeded"


class ReplayRefused(ApiUnavailable):
    """The stored replay id was refused: corrupted, or its event is past retention."""


class DeliveryLimitExceeded(ApiUnavailable):
    """The org's event delivery allocation is used up (it frees up over 24 hours)."""


def topic_of(sobject: str) -> str:
    """The change event channel of an object: Account -> /data/AccountChangeEvent,
    Partner__c -> /data/Partner__ChangeEvent."""
    base = sobject[:-3] + "__" if sobject.endswith("__c") else sobject
    return f"/data/{base}ChangeEvent"


@dataclass(frozen=True)
class ChangeEvent:
    """One change event's header, and the replay id that follows it."""

    entity: str
    change_type: str  # CREATE UPDATE DELETE UNDELETE, GAP_* or GAP_OVERFLOW
    record_ids: tuple[str, ...]
    change_origin: str
    commit_at: datetime
    commit_user: str
    transaction_key: str
    replay_id: bytes


@dataclass
class EventBatch:
    """What one FetchResponse brought."""

    events: list[ChangeEvent] = field(default_factory=list)
    latest_replay_id: bytes = b""


@dataclass(frozen=True)
class Session:
    """Who calls: the session's access token, the instance URL, the org id."""

    access_token: str
    instance_url: str
    organization_id: str


class PubSubClient:
    """A channel to the Pub/Sub API; ``session`` gives the current login, ``refresh`` renews
    it (called once when the API says the session is no longer valid)."""

    def __init__(
        self,
        endpoint: str,
        session: Callable[[], Session],
        *,
        refresh: Callable[[], None] = lambda: None,
        ca_bundle: Path | None = None,
    ) -> None:
        roots = ca_bundle.read_bytes() if ca_bundle is not None else None
        self.channel = grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(roots))
        self.stub = pb_grpc.PubSubStub(self.channel)
        self.session = session
        self.refresh = refresh
        self._schemas: dict[str, Any] = {}
        self._lock = threading.Lock()

    def metadata(self) -> tuple[tuple[str, str], ...]:
        s = self.session()
        return (
            ("accesstoken", s.access_token),
            ("instanceurl", s.instance_url),
            ("tenantid", s.organization_id),
        )

    def schema(self, schema_id: str) -> Any:
        """The parsed Avro schema for ``schema_id`` (GetSchema, cached)."""
        with self._lock:
            found = self._schemas.get(schema_id)
        if found is None:
            try:
                info = self.stub.GetSchema(
                    pb.SchemaRequest(schema_id=schema_id), metadata=self.metadata(), timeout=30
                )
            except grpc.RpcError as err:
                raise translate(err) from None
            found = fastavro.parse_schema(json.loads(info.schema_json))
            with self._lock:
                self._schemas[schema_id] = found
        return found

    def subscribe(self, topic: str, replay_id: bytes | None) -> Subscription:
        """A subscription to ``topic`` after ``replay_id`` (None: from now on)."""
        return Subscription(self, topic, replay_id)

    def close(self) -> None:
        self.channel.close()


class Subscription:
    """One Subscribe call."""

    def __init__(self, client: PubSubClient, topic: str, replay_id: bytes | None) -> None:
        self.client = client
        self.topic = topic
        self._requests: queue.Queue[Any] = queue.Queue()
        self._requests.put(
            pb.FetchRequest(
                topic_name=topic,
                replay_preset=pb.CUSTOM if replay_id else pb.LATEST,
                replay_id=replay_id or b"",
                num_requested=BATCH,
            )
        )
        self.call = client.stub.Subscribe(
            iter(self._requests.get, None), metadata=client.metadata()
        )

    def batches(self) -> Iterator[EventBatch]:
        """Each FetchResponse, decoded; ends when ``cancel()`` is called."""
        try:
            for response in self.call:
                batch = EventBatch(latest_replay_id=response.latest_replay_id)
                batch.events = [self._decode(e) for e in response.events]
                yield batch
                if response.events and response.pending_num_requested == 0:
                    self._requests.put(pb.FetchRequest(num_requested=BATCH))
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.CANCELLED:
                return
            raise translate(err) from None

    def _decode(self, consumer: Any) -> ChangeEvent:
        schema = self.client.schema(consumer.event.schema_id)
        record = fastavro.schemaless_reader(io.BytesIO(consumer.event.payload), schema, None)
        assert isinstance(record, dict)
        h = record["ChangeEventHeader"]
        return ChangeEvent(
            entity=str(h["entityName"]),
            change_type=str(h["changeType"]),
            record_ids=tuple(h["recordIds"]),
            change_origin=str(h.get("changeOrigin") or ""),
            commit_at=datetime.fromtimestamp(int(h["commitTimestamp"]) / 1000, UTC),
            commit_user=str(h.get("commitUser") or ""),
            transaction_key=str(h.get("transactionKey") or ""),
            replay_id=bytes(consumer.replay_id),
        )

    def cancel(self) -> None:
        """End the call (from any thread)."""
        self._requests.put(None)
        self.call.cancel()


def translate(err: grpc.RpcError) -> SalesforceApiError:
    """The connector's error for a failed call, by its ``error-code`` trailer."""
    call: Any = err
    trailers = dict(call.trailing_metadata() or ())
    code = str(trailers.get("error-code", ""))
    detail = str(call.details() or "")
    if code in (REPLAY_ERROR, REPLAY_INVALID):
        return ReplayRefused(f"the Pub/Sub API refused the stored replay id: {detail}", code=code)
    if code == LIMIT_ERROR:
        return DeliveryLimitExceeded(
            f"the org's event delivery allocation is used up: {detail}", code=code
        )
    if code == AUTH_ERROR or call.code() == grpc.StatusCode.UNAUTHENTICATED:
        return SessionExpired(f"the Pub/Sub API refused the session: {detail}", code=code)
    return ApiUnavailable(
        f"the Pub/Sub API failed ({call.code().name}): {detail}", code=code or call.code().name
    )
