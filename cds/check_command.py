"""`python -m cds check`: a chart (FHIR Bundle) or a CDS Hooks request file through the service,
in-process, as a pharmacist reviews the rules on sample charts.

Exit codes: 0 checked (with `--expect`: the cards are the sidecar's); 1 with `--expect`, the cards
changed; 2 the file could not be checked (unreadable, not a chart, refused by the service). Every
answer says what was checked: "no cards" is said only when a blinatumomab (or vaccine) order was
checked and all was well, never when the file held nothing to check.
"""

from __future__ import annotations

import argparse
import builtins
import gc
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cds import collector_paused, configure_logging, create_app

# Not a clinical rule: the largest file `check` reads (a whole Synthea patient Bundle is a few MB
# to tens of MB); a larger one is refused rather than read into memory.
MAX_FILE_BYTES = 64 * 2**20

CHECKED, CHANGED, NOT_CHECKED = 0, 1, 2


class _Refused(Exception):
    """A file `check` cannot run (the message says why)."""


def instant(text: str) -> datetime:
    """`--now`: an ISO date or date-time; without a zone, UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time: write e.g. 2026-03-02T09:00Z or 2026-03-02"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _read_document(path: Path) -> Any:
    """The file's JSON, or _Refused saying what the file is instead."""
    if not path.exists():
        raise _Refused(f"cannot read {path}: no such file")
    if path.is_dir():
        raise _Refused(f"cannot read {path}: a folder (use --all {path} for its saved cases)")
    try:
        if not path.is_file():  # a FIFO would wait forever, /dev/zero never end
            raise _Refused(f"cannot read {path}: not a regular file")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise _Refused(f"cannot read {path}: larger than {MAX_FILE_BYTES // 2**20} MB")
        text = path.read_bytes().decode("utf-8-sig")  # a byte order mark, as Windows tools write
    except (OSError, ValueError) as error:
        raise _Refused(f"cannot read {path}: {type(error).__name__}: {error}") from error
    if text.lstrip().startswith("<"):
        raise _Refused(f"cannot read {path}: FHIR XML is not read; export the chart as JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and text.lstrip().startswith("{"):
            raise _Refused(
                f"cannot read {path}: it holds several JSON documents (an NDJSON bulk export?); "
                "give one FHIR Bundle or one CDS Hooks request"
            ) from error
        raise _Refused(f"cannot read {path}: not JSON ({error})") from error
    except RecursionError as error:
        raise _Refused(f"cannot read {path}: RecursionError: {error}") from error


def _not_a_request(path: Path, document: Any) -> str | None:
    """Why `document` is neither a Bundle (handled before) nor a CDS Hooks request, if it is not."""
    if not isinstance(document, dict):
        return f"cannot check {path}: not a FHIR Bundle nor a CDS Hooks request"
    kind = document.get("resourceType")
    if kind == "Parameters":
        return (
            f"cannot check {path}: a FHIR Parameters resource; give the Bundle it holds (the "
            "patient's chart with the draft orders)"
        )
    if isinstance(kind, str):
        return (
            f"cannot check {path}: a FHIR {kind}, not a Bundle; give a Bundle holding the "
            "patient's chart and the draft orders (status draft)"
        )
    if "hook" not in document:
        return f"cannot check {path}: not a FHIR Bundle nor a CDS Hooks request (no hook)"
    return None


class _Checker:
    """The service in-process, its clock set per file: each file is evaluated as of its orders'
    signing time (newest authoredOn), else now, unless `--now` says otherwise."""

    def __init__(self, now: datetime | None) -> None:
        self.fixed = now
        self.now = datetime.now(UTC)
        configure_logging("ERROR")
        # As `serve` does: the app lives as long as the command, so it is built with the collector
        # off and then frozen; the first collection after it walked the whole of it (~0.25 s).
        with collector_paused():
            from cds.settings import Settings

            self.settings = Settings(dev_mode=True)
            self.app = create_app(self.settings, clock=lambda: self.now, dry_run=True)
            gc.freeze()

    def run(
        self, path: Path, patient: str | None, now: datetime | None = None
    ) -> tuple[str, datetime, int, Any, Any]:
        """(service id, as of, HTTP status, response body, request) of one request or Bundle,
        as of `now`, else `--now`, else the orders' signing time."""
        from cds.errors import InvalidRequest
        from cds.fhir.bundle import request_from_bundle, request_signing_time
        from cds.services import service_for
        from cds.terminal import printable

        document = _read_document(path)
        if isinstance(document, dict) and document.get("resourceType") == "Bundle":
            try:
                document = request_from_bundle(document, patient)
            except InvalidRequest as error:
                raise _Refused(f"cannot check {path}: {error}") from error
        if (why := _not_a_request(path, document)) is not None:
            raise _Refused(why)
        if "fhirServer" in document or "fhirAuthorization" in document:
            # a dry run reads what the file holds, never a server it names (with its token): the
            # same answer whenever it runs, and a file under review cannot make this machine fetch
            document = {
                k: v for k, v in document.items() if k not in ("fhirServer", "fhirAuthorization")
            }
            sys.stderr.write(
                printable(f"{path}: fhirServer ignored: check reads only what the file holds\n")
            )
        now = now or self.fixed or request_signing_time(document) or datetime.now(UTC)
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        service = service_for(document.get("hook"))
        if service is None:
            raise _Refused(f"unsupported hook {document.get('hook')!r}")
        answer = self.app.test_client().post(f"/cds-services/{service.id}", json=document)
        return service.id, self.now, answer.status_code, answer.get_json(), document

    def refusal(self, status: int, body: Any) -> str:
        """What the service's 4xx says, with what to do about a chart too large."""
        said = "; ".join(str(i.get("diagnostics")) for i in (body or {}).get("issue", []))
        if status == 413:
            said += (
                f" (the service reads at most {self.settings.max_body_bytes:,} bytes a request: "
                "set CDS_MAX_BODY_BYTES to check a larger chart)"
            )
        return f"HTTP {status}: {said}"

    def why_no_cards(self, request: Any) -> str:
        """Why an answer without cards is silent: checked and fine, or nothing to check."""
        from cds.fast_path import full_path_reason

        context = request.get("context") if isinstance(request, dict) else None
        drafts = context.get("draftOrders") if isinstance(context, dict) else None
        entries = drafts.get("entry") if isinstance(drafts, dict) else None
        if not entries:
            return (
                "no cards, and NOTHING WAS CHECKED: the file holds no draft order (only orders "
                "with status draft are checked; in a Bundle, orders with any other status are "
                "the chart's history)"
            )
        engine = self.app.extensions["cds.engine"]
        if full_path_reason(drafts, engine.fast_path_triggers) is None:
            return (
                "no cards, and NOTHING WAS CHECKED: no draft order is blinatumomab or a vaccine "
                f"({len(entries)} draft order(s) read)"
            )
        return "no cards: every check ran and found nothing to say about this order"


def _signed_at(request: Any) -> datetime | None:
    from cds.fhir.bundle import request_signing_time

    signed = request_signing_time(request)
    return None if signed is None or signed.tzinfo is None else signed


def _patient_line(request: Any) -> str:
    """Which patient was checked: the id, and the name and birth date the chart gives."""
    context = request.get("context") or {}
    patient = (request.get("prefetch") or {}).get("patient")
    said = [f"patient {context.get('patientId')}"]
    if isinstance(patient, dict):
        names = patient.get("name")
        name = names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}
        given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
        written = name.get("text") or " ".join(p for p in (given, name.get("family")) if p)
        if isinstance(written, str) and written:
            said.append(written)
        if isinstance(patient.get("birthDate"), str):
            said.append(f"born {patient['birthDate']}")
    return ", ".join(said)


def _print_cards(print: Any, checker: _Checker, body: dict[str, Any], request: Any) -> None:
    if not body["cards"]:
        print(f"  {checker.why_no_cards(request)}")
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
    """Run one saved case and say whether its cards are those of its sidecar (or write it). The
    sidecar keeps the `--now` and `--patient` the case was saved with, and runs it so again."""
    from cds.expectations import compare, expected_document, read_expected, saved_options

    if write:
        _, now, status, body, _ = checker.run(path, patient)
        if status != 200:
            raise _Refused(f"{path}: {checker.refusal(status, body)}")
        if sidecar.is_symlink() or (sidecar.exists() and not sidecar.is_file()):
            raise _Refused(f"{sidecar} is not a regular file: not written")
        saved = expected_document(
            body["cards"], now.isoformat() if checker.fixed else None, patient
        )
        sidecar.write_text(json.dumps(saved) + "\n", encoding="utf-8")
        print(f"wrote      {sidecar}")
        return True
    try:
        expected = read_expected(sidecar)
        saved_now, saved_patient = saved_options(sidecar)
        as_of = instant(saved_now) if saved_now and checker.fixed is None else None
    except (OSError, ValueError, argparse.ArgumentTypeError) as error:
        raise _Refused(f"cannot read the expected cards: {error}") from error
    _, _, status, body, _ = checker.run(path, patient or saved_patient, as_of)
    if status != 200:
        raise _Refused(f"{path}: {checker.refusal(status, body)}")
    difference = compare(expected, body["cards"])
    if not difference:
        print(f"unchanged  {path}")
        return True
    print(f"CHANGED    {path} (expected: {sidecar})")
    for line in difference.lines():
        print(line)
    return False


def _check_all(print: Any, checker: _Checker, folder: Path, args: argparse.Namespace) -> int:
    """Every saved case under `folder`: one line each, a case that cannot run included, and the
    charts without a sidecar named (they are not cases, and were not run)."""
    from cds.expectations import saved_cases, sidecar_of, unsaved_charts

    cases = saved_cases(folder)
    if not cases:
        print(f"no saved cases (NAME.json beside NAME.expected.json) under {folder}")
        return NOT_CHECKED
    changed, failed = [], []
    for case in cases:
        try:
            if not _against_sidecar(
                print, checker, case, sidecar_of(case), args.patient, args.write_expected
            ):
                changed.append(case)
        except _Refused as refusal:
            print(f"NOT RUN    {refusal}")
            failed.append(case)
    if unsaved := unsaved_charts(folder):
        shown = ", ".join(str(chart) for chart in unsaved[:3])
        more = f" and {len(unsaved) - 3} more" if len(unsaved) > 3 else ""
        print(f"not cases  {len(unsaved)} JSON file(s) without a NAME.expected.json: {shown}{more}")
    could_not = f", {len(failed)} could not be run" if failed else ""
    if args.write_expected:
        print(f"{len(cases)} cases: expected cards written{could_not}")
    else:
        unchanged = len(cases) - len(changed) - len(failed)
        print(f"{len(cases)} cases: {unchanged} unchanged, {len(changed)} changed{could_not}")
    return NOT_CHECKED if failed else CHANGED if changed else CHECKED


def run_check(args: argparse.Namespace) -> int:
    from cds.expectations import sidecar_of
    from cds.terminal import printable

    def print(*parts: Any, **options: Any) -> None:  # the file's values must not drive the terminal
        builtins.print(*(printable(str(p)) for p in parts), **options)

    if (args.file is None) == (args.all is None):
        print("give one FILE, or --all FOLDER", file=sys.stderr)
        return NOT_CHECKED
    if args.all is not None and args.expect not in (None, True):
        print("with --all, --expect takes no file: each case's sidecar is used", file=sys.stderr)
        return NOT_CHECKED
    checker = _Checker(args.now)
    try:
        if args.all is not None:
            return _check_all(print, checker, Path(args.all), args)
        path = Path(args.file)
        if args.expect is not None or args.write_expected:
            sidecar = sidecar_of(path) if args.expect in (None, True) else Path(args.expect)
            matched = _against_sidecar(
                print, checker, path, sidecar, args.patient, args.write_expected
            )
            return CHECKED if matched else CHANGED
        service, now, status, body, request = checker.run(path, args.patient)
    except _Refused as refusal:
        print(str(refusal), file=sys.stderr)
        return NOT_CHECKED
    if args.json:
        print(json.dumps(body, indent=2, ensure_ascii=False))
        return CHECKED if status == 200 else NOT_CHECKED
    print(f"{service} as of {now.isoformat()}: HTTP {status}")
    if status != 200:
        print(f"  {checker.refusal(status, body)}")
        return NOT_CHECKED
    print(f"  {_patient_line(request)}")
    if (signed := _signed_at(request)) is not None and now > signed:
        print(f"  note: as of --now, after these orders were signed ({signed.isoformat()})")
    _print_cards(print, checker, body, request)
    return CHECKED
