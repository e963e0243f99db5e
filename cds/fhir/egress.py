"""Where the service may send the EHR's bearer token: the outbound (request forgery) policy.

A hook call names its `fhirServer`; the service GETs it with the EHR's access token. Without a
policy, anyone able to call the service could make it send that token to any address, this
service itself and the cloud metadata endpoint included (issue 16). So, outside `--dev`:

- only `https`, no user-info in the URL, never this service's own public host;
- while the public sandbox is trusted (its private key is published), nothing unless listed;
- with `CDS_ALLOWED_FHIR_SERVERS` set, only servers below one of its prefixes, at any address
  (the usual hospital case: the EHR's FHIR server is internal);
- without it, any https server whose name resolves to public addresses only. The name is resolved
  once per connection, every address is checked, and the socket is connected to the checked
  address (no second lookup an attacker's DNS could answer differently); TLS still verifies the
  certificate for the name (SNI and Host are the name).
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection

from cds.settings import Settings

NOT_ALLOWED = "fhirServer is not allowed by this service's configuration"
SANDBOX_NOT_ALLOWED = (
    "fhirServer is not allowed: the public CDS Hooks sandbox is trusted, so only servers listed "
    "in CDS_ALLOWED_FHIR_SERVERS are fetched"
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """A fhirServer name resolved to an address the service may not connect to."""


def _same_server(url: str, prefix: str) -> bool:
    """`url` is `prefix` or below it; scheme and host compared case-insensitively, path exactly."""
    got, want = urlsplit(url), urlsplit(prefix.rstrip("/"))
    if (got.scheme.lower(), _netloc(got)) != (want.scheme.lower(), _netloc(want)):
        return False
    return got.path == want.path or got.path.startswith(want.path + "/")


def _netloc(parts: Any) -> tuple[str, int | None]:
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        return ("", None)
    return ((parts.hostname or "").lower(), port or default)


def refusal(url: str, settings: Settings, own_host: str | None = None) -> str | None:
    """Why `url` may not be fetched at all (before any connection), or None if it may be."""
    if settings.dev_mode:
        return None
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return NOT_ALLOWED
    if parts.scheme.lower() != "https" or not parts.hostname or "@" in parts.netloc:
        return NOT_ALLOWED
    own = [settings.public_base_url] if settings.public_base_url else []
    if own_host and not settings.public_base_url:
        own.append(f"https://{own_host}")
    if any(_netloc(parts) == _netloc(urlsplit(base)) for base in own):
        return NOT_ALLOWED
    allowed = settings.allowed_fhir_servers
    if settings.trust_cds_hooks_sandbox and not allowed:
        return SANDBOX_NOT_ALLOWED  # anyone can sign as the sandbox: fetch only what is listed
    if allowed and not any(_same_server(url, prefix) for prefix in allowed):
        return NOT_ALLOWED
    return None


def public_only(settings: Settings) -> bool:
    """Whether connections are limited to public addresses (no explicit allow-list, not --dev)."""
    return not settings.dev_mode and not settings.allowed_fhir_servers


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally routable unicast address; IPv6 forms that embed an IPv4 address are judged by
    the embedded address too (mapped, 6to4, Teredo, NAT64)."""
    if (
        not address.is_global
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    ):
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if address.ipv4_mapped:
            embedded.append(address.ipv4_mapped)
        if address.sixtofour:
            embedded.append(address.sixtofour)
        if address.teredo:
            embedded.extend(address.teredo)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(is_public(v4) for v4 in embedded)
    return True


def checked_address(host: str, port: int, public: bool) -> str:
    """Resolve `host` once; the address to connect to, or AddressRefused when `public` and any
    of its addresses is not public (a name that also points inside is refused whole)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise AddressRefused(NOT_ALLOWED)
    if public and not all(is_public(ipaddress.ip_address(a.split("%")[0])) for a in addresses):
        raise AddressRefused(NOT_ALLOWED)
    return addresses[0]


class _Pinned:
    """Connect to the address `checked_address` chose; the name stays for SNI, Host and the
    certificate check (urllib3 reads the name from `_dns_host` again once the socket is open)."""

    public_only = True

    def _new_conn(self) -> socket.socket:
        name = self._dns_host  # type: ignore[has-type]
        self._dns_host = checked_address(name, self.port, self.public_only)  # type: ignore[attr-defined]
        try:
            return super()._new_conn()  # type: ignore[misc,no-any-return]
        finally:
            self._dns_host = name


def _pools(public: bool) -> dict[str, type]:
    flag = {"public_only": public}
    http = type("PinnedHTTPConnection", (_Pinned, HTTPConnection), flag)
    https = type("PinnedHTTPSConnection", (_Pinned, HTTPSConnection), flag)
    return {
        "http": type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
    }


class PinnedAdapter(HTTPAdapter):
    """requests' adapter with connections that resolve once, check, and connect to what they
    checked."""

    def __init__(self, public: bool, **kwargs: Any) -> None:
        self._classes = _pools(public)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._classes
