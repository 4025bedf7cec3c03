"""The emulator's Pub/Sub API: change events (Change Data Capture) over gRPC.

``bus`` keeps the org's change events and replay ids, ``changes`` builds them from committed
transactions, ``avro`` their schemas from describe, ``service`` serves ``eventbus.v1.PubSub``.
``pubsub_api.proto`` is the wire contract; ``pubsub_api_pb2*`` are generated from it.
"""
