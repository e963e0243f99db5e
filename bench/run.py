"""The benchmark: the service as in production against a floor app, on loopback, bounded load.

    .venv/bin/python -m bench.run [--runs 3] [--scale 1.0] [--json results.json]

Each run starts, on 127.0.0.1:
- the service exactly as production: `python -m cds serve --workers 2` (gunicorn, gthread, app
  preloaded), NOT in --dev: every call carries a fresh ES384 JWT (RS384 with --alg RS384) from a
  trusted test issuer, so JWT verification and the replay cache are measured too; feedback store
  on a throw-away SQLite file;
- the floor: a bare Flask endpoint (`bench.floor_app`) that parses the same JSON and answers
  `{"cards": []}` under the same gunicorn settings (`cds.server.serve`);
- for scenario (c), a loopback HTTPS FHIR server (`bench.fake_fhir`) that answers after 100 ms.

Then it drives both with the same fixed number of order-sign requests at concurrency 1 and 4
(threads, one keep-alive connection each) for (a) a typical chart (~50 prefetched resources),
(b) a long chart (~1,000), (c) no prefetch (all five keys fetched from the FHIR server) and
(n) a non-blinatumomab order with the typical chart (what most order-sign calls are) and
(d) the typical chart of a different patient in every call (never repeated: no cache helps), and
prints requests/s, p50, p99, the workers' CPU time per request, the ratio service/floor, peak RSS
per worker (VmHWM of gunicorn's workers) and cold start (process start to the first answered
order-sign). With --runs N it prints the median of the N runs. Nothing leaves the machine.
`bench.compare` runs an earlier commit and this tree side by side, interleaved.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIGN = "/cds-services/blinatumomab-order-sign"
ISSUER = "https://ehr.bench.example"
KID = "bench-ehr-key"
# requests per (scenario, concurrency) at --scale 1; after WARMUP requests that are not measured
REQUESTS = {"a": 400, "b": 100, "c": 60, "n": 400, "d": 400}
WARMUP = 10
CONCURRENCY = (1, 4)
TARGETS = """\
(a) typical chart: throughput >= 0.5 x floor, p99 <= 15 ms at concurrency 4
(b) long chart:    p50 <= 30 ms at concurrency 4
(c) no prefetch:   total <= 250 ms (p99, concurrency 1 and 4)
(n) other drug:    throughput >= 0.8 x floor at concurrency 4 (issue 17)
(a) is one chart resent: throughput >= 0.4 x floor at concurrency 4 (issue 17)
(d) new patients:  throughput >= 0.2 x floor at concurrency 4 (issue 17)
every scenario at concurrency 4: p99/p50 <= 3, or <= 1.5 x the floor's (issue 17)
cold start <= 2 s; peak RSS <= 200 MB per worker"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Signer:
    """Signs one fresh CDS Hooks JWT per request (as an EHR does), with a key the service trusts.

    ES384 and RS384 are the two algorithms CDS Hooks 2.0 requires a service to accept; they cost
    the service very different CPU to verify (P-384 ~0.4-0.7 ms here, RSA-2048 ~0.03 ms)."""

    ALGORITHMS = ("ES384", "RS384")

    def __init__(self, directory: Path, algorithm: str = "ES384") -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        self._jwt = jwt
        self.algorithm = algorithm
        if algorithm == "RS384":
            self._key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        elif algorithm == "ES384":
            self._key = ec.generate_private_key(ec.SECP384R1())
            jwk = json.loads(ECAlgorithm.to_jwk(self._key.public_key()))
        else:
            raise ValueError(f"algorithm {algorithm!r}: one of {self.ALGORITHMS}")
        self.jwks_path = directory / "ehr-jwks.json"
        self.jwks_path.write_text(json.dumps({"keys": [jwk | {"kid": KID, "alg": algorithm}]}))

    def tokens(self, audience: str, count: int) -> list[str]:
        now = int(time.time())
        return [
            self._jwt.encode(
                {
                    "iss": ISSUER,
                    "aud": audience,
                    "iat": now,
                    "exp": now + 300,
                    "jti": str(uuid.uuid4()),
                    "sub": "bench-ehr-client",
                },
                self._key,
                algorithm=self.algorithm,
                headers={"typ": "JWT", "kid": KID},
            )
            for _ in range(count)
        ]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    cold_start: float = math.nan
    log: Path | None = None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _workers(self) -> list[Path]:
        """/proc entries of the gunicorn workers (children of the master process)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(entry)
            except (OSError, ValueError, IndexError):
                continue
        return found

    def worker_peak_rss_mb(self) -> list[float]:
        """VmHWM of each gunicorn worker."""
        peaks = []
        for entry in self._workers():
            try:
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks.append(int(line.split()[1]) / 1024)
            except (OSError, ValueError):
                continue
        return sorted(peaks)

    def worker_cpu_seconds(self) -> float:
        """User + system CPU time of all workers so far. Per request, it is what a call costs
        whatever else loads the machine (a busy neighbour stretches latencies, not this)."""
        total = 0
        for entry in self._workers():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def connections_per_worker(self) -> str:
        """How many established client connections each worker holds, busiest first ("3+1"):
        gunicorn does not spread keep-alive connections evenly, and a worker with three of four
        serves them on one core while the other idles (the tails at concurrency 4)."""
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
        port = f":{self.port:04X}"
        inodes = {  # established (01) with our port as the local one
            fields[9]
            for fields in (line.split() for line in lines)
            if fields[1].endswith(port) and fields[3] == "01"
        }
        counts = []
        for entry in self._workers():
            try:
                links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
            except OSError:
                continue
            counts.append(sum(link[8:-1] in inodes for link in links if link.startswith("socket:")))
        return "+".join(str(n) for n in sorted(counts, reverse=True))


PUBLIC_BASE_URL = "https://cds.bench.example"  # production requires one; tokens' aud follows it


def service_env(database: Path, signer: Signer) -> dict[str, str]:
    """The service's environment: production mode, trusting the benchmark's EHR key."""
    env = os.environ | {
        "CDS_DATABASE_URL": f"sqlite:///{database}",
        "CDS_TRUSTED_ISSUERS": json.dumps({ISSUER: str(signer.jwks_path)}),
        "CDS_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    env.pop("CDS_DEV_MODE", None)
    return env


def serve_command(port: int, workers: int = 2) -> list[str]:
    """The README's production serve command, on loopback."""
    return [sys.executable, "-m", "cds", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers)]  # fmt: skip


def post(port: int, body: bytes, token: str | None, timeout: float = 30) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", SIGN, body, _headers(token))
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def start(
    name: str,
    command: list[str],
    port: int,
    env: dict[str, str],
    log: Path,
    first_request: Callable[[], tuple[bytes, str | None]],
    cwd: Path = ROOT,
) -> Server:
    """Start a server; cold start = Popen to the first 200 answer to a real order-sign request."""
    body, token = first_request()
    began = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb")
    )
    server = Server(name, process, port, log=log)
    while time.perf_counter() - began < 60:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
        try:
            status, answer = post(port, body, token)
        except OSError:
            time.sleep(0.01)
            continue
        if status != 200:
            server.stop()
            raise RuntimeError(f"{name} answered {status}: {answer[:300]!r}; see {log}")
        server.cold_start = time.perf_counter() - began
        return server
    server.stop()
    raise RuntimeError(f"{name} did not answer within 60 s; see {log}")


@dataclass
class Phase:
    rps: float
    p50_ms: float
    p99_ms: float
    latencies_ms: list[float] = field(repr=False, default_factory=list)
    split: str = ""  # connections per worker halfway through (`Server.connections_per_worker`)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def drive(
    port: int,
    bodies: Callable[[], bytes],
    tokens: list[str | None],
    concurrency: int,
    split: Callable[[], str] | None = None,
) -> Phase:
    """Send len(tokens) requests from `concurrency` threads, each on one keep-alive connection;
    `split` is called once halfway through."""
    counter = itertools.count()
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    payloads = [bodies() for _ in tokens]
    seen_split: list[str] = []

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        try:
            while (i := next(counter)) < len(tokens):
                if split is not None and i == len(tokens) // 2:
                    seen_split.append(split())
                began = time.perf_counter()
                connection.request("POST", SIGN, payloads[i], _headers(tokens[i]))
                answer = connection.getresponse()
                content = answer.read()
                mine.append((time.perf_counter() - began) * 1000)
                if answer.status != 200 or b'"cards"' not in content:
                    failures.append(f"HTTP {answer.status}: {content[:200]!r}")
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests, first: {failures[0]}")
    return Phase(
        len(tokens) / elapsed,
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        latencies,
        "".join(seen_split),
    )


def body_factory(request: dict[str, Any], new_patient: bool = False) -> Callable[[], bytes]:
    """Request bytes with a fresh hookInstance each time (serialised once); with `new_patient`,
    another patient id each time too, so that every resource naming the patient differs."""
    from bench.charts import PID

    marker = "HOOK-INSTANCE-MARKER"
    prefix, suffix = json.dumps(request | {"hookInstance": marker}).encode().split(marker.encode())
    if new_patient:
        return lambda: (prefix + (u := str(uuid.uuid4()).encode()) + suffix).replace(
            PID.encode(), b"pt-" + u
        )
    return lambda: prefix + str(uuid.uuid4()).encode() + suffix


def one_run(
    scale: float,
    scenarios: list[str],
    workers: int,
    keep: bool,
    dev: bool = False,
    algorithm: str = "ES384",
) -> dict[str, Any]:
    from bench import charts
    from bench.fake_fhir import BASE, make_certificate

    # bytecode compiled, as in the Docker image (a fresh clone has none, and with
    # PYTHONDONTWRITEBYTECODE every start would compile the package again)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "cds", "bench"], cwd=ROOT, check=True)
    directory = Path(tempfile.mkdtemp(prefix="cds-bench-"))
    signer = Signer(directory, algorithm)
    servers: list[Server] = []
    fake: subprocess.Popen[bytes] | None = None
    try:
        fhir_port, service_port, floor_port = free_port(), free_port(), free_port()
        cert, key = directory / "fhir-cert.pem", directory / "fhir-key.pem"
        make_certificate(cert, key)
        typical = charts.typical()
        requests = {
            "a": typical,
            "b": charts.long(),
            "c": charts.no_prefetch(f"https://127.0.0.1:{fhir_port}/{BASE}"),
            "n": charts.non_blinatumomab(),
            "d": typical,
        }
        chart_file = directory / "chart.json"
        chart_file.write_text(json.dumps(_chart_resources(typical)))
        if "c" in scenarios:
            fake = subprocess.Popen(
                [sys.executable, "-m", "bench.fake_fhir", "--port", str(fhir_port),
                 "--chart", str(chart_file), "--cert", str(cert), "--key", str(key)],
                cwd=ROOT,
            )  # fmt: skip
        env = service_env(directory / "cds.sqlite3", signer) | {"REQUESTS_CA_BUNDLE": str(cert)}
        audience = PUBLIC_BASE_URL + SIGN
        first = body_factory(typical)
        floor = start(
            "floor",
            [sys.executable, "-m", "bench.floor_app", "--port", str(floor_port),
             "--workers", str(workers)],
            floor_port, env, directory / "floor.log", lambda: (first(), None),
        )  # fmt: skip
        servers.append(floor)
        service = start(
            "service", [*serve_command(service_port, workers), *(["--dev"] if dev else [])],
            service_port, env, directory / "service.log",
            lambda: (first(), None if dev else signer.tokens(audience, 1)[0]),
        )  # fmt: skip
        servers.append(service)
        token = (lambda: None) if dev else (lambda: signer.tokens(audience, 1)[0])
        if fake is not None:
            _wait_for_port(fhir_port)
            # the chart fetched from the FHIR server is (a)'s: the same cards, or (c) measured
            # something else (a fake server that answered 404 once made every check "not run")
            expected = _cards(service.port, body_factory(typical)(), token())
            fetched = _cards(service.port, body_factory(requests["c"])(), token())
            if fetched != expected:
                raise RuntimeError(f"(c) answered {fetched}, not (a)'s {expected}")
        splits: dict[str, dict[str, str]] = {}
        results: dict[str, Any] = {
            "cold_start_s": {"service": service.cold_start, "floor": floor.cold_start},
            "scenarios": {},
        }
        for name in scenarios:
            bodies = body_factory(requests[name], new_patient=name == "d")
            count = max(10, round(REQUESTS[name] * scale))
            for concurrency in CONCURRENCY:
                row: dict[str, Any] = {}
                for target in (service, floor):
                    tokens: list[str | None] = (
                        list(signer.tokens(audience, count + WARMUP))
                        if target is service and not dev
                        else [None] * (count + WARMUP)
                    )
                    drive(target.port, bodies, tokens[:WARMUP], concurrency)
                    cpu_before = target.worker_cpu_seconds()
                    phase = drive(
                        target.port, bodies, tokens[WARMUP:], concurrency,
                        target.connections_per_worker,
                    )  # fmt: skip
                    row[target.name] = {
                        "rps": phase.rps,
                        "p50_ms": phase.p50_ms,
                        "p99_ms": phase.p99_ms,
                        "cpu_ms": (target.worker_cpu_seconds() - cpu_before) * 1000 / count,
                        "requests": count,
                    }
                    splits.setdefault(f"{name}{concurrency}", {})[target.name] = phase.split
                row["ratio_rps"] = row["service"]["rps"] / row["floor"]["rps"]
                results["scenarios"].setdefault(name, {})[str(concurrency)] = row
        results["connections_per_worker"] = splits
        results["peak_rss_mb"] = {
            "service": service.worker_peak_rss_mb(),
            "floor": floor.worker_peak_rss_mb(),
        }
        results["prefetched_resources"] = {
            name: charts.prefetch_count(requests[name]) for name in scenarios
        }
        return results
    finally:
        for server in servers:
            server.stop()
        if fake is not None:
            fake.terminate()
            fake.wait()
        if keep:
            print(f"(logs kept in {directory})", file=sys.stderr)
        else:
            shutil.rmtree(directory, ignore_errors=True)


def _cards(port: int, body: bytes, token: str | None) -> list[tuple[str, str]]:
    status, answer = post(port, body, token)
    if status != 200:
        raise RuntimeError(f"HTTP {status}: {answer[:300]!r}")
    return sorted((c["indicator"], c["summary"]) for c in json.loads(answer)["cards"])


def _chart_resources(request: dict[str, Any]) -> list[dict[str, Any]]:
    from cds.fhir.parsing import resources_in

    found: list[dict[str, Any]] = []
    for value in request["prefetch"].values():
        found.extend(resources_in(value))
    return found


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the fake FHIR server did not start")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The element-wise median of several runs' results (lists: median of each run's max)."""

    def merge(values: list[Any]) -> Any:
        first = values[0]
        if isinstance(first, dict):
            return {k: merge([v[k] for v in values]) for k in first}
        if isinstance(first, list):
            return statistics.median(max(v) for v in values) if first else None
        if isinstance(first, str):
            return " ".join(values)  # every run's
        return statistics.median(values)

    merged: dict[str, Any] = merge(runs)
    return merged


LABELS = {
    "a": "(a) typical",
    "b": "(b) long",
    "c": "(c) no prefetch",
    "n": "(n) other drug",
    "d": "(d) new patients",
}


def report(result: dict[str, Any], runs: int) -> str:
    lines = [
        f"median of {runs} run(s), service in {result.get('mode', 'production')} mode; "
        "latencies in ms; cpu = the workers' CPU ms per request; ratio = service rps / floor rps",
        f"{'scenario':<20}{'conc':>4} | {'service rps':>11}{'p50':>8}{'p99':>8}{'cpu':>6} | "
        f"{'floor rps':>9}{'p50':>7}{'p99':>7}{'cpu':>6} | {'ratio':>5}",
    ]
    for name, rows in result["scenarios"].items():
        label = f"{LABELS[name]} [{result['prefetched_resources'][name]}]"
        for concurrency, row in rows.items():
            s, f = row["service"], row["floor"]
            lines.append(
                f"{label:<20}{concurrency:>4} | {s['rps']:>11.1f}{s['p50_ms']:>8.1f}"
                f"{s['p99_ms']:>8.1f}{s['cpu_ms']:>6.1f} | {f['rps']:>9.1f}{f['p50_ms']:>7.1f}"
                f"{f['p99_ms']:>7.1f}{f['cpu_ms']:>6.1f} | {row['ratio_rps']:>5.2f}"
            )
    rss, cold = result["peak_rss_mb"], result["cold_start_s"]
    splits = result.get("connections_per_worker", {})
    if splits:
        lines.append(
            "keep-alive connections per worker halfway through (service / floor; each run's): "
            + "; ".join(f"{k[0]} c{k[1:]} {v['service']} / {v['floor']}" for k, v in splits.items())
        )
    lines += [
        f"peak RSS per worker (max): service {rss['service']:.0f} MB, floor {rss['floor']:.0f} MB",
        f"cold start (Popen to first 200): service {cold['service']:.2f} s, "
        f"floor {cold['floor']:.2f} s",
        "",
        "targets:",
        TARGETS,
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is printed")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the request counts")
    parser.add_argument(
        "--scenarios",
        default="abc",
        help="any of a, b, c, n, d (n: a non-blinatumomab order; d: a new patient each call)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write every run's raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs")
    parser.add_argument(
        "--dev",
        action="store_true",
        help="run the service with --dev (no JWT, no replay cache): shows what the JWT path costs",
    )
    parser.add_argument(
        "--alg",
        choices=Signer.ALGORITHMS,
        default="ES384",
        help="the JWT's signing algorithm (both are CDS Hooks 2.0's required ones)",
    )
    args = parser.parse_args()
    scenarios = [s for s in "abcnd" if s in args.scenarios]
    runs = []
    for index in range(args.runs):
        print(f"run {index + 1}/{args.runs} ...", file=sys.stderr, flush=True)
        runs.append(one_run(args.scale, scenarios, args.workers, args.keep, args.dev, args.alg))
        if args.runs > 1:
            print(
                report(median_of([runs[-1]]), 1).split("\n\ntargets")[0],
                file=sys.stderr,
                flush=True,
            )
    result = median_of(runs)
    result["mode"] = "--dev (no JWT)" if args.dev else f"production ({args.alg} JWT, replay cache)"
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "median": result}, indent=2))
    print(report(result, len(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
