"""The pharmacist's sandbox page (off unless enabled): pick or paste a chart, see what the checks
see, compose a blinatumomab order, sign it against this service and act on the cards.

Transport only. The page (static files in `sandbox/`) calls the real CDS Hooks endpoints for cards
and feedback; the summary is the engine's own reading of the chart (`Engine.read`), formatted by
`cds.chart_view`.
Nothing here authenticates: it is meant for open development mode or a closed test instance.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, send_from_directory
from werkzeug.exceptions import NotFound

from cds.bundled_data import SAMPLE_CHARTS_DIR
from cds.chart_view import summarise
from cds.errors import InvalidRequest
from cds.fhir.bundle import (
    chart_resources,
    chart_signing_time,
    days_to,
    patient_label,
    patients_in,
    request_from_bundle,
    shift_dates,
)
from cds.services import Engine, service_for
from cds.settings import Settings
from cds.web.bodies import json_body, json_response

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "sandbox"
CHARTS = SAMPLE_CHARTS_DIR  # fhir-fixtures/charts/ of the repository, shipped in the wheel
CHART_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,120}$")
SHIFT_HEADER = "X-Sandbox-Date-Shift-Days"
SIGN_SERVICE = "blinatumomab-order-sign"  # the hook the page composes; a request naming none
# The page loads nothing from elsewhere and runs no inline script or handler attribute (so markup
# that slipped into a card could not run); it may only call this origin. 'unsafe-eval' is allowed
# because browser automation (Playwright's wait_for_function, devtools) evaluates strings; the
# page itself never does.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

blueprint = Blueprint(
    "sandbox",
    __name__,
    url_prefix="/sandbox",
    static_folder="sandbox",
    static_url_path="/static",
)


def _banner(settings: Settings) -> str:
    lines = [
        "SANDBOX PAGE ON at /sandbox: sample charts and an order composer, NO authentication.",
        "For trying the checks out only; set CDS_SANDBOX_PAGE=false to turn it off.",
    ]
    if not settings.dev_mode:
        lines.append("Outside --dev the service wants a JWT, which the page cannot send: its")
        lines.append("calls to /cds-services will be refused (401). The page says so too.")
    return "\n".join(["", "=" * 92, *(f"==  {line:<86}==" for line in lines), "=" * 92])


def register(app: Flask, settings: Settings) -> None:
    """Mount the page and say loudly that it is on."""
    log.warning(_banner(settings))
    app.register_blueprint(blueprint)


def _engine() -> Engine:
    return current_app.extensions["cds.engine"]  # type: ignore[no-any-return]


@blueprint.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


@blueprint.get("")
@blueprint.get("/")
def page() -> Response:
    response = send_from_directory(STATIC, "index.html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _read_chart(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _patient_of(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(
        (
            e["resource"]
            for e in bundle.get("entry", [])
            if isinstance(e, dict) and (e.get("resource") or {}).get("resourceType") == "Patient"
        ),
        {},
    )


def _display_name(patient: dict[str, Any]) -> str:
    for name in patient.get("name") or []:
        if isinstance(name, dict):
            text = name.get("text") or " ".join(
                [*(name.get("given") or []), name.get("family") or ""]
            )
            if text.strip():
                return str(text).strip()
    return str(patient.get("id") or "?")


@blueprint.get("/patients")
def patients() -> Response:
    """The sample charts of `fhir-fixtures/charts/`, with the cards each is expected to get."""
    listed = []
    for path in sorted(CHARTS.glob("*.json")) if CHARTS.is_dir() else []:
        if path.name.endswith(".expected.json"):
            continue
        try:
            bundle = _read_chart(path)
        except (OSError, ValueError):
            log.warning("sandbox: sample chart %s is unreadable", path.name)
            continue
        expected_path = path.with_name(path.stem + ".expected.json")
        expected = _read_chart(expected_path).get("cards") if expected_path.exists() else None
        patient = _patient_of(bundle)
        listed.append(
            {
                "name": path.stem,
                "patient": _display_name(patient),
                "gender": patient.get("gender"),
                "birthDate": patient.get("birthDate"),
                "expectedCards": expected,
            }
        )
    return json_response({"patients": listed, "folder": "fhir-fixtures/charts"})


def _moved_to_today(bundle: dict[str, Any]) -> Response:
    days = days_to(chart_signing_time(bundle), _engine().clock())
    response = json_response(shift_dates(bundle, days))
    response.headers[SHIFT_HEADER] = str(days)
    return response


@blueprint.get("/patients/<name>")
def patient_chart(name: str) -> Response:
    """One sample chart (a FHIR Bundle). Its dates are moved by whole days so that its draft orders
    are signed today, as the fixture's expected cards assume; `?dates=original` keeps them."""
    path = CHARTS / f"{name}.json"
    if not CHART_NAME.match(name) or name.endswith(".expected") or not path.is_file():
        raise NotFound(f"no sample chart named {name!r}")
    bundle = _read_chart(path)
    if request.args.get("dates") == "original":
        response = json_response(bundle)
        response.headers[SHIFT_HEADER] = "0"
        return response
    return _moved_to_today(bundle)


@blueprint.post("/move-to-today")
def move_to_today() -> Response:
    """A pasted chart Bundle with its dates moved so that its draft orders are signed today."""
    body = json_body()
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise InvalidRequest("expected a FHIR Bundle (resourceType 'Bundle')")
    return _moved_to_today(body)


@blueprint.post("/chart")
def chart() -> Response:
    """Any chart Bundle (transaction, collection, searchset, Synthea's; `urn:uuid:` references)
    as the page uses it: `{"bundle": ..., "patient": id or null, "moveDates": bool}` ->
    the patients it holds (the page offers a picker when there are several and none is chosen)
    and, once one is, that patient's chart as a collection Bundle with ids set and references
    made `Type/id`, its dates moved (when asked) so that its orders are signed today, and by how
    much, with the birth date before and after the move."""
    body = json_body()
    bundle = body.get("bundle") if isinstance(body, dict) else None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidRequest("expected {'bundle': a FHIR Bundle, 'patient': id or null}")
    chosen = body.get("patient")
    if chosen is not None and not isinstance(chosen, str):
        raise InvalidRequest("'patient' must be a patient id")
    found = patients_in(bundle)
    listed = [
        {
            "id": p["id"],
            "label": patient_label(p),
            "name": _display_name(p),
            "gender": p.get("gender"),
            "birthDate": p.get("birthDate"),
        }
        for p in found
    ]
    answer: dict[str, Any] = {"patients": listed, "patient": None, "chart": None, "shift": None}
    if chosen is None and len(found) > 1:
        return json_response(answer)  # the page asks which one
    patient, resources = chart_resources(bundle, chosen)
    single = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in [patient, *(r for r in resources if r is not patient)]],
    }
    days = days_to(chart_signing_time(single), _engine().clock()) if body.get("moveDates") else 0
    moved = shift_dates(single, days)
    answer["patient"] = patient["id"]
    answer["chart"] = moved
    answer["shift"] = {
        "days": days,
        "birthDate": patient.get("birthDate"),
        "movedBirthDate": _patient_of(moved).get("birthDate"),
    }
    return json_response(answer)


@blueprint.post("/summary")
def summary() -> Response:
    """What the checks see: accepts the order-sign request the page is about to send (or an
    order-select request), or a chart Bundle. Nothing is fetched from a `fhirServer`: absent
    prefetch keys are reported missing."""
    body = json_body()
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        body = request_from_bundle(body)
    service = service_for(body.get("hook") if isinstance(body, dict) else None)
    engine = _engine()
    call = engine.parse(service.id if service else SIGN_SERVICE, body)
    return json_response(summarise(engine.read(call, fetch=False), engine.knowledge))
