"""One signature for webhooks both ways (connector.signing): replay window and key rotation."""

from __future__ import annotations

import pytest

from connector.signing import Keyring, SignatureError, digest, sign, verify

BODY = b'{"id":"evt-1","sobject":"Account","ids":["001000000000001AAA"]}'
T = 1_700_000_000


def test_a_signature_covers_the_timestamp_and_the_exact_body() -> None:
    header = sign("k1", T, BODY)
    assert header == f"t={T},v1={digest('k1', T, BODY)}"
    assert verify(header, BODY, "k1", now=T, tolerance=300) == T
    assert verify(header, BODY.decode(), "k1", now=T, tolerance=300) == T  # text == utf-8 bytes
    with pytest.raises(SignatureError, match="does not match"):
        verify(header, BODY.replace(b"evt-1", b"evt-2"), "k1", now=T, tolerance=300)
    moved = header.replace(f"t={T}", f"t={T + 1}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(moved, BODY, "k1", now=T, tolerance=300)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_signature_outside_the_tolerance_is_a_replay(skew: int) -> None:
    header = sign("k1", T + skew, BODY)
    with pytest.raises(SignatureError, match="stale"):
        verify(header, BODY, "k1", now=T, tolerance=300)
    assert verify(header, BODY, "k1", now=T, tolerance=301) == T + skew


@pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={T}", "t=soon,v1=abc"])
def test_a_missing_or_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(SignatureError, match=r"missing|malformed"):
        verify(header, BODY, "k1", now=T, tolerance=300)


def test_rotation_signs_with_one_secret_and_accepts_the_listed_ones() -> None:
    ring = Keyring.of("new", ["old", "new", ""])
    assert ring.verifying == ("new", "old")
    assert sign(ring, T, BODY) == sign("new", T, BODY)
    for secret in ("new", "old"):
        assert verify(sign(secret, T, BODY), BODY, ring, now=T, tolerance=1) == T
    with pytest.raises(SignatureError, match="retired"):
        verify(sign("older", T, BODY), BODY, ring, now=T, tolerance=1)
    # a sender mid-rotation may send several v1 entries; one matching is enough
    both = f"{sign('older', T, BODY)},v1={digest('old', T, BODY)}"
    assert verify(both, BODY, ring, now=T, tolerance=1) == T
    # once "old" is dropped, its signatures fail
    with pytest.raises(SignatureError):
        verify(sign("old", T, BODY), BODY, Keyring("new"), now=T, tolerance=1)
