"""Command line: `python -m cds serve | check FILE [--expect] | check --all FOLDER --expect |
feedback-summary | knowledge-schema | rules-table`."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from cds import StartupRefused, configure_logging, create_app
from cds.check_command import instant, run_check


def _serve(args: argparse.Namespace) -> int:
    # Start-up builds ~200,000 objects that live as long as the process (pydantic, gunicorn, the
    # app): no collection walks them until `serve` freezes them and turns the collector back on
    # (`cds.server.settle_heap`): 105 collections, ~60 ms of the start, before.
    gc.disable()
    try:
        return _start_and_serve(args)
    finally:
        gc.enable()  # a refusal, or the end: as it was


def _start_and_serve(args: argparse.Namespace) -> int:
    from cds.server import metrics_directory, serve
    from cds.settings import Settings

    settings = Settings(dev_mode=True) if args.dev else Settings()
    configure_logging(settings.log_level)
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


def _feedback_summary(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    from cds.feedback import FeedbackStore, database_url, format_summary
    from cds.settings import Settings

    url = Settings().database_url
    try:
        parsed = database_url(url)
        stored = parsed.database or ""
        on_disk = parsed.get_backend_name() == "sqlite" and stored not in ("", ":memory:")
        if on_disk and not Path(stored).is_file():  # never create an empty store to summarise
            print(
                f"no feedback store at {stored}: set CDS_DATABASE_URL to the service's",
                file=sys.stderr,
            )
            return 2
        rows = FeedbackStore(url).summary()
    except (ArgumentError, NoSuchModuleError, ValueError, SQLAlchemyError) as error:
        print(f"cannot read the feedback store named by CDS_DATABASE_URL: {error}", file=sys.stderr)
        return 2
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
    check.add_argument("file", nargs="?", help="a FHIR Bundle or a CDS Hooks request")
    check.add_argument(
        "--all", metavar="FOLDER", help="every saved case (NAME.json + NAME.expected.json) under it"
    )
    check.add_argument(
        "--expect",
        nargs="?",
        const=True,
        metavar="EXPECTED",
        help="compare the cards with NAME.expected.json (or this file); exit 1 showing changes "
        "(exit 2: the file could not be checked)",
    )
    check.add_argument(
        "--write-expected",
        action="store_true",
        help="write the expected cards from what the service answers now (after a review)",
    )
    check.add_argument("--json", action="store_true", help="print the raw CDS Hooks response")
    check.add_argument(
        "--now",
        type=instant,
        help="evaluate as of this ISO date or time, UTC without a zone (default: the orders' "
        "authoredOn)",
    )
    check.add_argument(
        "--patient", help="the patient id to check when the Bundle holds several patients"
    )
    check.set_defaults(run=run_check)
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
    try:
        return int(args.run(args))
    except BrokenPipeError:  # `check ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
