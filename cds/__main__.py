"""Command line: `python -m cds serve | check FILE | feedback-summary | knowledge-schema |
rules-table`."""

from __future__ import annotations

import argparse
import builtins
import json
import logging
import sys
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

    settings = Settings(dev_mode=True) if args.dev else Settings()
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


def _check(args: argparse.Namespace) -> int:
    from cds.errors import InvalidRequest
    from cds.feedback import printable
    from cds.fhir.bundle import request_from_bundle, request_signing_time
    from cds.services import service_for

    def print(*parts: Any, **options: Any) -> None:  # the file's values must not drive the terminal
        builtins.print(*(printable(str(p)) for p in parts), **options)

    document = json.loads(Path(args.file).read_text(encoding="utf-8"))
    if document.get("resourceType") == "Bundle":
        try:
            document = request_from_bundle(document, args.patient)
        except InvalidRequest as error:
            print(f"cannot check {args.file}: {error}", file=sys.stderr)
            return 2
    # Evaluate a file as of its orders' signing time (newest authoredOn), else now.
    now = (
        datetime.fromisoformat(args.now)
        if args.now
        else request_signing_time(document) or datetime.now(UTC)
    )
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    service = service_for(document.get("hook"))
    if service is None:
        builtins.print(printable(f"unsupported hook {document.get('hook')!r}"), file=sys.stderr)
        return 2
    _configure_logging("ERROR")
    app = create_app(Settings(dev_mode=True, database_url="sqlite://"), clock=lambda: now)
    answer = app.test_client().post(f"/cds-services/{service.id}", json=document)
    body = answer.get_json()
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0 if answer.status_code == 200 else 1
    print(f"{service.id} as of {now.isoformat()}: HTTP {answer.status_code}")
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
    print(json.dumps(rows, indent=2) if args.json else format_summary(rows))  # JSON: \u-escaped
    return 0


def _knowledge_schema(args: argparse.Namespace) -> int:
    from cds.knowledge.schema import SCHEMA_DIR, write_schemas

    for path in write_schemas(Path(args.out) if args.out else SCHEMA_DIR):
        print(path)
    return 0


def _rules_table(args: argparse.Namespace) -> int:
    from cds.rules_table import rules_table

    sys.stdout.write(rules_table())
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
    check.add_argument(
        "--patient", help="the patient id to check when the Bundle holds several patients"
    )
    check.set_defaults(run=_check)
    summary = commands.add_parser("feedback-summary", help="override rate per card topic")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(run=_feedback_summary)
    schema = commands.add_parser(
        "knowledge-schema", help="write the JSON Schema of each knowledge file (for editors)"
    )
    schema.add_argument("--out", help="folder to write to (default: cds/knowledge/schema)")
    schema.set_defaults(run=_knowledge_schema)
    table = commands.add_parser(
        "rules-table", help="the cards and rules as markdown (docs/checks.md is its output)"
    )
    table.set_defaults(run=_rules_table)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
