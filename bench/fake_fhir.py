"""A loopback FHIR R4 server for scenario (c): answers each read or search after a fixed delay.

Serves one chart (a JSON list of resources) over HTTPS with a throw-away self-signed certificate,
so that the service runs in production mode (fhirServer must be https outside --dev); the service
trusts the certificate through REQUESTS_CA_BUNDLE. Searches filter by patient and `code` as a real
server would and answer a searchset Bundle.

    python -m bench.fake_fhir --port P --chart chart.json --cert c.pem --key k.pem [--delay 0.1]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import ssl
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


def make_certificate(cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate for 127.0.0.1 (also its own CA, for REQUESTS_CA_BUNDLE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _codes(resource: dict[str, Any]) -> set[str]:
    codings = (resource.get("code") or {}).get("coding") or []
    return {f"{c.get('system')}|{c.get('code')}" for c in codings} | {
        str(c.get("code")) for c in codings
    }


def _subject(resource: dict[str, Any]) -> str | None:
    for field in ("subject", "patient"):
        reference = (resource.get(field) or {}).get("reference")
        if reference:
            return str(reference).split("/")[-1]
    return None


BASE = "fhir"


def make_handler(resources: list[dict[str, Any]], delay: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle's algorithm on, the body of every
        # answer on a reused keep-alive connection waited for the client's delayed ACK (40 ms on
        # Linux). Real servers (gunicorn, nginx, HAPI's Jetty) set TCP_NODELAY.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per call
            pass

        def do_GET(self) -> None:
            time.sleep(delay)
            url = urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            if parts[:1] == [BASE]:  # the service's fhirServer is https://127.0.0.1:P/fhir
                parts = parts[1:]
            query = {k: ",".join(v) for k, v in parse_qs(url.query).items()}
            if len(parts) == 2:
                found = [
                    r for r in resources if r["resourceType"] == parts[0] and r["id"] == parts[1]
                ]
                if found:
                    return self._send(200, found[0])
                return self._send(404, {"resourceType": "OperationOutcome", "issue": []})
            wanted = set(query.get("code", "").split(",")) - {""}
            matches = [
                r
                for r in resources
                if parts
                and r["resourceType"] == parts[0]
                and r.get("status") != "draft"
                and _subject(r) == query.get("patient", "").split("/")[-1]
                and (not wanted or _codes(r) & wanted)
            ]
            base = f"https://{self.headers.get('Host')}/{BASE}"
            self._send(
                200,
                {
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "total": len(matches),
                    "link": [{"relation": "self", "url": base + self.path}],
                    "entry": [
                        {
                            "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                            "resource": r,
                            "search": {"mode": "match"},
                        }
                        for r in matches
                    ],
                },
            )

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chart", required=True, help="JSON list of resources")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds before each answer")
    args = parser.parse_args()
    resources = json.loads(Path(args.chart).read_text(encoding="utf-8"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)

    class TlsServer(ThreadingHTTPServer):
        """TLS handshakes in the connection's own thread, and a listen backlog that holds every
        concurrent fetch (the default of 5 drops SYNs: a 1 s retransmit that is not the
        service's doing)."""

        daemon_threads = True
        request_queue_size = 256

        def get_request(self) -> tuple[Any, Any]:
            connection, address = self.socket.accept()
            wrapped = context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
            return wrapped, address

    TlsServer(("127.0.0.1", args.port), make_handler(resources, args.delay)).serve_forever()


if __name__ == "__main__":
    main()
