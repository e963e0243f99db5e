"""The JWT's segments are decoded by `cds.web.auth`'s check in C, not by PyJWT's Python loop: it
must refuse exactly what PyJWT refuses (GHSA-hxm8-2xgr-2p9m: junk characters, bad padding,
non-canonical encodings) and decode the rest to the same bytes."""

from __future__ import annotations

import base64
import itertools

import jwt
import pytest
from jwt.api_jws import PyJWS

from cds.web import auth

REAL = base64.urlsafe_b64encode(b'{"alg":"RS384","kid":"ehr-1","typ":"JWT"}').rstrip(b"=")


def _segments() -> list[bytes]:
    """Every kind of segment: canonical ones of every length mod 4, each with padding of 0-3
    `=`, with each byte value put in (junk), and with non-canonical trailing bits."""
    found = {REAL + b"=" * padding for padding in range(4)}
    for length in range(0, 9):
        canonical = base64.urlsafe_b64encode(bytes(range(1, length + 1))).rstrip(b"=")
        for padding in range(4):
            found.add(canonical + b"=" * padding)
    for byte in range(256):
        found.update({REAL[:5] + bytes([byte]) + REAL[5:], bytes([byte]) * 4})
    for last in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
        found.update({b"QQ" + bytes([last]), b"Q" + bytes([last]), b"QUJD" + bytes([last]) * 2})
    for a, b in itertools.product(b"A=_-+/ .\n", repeat=2):
        found.add(REAL[:8] + bytes([a, b]))
    return sorted(found)


def _outcome(decode: object, segment: bytes) -> bytes | str:
    try:
        return decode(segment, "header")  # type: ignore[operator, no-any-return]
    except jwt.DecodeError as error:
        return f"refused: {error}"


def test_every_segment_is_decoded_or_refused_exactly_as_pyjwt_does() -> None:
    ours = auth._SegmentCheckInC._decode_base64url_segment
    outcomes = {s: _outcome(PyJWS._decode_base64url_segment, s) for s in _segments()}
    assert [s for s, theirs in outcomes.items() if _outcome(ours, s) != theirs] == []
    refused = [s for s, theirs in outcomes.items() if isinstance(theirs, str)]
    assert len(refused) > 300 and len(outcomes) - len(refused) > 100  # both kinds, many of each
    assert REAL[:5] + b"!" + REAL[5:] in refused and REAL + b"===" in refused


def test_the_segment_check_in_c_is_the_one_the_verifier_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If PyJWT stopped calling `_decode_base64url_segment` through the instance, our check would
    silently not be used (PyJWT's own would, still safe, but slower): that must be seen."""
    seen: list[bytes] = []
    original = auth._SegmentCheckInC._decode_base64url_segment

    def spy(segment: bytes, name: str) -> bytes:
        seen.append(segment)
        return original(segment, name)

    monkeypatch.setattr(auth._SegmentCheckInC, "_decode_base64url_segment", staticmethod(spy))
    token = jwt.encode({"sub": "x"}, "k" * 32, algorithm="HS256")
    with pytest.raises(jwt.InvalidAlgorithmError):
        auth._DECODER.decode(token, key="k" * 32, algorithms=["RS384"])
    assert seen == [part.encode() for part in token.split(".")]
