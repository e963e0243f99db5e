"""HTTP transport to the EHR's FHIR server: timeouts, bounded retries, size limit, pagination.

Only GETs, only below `fhirServer`, with the `fhirAuthorization` bearer token. The token is a
transient secret: it is never logged and never leaves this module except in the Authorization
header.

`requests`, `urllib3` and the egress policy's adapter are imported on the first fetch, not with
the service: they are ~70 ms of `serve`'s start-up (issue 17: its first answer within 1 s), and
most EHRs prefetch everything.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cds.settings import Settings

if TYPE_CHECKING:
    import requests
    from requests.adapters import HTTPAdapter


class FhirFetchError(Exception):
    """The FHIR server could not give us the data; the message is safe to show and to log."""


_adapters: dict[tuple[int, bool], HTTPAdapter] = {}  # by retry count and public-only
_adapters_lock = threading.Lock()


def _forget_adapters() -> None:
    _adapters.clear()  # a forked worker opens its own connections, never its parent's


os.register_at_fork(after_in_child=_forget_adapters)


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
        body = self._get_json(f"{self.base_url}/{query.lstrip('/')}", deadline)
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
        """`url` is below fhirServer (scheme and host compared case-insensitively)."""
        base = urlsplit(self.base_url)
        got = urlsplit(url)
        return (
            got.scheme.lower() == base.scheme.lower()
            and got.netloc.lower() == base.netloc.lower()
            and got.path.startswith(base.path.rstrip("/") + "/")
            and "@" not in got.netloc
        )

    def _get_json(self, url: str, deadline: float) -> Any:
        import requests

        from cds.fhir.egress import NOT_ALLOWED, AddressRefused

        if self.refused:
            raise FhirFetchError(self.refused)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FhirFetchError("no time left before the deadline")
        timeout = (
            min(self._settings.fhir_connect_timeout, remaining),
            min(self._settings.fhir_read_timeout, remaining),
        )
        try:
            with self._session.get(
                url, timeout=timeout, stream=True, allow_redirects=False
            ) as answer:
                if answer.status_code != 200:
                    raise FhirFetchError(f"FHIR server answered HTTP {answer.status_code}")
                content = self._read_limited(answer, deadline)
        except AddressRefused as error:
            raise FhirFetchError(NOT_ALLOWED) from error
        except requests.Timeout as error:
            raise FhirFetchError("the FHIR server did not answer in time") from error
        except (requests.RequestException, OSError) as error:
            # never why (TLS, refused, reset...): that would make the service a port scanner
            raise FhirFetchError("the FHIR server could not be reached") from error
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
