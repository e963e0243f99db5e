"""Authentication of the calling EHR (CDS Hooks 2.0 "Trusting CDS Clients" + best practices).

The EHR signs a short-lived JWT with its private key; we accept it only if its issuer is
allow-listed, its signature verifies with a key (by `kid`) from that issuer's JWKS, its `aud` is
the exact external URL called, it is fresh (`exp`/`iat` with a small leeway), and its `jti` was
never seen. An issuer's JWKS (URL or file) is the truth as last read: a key dropped from it is
refused (a URL's set is fetched again after JWKS_LIFESPAN_SECONDS, or sooner for an unknown `kid`,
at most once per JWKS_REFETCH_COOLDOWN_SECONDS; while the issuer has no keys yet, a failed fetch is
tried again after JWKS_RETRY_AFTER_FAILURE_SECONDS, and calls wait for a fetch under way). A worker
gives JWKS fetches a few of its threads, over all URLs, each for JWKS_FETCH_TIMEOUT_SECONDS at most.
Asymmetric algorithms only: `none` and every HMAC algorithm are refused before any key is looked at.
A failure is a bare 401; the reason goes to the log, never to the caller.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from time import monotonic as _cutter_clock  # the FHIR deadline cutter's (tests move `time`)
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
import orjson
from jwt import PyJWK
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


# How long a JWK set fetched from a URL is used before it is fetched again: a key the issuer has
# dropped from its JWKS (revoked) is refused at the latest this long after the drop, or at once
# when a token naming an unknown `kid` has the set fetched again sooner. (PyJWT's own per-`kid`
# cache, `PyJWKClient(cache_keys=True)`, never forgets a key: it is not used.)
JWKS_LIFESPAN_SECONDS = 300.0
# At most one fetch of a JWKS URL per this many seconds once the issuer has keys, whatever came
# of the last fetch (keys, an error, a timeout): a token naming an unknown `kid` (anyone can send
# one, without any key) within it is refused at once, never waits for or starts a fetch. PyJWT's
# own cooldown starts only after a successful fetch, so a failing or hanging URL was asked again,
# for up to its timeout, by every such token. A key the EHR starts using before it was fetched here
# waits at most this long (EHRs publish a new key before they sign with it).
JWKS_REFETCH_COOLDOWN_SECONDS = 30.0
# While an issuer has no keys (this worker never fetched its JWKS, or the last set is older than
# JWKS_STALE_LIMIT_SECONDS), a fetch that failed is tried again after this many seconds instead of
# the cooldown: every call of the issuer is refused until a fetch succeeds, so a worker started
# while the EHR's JWKS was briefly unreachable refuses for seconds, not half a minute. Still one
# fetch at a time and at most one per this many seconds, however many tokens name the issuer.
JWKS_RETRY_AFTER_FAILURE_SECONDS = 5.0
# While an issuer has no keys, a call that finds a fetch of its JWKS under way (a worker just
# started) waits for it, until the fetch's own timeout at the latest, instead of being refused.
# At most this many calls wait at once in a worker, over all JWKS URLs (more are refused at once).
JWKS_MAX_WAITING_CALLS = 2
# At most this many JWKS fetches run at once in a worker, over all URLs: a call that would start
# one more is answered from the set in hand, or refused at once. With the waiting calls, JWKS
# URLs that hang (an issuer's, the `jku` URLs it may name, other issuers') hold at most
# JWKS_MAX_FETCHES + JWKS_MAX_WAITING_CALLS of a worker's threads, each for at most
# JWKS_FETCH_TIMEOUT_SECONDS; calls verified with keys in hand never wait.
JWKS_MAX_FETCHES = 2
# Seconds a JWKS fetch may take, connection and the whole answer: a fetch still running then has
# its connection cut (cds.fhir.client's deadline cutter), so a server trickling its answer a byte
# at a time holds the thread no longer than a silent one (a timeout per read would not end it).
JWKS_FETCH_TIMEOUT_SECONDS = 3.0
# A JWKS answer larger than this is refused unread (a set of a few keys is a few kilobytes; one
# with certificate chains, tens).
JWKS_MAX_BYTES = 1_000_000
# While fetches fail (the issuer's server is down or hangs), the last set fetched keeps serving
# until it is this old; then every token of the issuer is refused until a fetch succeeds. It bounds
# how long an unreachable JWKS can keep a revoked key alive.
JWKS_STALE_LIMIT_SECONDS = 3600.0

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


@dataclass(frozen=True, slots=True)
class _Key:
    """A signing key of a JWKS and the algorithms a token verified with it may name."""

    key: Any  # a PyJWK (bound to its one algorithm) or, for an RSA JWK without "alg", its key
    algorithms: frozenset[str]


class _JwksError(Exception):
    """The document is not a JWK set."""


def _signing_keys(document: Any) -> dict[str, _Key]:
    """The usable signing keys of a JWK set, by `kid`: keys with a `kid` and `use` "sig" or none,
    the first of a repeated `kid` (as PyJWKClient chooses); other key types and algorithms are
    skipped (as PyJWKSet skips them). A JWK stating its `alg` verifies only that algorithm (PyJWK
    binds it). An RSA JWK without one (RFC 7517 makes it optional) verifies whichever RSA algorithm
    the token names: PyJWK alone would take RS256 and refuse the RS384 CDS Hooks recommends. An EC
    JWK without one verifies the algorithm of its curve (PyJWK's choice: P-256 ES256, P-384 ES384,
    P-521 ES512). Never HMAC or `none`: they are not in ALLOWED_ALGORITHMS."""
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise _JwksError('not a JWK set (no "keys" list)')
    found: dict[str, _Key] = {}
    for data in keys:
        if not isinstance(data, dict):
            continue
        kid = data.get("kid")
        if (
            not isinstance(kid, str)
            or not kid
            or kid in found
            or data.get("use") not in ("sig", None)
        ):
            continue
        try:
            jwk = PyJWK(data)
        except (jwt.PyJWTError, NotImplementedError, TypeError, ValueError, KeyError):
            continue  # as PyJWKSet skips them; also "alg": "none" (NotImplementedError), a list
        if jwk.key_type == "RSA" and not data.get("alg"):
            found[kid] = _Key(jwk.key, _RSA_ALGORITHMS)
        elif jwk.algorithm_name in ALLOWED_ALGORITHMS:
            found[kid] = _Key(jwk, frozenset({jwk.algorithm_name}))
    return found


def _key_of(keys: dict[str, _Key], kid: str, where: object) -> _Key:
    if not keys:
        raise AuthError(f"JWKS lookup failed: {where} has no usable signing key")
    found = keys.get(kid)
    if found is None:
        raise AuthError(f"no key with kid {kid!r} in {where}")
    return found


class _FileKeys:
    """A JWKS read from a local file, read again only when the file changes (key rotation: another
    modification time, size or inode). While the file is missing, unreadable or holds no usable
    key, every token of its issuer is refused (the file is read once per change, not per call)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        # (the file's version, its keys or why it has none)
        self._read: tuple[tuple[int, int, int], dict[str, _Key] | str] | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> _Key:
        try:
            stat = self._path.stat()
        except OSError as error:
            raise AuthError(f"JWKS lookup failed: {self._path}: {error.strerror}") from None
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        read = self._read
        if read is None or read[0] != version:
            with self._lock:
                read = self._read
                if read is None or read[0] != version:
                    read = self._read = (version, self._load())
        keys = read[1]
        if isinstance(keys, str):
            raise AuthError(f"JWKS lookup failed: {self._path}: {keys}")
        return _key_of(keys, kid, self._path)

    def _load(self) -> dict[str, _Key] | str:
        try:
            keys = _signing_keys(json.loads(self._path.read_bytes()))
        except (OSError, ValueError, RecursionError, _JwksError) as error:  # ValueError: JSON
            log.warning(
                "JWKS file %s cannot be read: %s: %s", self._path, type(error).__name__, error
            )
            return f"{type(error).__name__}: {error}"
        if not keys:
            log.warning("JWKS file %s has no usable signing key", self._path)
        return keys


@dataclass(frozen=True, slots=True)
class _KeySet:
    keys: dict[str, _Key]
    fetched: float  # time.monotonic()


def _usable(keys: _KeySet | None, now: float) -> bool:
    """Whether a fetched set may still verify tokens (younger than JWKS_STALE_LIMIT_SECONDS)."""
    return keys is not None and now - keys.fetched <= JWKS_STALE_LIMIT_SECONDS


@dataclass(frozen=True, slots=True)
class _Fetch:
    """A fetch of a JWKS URL under way: `done` is set when it ends; waiting calls give up at
    `deadline` (its start plus the fetch timeout), whatever the fetch still does."""

    done: threading.Event
    deadline: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class _Threads:
    """The threads of one worker that JWKS fetches may hold, over every URL: a slot is taken
    without waiting (`acquire(blocking=False)`), or the call does without."""

    fetching: threading.Semaphore  # JWKS_MAX_FETCHES
    waiting: threading.Semaphore  # JWKS_MAX_WAITING_CALLS

    @classmethod
    def new(cls) -> _Threads:
        return cls(
            threading.Semaphore(JWKS_MAX_FETCHES), threading.Semaphore(JWKS_MAX_WAITING_CALLS)
        )


class _TooSlow(Exception):
    """The JWKS answer did not come whole within the fetch's time."""


def _download(url: str, timeout: float) -> bytes:
    """GET `url` whole within `timeout` seconds (connection cut then), no redirects, no proxy, at
    most JWKS_MAX_BYTES; TLS verified against the system's CAs (as urllib, which PyJWT used)."""
    import ssl

    from cds.fhir import client as fhir_client  # its cutter: one thread per worker, after forks
    from cds.fhir.egress import InFlight

    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    connection = (
        http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
        if parts.scheme == "https"
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    flight = InFlight()
    flight.hold(connection)
    fhir_client.cut_when_late(flight, _cutter_clock() + timeout)
    try:
        connection.connect()
        flight.connected(connection)  # a cut that came while it connected
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(
            "GET", target, headers={"Accept": "application/json", "User-Agent": "cds-jwks"}
        )
        answer = connection.getresponse()
        if answer.status != 200:
            raise _JwksError(f"answered HTTP {answer.status}")
        body = answer.read(JWKS_MAX_BYTES + 1)
    except (OSError, http.client.HTTPException) as error:
        if flight.was_cut:
            raise _TooSlow(f"no whole answer within {timeout:g} s") from error
        raise
    finally:
        flight.done()
        connection.close()
    if flight.was_cut:  # what was read may end where the cut came
        raise _TooSlow(f"no whole answer within {timeout:g} s")
    if len(body) > JWKS_MAX_BYTES:
        raise _JwksError(f"answer larger than {JWKS_MAX_BYTES} bytes")
    return body


class _UrlKeys:
    """A JWKS fetched over HTTP(S) (`_download`), used for JWKS_LIFESPAN_SECONDS; an unknown `kid`
    fetches it again, one fetch at a time and at most once per JWKS_REFETCH_COOLDOWN_SECONDS
    (JWKS_RETRY_AFTER_FAILURE_SECONDS after a failure while the issuer has no keys), and only
    while the worker has a fetching thread to spare (`_Threads`). A call that finds a fetch under
    way uses the set already fetched, or is refused when it names an unknown `kid`; only while
    there is no usable set does it wait for the fetch (while a waiting slot is free, until the
    fetch's timeout). A fetch that fails keeps the last set (for at most
    JWKS_STALE_LIMIT_SECONDS); an answer with no usable key replaces it (the issuer revoked every
    key)."""

    def __init__(
        self, url: str, timeout: float, retry_after_failure: float, threads: _Threads
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._retry_after_failure = retry_after_failure
        self._threads = threads
        self._keys: _KeySet | None = None
        self._failure = "not fetched yet"
        self._fetching: _Fetch | None = None
        self._last_fetch = -math.inf  # when the last fetch ended (time.monotonic())
        self._last_failed = False
        self._lock = threading.Lock()  # held to claim or end a fetch, never during one

    def key(self, kid: str) -> _Key:
        keys = self._keys
        now = time.monotonic()
        if keys is not None and now - keys.fetched < JWKS_LIFESPAN_SECONDS:
            found = keys.keys.get(kid)
            if found is not None:
                return found
        fetch, mine = self._claim_fetch(now, _usable(keys, now))
        if mine and fetch is not None:
            self._fetch(fetch)
        elif fetch is not None:
            self._wait(fetch)
        keys = self._keys
        if keys is None or not _usable(keys, time.monotonic()):
            raise AuthError(f"JWKS lookup failed: {self._url}: {self._failure}")
        return _key_of(keys.keys, kid, self._url)

    def _claim_fetch(self, now: float, usable: bool) -> tuple[_Fetch | None, bool]:
        """(the fetch to run, True), (the fetch under way to wait for, False), or (None, False):
        answer with the set there is."""
        with self._lock:
            fetch = self._fetching
            if fetch is not None:
                if usable or not self._threads.waiting.acquire(blocking=False):
                    return None, False
                return fetch, False
            if now - self._last_fetch < self._pause(usable):
                return None, False
            if not self._threads.fetching.acquire(blocking=False):
                self._failure = "every JWKS fetching thread of this worker is busy"
                return None, False
            self._fetching = fetch = _Fetch(threading.Event(), now + self._timeout)
            return fetch, True

    def _pause(self, usable: bool) -> float:
        """Seconds from the end of the last fetch to the next one."""
        if self._last_failed and not usable:
            return self._retry_after_failure
        return JWKS_REFETCH_COOLDOWN_SECONDS

    def _wait(self, fetch: _Fetch) -> None:
        try:
            fetch.done.wait(max(0.0, fetch.deadline - time.monotonic()))
        finally:
            self._threads.waiting.release()

    def _fetch(self, fetch: _Fetch) -> None:
        failed = True
        try:
            failed = self._read()
        finally:
            with self._lock:
                self._fetching = None
                self._last_fetch = time.monotonic()
                self._last_failed = failed
            self._threads.fetching.release()
            fetch.done.set()

    def _read(self) -> bool:
        """Fetch the set; True when the fetch failed (the last set is kept)."""
        try:
            keys = _signing_keys(orjson.loads(_download(self._url, self._timeout)))
        except (
            OSError,
            http.client.HTTPException,
            ValueError,
            _JwksError,
            _TooSlow,
        ) as error:
            # OSError (unreachable, timeout, reset, TLS), HTTPException (a malformed answer),
            # ValueError (not JSON, a URL http.client cannot use), _JwksError (an HTTP error, too
            # large, not a JWK set), _TooSlow (not whole within the fetch's time)
            self._failure = f"last fetch failed: {type(error).__name__}: {error}"
            usable = _usable(self._keys, time.monotonic())
            log.warning(
                "JWKS %s could not be fetched (%s: %s); next attempt in %.0f s at the earliest",
                self._url,
                type(error).__name__,
                error,
                JWKS_REFETCH_COOLDOWN_SECONDS if usable else self._retry_after_failure,
            )
            return True
        if not keys:
            log.warning("JWKS %s has no usable signing key", self._url)
        self._keys = _KeySet(keys, time.monotonic())
        return False


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
        jwks_timeout: float | None = None,
        jwks_retry_after_failure: float = JWKS_RETRY_AFTER_FAILURE_SECONDS,
    ) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._replay = replay
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._timeout = JWKS_FETCH_TIMEOUT_SECONDS if jwks_timeout is None else jwks_timeout
        self._retry_after_failure = jwks_retry_after_failure
        self._sources: dict[str, _FileKeys | _UrlKeys] = {}
        self._threads = _Threads.new()  # shared by all the URLs: a cap per worker, not per URL
        self._lock = threading.Lock()

    def _keys(self, location: str) -> _FileKeys | _UrlKeys:
        source = self._sources.get(location)  # one source per JWKS: each has its own lock
        if source is None:
            with self._lock:
                source = self._sources.get(location)
                if source is None:
                    source = self._sources[location] = (
                        _UrlKeys(location, self._timeout, self._retry_after_failure, self._threads)
                        if location.startswith(("https://", "http://"))
                        else _FileKeys(Path(location))
                    )
        return source

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
        if algorithm not in key.algorithms:
            raise AuthError(f"algorithm {algorithm!r} does not fit the key {kid!r}")
        try:
            claims = _DECODER.decode(
                token,
                key=key.key,
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
