"""Command line: `python -m cds serve | check FILE | feedback-summary`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds import StartupRefused, create_app
from cds.settings import Settings


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def _serve(args: argparse.Namespace) -> int:
    from cds.server import metrics_directory, serve

    settings = Settings(**({"dev_mode": True} if args.dev else {}))
    _configure_logging(settings.log_level)
    with ExitStack() as stack:
        if settings.metrics:  # before prometheus_client is imported: its workers' files go here
            stack.enter_context(metrics_directory())
        try:
            app = create_app(settings)
        except StartupRefused as refusal:
            print(f"refusing to start: {refusal}", file=sys.stderr)
            return 2
        serve(app, args.host, args.port, args.workers, settings.dev_mode)
    return 0


CHART_KEYS = {
    "Patient": "patient",
    "Observation": "observations",
    "Immunization": "immunizations",
    "MedicationRequest": "medications",
    "Medication": "medications",
    "Condition": "conditions",
    "Encounter": "medications",  # as `_include=MedicationRequest:encounter` brings it
}


def request_from_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """A FHIR Bundle holding a chart plus draft orders -> an order-sign request with full prefetch.

    MedicationRequests with status `draft` (and ServiceRequests) are the draft orders; the rest of
    the chart fills the prefetch keys (keys with nothing in the chart are sent as null: no data).
    """
    resources = [
        e["resource"] for e in bundle.get("entry", []) if isinstance(e, dict) and "resource" in e
    ]
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if patient is None:
        raise ValueError("the Bundle holds no Patient")
    drafts = [
        r
        for r in resources
        if r.get("resourceType") in ("MedicationRequest", "ServiceRequest")
        and r.get("status") == "draft"
    ]
    chart: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        key = CHART_KEYS.get(resource.get("resourceType", ""))
        if key and resource not in drafts and key != "patient":
            chart.setdefault(key, []).append(resource)
    prefetch: dict[str, Any] = {"patient": patient}
    for key in ("observations", "immunizations", "medications", "conditions"):
        entries = chart.get(key)
        prefetch[key] = (
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": r} for r in entries],
            }
            if entries
            else None
        )
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/sandbox-user",
            "patientId": patient.get("id", "unknown"),
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in drafts],
            },
        },
        "prefetch": prefetch,
    }


def _as_of(request: dict[str, Any]) -> datetime:
    """Evaluate a file as of its orders' signing time (newest authoredOn), else now."""
    from cds.fhir.facts import as_datetime

    entries = (request.get("context", {}).get("draftOrders") or {}).get("entry") or []
    times = [
        t
        for e in entries
        if isinstance(e, dict)
        if (t := as_datetime((e.get("resource") or {}).get("authoredOn"))) is not None
    ]
    return max(times) if times else datetime.now(UTC)


def _check(args: argparse.Namespace) -> int:
    from cds.services import SERVICES

    document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    if document.get("resourceType") == "Bundle":
        document = request_from_bundle(document)
    now = datetime.fromisoformat(args.now) if args.now else _as_of(document)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    service = next((s.id for s in SERVICES.values() if s.hook == document.get("hook")), None)
    if service is None:
        print(f"unsupported hook {document.get('hook')!r}", file=sys.stderr)
        return 2
    _configure_logging("ERROR")
    app = create_app(Settings(dev_mode=True, database_url="sqlite://"), clock=lambda: now)
    answer = app.test_client().post(f"/cds-services/{service}", json=document)
    body = answer.get_json()
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0 if answer.status_code == 200 else 1
    print(f"{service} as of {now.isoformat()}: HTTP {answer.status_code}")
    if answer.status_code != 200:
        for issue in body.get("issue", []):
            print(f"  {issue.get('diagnostics')}")
        return 1
    if not body["cards"]:
        print("  no cards (nothing to say about this order)")
    for card in body["cards"]:
        topic = card["source"].get("topic", {}).get("code", "?")
        print(f"\n[{card['indicator'].upper()}] ({topic}) {card['summary']}")
        for line in (card.get("detail") or "").splitlines():
            print(f"    {line}")
        print(f"    source: {card['source']['label']}")
        for suggestion in card.get("suggestions", []):
            print(f"    suggestion: {suggestion['label']}")
    return 0


def _feedback_summary(args: argparse.Namespace) -> int:
    from cds.feedback import FeedbackStore, format_summary

    rows = FeedbackStore(Settings().database_url).summary()
    print(json.dumps(rows, indent=2) if args.json else format_summary(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the CDS Hooks service (gunicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument(
        "--dev", action="store_true", help="open development mode: NO authentication of callers"
    )
    serve.set_defaults(run=_serve)
    check = commands.add_parser(
        "check", help="run a CDS Hooks request or a FHIR Bundle file in-process"
    )
    check.add_argument("file")
    check.add_argument("--json", action="store_true", help="print the raw CDS Hooks response")
    check.add_argument(
        "--now", help="evaluate as of this ISO time (default: the orders' authoredOn)"
    )
    check.set_defaults(run=_check)
    summary = commands.add_parser("feedback-summary", help="override rate per card topic")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(run=_feedback_summary)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
