"""Pure parts of the outbox: coalescing, conflict policies, webhook signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.outbox.coalesce import ClaimedItem, coalesce
from connector.outbox.notify import body_text, post_signed
from connector.outbox.prepare import decide
from connector.signing import SignatureError, sign, verify

T0 = datetime(2026, 11, 30, tzinfo=UTC)


def _item(n: int, record: str, fields: dict[str, object]) -> ClaimedItem:
    return ClaimedItem(
        id=f"i{n}", entity="deal_registration", sobject="Deal_Registration__c",
        operation="update", record_key=record, sf_id=record, fields=fields,
        external_id_field=None, external_id=None, attempts=0, base_seq=n,
        created_at=T0 + timedelta(seconds=n), seq=n,
    )


def test_several_pending_updates_to_one_record_coalesce_to_the_latest_values() -> None:
    """Three items for one record and one for another give two writes; later values win
    field by field and every item is settled by its record's write."""
    writes = coalesce([
        _item(3, "a", {"Status__c": "Rejected"}),
        _item(1, "a", {"Status__c": "Approved", "Decision_Reason__c": "ok"}),
        _item(2, "b", {"Status__c": "Approved"}),
        _item(4, "a", {"Decision_Reason__c": "changed my mind"}),
    ])
    by_key = {w.record_key: w for w in writes}
    assert by_key["a"].fields == {"Status__c": "Rejected", "Decision_Reason__c": "changed my mind"}
    assert by_key["a"].item_ids == ["i1", "i3", "i4"]
    assert by_key["a"].sources["Status__c"].id == "i3"
    assert by_key["a"].base_seq == 1
    assert by_key["a"].payload() == {"Id": "a", **by_key["a"].fields}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(["X", "Y"]),
                          st.integers(0, 9)), max_size=30))
def test_coalescing_equals_applying_the_items_in_order(
    ops: list[tuple[str, str, int]]
) -> None:
    """Whatever the order items arrive in, each record's write equals replaying its items
    in creation order."""
    items = [_item(n, rec, {f: v}) for n, (rec, f, v) in enumerate(ops)]
    expected: dict[str, dict[str, object]] = {}
    for rec, f, v in ops:
        expected.setdefault(rec, {})[f] = v
    got = {w.record_key: w.fields for w in coalesce(reversed(items))}
    assert got == expected


def test_conflict_policies_pick_a_side() -> None:
    """crm_wins keeps Salesforce's value, prm_wins ours, newest_wins the later change."""
    early, late = T0, T0 + timedelta(minutes=1)
    assert decide("crm_wins", early, late) == "crm"
    assert decide("prm_wins", late, early) == "prm"
    assert decide("newest_wins", late, early) == "crm"
    assert decide("newest_wins", early, late) == "prm"


def test_a_webhook_is_signed_over_timestamp_and_body_and_retried_on_5xx() -> None:
    """The X-PRM-Signature header verifies with the secret; 503 is retried, 400 is not,
    a missing secret is a final error naming the variable."""
    sent: list[tuple[str, bytes, dict[str, str]]] = []

    def poster(status: int):  # type: ignore[no-untyped-def]
        def post(url: str, data: bytes, headers: dict[str, str], timeout: float):  # type: ignore[no-untyped-def]
            sent.append((url, data, headers))
            return status, ""
        return post

    fields = {"url": "https://hooks.example/prm", "secret_env": "HOOK_SECRET",
              "body": {"event": "approved", "id": "a01"}}
    env = {"HOOK_SECRET": "s3cret"}
    ok = post_signed(fields, now=1_700_000_000, timeout=5, env=env, poster=poster(204))
    assert ok.ok
    url, data, headers = sent[-1]
    assert url == "https://hooks.example/prm"
    assert data.decode() == body_text(fields["body"]) == '{"event":"approved","id":"a01"}'
    assert headers["X-PRM-Signature"] == sign("s3cret", 1_700_000_000, data.decode())
    assert verify(headers["X-PRM-Signature"], data, "s3cret", now=1_700_000_000, tolerance=1)
    with pytest.raises(SignatureError):
        verify(headers["X-PRM-Signature"], data, "other", now=1_700_000_000, tolerance=1)
    assert post_signed(fields, now=1, timeout=5, env=env, poster=poster(503)).retry
    bad = post_signed(fields, now=1, timeout=5, env=env, poster=poster(400))
    assert (bad.ok, bad.retry, bad.code) == (False, False, "HTTP_400")
    missing = post_signed(fields, now=1, timeout=5, env={}, poster=poster(204))
    assert (missing.retry, missing.code) == (False, "MISSING_SECRET")
    assert "HOOK_SECRET" in missing.message


def test_a_lease_is_released_only_when_its_holder_is_gone() -> None:
    """A claim names its holder (host, pid, incarnation, nonce): a live process's claim is
    kept; a dead pid's, or an earlier incarnation's of our own pid (a restarted container's
    PID 1), is released; another host's waits for its lease to end."""
    import os
    import socket
    import subprocess
    import sys

    from connector.outbox import dispatcher

    host = socket.gethostname()
    mine = dispatcher._holder()
    assert not dispatcher._dead_here(mine)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    assert dispatcher._dead_here(f"{host}:{gone.stdout.strip()}:abcdef01:1234")
    assert dispatcher._dead_here(f"{host}:{os.getpid()}:00000000:1234")
    assert not dispatcher._dead_here(f"{host}:{os.getppid()}:abcdef01:1234")
    assert not dispatcher._dead_here(f"another-{host}:{gone.stdout.strip()}:abcdef01:1234")
