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

URLs are compared as they will be sent: scheme, host and port as urllib3 connects to them (host
lowercased, IDNA-encoded, percent-escapes decoded, one trailing dot dropped; the scheme's default
port filled in), on both sides. A path with a dot segment (`.`, `..`, in any spelling: `%2e`,
`%2E`, `..;x`, after a backslash or `%2F`), or with a backslash at all, is refused outright rather
than resolved: requests and servers resolve such paths differently, and a prefix is only a prefix
of a path that is not resolved again. So is a path holding what some server may still turn into
a dot segment: `%25` (decoded twice: `%252e`), `%u` (`%u002e`), `%00`, a control character or
whitespace (`..%00`, `.. `), or a character that is not ASCII, escaped or not (fullwidth `．．`).
The query keeps its percent-escapes.

A fetch also holds its connection where another thread can cut it (`InFlight`): cds.fhir.client
cuts the connection of any fetch still running at its call's deadline.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from cds.settings import Settings

NOT_ALLOWED = "fhirServer is not allowed by this service's configuration"
# what a fetch that failed on the network says, whatever the cause (TLS, refused, reset, a name
# that does not resolve, or one that resolves inside): the service is no scanner of the network
UNREACHABLE = "the FHIR server could not be reached"
SANDBOX_NOT_ALLOWED = (
    "fhirServer is not allowed: the public CDS Hooks sandbox is trusted, so only servers listed "
    "in CDS_ALLOWED_FHIR_SERVERS are fetched"
)

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """A fhirServer name resolved to an address the service may not connect to."""


Origin = tuple[str, str, int | None]


def origin(url: str) -> Origin | None:
    """(scheme, host, port) that requests and urllib3 connect to for `url`, normalised; None
    when it cannot be parsed. urllib3's own parser decides (it also decodes `%2e` in a host and
    ends the host at a backslash, where urllib.parse does neither)."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        return None
    scheme = (parts.scheme or "").lower()
    host = (parts.host or "").lower().removesuffix(".")  # `name.`: `name` as an absolute name
    if not scheme or not host:
        return None
    return (scheme, host, parts.port or {"https": 443, "http": 80}.get(scheme))


_SEGMENT = re.compile(r"[/\\]")
# Escapes some servers decode once more (`%252e`), or in their own way (`%u002e`), and a NUL
_SERVER_DEPENDENT = re.compile(r"%25|%u|%00", re.IGNORECASE)
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")  # urlsplit drops some of them silently
# control characters, whitespace, anything not ASCII (fullwidth dots, `..\u3002`)
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]")


def unsafe_path(url: str) -> bool:
    """Whether `url` (before its query) holds a backslash or a dot segment in any spelling,
    or, in its path, an escape that servers decode differently (`%25`, `%u`, `%00`), a control
    character, whitespace or a character that is not ASCII (escaped or not): such a path is
    refused, never resolved (see the module's docstring)."""
    head = re.split(r"[?#]", url, maxsplit=1)[0]
    if "\\" in head or "%5c" in head.lower() or _CONTROL_OR_SPACE.search(head):
        return True
    path = urlsplit(head).path
    if _SERVER_DEPENDENT.search(path):
        return True
    decoded = unquote(path)
    if _NOT_PRINTABLE_ASCII.search(decoded):
        return True
    return any(seg.split(";", 1)[0] in (".", "..") for seg in _SEGMENT.split(decoded))


def below(url: str, base: str, strictly: bool = False) -> bool:
    """`url` is `base` (unless `strictly`) or below it, as it will be sent: same origin
    (`origin`), no user-info, no dot segment or backslash, and the path below `base`'s path,
    compared exactly."""
    if "@" in urlsplit(url).netloc or unsafe_path(url):
        return False
    here = origin(url)
    if here is None or here != origin(base):
        return False
    got, want = urlsplit(url).path, urlsplit(base).path.rstrip("/")
    return (got == want and not strictly) or got.startswith(want + "/")


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
    here = origin(url)
    if here is None or here[0] != "https" or unsafe_path(url):
        return NOT_ALLOWED
    own = [settings.public_base_url] if settings.public_base_url else []
    if own_host and not settings.public_base_url:
        own.append(f"https://{own_host}")
    if any(here[1:] == theirs[1:] for base in own if (theirs := origin(base))):
        return NOT_ALLOWED  # host and port, normalised alike on both sides
    allowed = settings.allowed_fhir_servers
    if settings.trust_cds_hooks_sandbox and not allowed:
        return SANDBOX_NOT_ALLOWED  # anyone can sign as the sandbox: fetch only what is listed
    if allowed and not any(below(url, prefix) for prefix in allowed):
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
    of its addresses is not public (a name that also points inside is refused whole). A refused
    name is said to be unreachable, as a name that does not resolve is: "not allowed" would tell
    a caller which internal names exist. An address written as such is "not allowed"."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise AddressRefused(UNREACHABLE)
    if public and not all(is_public(ipaddress.ip_address(a.split("%")[0])) for a in addresses):
        raise AddressRefused(NOT_ALLOWED if _is_address(host) else UNREACHABLE)
    return addresses[0]


def _is_address(host: str) -> bool:
    """An address, in any spelling the resolver reads as one (127.1, 2130706433, 0x7f000001)."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        try:
            socket.inet_aton(host)
        except OSError:
            return False
    return True


class DeadlinePassed(OSError):
    """A fetch's deadline passed before it took a connection (urllib3 fails the GET)."""


_fetching = threading.local()  # the InFlight of the fetch this thread is doing, if any


class InFlight:
    """The connection one fetch holds, where another thread can cut it.

    A read timeout bounds each read, not the answer: a server that sends its headers or body a
    byte at a time holds the fetching thread as long as it likes. So whoever watches the
    deadline calls `cut`, which shuts the socket down (a read blocked on it in the fetching
    thread returns at once and the fetch fails). The pool hands a connection to the fetch
    (`hold`) and takes it back (`drop`) under the same lock as `cut`: only a connection this
    fetch holds is ever cut, never one back in the pool or another call's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self.was_cut = False

    def cut(self) -> None:
        with self._lock:
            self.was_cut = True
            if self._conn is not None:
                _shut(self._conn.sock)

    def hold(self, conn: Any) -> bool:
        """Hold `conn`; False (not held) once cut: no new connection, no retry after a cut."""
        with self._lock:
            if self.was_cut:
                return False
            self._conn = conn
            return True

    def connected(self, conn: Any) -> None:
        """A cut that came while `conn` was connecting (no socket to shut then) shuts it now."""
        with self._lock:
            if self.was_cut and conn is self._conn:
                _shut(conn.sock)

    def drop(self, conn: Any) -> None:
        with self._lock:
            if conn is self._conn:
                self._conn = None

    def done(self) -> None:
        with self._lock:
            self._conn = None


def _shut(sock: socket.socket | None) -> None:
    """Shut down the socket itself (TLS included: the same file descriptor), leaving its TLS
    state to the thread that reads it."""
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


@contextlib.contextmanager
def fetching(flight: InFlight) -> Iterator[InFlight]:
    """Within: the connections this thread takes from the pool are held by `flight`."""
    _fetching.flight = flight
    try:
        yield flight
    finally:
        _fetching.flight = None
        flight.done()


def _flight() -> InFlight | None:
    return getattr(_fetching, "flight", None)


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

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        flight = _flight()
        if flight is not None:
            flight.connected(self)


class _Held:
    """A pool whose connections are held by the fetch of the thread that takes them
    (`InFlight`)."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        flight = _flight()
        if flight is not None and not flight.hold(conn):
            conn.close()  # as urllib3 does on an error: the pool gets None back for it
            raise DeadlinePassed("the fetch's deadline passed")
        return conn

    def _put_conn(self, conn: Any) -> None:
        flight = _flight()
        if flight is not None and conn is not None:
            flight.drop(conn)
        super()._put_conn(conn)  # type: ignore[misc]


def _pools(public: bool) -> dict[str, type]:
    flag = {"public_only": public}
    http = type("PinnedHTTPConnection", (_Pinned, HTTPConnection), flag)
    https = type("PinnedHTTPSConnection", (_Pinned, HTTPSConnection), flag)
    return {
        "http": type("PinnedHTTPPool", (_Held, HTTPConnectionPool), {"ConnectionCls": http}),
        "https": type("PinnedHTTPSPool", (_Held, HTTPSConnectionPool), {"ConnectionCls": https}),
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
