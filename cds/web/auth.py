"""Authentication of the calling EHR (CDS Hooks 2.0 "Trusting CDS Clients" + best practices).

The EHR signs a short-lived JWT with its private key; we accept it only if its issuer is
allow-listed, its signature verifies with a key (by `kid`) from that issuer's JWKS, its `aud` is
the exact external URL called, it is fresh (`exp`/`iat` with a small leeway), and its `jti` was
never seen.
Asymmetric algorithms only: `none` and every HMAC algorithm are refused before any key is looked at.
A failure is a bare 401; the reason goes to the log, never to the caller.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
import orjson
from jwt import PyJWK, PyJWKClient, PyJWKSet
from jwt.utils import base64url_decode, base64url_encode

if TYPE_CHECKING:
    from cds.replay import ReplayCache

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)


class AuthError(Exception):
    """Why a token was refused (logged, never sent to the caller)."""


@dataclass(frozen=True)
class TrustedIssuer:
    """An allow-listed EHR: its JWKS (URL or local file) and the `jku` URLs it may name."""

    issuer: str
    jwks: str
    allowed_jku: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Caller:
    issuer: str
    jti: str
    tenant: str | None


def owner_of(caller: Caller | None) -> tuple[str | None, str | None]:
    """Who receives a card and may give feedback on it (None, None in open development mode)."""
    return (caller.issuer, caller.tenant) if caller else (None, None)


class _FileKeys:
    """A JWKS read from a local file, re-read when the file changes (key rotation)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime = -1.0
        self._keys: PyJWKSet | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> PyJWK:
        with self._lock:
            mtime = self._path.stat().st_mtime
            if self._keys is None or mtime != self._mtime:
                self._keys = PyJWKSet.from_dict(json.loads(self._path.read_text(encoding="utf-8")))
                self._mtime = mtime
            keys = self._keys
        for key in keys.keys:
            if key.key_id == kid:
                return key
        raise AuthError(f"no key with kid {kid!r} in {self._path}")


class _UrlKeys:
    """A JWKS fetched over HTTPS with a timeout, cached; an unknown `kid` triggers one refetch."""

    def __init__(self, url: str, timeout: float) -> None:
        self._client = PyJWKClient(
            url, cache_keys=True, lifespan=3600, timeout=int(max(1, timeout))
        )

    def key(self, kid: str) -> PyJWK:
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientError as error:
            raise AuthError(f"JWKS lookup failed: {error}") from error


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims read without any check, only to choose the issuer and key; `jwt.decode`
    then verifies the whole token. (PyJWT's own unverified read validates the token's characters
    one by one in Python, as its verified decode does again: ~0.1 ms a call for nothing.)"""
    try:
        header_part, payload_part, _signature = token.split(".")
        header, claims = (
            orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            for part in (header_part, payload_part)
        )
    except (ValueError, binascii.Error) as error:  # orjson.JSONDecodeError is a ValueError
        raise AuthError(f"malformed token: {type(error).__name__}") from error
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("malformed token: header or claims not a JSON object")
    return header, claims


_BASE64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class _SegmentCheckInC(jwt.PyJWS):
    """PyJWT's signature handling, with its check of each token segment's base64url characters
    done by `bytes.translate` (C) instead of a Python loop over every character: ~35 µs of the
    ~0.1 ms a verified decode costs, on every call (docs/performance.md, round 5). Refuses
    exactly what PyJWT's own check refuses (GHSA-hxm8-2xgr-2p9m: junk characters, padding):
    `tests/unit/test_jwt_segments.py` compares the two on every kind of segment."""

    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if (
            padding > 2
            or (padding and len(segment) % 4 != 0)
            or len(stripped) % 4 == 1
            or stripped.translate(None, _BASE64URL_ALPHABET)
        ):
            raise jwt.DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64url_decode(stripped)
        except (TypeError, binascii.Error) as err:
            raise jwt.DecodeError(f"Invalid {name} padding") from err
        if base64url_encode(decoded) != stripped:
            raise jwt.DecodeError(f"Invalid {name} padding")
        return decoded


_DECODER = jwt.PyJWT()
_DECODER._jws = _SegmentCheckInC(options=_DECODER._get_sig_options())


def parse_trusted_issuers(config: Mapping[str, Any]) -> list[TrustedIssuer]:
    """`{"issuer": "https://ehr/jwks.json" | "/path/jwks.json" | {"jwks": ..., "jku": [...]}}`."""
    issuers = []
    for issuer, value in config.items():
        if isinstance(value, str):
            issuers.append(TrustedIssuer(issuer, value))
        elif isinstance(value, Mapping) and isinstance(value.get("jwks"), str):
            issuers.append(
                TrustedIssuer(
                    issuer, value["jwks"], frozenset(str(u) for u in value.get("jku", []))
                )
            )
        else:
            raise ValueError(f"trusted issuer {issuer!r}: give a JWKS URL or file path")
    return issuers


class JwtVerifier:
    def __init__(
        self,
        issuers: list[TrustedIssuer],
        replay: ReplayCache,
        leeway_seconds: int = 30,
        max_lifetime_seconds: int = 3600,
        jwks_timeout: float = 3.0,
    ) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._replay = replay
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._timeout = jwks_timeout
        self._sources: dict[str, _FileKeys | _UrlKeys] = {}
        self._lock = threading.Lock()

    def _keys(self, location: str) -> _FileKeys | _UrlKeys:
        with self._lock:
            if location not in self._sources:
                if location.startswith(("https://", "http://")):
                    self._sources[location] = _UrlKeys(location, self._timeout)
                else:
                    self._sources[location] = _FileKeys(Path(location))
            return self._sources[location]

    def verify(self, authorization: str | None, audience: str) -> Caller:
        """The caller, or AuthError for any token that is not exactly right (never another
        exception: odd claim types are refusals, not 500s)."""
        try:
            return self._verify(authorization, audience)
        except AuthError:
            raise
        except (
            TypeError,
            ValueError,
            KeyError,
            AttributeError,
            OverflowError,
            RecursionError,
        ) as error:
            raise AuthError(f"malformed token ({type(error).__name__})") from error

    def _verify(self, authorization: str | None, audience: str) -> Caller:
        scheme, _, token = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():  # RFC 6750: scheme case-insensitive
            raise AuthError("no bearer token")
        token = token.strip()
        header, unverified = _unverified_parts(token)
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise AuthError(f"algorithm {algorithm!r} is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token header has no kid")
        issuer = self._issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise AuthError(f"issuer {unverified.get('iss')!r} is not trusted")
        # `jku` is honoured only when allow-listed for this issuer; otherwise it is ignored and the
        # configured JWKS is used, so a forged `jku` can never bring its own key.
        jku = header.get("jku")
        location = jku if isinstance(jku, str) and jku in issuer.allowed_jku else issuer.jwks
        key = self._keys(location).key(kid)
        try:
            claims = _DECODER.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer.issuer,
                leeway=self._leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise AuthError(f"token rejected: {type(error).__name__}: {error}") from error
        for name in ("exp", "iat"):
            if isinstance(claims[name], bool) or not isinstance(claims[name], int | float):
                raise AuthError(f"claim {name} is not a number")
        for name in ("jti", "sub"):
            if not isinstance(claims[name], str) or not claims[name]:
                raise AuthError(f"claim {name} is not a non-empty string")
        tenant = claims.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthError("claim tenant is not a string")
        now = time.time()
        if claims["iat"] > now + self._leeway:
            raise AuthError("token issued in the future")
        if claims["exp"] - claims["iat"] > self._max_lifetime:
            raise AuthError("token lifetime is longer than allowed")
        jti = str(claims["jti"])
        if not self._replay.first_use(issuer.issuer, jti, float(claims["exp"]) + self._leeway):
            raise AuthError("jti already used (replay)")
        return Caller(issuer.issuer, jti, tenant)
