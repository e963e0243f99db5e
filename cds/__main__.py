"""Command line: `python -m cds serve | check FILE [--expect] | check --all FOLDER --expect |
feedback-summary | knowledge-schema | rules-table`."""

from __future__ import annotations

import argparse
import builtins
import gc
import json
import logging
import os
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds import StartupRefused, collector_paused, create_app


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


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


class _Refused(Exception):
    """A file `check` cannot run (the message says why)."""


# Not a clinical rule: the largest file `check` reads (a whole Synthea patient Bundle is a few MB
# to tens of MB); a larger one is refused rather than read into memory.
MAX_FILE_BYTES = 64 * 2**20


class _Checker:
    """The service in-process, its clock set per file: each file is evaluated as of its orders'
    signing time (newest authoredOn), else now, unless `--now` says otherwise."""

    def __init__(self, now: str | None) -> None:
        self.fixed = datetime.fromisoformat(now) if now else None
        self.now = datetime.now(UTC)
        _configure_logging("ERROR")
        # As `serve` does: the app lives as long as the command, so it is built with the collector
        # off and then frozen; the first collection after it walked the whole of it (~0.25 s).
        with collector_paused():
            from cds.settings import Settings

            self.app = create_app(Settings(dev_mode=True), clock=lambda: self.now, dry_run=True)
            gc.freeze()

    def run(self, path: Path, patient: str | None) -> tuple[str, datetime, int, Any]:
        """(service id, as of, HTTP status, response body) of one request or Bundle file."""
        from cds.errors import InvalidRequest
        from cds.fhir.bundle import request_from_bundle, request_signing_time
        from cds.services import service_for
        from cds.terminal import printable

        try:
            if not path.is_file():  # a FIFO would wait forever, /dev/zero never end
                raise _Refused(f"cannot read {path}: not a regular file")
            if path.stat().st_size > MAX_FILE_BYTES:
                raise _Refused(f"cannot read {path}: larger than {MAX_FILE_BYTES // 2**20} MB")
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as error:
            raise _Refused(f"cannot read {path}: {type(error).__name__}: {error}") from error
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            try:
                document = request_from_bundle(document, patient)
            except InvalidRequest as error:
                raise _Refused(f"cannot check {path}: {error}") from error
        if not isinstance(document, dict):
            raise _Refused(f"cannot check {path}: not a FHIR Bundle nor a CDS Hooks request")
        if "fhirServer" in document or "fhirAuthorization" in document:
            # a dry run reads what the file holds, never a server it names (with its token): the
            # same answer whenever it runs, and a file under review cannot make this machine fetch
            document = {
                k: v for k, v in document.items() if k not in ("fhirServer", "fhirAuthorization")
            }
            sys.stderr.write(
                printable(f"{path}: fhirServer ignored: check reads only what the file holds\n")
            )
        now = self.fixed or request_signing_time(document) or datetime.now(UTC)
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        service = service_for(document.get("hook"))
        if service is None:
            raise _Refused(f"unsupported hook {document.get('hook')!r}")
        answer = self.app.test_client().post(f"/cds-services/{service.id}", json=document)
        return service.id, self.now, answer.status_code, answer.get_json()


def _print_cards(print: Any, body: dict[str, Any]) -> None:
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


def _against_sidecar(
    print: Any, checker: _Checker, path: Path, sidecar: Path, patient: str | None, write: bool
) -> bool:
    """Run one saved case and say whether its cards are those of its sidecar (or write it)."""
    from cds.expectations import compare, expected_document, read_expected

    _, _, status, body = checker.run(path, patient)
    if status != 200:
        problems = "; ".join(str(i.get("diagnostics")) for i in (body or {}).get("issue", []))
        raise _Refused(f"{path}: HTTP {status}: {problems}")
    if write:
        if sidecar.is_symlink() or (sidecar.exists() and not sidecar.is_file()):
            raise _Refused(f"{sidecar} is not a regular file: not written")
        sidecar.write_text(json.dumps(expected_document(body["cards"])) + "\n", encoding="utf-8")
        print(f"wrote      {sidecar}")
        return True
    try:
        difference = compare(read_expected(sidecar), body["cards"])
    except (OSError, ValueError) as error:
        raise _Refused(f"cannot read the expected cards: {error}") from error
    if not difference:
        print(f"unchanged  {path}")
        return True
    print(f"CHANGED    {path} (expected: {sidecar})")
    for line in difference.lines():
        print(line)
    return False


def _check(args: argparse.Namespace) -> int:
    from cds.expectations import saved_cases, sidecar_of
    from cds.terminal import printable

    def print(*parts: Any, **options: Any) -> None:  # the file's values must not drive the terminal
        builtins.print(*(printable(str(p)) for p in parts), **options)

    if (args.file is None) == (args.all is None):
        print("give one FILE, or --all FOLDER", file=sys.stderr)
        return 2
    if args.all is not None and args.expect not in (None, True):
        print("with --all, --expect takes no file: each case's sidecar is used", file=sys.stderr)
        return 2
    checker = _Checker(args.now)
    try:
        if args.all is not None:
            cases = saved_cases(Path(args.all))
            if not cases:
                print(f"no saved cases (NAME.json beside NAME.expected.json) under {args.all}")
                return 2
            changed = [
                case
                for case in cases
                if not _against_sidecar(
                    print, checker, case, sidecar_of(case), args.patient, args.write_expected
                )
            ]
            if args.write_expected:
                print(f"{len(cases)} cases: expected cards written")
            else:
                unchanged = len(cases) - len(changed)
                print(f"{len(cases)} cases: {unchanged} unchanged, {len(changed)} changed")
            return 1 if changed else 0
        path = Path(args.file)
        if args.expect is not None or args.write_expected:
            sidecar = sidecar_of(path) if args.expect in (None, True) else Path(args.expect)
            matched = _against_sidecar(
                print, checker, path, sidecar, args.patient, args.write_expected
            )
            return 0 if matched else 1
        service, now, status, body = checker.run(path, args.patient)
    except _Refused as refusal:
        print(str(refusal), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return 0 if status == 200 else 1
    print(f"{service} as of {now.isoformat()}: HTTP {status}")
    if status != 200:
        for issue in body.get("issue", []):
            print(f"  {issue.get('diagnostics')}")
        return 1
    _print_cards(print, body)
    return 0


def _feedback_summary(args: argparse.Namespace) -> int:
    from cds.feedback import FeedbackStore, format_summary
    from cds.settings import Settings

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
    check.add_argument("file", nargs="?", help="a FHIR Bundle or a CDS Hooks request")
    check.add_argument(
        "--all", metavar="FOLDER", help="every saved case (NAME.json + NAME.expected.json) under it"
    )
    check.add_argument(
        "--expect",
        nargs="?",
        const=True,
        metavar="EXPECTED",
        help="compare the cards with NAME.expected.json (or this file); exit 1 showing changes",
    )
    check.add_argument(
        "--write-expected",
        action="store_true",
        help="write the expected cards from what the service answers now (after a review)",
    )
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
    try:
        return int(args.run(args))
    except BrokenPipeError:  # `check ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
