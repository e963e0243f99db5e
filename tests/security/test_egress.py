"""Red team: can a hook call make the service send the EHR's token somewhere it should not?

Production mode (a trusted issuer, CDS_PUBLIC_BASE_URL), a local listener that records every
connection, and `fhirServer` spelled every way that reaches this machine."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask.testing import FlaskClient

from cds import create_app
from cds.fhir.client import FhirClient
from cds.fhir.egress import NOT_ALLOWED, is_public, refusal
from cds.settings import Settings
from tests.api.test_auth import EHR_KEY, ISSUER, KID, _jwk, token
from tests.conftest import NOW, SIGN, chart_request

PUBLIC = "https://cds.hospital.example"
ACCESS_TOKEN = "ehr-access-token-for-fhir"


class Listener:
    """A TCP listener on loopback (IPv4 and, where it can, IPv6 on the same port) that records
    every connection and the first bytes sent on it."""

    def __init__(self) -> None:
        self.connections: list[bytes] = []
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        with contextlib.suppress(OSError):
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        self._threads = [
            threading.Thread(target=self._serve, args=(s,), daemon=True) for s in self.sockets
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(0.5)
                try:
                    self.connections.append(conn.recv(4096))
                except OSError:
                    self.connections.append(b"")

    def close(self) -> None:
        for server in self.sockets:
            server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    recorder = Listener()
    yield recorder
    recorder.close()


def production(tmp_path: Path, **settings: Any) -> FlaskClient:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk(EHR_KEY, KID, "ES384")]}))
    config = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        trusted_issuers={ISSUER: str(jwks)},
        public_base_url=PUBLIC,
        fhir_deadline=1.5,
        **settings,
    )
    return create_app(config, clock=lambda: NOW).test_client()


def call(client: FlaskClient, fhir_server: str, **context: Any) -> Any:
    request = chart_request("adult-70kg-rr-cycle1-correct")
    del request["prefetch"]
    request["context"] |= context
    request |= {
        "fhirServer": fhir_server,
        "fhirAuthorization": {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds",
        },
    }
    headers = {"Authorization": f"Bearer {token(aud=PUBLIC + SIGN, sub='ehr-client')}"}
    return client.post(SIGN, json=request, headers=headers)


LOOPBACK_SPELLINGS = [
    "https://127.0.0.1:{port}",
    "https://localhost:{port}",
    "https://LOCALHOST:{port}",
    "HTTPS://127.0.0.1:{port}",
    "https://[::1]:{port}",
    "https://0.0.0.0:{port}",
    "https://127.1:{port}",
    "https://2130706433:{port}",
    "https://0x7f000001:{port}",
    "https://017700000001:{port}",
    "https://127.0.0.1.:{port}",  # no such name: not even resolved to loopback
    "https://[::ffff:127.0.0.1]:{port}",
    "https://[::ffff:7f00:1]:{port}",
    "https://evil@127.0.0.1:{port}",
    "https://fhir.example.org@127.0.0.1:{port}",
    "https://127.0.0.1:{port}/fhir",
    "http://127.0.0.1:{port}",
]


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_no_spelling_of_loopback_is_ever_connected_to(
    tmp_path: Path, listener: Listener, spelling: str
) -> None:
    answer = call(production(tmp_path), spelling.format(port=listener.port))
    assert listener.connections == []
    text = answer.get_data(as_text=True)
    assert answer.status_code == 412, text
    by_name = "localhost" in spelling.lower() or spelling.startswith("https://127.0.0.1.:")
    assert ("could not be reached" if by_name else "not allowed") in text
    assert ACCESS_TOKEN not in text


def test_the_service_own_public_host_is_refused_case_insensitively(
    tmp_path: Path, fhir_mock: responses.RequestsMock
) -> None:
    answer = call(production(tmp_path), "HTTPS://CDS.Hospital.Example:443/fhir")
    assert answer.status_code == 412
    assert "not allowed" in answer.get_data(as_text=True)
    assert len(fhir_mock.calls) == 0


@pytest.fixture
def fhir_mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_an_allow_listed_internal_server_is_reached_and_network_errors_are_not_described(
    tmp_path: Path, listener: Listener
) -> None:
    """The hospital case: the FHIR server is internal and listed. Here it speaks no TLS, so the
    fetch fails; the 412 says it could not be reached and never why (no scanner)."""
    server = f"https://127.0.0.1:{listener.port}/fhir"
    answer = call(production(tmp_path, allowed_fhir_servers=[server]), server)
    assert listener.connections, "the allow-listed server was never contacted"
    text = answer.get_data(as_text=True)
    assert answer.status_code == 412
    assert "could not be reached" in text
    for detail in ("SSL", "Connection", "Errno", "refused", "reset", "EOF"):
        assert detail not in text


def test_an_allow_list_does_not_admit_other_loopback_spellings(
    tmp_path: Path, listener: Listener
) -> None:
    client = production(tmp_path, allowed_fhir_servers=["https://fhir.hospital.example/fhir"])
    for spelling in ("https://127.0.0.1:{port}", "https://fhir.hospital.example.evil@127.0.0.1"):
        answer = call(client, spelling.format(port=listener.port))
        assert "not allowed" in answer.get_data(as_text=True)
    assert listener.connections == []


def test_dns_rebinding_cannot_swap_the_checked_address(
    tmp_path: Path, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name first resolves to a public address, then to loopback. The service must connect
    to the address it checked, never look the name up again for the connection."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.attacker.example":
            lookups.append(host)
            address = "192.0.43.8" if len(lookups) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    connected: list[Any] = []
    real_connect = socket.socket.connect

    def record_connect(sock: socket.socket, address: Any) -> Any:
        connected.append(address[0])
        if address[0] == "192.0.43.8":
            raise OSError("unreachable in this test")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", record_connect)
    client = production(tmp_path, fhir_retries=0)
    answer = call(client, f"https://rebind.attacker.example:{listener.port}")
    assert listener.connections == []
    assert "127.0.0.1" not in connected
    assert connected and set(connected) == {"192.0.43.8"}
    assert answer.status_code == 412


def test_a_name_with_one_private_address_among_public_ones_is_refused(
    tmp_path: Path, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def mixed(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "mixed.attacker.example":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.43.8", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    answer = call(production(tmp_path), f"https://mixed.attacker.example:{listener.port}")
    assert "could not be reached" in answer.get_data(as_text=True)
    assert listener.connections == []


def test_a_name_that_resolves_inside_reads_like_one_that_does_not_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Red team: "not allowed" for a name resolving to a private address, "could not be reached"
    for a name that does not exist, let any trusted caller map the hospital's internal names."""
    real = socket.getaddrinfo

    def internal_names(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "ehr-db.corp.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]
        if host == "no-such-host.corp.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", internal_names)
    client = production(tmp_path, fhir_retries=0)
    inside = call(client, "https://ehr-db.corp.example/fhir")
    nowhere = call(client, "https://no-such-host.corp.example/fhir")
    assert inside.status_code == nowhere.status_code == 412
    said = [[i["diagnostics"] for i in a.get_json()["issue"]] for a in (inside, nowhere)]
    assert said[0] == said[1] and "could not be reached" in str(said[0]), said


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:169.254.169.254", False),
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 around 169.254.169.254
        ("64:ff9b::7f00:1", False),  # NAT64 around 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 around the metadata address
    ],
)
def test_public_means_globally_routable_unicast(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


INJECTIONS = [
    "../../admin/secret?x=",
    "123/../../admin",
    "123?_format=xml",
    "123&code=http://loinc.org|1234-5",
    "123#fragment",
    "abc%2F..%2Fadmin",
    "a b",
    "x" * 65,
    "Patient/../../admin",
]


@pytest.mark.parametrize("patient_id", INJECTIONS)
def test_a_patient_id_cannot_change_the_fhir_url(
    tmp_path: Path, fhir_mock: responses.RequestsMock, patient_id: str
) -> None:
    base = "https://fhir.hospital.example/fhir"
    fhir_mock.add(responses.GET, re.compile(r"https://fhir\.hospital.*"))
    client = production(tmp_path, allowed_fhir_servers=[base])
    answer = call(client, base, patientId=patient_id)
    assert answer.status_code in (400, 412), answer.get_data(as_text=True)
    for made in fhir_mock.calls:
        assert made.request.url is not None
        url = urlsplit(made.request.url)
        assert url.path.startswith("/fhir/") and ".." not in url.path, made.request.url
        assert set(parse_qs(url.query)) <= {"patient", "code"}, made.request.url


def test_a_valid_patient_id_is_fetched_below_the_server(
    tmp_path: Path, fhir_mock: responses.RequestsMock
) -> None:
    base = "https://fhir.hospital.example/fhir"
    fhir_mock.add(responses.GET, re.compile(r"https://fhir\.hospital.*"))
    call(production(tmp_path, allowed_fhir_servers=[base]), base, patientId="pat-1.2")
    urls = [made.request.url for made in fhir_mock.calls]
    assert f"{base}/Patient/pat-1.2" in urls
    assert f"{base}/Immunization?patient=pat-1.2" in urls


def test_a_next_link_may_not_leave_the_allowed_server(
    tmp_path: Path, fhir_mock: responses.RequestsMock
) -> None:
    base = "https://fhir.hospital.example/fhir"
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [],
        "link": [{"relation": "next", "url": "https://fhir.hospital.example@169.254.169.254/x"}],
    }
    fhir_mock.add(responses.GET, re.compile(r".*"), json=page)
    call(production(tmp_path, allowed_fhir_servers=[base]), base)
    assert all(urlsplit(c.request.url).hostname == "fhir.hospital.example" for c in fhir_mock.calls)


def test_dev_mode_still_fetches_a_local_http_server(tmp_path: Path, listener: Listener) -> None:
    settings = Settings(
        dev_mode=True, database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", fhir_deadline=1.0
    )
    client = create_app(settings, clock=lambda: NOW).test_client()
    request = chart_request("adult-70kg-rr-cycle1-correct")
    del request["prefetch"]
    request["fhirServer"] = f"http://127.0.0.1:{listener.port}"
    client.post(SIGN, json=request)
    assert listener.connections and listener.connections[0].startswith(b"GET /")


ALLOWED = "https://fhir.hospital.example/fhir"
# each would reach another path of the allowed host, most of them through requests' or the
# server's own normalisation, with the EHR's token
DOT_SEGMENTS = [
    "/fhir/../admin",
    "/fhir/./../../payroll/api",
    "/fhir/%2e%2e/admin",
    "/fhir/%2E%2E/admin",
    "/fhir/.%2e/admin",
    "/fhir/%2e./admin",
    "/fhir/..;/admin",
    "/fhir/..%2fadmin",
    "/fhir/..%2Fadmin",
    "/fhir/..\\admin",
    "/fhir/..%5cadmin",
    "/fhir/x/..",
    "/fhir/x/%2e%2e",
    "/fhir/./",
]


# what some server may still turn into a dot segment, after requests' checks: a second decoding
# (`%252e`), IIS's `%u`, a NUL or whitespace a server strips, a dot that is not ASCII
SERVER_DEPENDENT_PATHS = [
    "/fhir/%252e%252e/admin",
    "/fhir/%252E%252E/admin",
    "/fhir/%25%32%65%25%32%65/admin",
    "/fhir/%u002e%u002e/admin",
    "/fhir/%U002E%U002E/admin",
    "/fhir/\uff0e\uff0e/admin",  # fullwidth full stops
    "/fhir/%EF%BC%8E%EF%BC%8E/admin",  # the same, escaped
    "/fhir/..\u3002/admin",
    "/fhir/..%00/admin",
    "/fhir/..\x00/admin",
    "/fhir/..%09/admin",
    "/fhir/..\t/admin",
    "/fhir/.. /admin",
    "/fhir/..%20/admin",
    "/fhir/ ../admin",
    "/fhir/..\r\n/admin",
    "/fhir/..%7f/admin",
    "/fhir/..\u00a0/admin",
]


def settings_with(**values: Any) -> Settings:
    return Settings(public_base_url=PUBLIC, **values)


@pytest.mark.parametrize("path", SERVER_DEPENDENT_PATHS)
def test_a_path_a_server_may_still_resolve_is_refused(path: str) -> None:
    config = settings_with(allowed_fhir_servers=[ALLOWED])
    assert refusal("https://fhir.hospital.example" + path, config) == NOT_ALLOWED
    assert refusal("https://fhir.hospital.example" + path, settings_with()) == NOT_ALLOWED
    client = FhirClient(ALLOWED, None, config)
    assert client.below_base(f"https://fhir.hospital.example{path}/Observation") is False


def test_the_query_keeps_its_percent_escapes() -> None:
    config = settings_with(allowed_fhir_servers=[ALLOWED])
    link = ALLOWED + "/Observation?code=http%3A%2F%2Floinc.org%7C29463-7&_page=%25u%00%20x"
    assert FhirClient(ALLOWED, None, config).below_base(link) is True
    assert refusal(ALLOWED + "?tenant=%252e%20", config) is None


@pytest.mark.parametrize("path", DOT_SEGMENTS)
def test_dot_segments_never_leave_an_allow_listed_prefix(path: str) -> None:
    config = settings_with(allowed_fhir_servers=[ALLOWED])
    assert refusal("https://fhir.hospital.example" + path, config) == NOT_ALLOWED
    assert refusal("https://fhir.hospital.example" + path, settings_with()) == NOT_ALLOWED


@pytest.mark.parametrize(
    ("server", "allowed"),
    [
        (ALLOWED, True),
        (ALLOWED + "/", True),
        (ALLOWED + "/r4", True),
        ("HTTPS://FHIR.Hospital.Example/fhir", True),
        ("https://fhir.hospital.example:443/fhir", True),
        ("https://fhir.hospital.example./fhir", True),  # the same name, absolute
        ("https://fhir.hospital.example/fhirX", False),
        ("https://fhir.hospital.example/FHIR", False),
        ("https://fhir.hospital.example:8443/fhir", False),
        ("https://fhir.hospital.example../fhir", False),
        ("http://fhir.hospital.example/fhir", False),
        ("https://fhir.hospital.example.evil.example/fhir", False),
        ("https://fhir.hospital.example%2eevil.example/fhir", False),
        ("https://evil.example\\.fhir.hospital.example/fhir", False),
        ("https://fhir.hospital.example\\@evil.example/fhir", False),
    ],
)
def test_an_allow_list_compares_urls_as_they_are_sent(server: str, allowed: bool) -> None:
    config = settings_with(allowed_fhir_servers=[ALLOWED])
    assert (refusal(server, config) is None) is allowed


def test_a_dot_segment_fhir_server_sends_nothing_with_the_token(
    tmp_path: Path, fhir_mock: responses.RequestsMock
) -> None:
    fhir_mock.add(responses.GET, re.compile(r".*"), json={"resourceType": "Bundle"})
    client = production(tmp_path, allowed_fhir_servers=[ALLOWED])
    answer = call(client, "https://fhir.hospital.example/fhir/./../../payroll/api")
    assert answer.status_code == 412
    assert "not allowed" in answer.get_data(as_text=True)
    assert len(fhir_mock.calls) == 0


@pytest.mark.parametrize("path", DOT_SEGMENTS[:-1])
def test_a_next_link_with_dot_segments_is_not_followed(
    tmp_path: Path, fhir_mock: responses.RequestsMock, path: str
) -> None:
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [],
        "link": [{"relation": "next", "url": f"https://fhir.hospital.example{path}/Observation"}],
    }
    fhir_mock.add(responses.GET, re.compile(r".*"), json=page)
    call(production(tmp_path, allowed_fhir_servers=[ALLOWED]), ALLOWED)
    assert fhir_mock.calls
    for made in fhir_mock.calls:
        assert made.request.url is not None
        sent = urlsplit(made.request.url).path
        assert sent.startswith("/fhir/") and "." not in sent and "admin" not in sent, sent


@pytest.mark.parametrize(
    ("link", "below"),
    [
        (ALLOWED + "/Observation?page=2", True),
        ("HTTPS://FHIR.hospital.example:443/fhir/Observation?page=2", True),
        ("https://fhir.hospital.example./fhir/Observation", True),
        (ALLOWED, False),
        (ALLOWED + "X/Observation", False),
        ("https://fhir.hospital.example:8443/fhir/Observation", False),
        ("https://fhir.hospital.example%2eevil.example/fhir/Observation", False),
        ("https://fhir.hospital.example\\.evil.example/fhir/Observation", False),
        *((f"https://fhir.hospital.example{path}/Observation", False) for path in DOT_SEGMENTS),
    ],
)
def test_below_fhir_server_means_below_it_as_sent(link: str, below: bool) -> None:
    client = FhirClient(ALLOWED, None, settings_with(allowed_fhir_servers=[ALLOWED]))
    assert client.below_base(link) is below


OWN_HOST_SPELLINGS = [
    "https://cds.hospital.example/fhir",
    "https://CDS.hospital.example:443/fhir",
    "https://cds.hospital.example./fhir",
    "https://cds.hospital.example.:443/cds-services",
    "https://CDS.HOSPITAL.EXAMPLE./fhir",
    "https://cds%2ehospital.example/fhir",  # urllib3 decodes the host: it connects to ours
    "https://cds.hospital.example\\.elsewhere.example/fhir",  # urllib3 ends the host at `\`
]


@pytest.mark.parametrize("server", OWN_HOST_SPELLINGS)
def test_no_spelling_of_the_own_host_is_fetched(server: str) -> None:
    assert refusal(server, settings_with()) == NOT_ALLOWED
    by_host_header = Settings(public_base_url=None)  # the Host header names the own host
    assert refusal(server, by_host_header, own_host="CDS.Hospital.Example.") == NOT_ALLOWED
    assert refusal(server, by_host_header, own_host="cds.hospital.example:443") == NOT_ALLOWED


def test_the_own_host_is_compared_in_its_idna_form() -> None:
    config = Settings(public_base_url="https://bücher.example")
    assert refusal("https://xn--bcher-kva.example/fhir", config) == NOT_ALLOWED
    assert refusal("https://BÜCHER.example./fhir", config) == NOT_ALLOWED
    assert refusal("https://other.example/fhir", config) is None
