"""HTTP transport to the EHR's FHIR server: timeouts, bounded retries, size limit, pagination.

Only GETs, only below `fhirServer`, with the `fhirAuthorization` bearer token. The token is a
transient secret: it is never logged and never leaves this module except in the Authorization
header.

`requests`, `urllib3` and the egress policy's adapter are imported on the first fetch, not with
the service: they are ~70 ms of `serve`'s start-up (issue 17: its first answer within 1 s), and
most EHRs prefetch everything.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from cds.settings import Settings

if TYPE_CHECKING:
    import requests
    from requests.adapters import HTTPAdapter

    from cds.fhir.egress import InFlight


class FhirFetchError(Exception):
    """The FHIR server could not give us the data; the message is safe to show and to log."""


_adapters: dict[tuple[int, bool], HTTPAdapter] = {}  # by retry count and public-only
_adapters_lock = threading.Lock()


class _Deadlines:
    """One thread per worker process that cuts the connection of every fetch still running at its
    call's deadline (cds.fhir.egress.InFlight). Timeouts bound each read, not a fetch: without
    this, a server trickling its answer a byte at a time would hold a fetch thread, or the
    request's own thread, as long as it likes, and a few such calls fill the worker's fetch pool.
    A fetch that ended before its deadline stays listed until then; cutting it does nothing."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, InFlight]] = []
        self._order = itertools.count()  # never compare two InFlights
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, flight: InFlight, deadline: float) -> None:
        with self._wake:
            heapq.heappush(self._due, (deadline, next(self._order), flight))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fhir-deadlines", daemon=True
                )
                self._thread.start()
            elif self._due[0][2] is flight:
                self._wake.notify()  # sooner than the one it sleeps for

    def _run(self) -> None:
        with self._wake:
            while True:
                now = time.monotonic()
                while self._due and self._due[0][0] <= now:
                    heapq.heappop(self._due)[2].cut()
                self._wake.wait(self._due[0][0] - now if self._due else None)


_deadlines = _Deadlines()


def _forget_adapters() -> None:
    global _deadlines
    _adapters.clear()  # a forked worker opens its own connections, never its parent's
    _deadlines = _Deadlines()  # nor has its parent's threads


os.register_at_fork(after_in_child=_forget_adapters)


def cut_when_late(flight: InFlight, deadline: float) -> None:
    """Cut `flight`'s connection if it still runs at `deadline` (`time.monotonic`): the worker's
    one watcher thread, which the JWKS download shares with the FHIR fetches."""
    _deadlines.watch(flight, deadline)


def _shared_adapter(settings: Settings) -> HTTPAdapter:
    """One connection pool per worker process: keep-alive connections to the FHIR
    server are reused from call to call instead of a TCP and TLS handshake per fetch. Pools hold
    connections only; the bearer token travels in each request's header, never in the pool."""
    from urllib3.util.retry import Retry

    from cds.fhir.egress import PinnedAdapter, public_only

    key = (settings.fhir_retries, public_only(settings))
    with _adapters_lock:
        adapter = _adapters.get(key)
        if adapter is None:
            retry = Retry(
                total=settings.fhir_retries,
                connect=settings.fhir_retries,
                read=0,
                status=settings.fhir_retries,
                backoff_factor=0.05,
                status_forcelist=(502, 503, 504),
                allowed_methods=frozenset({"GET"}),
                raise_on_status=False,
            )
            adapter = PinnedAdapter(key[1], max_retries=retry, pool_connections=8, pool_maxsize=16)
            _adapters[key] = adapter
        return adapter


class FhirClient:
    """GETs below one fhirServer. A server the egress policy refuses (cds.fhir.egress) gives a
    client whose every fetch fails with "not allowed", so the card or 412 says so."""

    def __init__(
        self,
        base_url: str,
        access_token: str | None,
        settings: Settings,
        own_host: str | None = None,
    ) -> None:
        import requests

        from cds.fhir.egress import refusal

        self.base_url = base_url.rstrip("/")
        self._settings = settings
        self.refused = refusal(base_url, settings, own_host)
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy or .netrc credentials from the environment
        adapter = _shared_adapter(settings)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["Accept"] = "application/fhir+json, application/json"
        if access_token:
            self._session.headers["Authorization"] = f"Bearer {access_token}"

    def close(self) -> None:
        """Forget this call's token; the shared pool (no token in it) stays open for the next."""
        self._session.headers.pop("Authorization", None)
        self._session.adapters.clear()
        self._session.close()

    def get(self, query: str, deadline: float) -> Any:
        """GET `query` (relative to the base URL); follow searchset `next` links into one Bundle."""
        return self.get_url(f"{self.base_url}/{query.lstrip('/')}", deadline)

    def get_url(self, url: str, deadline: float) -> Any:
        """GET `url` (below the base URL: the caller checks, see `below_base`); follow searchset
        `next` links into one Bundle."""
        body = self._get_json(url, deadline)
        pages = 1
        while isinstance(body, dict) and body.get("resourceType") == "Bundle":
            next_url = next_link(body)
            if next_url is None:
                break
            if pages >= self._settings.fhir_max_pages:
                raise FhirFetchError(f"more than {pages} result pages")
            if not self.below_base(next_url):
                raise FhirFetchError("a `next` link points outside fhirServer")
            page = self._get_json(next_url, deadline)
            pages += 1
            if not isinstance(page, dict) or page.get("resourceType") != "Bundle":
                raise FhirFetchError("a `next` page is not a Bundle")
            body = {**page, "entry": _entries(body) + _entries(page)}
        return body

    def below_base(self, url: str) -> bool:
        """`url` is below fhirServer as it will be sent (cds.fhir.egress.below: scheme, host and
        port normalised; no user-info; a dot segment or backslash in any spelling refused)."""
        from cds.fhir.egress import below

        return below(url, self.base_url, strictly=True)

    def _get_json(self, url: str, deadline: float) -> Any:
        import requests

        from cds.fhir.egress import UNREACHABLE, AddressRefused, InFlight, fetching

        if self.refused:
            raise FhirFetchError(self.refused)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FhirFetchError("no time left before the deadline")
        timeout = (
            min(self._settings.fhir_connect_timeout, remaining),
            min(self._settings.fhir_read_timeout, remaining),
        )
        flight = InFlight()
        cut_when_late(flight, deadline)
        try:
            with (
                fetching(flight),
                self._session.get(
                    url, timeout=timeout, stream=True, allow_redirects=False
                ) as answer,
            ):
                if answer.status_code != 200:
                    raise FhirFetchError(f"FHIR server answered HTTP {answer.status_code}")
                content = self._read_limited(answer, deadline)
        except AddressRefused as error:
            raise FhirFetchError(str(error)) from error
        except (requests.RequestException, OSError) as error:
            if flight.was_cut:
                raise FhirFetchError("FHIR server too slow (deadline passed)") from error
            if isinstance(error, requests.Timeout):
                raise FhirFetchError("the FHIR server did not answer in time") from error
            # never why (TLS, refused, reset...): that would make the service a port scanner
            raise FhirFetchError(UNREACHABLE) from error
        if flight.was_cut:  # what was read may end where the cut came (an answer without length)
            raise FhirFetchError("FHIR server too slow (deadline passed)")
        try:
            return json.loads(content)
        except ValueError as error:
            raise FhirFetchError("FHIR server answered with something that is not JSON") from error

    def _read_limited(self, answer: requests.Response, deadline: float) -> bytes:
        limit = self._settings.fhir_max_response_bytes
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > limit:
                raise FhirFetchError(f"FHIR answer larger than {limit} bytes")
            if time.monotonic() > deadline:
                raise FhirFetchError("FHIR server too slow (deadline passed while reading)")
            chunks.append(chunk)
        return b"".join(chunks)


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if (
            isinstance(link, dict)
            and link.get("relation") == "next"
            and isinstance(link.get("url"), str)
        ):
            return str(link["url"])
    return None


def _entries(bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []
