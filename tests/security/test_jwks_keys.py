"""An issuer's JWKS over its life: keys rotated in and revoked, an endpoint that fails, hangs or
answers an empty set, a file deleted mid-rotation, a worker's first fetch. Every refusal is a
bare 401 counted under a fixed reason. Only while an issuer has no keys yet does a call wait for
a fetch under way (a few calls at most, until the fetch's timeout); no token makes the service
ask a JWKS more than once per cooldown (per short retry after a failure while it has no keys).

The issuer's JWKS URL is a stub HTTP server on loopback (PyJWT fetches with urllib, which the
`responses` library does not see); the service's clock for the JWKS cache is moved by hand.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

import cds.web.auth
from cds import create_app
from cds.web.auth import (
    JWKS_LIFESPAN_SECONDS,
    JWKS_MAX_WAITING_CALLS,
    JWKS_REFETCH_COOLDOWN_SECONDS,
    JWKS_RETRY_AFTER_FAILURE_SECONDS,
    JWKS_STALE_LIMIT_SECONDS,
)
from tests.api.test_auth import BASE, EHR_KEY, ISSUER, KID, _jwk, token
from tests.api.test_metrics import delta, scrape
from tests.conftest import NOW, SIGN, chart_request

URL_ISSUER = "https://ehr-b.example.org"
OTHER_URL_ISSUER = "https://ehr-c.example.org"
KEY_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_B = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_C = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JwksServer:
    """An issuer's JWKS endpoint on loopback: answers `document` with `status`, or, while
    `hanging`, holds every request until `release()`; counts the fetches."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.status = 200
        self.location: str | None = None  # a Location header (a redirect)
        self.padding = 0  # spaces after the document
        self.hanging = False
        self.fetches = 0
        self._released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                if server.hanging:
                    server._released.wait(20)
                body = json.dumps(server.document).encode() + b" " * server.padding
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                if server.location:
                    self.send_header("Location", server.location)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/jwks.json"
        threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True).start()

    def publish(self, *keys: tuple[Any, str]) -> None:
        self.document = {"keys": [_jwk(key, kid, "RS384") for key, kid in keys]}

    def release(self) -> None:
        self.hanging = False
        self._released.set()

    def close(self) -> None:
        self.release()
        self._http.shutdown()
        self._http.server_close()


class Clock:
    """The monotonic clock cds.web.auth reads, moved forward by hand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(
        cds.web.auth, "time", SimpleNamespace(time=time.time, monotonic=clock.monotonic)
    )
    return clock


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def other_jwks_server() -> Iterator[JwksServer]:
    """The JWKS URL of a third EHR, which signs with key B."""
    server = JwksServer()
    server.publish((KEY_B, "key-b"))
    yield server
    server.close()


@pytest.fixture
def jwks_file(tmp_path: Path) -> Path:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(EHR_KEY, KID, "ES384")]}))
    return path


@pytest.fixture
def fetch_timeout() -> float:
    """Seconds a JWKS fetch may take (a test parametrizes it to change it)."""
    return cds.web.auth.JWKS_FETCH_TIMEOUT_SECONDS


@pytest.fixture
def app(
    tmp_path: Path,
    jwks_file: Path,
    jwks_server: JwksServer,
    other_jwks_server: JwksServer,
    fetch_timeout: float,
    monkeypatch: pytest.MonkeyPatch,
) -> Flask:
    """Three trusted EHRs: one with a JWKS file, two with a JWKS URL (stubs)."""
    from cds.settings import Settings

    monkeypatch.setattr(cds.web.auth, "JWKS_FETCH_TIMEOUT_SECONDS", fetch_timeout)

    settings = Settings(
        dev_mode=False,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={
            ISSUER: str(jwks_file),
            URL_ISSUER: jwks_server.url,
            OTHER_URL_ISSUER: other_jwks_server.url,
        },
        public_base_url=BASE,
    )
    return create_app(settings, clock=lambda: NOW)


def call(app: Flask, bearer: str) -> int:
    answer = app.test_client().post(
        SIGN,
        json=chart_request("adult-70kg-rr-cycle1-correct"),
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert answer.status_code == 200 or answer.get_data() == b"", "a refusal is a bare 401"
    return answer.status_code


def url_token(key: Any, kid: str) -> str:
    return token(key=key, alg="RS384", kid=kid, iss=URL_ISSUER)


def random_kid_token() -> str:
    """What anyone can send without any key: a token naming a kid nobody published."""
    return url_token(KEY_C, f"rand-{uuid.uuid4()}")


# --- revocation: the JWKS as last fetched is the truth -------------------------------------------


def test_an_issuer_drops_key_a_and_a_token_signed_with_a_is_refused_after_the_refetch(
    app: Flask, jwks_server: JwksServer, clock: Clock
) -> None:
    jwks_server.publish((KEY_A, "key-a"))
    assert call(app, url_token(KEY_A, "key-a")) == 200
    jwks_server.publish((KEY_C, "key-c"))  # rotation: C published, A revoked
    # within the cooldown the new kid is not fetched yet: refused at once, without a fetch
    assert call(app, url_token(KEY_C, "key-c")) == 401
    assert jwks_server.fetches == 1
    clock.advance(JWKS_REFETCH_COOLDOWN_SECONDS + 1)
    assert call(app, url_token(KEY_C, "key-c")) == 200  # the unknown kid has the JWKS refetched
    assert jwks_server.fetches == 2
    assert call(app, url_token(KEY_A, "key-a")) == 401  # A is gone from the set as last fetched
    assert call(app, url_token(KEY_C, "key-c")) == 200


def test_a_revoked_key_still_in_use_is_refused_once_the_cached_set_expires(
    app: Flask, jwks_server: JwksServer, clock: Clock
) -> None:
    """The EHR keeps signing with A after dropping it: nothing names an unknown kid, so only the
    set's lifespan brings the refetch."""
    jwks_server.publish((KEY_A, "key-a"), (KEY_B, "key-b"))
    assert call(app, url_token(KEY_A, "key-a")) == 200
    jwks_server.publish((KEY_B, "key-b"))
    clock.advance(JWKS_LIFESPAN_SECONDS - 10)
    assert call(app, url_token(KEY_A, "key-a")) == 200  # the cached set, within its lifespan
    assert jwks_server.fetches == 1
    clock.advance(20)
    assert call(app, url_token(KEY_A, "key-a")) == 401
    assert jwks_server.fetches == 2
    assert call(app, url_token(KEY_B, "key-b")) == 200


def test_keys_verify_from_the_cache_without_a_fetch_per_call(
    app: Flask, jwks_server: JwksServer
) -> None:
    jwks_server.publish((KEY_A, "key-a"), (KEY_B, "key-b"))
    for _ in range(5):
        assert call(app, url_token(KEY_A, "key-a")) == 200
        assert call(app, url_token(KEY_B, "key-b")) == 200
    assert jwks_server.fetches == 1


# --- a failing or hanging JWKS: one fetch at a time, a few calls wait ---------------------------


def test_a_failing_jwks_is_asked_at_most_once_per_retry_however_many_random_kids(
    app: Flask, jwks_server: JwksServer, clock: Clock
) -> None:
    jwks_server.status = 503
    assert [call(app, random_kid_token()) for _ in range(20)] == [401] * 20
    assert jwks_server.fetches == 1  # PyJWT's cooldown starts only after a success: it was 20
    clock.advance(JWKS_RETRY_AFTER_FAILURE_SECONDS + 1)
    assert [call(app, random_kid_token()) for _ in range(20)] == [401] * 20
    assert jwks_server.fetches == 2  # no keys yet: the short retry, still once per retry
    clock.advance(JWKS_RETRY_AFTER_FAILURE_SECONDS + 1)
    jwks_server.status = 200
    jwks_server.publish((KEY_A, "key-a"))
    assert call(app, url_token(KEY_A, "key-a")) == 200  # the endpoint is back
    assert [call(app, random_kid_token()) for _ in range(20)] == [401] * 20
    assert jwks_server.fetches == 3  # the cooldown follows a success
    clock.advance(JWKS_RETRY_AFTER_FAILURE_SECONDS + 1)
    assert call(app, random_kid_token()) == 401
    assert jwks_server.fetches == 3  # ... the whole cooldown, not the retry


def test_with_keys_in_hand_a_failed_refetch_is_tried_again_only_after_the_cooldown(
    app: Flask, jwks_server: JwksServer, clock: Clock
) -> None:
    """The short retry is for an issuer with no keys: one whose set still serves does not have
    its failing (or hanging) JWKS asked every few seconds by random kids."""
    jwks_server.publish((KEY_A, "key-a"))
    assert call(app, url_token(KEY_A, "key-a")) == 200
    jwks_server.status = 503
    clock.advance(JWKS_REFETCH_COOLDOWN_SECONDS + 1)
    assert call(app, random_kid_token()) == 401  # a refetch, which fails
    assert jwks_server.fetches == 2
    clock.advance(JWKS_RETRY_AFTER_FAILURE_SECONDS + 1)
    assert [call(app, random_kid_token()) for _ in range(5)] == [401] * 5
    assert call(app, url_token(KEY_A, "key-a")) == 200  # the set it has
    assert jwks_server.fetches == 2
    clock.advance(JWKS_REFETCH_COOLDOWN_SECONDS)
    assert call(app, random_kid_token()) == 401
    assert jwks_server.fetches == 3


def _wait_for_fetches(server: JwksServer, count: int) -> None:
    deadline = time.monotonic() + 10
    while server.fetches < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.fetches == count, "the fetch is under way"


@pytest.mark.parametrize("fetch_timeout", [10.0])
def test_calls_arriving_during_the_first_fetch_wait_for_it_and_random_kids_stall_no_one(
    app: Flask, jwks_server: JwksServer
) -> None:
    """Just after a deploy the EHR's calls find the worker's first fetch of its JWKS under way:
    they wait for it and are answered (they were refused with a 401). The red team's attack on
    that: the JWKS URL accepts connections and answers late, and unauthenticated calls name random
    kids. Only JWKS_MAX_WAITING_CALLS calls wait; the others are refused at once, no call starts
    another fetch, and the other EHRs' valid calls are answered at once, the other JWKS URL's
    fetch included."""
    jwks_server.publish((KEY_A, "key-a"))
    jwks_server.hanging = True
    with ThreadPoolExecutor(1 + JWKS_MAX_WAITING_CALLS) as pool:
        first = pool.submit(call, app, url_token(KEY_A, "key-a"))
        _wait_for_fetches(jwks_server, 1)
        waiting = [
            pool.submit(call, app, url_token(KEY_A, "key-a")) for _ in range(JWKS_MAX_WAITING_CALLS)
        ]
        time.sleep(0.3)
        assert not any(w.done() for w in waiting), "they wait for the fetch under way"
        for _ in range(5):
            started = time.monotonic()
            assert call(app, random_kid_token()) == 401
            assert call(app, url_token(KEY_A, "key-a")) == 401  # beyond the waiting calls
            assert time.monotonic() - started < 1.0, "refused at once, not after the fetch"
        started = time.monotonic()
        assert call(app, token()) == 200  # the EHR with a JWKS file
        assert call(app, token(key=KEY_B, alg="RS384", kid="key-b", iss=OTHER_URL_ISSUER)) == 200
        assert time.monotonic() - started < 1.0  # the other JWKS URL was fetched meanwhile
        assert jwks_server.fetches == 1
        jwks_server.release()
        assert [w.result(timeout=10) for w in [first, *waiting]] == [200] * (
            1 + JWKS_MAX_WAITING_CALLS
        )
    assert jwks_server.fetches == 1


@pytest.mark.parametrize("fetch_timeout", [0.5])
def test_a_call_waits_for_the_first_fetch_no_longer_than_its_timeout(
    app: Flask, jwks_server: JwksServer
) -> None:
    jwks_server.publish((KEY_A, "key-a"))
    jwks_server.hanging = True
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(call, app, url_token(KEY_A, "key-a"))
        _wait_for_fetches(jwks_server, 1)
        started = time.monotonic()
        assert call(app, url_token(KEY_A, "key-a")) == 401
        assert time.monotonic() - started < 2.5  # the timeout (0.5 s), not the hang (20 s)
        assert first.result(timeout=10) == 401
    assert jwks_server.fetches == 1
    jwks_server.release()


def test_a_refetch_that_hangs_leaves_the_issuer_its_keys_and_the_other_issuer_unstalled(
    app: Flask, jwks_server: JwksServer, clock: Clock
) -> None:
    """After the cooldown a random kid starts a refetch that hangs: further random kids are refused
    at once, and valid calls of both EHRs are answered at once (the set already fetched)."""
    jwks_server.publish((KEY_A, "key-a"))
    assert call(app, url_token(KEY_A, "key-a")) == 200
    clock.advance(JWKS_REFETCH_COOLDOWN_SECONDS + 1)
    jwks_server.hanging = True
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(call, app, random_kid_token())
        _wait_for_fetches(jwks_server, 2)
        started = time.monotonic()
        assert [call(app, random_kid_token()) for _ in range(10)] == [401] * 10
        assert call(app, url_token(KEY_A, "key-a")) == 200  # its own EHR: the set it has
        assert call(app, token()) == 200  # the other EHR
        assert time.monotonic() - started < 2.5
        assert jwks_server.fetches == 2
        jwks_server.release()
        assert first.result(timeout=10) == 401


def test_a_failed_first_fetch_is_tried_again_after_the_short_retry_not_the_cooldown(
    app: Flask, jwks_server: JwksServer, clock: Clock
) -> None:
    """A worker started while the EHR's JWKS answered an error refused every call of that EHR
    for JWKS_REFETCH_COOLDOWN_SECONDS; now for JWKS_RETRY_AFTER_FAILURE_SECONDS."""
    assert JWKS_RETRY_AFTER_FAILURE_SECONDS < JWKS_REFETCH_COOLDOWN_SECONDS
    jwks_server.status = 500
    assert call(app, url_token(KEY_A, "key-a")) == 401
    jwks_server.status = 200
    jwks_server.publish((KEY_A, "key-a"))
    assert call(app, url_token(KEY_A, "key-a")) == 401  # no set yet, and no fetch before the retry
    assert jwks_server.fetches == 1
    clock.advance(JWKS_RETRY_AFTER_FAILURE_SECONDS + 1)
    assert call(app, url_token(KEY_A, "key-a")) == 200
    assert jwks_server.fetches == 2


def test_while_the_jwks_is_down_the_last_set_serves_until_its_stale_limit(
    app: Flask, jwks_server: JwksServer, clock: Clock
) -> None:
    jwks_server.publish((KEY_A, "key-a"))
    assert call(app, url_token(KEY_A, "key-a")) == 200
    jwks_server.status = 503
    clock.advance(JWKS_LIFESPAN_SECONDS + 1)
    assert call(app, url_token(KEY_A, "key-a")) == 200  # the refetch failed: the last set
    assert jwks_server.fetches == 2
    clock.advance(JWKS_STALE_LIMIT_SECONDS)
    assert call(app, url_token(KEY_A, "key-a")) == 401


# --- a JWKS with no usable key, at a URL or in a file: a bare 401, never a 500 --------------------


@pytest.mark.parametrize(
    "document",
    [
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "key-a"}]},  # only an HMAC key
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "key-a", "alg": "none"}]},
        {"error": "not configured"},
    ],
    ids=["empty", "hmac-only", "alg-none", "not-a-jwk-set"],
)
def test_a_jwks_url_without_usable_keys_is_a_bare_401_counted_and_not_refetched(
    app: Flask, jwks_server: JwksServer, document: Any
) -> None:
    jwks_server.document = document
    client = app.test_client()
    before = scrape(client)
    for _ in range(5):
        assert call(app, random_kid_token()) == 401
    assert call(app, url_token(KEY_A, "key-a")) == 401
    after = scrape(client)
    assert delta(before, after, "cds_jwt_rejections_total", reason="jwks_unavailable") == 6
    assert jwks_server.fetches == 1


def test_a_jwks_file_deleted_or_emptied_during_rotation_is_a_bare_401_until_it_is_back(
    app: Flask, jwks_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = jwks_file.read_text()
    client = app.test_client()
    before = scrape(client)
    jwks_file.unlink()
    assert call(app, token()) == 401
    bad_files = [
        {"keys": []},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": KID}]},
        {"keys": [{"kty": "EC", "kid": KID, "alg": "none"}]},
        {"keys": [_jwk(EHR_KEY, KID, "ES384") | {"alg": ["ES384"]}]},
        "not json {",
    ]
    with caplog.at_level("WARNING", logger="cds.web.auth"):
        for content in bad_files:
            jwks_file.write_text(content if isinstance(content, str) else json.dumps(content))
            assert [call(app, token()) for _ in range(3)] == [401] * 3
    after = scrape(client)
    assert delta(before, after, "cds_jwt_rejections_total", reason="jwks_unavailable") == 16
    file_warnings = [r for r in caplog.records if "JWKS file" in r.getMessage()]
    assert len(file_warnings) == len(bad_files)  # read and logged once per change, not per call
    jwks_file.write_text(good)
    assert call(app, token()) == 200


# --- what a JWKS answer may be: whole within the timeout, small, at its own URL -------------------


def test_a_jwks_larger_than_the_limit_is_refused(
    app: Flask,
    jwks_server: JwksServer,
    other_jwks_server: JwksServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read at most JWKS_MAX_BYTES (PyJWT read the whole answer, however large)."""
    jwks_server.publish((KEY_A, "key-a"))
    other_jwks_server.publish((KEY_B, "key-b"))
    size = len(json.dumps(jwks_server.document))
    monkeypatch.setattr(cds.web.auth, "JWKS_MAX_BYTES", size + 100, raising=False)
    other_jwks_server.padding = 100  # exactly at the limit
    jwks_server.padding = 101
    assert call(app, url_token(KEY_A, "key-a")) == 401
    assert call(app, token(key=KEY_B, alg="RS384", kid="key-b", iss=OTHER_URL_ISSUER)) == 200


def test_a_jwks_url_that_redirects_is_not_followed(
    app: Flask, jwks_server: JwksServer, other_jwks_server: JwksServer
) -> None:
    """The configured URL is the issuer's JWKS, not wherever it points (urllib followed)."""
    jwks_server.status = 302
    jwks_server.location = other_jwks_server.url  # which publishes key B
    assert call(app, url_token(KEY_B, "key-b")) == 401
    assert other_jwks_server.fetches == 0
