"""Live vaccines (label §5): given within 2 weeks before the start, during treatment, or ordered
together with blinatumomab -> critical. Inactivated vaccines -> silence."""

from __future__ import annotations

import copy
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml
from flask.testing import FlaskClient

from cds.cards import CardRenderer
from cds.checks import vaccines
from cds.checks.vaccines import check_vaccine_order, is_live_vaccine_order, live_codes
from cds.fhir import vaccines as recognition
from cds.knowledge import KNOWLEDGE_DIR, load_knowledge
from cds.services import Engine
from cds.settings import Settings
from tests.conftest import NOW, SELECT, SIGN
from tests.fixtures_util import (
    Expected,
    Step,
    blinatumomab_administration,
    blinatumomab_order,
    bundle,
    course_2024,
    dexamethasone_order,
    findings_of_topic,
    height,
    lab,
    order_select,
    order_sign,
    patient,
    weight,
)

PID = "pt-vaccine"
CVX = "http://hl7.org/fhir/sid/cvx"
STEP_UP = [Step(9, days=7), Step(28, days=21)]


def immunization(
    cvx: str, name: str, when: str, *, status: str = "completed", iid: str = "imm-1"
) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "id": iid,
        "status": status,
        "vaccineCode": {"coding": [{"system": CVX, "code": cvx, "display": name}], "text": name},
        "patient": {"reference": f"Patient/{PID}"},
        "occurrenceDateTime": when,
        "primarySource": True,
    }


def coded_unknown(cvx: str, display: str, text: str, when: str) -> dict[str, Any]:
    """An Immunization whose CVX code names no vaccine, as EHRs code a historical entry."""
    shot = immunization(cvx, display, when)
    shot["vaccineCode"] = {"coding": [{"system": CVX, "code": cvx, "display": display}]}
    if text:
        shot["vaccineCode"]["text"] = text
    return shot


def named_only(text: str, when: str = "2026-02-25") -> dict[str, Any]:
    """An Immunization recorded with the vaccine's name only, no code (as EHRs keep history)."""
    shot = immunization("03", text, when)
    shot["vaccineCode"] = {"text": text}
    return shot


def cdc_full_name(text: str, when: str = "2026-02-25") -> dict[str, Any]:
    """A historical dose coded CVX 999 ("unknown") with the CDC CVX table's full vaccine name."""
    return coded_unknown("999", "unknown vaccine or immune globulin", text, when)


def dated(shot: dict[str, Any], **occurrence: str) -> dict[str, Any]:
    """`shot` with its occurrence[x] replaced (none at all when none is given)."""
    shot = {k: v for k, v in shot.items() if not k.startswith("occurrence")}
    return shot | occurrence


CVX_OID = "urn:oid:2.16.840.1.113883.12.292"  # CVX as C-CDA names it (HL7 v2 table 0292)


def under_oid(resource: dict[str, Any], code: str) -> dict[str, Any]:
    """`resource` coded in CVX under its OID, with no display or text (as converted C-CDA)."""
    resource = copy.deepcopy(resource)
    key = (
        "vaccineCode" if resource["resourceType"] == "Immunization" else "medicationCodeableConcept"
    )
    resource[key] = {"coding": [{"system": CVX_OID, "code": code}]}
    return resource


def vaccine_order(
    cvx: str, name: str, *, oid: str = "vaccine-order", status: str = "draft"
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": oid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": CVX, "code": cvx, "display": name}],
            "text": name,
        },
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2026-03-02T08:00:00+00:00",
    }


NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"


def historical(words: str | None, **recorded: str) -> dict[str, Any]:
    """MMR from the immunization registry (not a primary source), its date in `words`
    (occurrenceString; None: no occurrence at all), `recorded=` when the record was made."""
    shot = dated(immunization("03", "MMR", ""), **recorded)
    if words is not None:
        shot["occurrenceString"] = words
    shot["primarySource"] = False
    shot["reportOrigin"] = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/immunization-origin",
                "code": "record",
            }
        ]
    }
    return shot


def completed_order(cvx: str, name: str, written: str) -> dict[str, Any]:
    """A live-vaccine order the EHR completed (given, or dispensed) written at `written`."""
    return vaccine_order(cvx, name, oid=f"done-{cvx}", status="completed") | {"authoredOn": written}


def ordered_as_a_service(code: dict[str, Any], sid: str = "imm-order") -> dict[str, Any]:
    """An immunisation ordered as a procedure (a draft ServiceRequest), as some EHRs order it."""
    return {
        "resourceType": "ServiceRequest",
        "id": sid,
        "status": "draft",
        "intent": "order",
        "code": code,
        "subject": {"reference": f"Patient/{PID}"},
        "authoredOn": "2026-03-02T08:00:00+00:00",
    }


def given_on_the_ward(
    cvx: str, name: str, when: str, *, status: str = "completed"
) -> dict[str, Any]:
    """A vaccine the MAR records as a MedicationAdministration, not as an Immunization."""
    return {
        "resourceType": "MedicationAdministration",
        "id": f"mar-{cvx}",
        "status": status,
        "medicationCodeableConcept": {
            "coding": [{"system": CVX, "code": cvx, "display": name}],
            "text": name,
        },
        "subject": {"reference": f"Patient/{PID}"},
        "effectiveDateTime": when,
        "dosage": {"route": {"text": "subcutaneous"}, "dose": {"value": 0.5, "unit": "mL"}},
    }


def coded_vaccine_order(system: str | None, code: str | None, text: str) -> dict[str, Any]:
    """A vaccine order coded by NDC, or named in text only, as many EHRs write them."""
    order = vaccine_order("03", text)
    concept: dict[str, Any] = {"text": text}
    if system and code:
        concept["coding"] = [{"system": system, "code": code, "display": text}]
    order["medicationCodeableConcept"] = concept
    return order


def chart(
    *extra: dict[str, Any],
    cycle: int = 1,
    history: list[dict[str, Any]] | None = None,
    born: str | None = "1968-07-14",
) -> dict[str, Any]:
    steps = STEP_UP if cycle == 1 else [Step(28, days=28)]
    person = patient(PID, birth_date=born or "")
    if born is None:
        del person["birthDate"]
    return bundle(
        [
            person,
            weight(PID, 78),
            height(PID, 180),
            blinatumomab_order(PID, steps, cycle=cycle),
            dexamethasone_order(PID),
            *(history or []),
            *extra,
        ]
    )


EARLIER_CYCLE = blinatumomab_order(
    PID,
    [Step(9, days=7), Step(28, days=21)],
    oid="blin-c1",
    cycle=1,
    start="2026-01-05T10:00:00+00:00",
    status="completed",
    authored="2026-01-05T08:00:00+00:00",
)

# Cycle 1 known only from the MAR: MedicationAdministrations, no MedicationRequest on file.
CYCLE_1_ADMINISTERED = [
    blinatumomab_administration(
        PID,
        f"blin-c1-bag-{week}",
        datetime(2026, 1, 5, 10, tzinfo=UTC) + timedelta(days=7 * week),
        datetime(2026, 1, 5, 10, tzinfo=UTC) + timedelta(days=7 * week + 7),
    )
    for week in range(4)
]

# The infusion starts 2026-03-02T10:00Z.
COURSE_2024 = course_2024(PID)  # an earlier course
# The cards of the golden matrix: (topic, indicator, finding code).
DURING_TREATMENT = ("live-vaccine", "critical", "live-vaccine-during-treatment")
ORDERED_TOGETHER = ("live-vaccine", "critical", "live-vaccine-ordered-together")
RECENT = ("live-vaccine", "critical", "live-vaccine-recent")
STILL_ORDERED = ("live-vaccine", "critical", "live-vaccine-still-ordered")
ORDER_COMPLETED = ("live-vaccine", "warning", "live-vaccine-order-completed")
DATE_UNREADABLE = ("live-vaccine", "warning", "live-vaccine-date-unreadable")
DATE_APPROXIMATE = ("live-vaccine", "warning", "live-vaccine-date-approximate")

CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
ROUTE_V3 = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
SNOMED = "http://snomed.info/sct"
RECORD_UNREADABLE = ("live-vaccine", "warning", "live-vaccine-record-unreadable")


def coded_only(system: str, code: str, when: str = "2026-02-24") -> dict[str, Any]:
    """An Immunization coded by one NDC or CPT code, no display or text (billing-derived feeds)."""
    shot = immunization("03", "MMR", when)
    shot["vaccineCode"] = {"coding": [{"system": system, "code": code}]}
    return shot


def with_faults(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`resource` with the format faults real feeds send (an empty text, a code with a space, a
    date written with a space): no valid R4, every element the check reads still there."""
    resource = copy.deepcopy(resource)
    key = (
        "vaccineCode" if resource["resourceType"] == "Immunization" else "medicationCodeableConcept"
    )
    for name, value in changes.items():
        if name == "text":
            resource[key]["text"] = value
        elif name == "code":
            resource[key]["coding"][0]["code"] = value
        elif value is None:
            resource.pop(name, None)
        else:
            resource[name] = value
    return resource


def disagreeing(cvx: str, display: str, ndc: str, text: str) -> dict[str, Any]:
    """An Immunization whose CVX code and NDC name different vaccines."""
    shot = immunization(cvx, display, "2026-02-24")
    shot["vaccineCode"]["coding"].append({"system": NDC_SYSTEM, "code": ndc})
    shot["vaccineCode"]["text"] = text
    return shot


def by_route(cvx: str, display: str, route: str, route_display: str) -> dict[str, Any]:
    shot = immunization(cvx, display, "2026-02-24")
    shot["route"] = {"coding": [{"system": ROUTE_V3, "code": route, "display": route_display}]}
    return shot


SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "MMR 10 days before -> critical": (
        chart(immunization("03", "MMR", "2026-02-20")),
        [RECENT],
    ),
    "MMR 20 days before -> silent": (chart(immunization("03", "MMR", "2026-02-10")), []),
    "MMR in 2025 between a 2024 course and this new course -> silent (not during treatment)": (
        chart(immunization("03", "MMR", "2025-06-01"), history=[COURSE_2024]),
        [],
    ),
    "MMR 10 days before a new course, a 2024 course on file -> critical (recent)": (
        chart(immunization("03", "MMR", "2026-02-20"), history=[COURSE_2024]),
        [RECENT],
    ),
    "MMR 10 days before, its time sent without a UTC offset -> critical (read as its day)": (
        chart(immunization("03", "MMR", "2026-02-20T10:00:00")),
        [RECENT],
    ),
    "varicella 13 days before -> critical": (
        chart(immunization("21", "varicella", "2026-02-17")),
        [RECENT],
    ),
    "yellow fever 14 calendar days before, at the hour of the start -> silent (at least 2 "
    "weeks, counted in days as a date alone is)": (
        chart(immunization("37", "yellow fever", "2026-02-16T10:00:00+00:00")),
        [],
    ),
    "yellow fever 02-16 at 21:00 at -05:00 (02-17 where the infusion starts, UTC) -> 13 days, "
    "critical": (
        chart(immunization("37", "yellow fever", "2026-02-16T21:00:00-05:00")),
        [RECENT],
    ),
    "yellow fever 02-16 at 18:00 UTC, 14 calendar days before a 10:00 start -> silent": (
        chart(immunization("37", "yellow fever", "2026-02-16T18:00:00+00:00")),
        [],
    ),
    "yellow fever 02-17 at 06:00 UTC, 13 calendar days before -> critical": (
        chart(immunization("37", "yellow fever", "2026-02-17T06:00:00+00:00")),
        [RECENT],
    ),
    "yellow fever 14 days and 1 hour before -> silent": (
        chart(immunization("37", "yellow fever", "2026-02-16T09:00:00+00:00")),
        [],
    ),
    "intranasal influenza (LAIV) 5 days before -> critical": (
        chart(immunization("111", "influenza, live, intranasal", "2026-02-25")),
        [RECENT],
    ),
    "inactivated influenza 3 days before -> silent": (
        chart(immunization("141", "Influenza, seasonal, injectable", "2026-02-27")),
        [],
    ),
    "recombinant zoster 3 days before -> silent": (
        chart(immunization("187", "zoster recombinant", "2026-02-27")),
        [],
    ),
    "JYNNEOS (live non-replicating) 3 days before -> silent by default": (
        chart(immunization("206", "JYNNEOS", "2026-02-27")),
        [],
    ),
    "MMR as CVX 999 'unknown vaccine or immune globulin', text MMR, 5 days before -> critical": (
        chart(coded_unknown("999", "unknown vaccine or immune globulin", "MMR", "2026-02-25")),
        [RECENT],
    ),
    "CVX 999 with no vaccine named, 5 days before -> silent": (
        chart(coded_unknown("999", "unknown vaccine or immune globulin", "", "2026-02-25")),
        [],
    ),
    "CVX 998 'no vaccine administered', text MMR -> silent (nothing was given)": (
        chart(coded_unknown("998", "no vaccine administered", "MMR", "2026-02-25")),
        [],
    ),
    "MMR not given (status not-done) -> silent": (
        chart(immunization("03", "MMR", "2026-02-25", status="not-done")),
        [],
    ),
    "MMR ordered together with blinatumomab -> critical": (
        chart(vaccine_order("03", "MMR")),
        [ORDERED_TOGETHER],
    ),
    "MMR ordered by NDC only (M-M-R II 0006-4681-00) together -> critical": (
        chart(coded_vaccine_order(NDC_SYSTEM, "0006-4681-00", "M-M-R II")),
        [ORDERED_TOGETHER],
    ),
    "varicella ordered by name only (VARIVAX, no code) together -> critical": (
        chart(coded_vaccine_order(None, None, "VARIVAX varicella virus vaccine live")),
        [ORDERED_TOGETHER],
    ),
    "inactivated flu ordered together -> silent": (
        chart(vaccine_order("141", "Influenza, seasonal, injectable")),
        [],
    ),
    "MMR given between cycle 1 and cycle 2 -> critical (during treatment)": (
        chart(immunization("03", "MMR", "2026-02-01"), cycle=2, history=[EARLIER_CYCLE]),
        [DURING_TREATMENT],
    ),
    "MMR before treatment began, cycle 2 -> silent": (
        chart(immunization("03", "MMR", "2025-12-01"), cycle=2, history=[EARLIER_CYCLE]),
        [],
    ),
    "varicella still ordered during treatment, cycle 2 -> critical": (
        chart(
            vaccine_order("21", "varicella", oid="old-varicella", status="active"),
            cycle=2,
            history=[EARLIER_CYCLE],
        ),
        [STILL_ORDERED],
    ),
    "varicella given on the ward 5 days ago, charted only as a MedicationAdministration -> "
    "critical": (
        chart(given_on_the_ward("21", "varicella", "2026-02-25T11:00:00+00:00")),
        [RECENT],
    ),
    "MMR on the MAR as a MedicationAdministration by NDC only (M-M-R II) 3 days ago -> critical": (
        chart(
            given_on_the_ward("03", "MMR", "2026-02-27T11:00:00+00:00")
            | {
                "medicationCodeableConcept": {
                    "coding": [{"system": NDC_SYSTEM, "code": "0006-4681-00"}]
                }
            }
        ),
        [RECENT],
    ),
    "influenza CVX 88 (no formulation) given intranasally on the ward 4 days ago, charted only as "
    "a MedicationAdministration -> critical: the nasal route makes it live (LAIV)": (
        chart(
            given_on_the_ward("88", "influenza, unspecified", "2026-02-26T10:00:00+00:00")
            | {"dosage": {"route": {"text": "Intranasal"}, "dose": {"value": 0.2, "unit": "mL"}}}
        ),
        [RECENT],
    ),
    "influenza CVX 88 given intramuscularly on the ward 4 days ago (MedicationAdministration) -> "
    "silent: an inactivated influenza vaccine": (
        chart(
            given_on_the_ward("88", "influenza, unspecified", "2026-02-26T10:00:00+00:00")
            | {
                "dosage": {
                    "route": {"coding": [{"system": ROUTE_V3, "code": "IM"}]},
                    "dose": {"value": 0.5, "unit": "mL"},
                }
            }
        ),
        [],
    ),
    "varicella on the MAR 5 days ago but not done -> silent": (
        chart(given_on_the_ward("21", "varicella", "2026-02-25T11:00:00+00:00", status="not-done")),
        [],
    ),
    "inactivated influenza on the MAR 5 days ago -> silent (not live)": (
        chart(
            given_on_the_ward("141", "Influenza, seasonal, injectable", "2026-02-25T11:00:00+00:00")
        ),
        [],
    ),
    "MMR ordered as a procedure (draft ServiceRequest, CVX 03) with blinatumomab -> critical": (
        chart(
            ordered_as_a_service(
                {"coding": [{"system": CVX, "code": "03", "display": "MMR"}], "text": "MMR"}
            )
        ),
        [ORDERED_TOGETHER],
    ),
    "varicella vaccine ordered as a procedure named only in text with blinatumomab -> critical": (
        chart(ordered_as_a_service({"text": "Varivax (varicella virus vaccine live) 0.5 mL SC"})),
        [ORDERED_TOGETHER],
    ),
    "a complete blood count ordered as a ServiceRequest with blinatumomab -> silent": (
        chart(
            ordered_as_a_service(
                {
                    "coding": [
                        {"system": "http://loinc.org", "code": "58410-2", "display": "CBC panel"}
                    ]
                },
                sid="cbc",
            )
        ),
        [],
    ),
    "MMR ordered this morning (active order on file), cycle 1 starts at 10:00 -> critical": (
        chart(vaccine_order("03", "MMR", oid="clinic-mmr", status="active")),
        [STILL_ORDERED],
    ),
    "MMR order on file completed, written 5 days ago, no vaccination on file -> warning: was "
    "it given?": (
        chart(completed_order("03", "MMR", "2026-02-25T09:00:00+00:00")),
        [ORDER_COMPLETED],
    ),
    "MMR order completed 5 days ago and its Immunization on file -> the critical card alone": (
        chart(
            completed_order("03", "MMR", "2026-02-25T09:00:00+00:00"),
            immunization("03", "MMR", "2026-02-25"),
        ),
        [RECENT],
    ),
    "MMR order completed 3 weeks ago, before cycle 1 -> silent": (
        chart(completed_order("03", "MMR", "2026-02-09T09:00:00+00:00")),
        [],
    ),
    "MMR order on file cancelled, cycle 1 -> silent": (
        chart(vaccine_order("03", "MMR", oid="clinic-mmr", status="cancelled")),
        [],
    ),
    # --- dates that are not a day: never silence ----------------------------------------------
    "MMR recorded with no date at all (only when it was entered) -> warning, date unreadable": (
        chart(dated(immunization("03", "MMR", "2026-02-20"), recorded="2026-02-20")),
        [DATE_UNREADABLE],
    ),
    "MMR given in 2026-02 (month only; the window is Feb 16 - Mar 2) -> warning, approximate": (
        chart(dated(immunization("03", "MMR", ""), occurrenceString="2026-02")),
        [DATE_APPROXIMATE],
    ),
    "MMR given in 2026 (year only) -> warning, approximate": (
        chart(dated(immunization("03", "MMR", ""), occurrenceString="2026")),
        [DATE_APPROXIMATE],
    ),
    "MMR given in 2025 (year only, all before the window) -> silent": (
        chart(dated(immunization("03", "MMR", ""), occurrenceString="2025")),
        [],
    ),
    "varicella given in 2026-02 (month only), all of it during treatment, cycle 2 -> critical": (
        chart(
            dated(immunization("21", "varicella", ""), occurrenceString="2026-02"),
            cycle=2,
            history=[EARLIER_CYCLE],
        ),
        [DURING_TREATMENT],
    ),
    "varicella given in 2026-01 (month only), treatment began Jan 5, cycle 2 -> approximate": (
        chart(
            dated(immunization("21", "varicella", ""), occurrenceString="2026-01"),
            cycle=2,
            history=[EARLIER_CYCLE],
        ),
        [DATE_APPROXIMATE],
    ),
    # --- N3: a historical live vaccine whose date cannot be read but can still be placed ------
    # (the patient is 57; the window is Feb 16 - Mar 2; vaccines.yaml recorded_bounds_date,
    # childhood_dates). Each noise row has guard rows beside it: what cannot be placed warns.
    "registry MMR 'childhood' for a man of 57 -> silent (childhood ended long ago)": (
        chart(historical("childhood")),
        [],
    ),
    "registry MMR 'as a child' -> silent": (chart(historical("as a child")), []),
    "registry MMR 'age 5' -> silent": (chart(historical("age 5")), []),
    "registry MMR 'at 5 years' -> silent": (chart(historical("At 5 years")), []),
    "registry MMR 'infant' -> silent": (chart(historical("infant")), []),
    "registry MMR 'school entry' -> silent": (chart(historical("School entry")), []),
    "registry MMR 'childhood', recorded 2015-03-01 -> silent": (
        chart(historical("childhood", recorded="2015-03-01")),
        [],
    ),
    "MMR 'unknown', recorded 2015-03-01 -> silent (given by the day it was recorded)": (
        chart(historical("unknown", recorded="2015-03-01")),
        [],
    ),
    "MMR 'recently', recorded 2015-03-01 -> warning (rt-harm3 H4: a word of recency, as 'last "
    "week': the words may place it later than the record; was: silent)": (
        chart(historical("recently", recorded="2015-03-01")),
        [DATE_UNREADABLE],
    ),
    "MMR with no date at all, recorded in 2015 (year only) -> silent": (
        chart(historical(None, recorded="2015")),
        [],
    ),
    "MMR 'unknown', recorded 2026-02-15 (15 days before the start) -> silent": (
        chart(historical("unknown", recorded="2026-02-15T09:00:00+00:00")),
        [],
    ),
    "guard: MMR 'unknown', recorded 2026-02-16 (14 days before: time zones) -> warning": (
        chart(historical("unknown", recorded="2026-02-16")),
        [DATE_UNREADABLE],
    ),
    "guard: MMR 'unknown', recorded 2026-02-25 (in the window) -> warning": (
        chart(historical("unknown", recorded="2026-02-25")),
        [DATE_UNREADABLE],
    ),
    "guard: MMR 'unknown', recorded 2026-02-01 after treatment began Jan 5, cycle 2 -> warning": (
        chart(historical("unknown", recorded="2026-02-01"), cycle=2, history=[EARLIER_CYCLE]),
        [DATE_UNREADABLE],
    ),
    "MMR 'childhood', recorded 2026-02-01, treatment began Jan 5, cycle 2 -> silent": (
        chart(historical("childhood", recorded="2026-02-01"), cycle=2, history=[EARLIER_CYCLE]),
        [],
    ),
    "guard: MMR 'unknown', nothing recorded -> warning (safe side)": (
        chart(historical("unknown")),
        [DATE_UNREADABLE],
    ),
    "guard: MMR 'recently' -> warning": (chart(historical("recently")), [DATE_UNREADABLE]),
    "guard: MMR 'last week' -> warning": (chart(historical("last week")), [DATE_UNREADABLE]),
    "guard: MMR dated only by a question mark '?' -> warning": (
        chart(historical("?")),
        [DATE_UNREADABLE],
    ),
    "guard: MMR with no date and nothing recorded -> warning": (
        chart(historical(None)),
        [DATE_UNREADABLE],
    ),
    "guard: MMR 'childhood?' -> warning": (chart(historical("childhood?")), [DATE_UNREADABLE]),
    "guard: MMR 'childhood, booster last week' -> warning": (
        chart(historical("childhood, booster last week")),
        [DATE_UNREADABLE],
    ),
    "guard: MMR 'age 55' for a man of 57 -> warning (not long enough ago)": (
        chart(historical("age 55")),
        [DATE_UNREADABLE],
    ),
    "guard: MMR 'age 5 and age 50' -> warning (two ages)": (
        chart(historical("age 5 and age 50")),
        [DATE_UNREADABLE],
    ),
    "guard: MMR 'childhood' for a patient of 21 -> warning (childhood not long enough ago)": (
        chart(historical("childhood"), born="2004-07-01"),
        [DATE_UNREADABLE],
    ),
    "guard: MMR 'childhood' with no birth date -> warning": (
        chart(historical("childhood"), born=None),
        [DATE_UNREADABLE],
    ),
    # rt-noise F3: a source named beside "childhood" ("per patient report") says no later date
    "registry MMR 'childhood, per patient report' for a man of 57 -> silent (was: warning)": (
        chart(historical("childhood, per patient report")),
        [],
    ),
    "registry MMR 'childhood (self-report)' for a man of 57 -> silent (was: warning)": (
        chart(historical("childhood (self-report)")),
        [],
    ),
    "guard: MMR 'childhood, per patient report' for a child of 9 -> warning (still a child)": (
        chart(historical("childhood, per patient report"), born="2016-09-01"),
        [DATE_UNREADABLE],
    ),
    "guard: MMR given 2026-02-25 (in the window), recorded 2015-03-01 -> critical": (
        chart(immunization("03", "MMR", "2026-02-25") | {"recorded": "2015-03-01"}),
        [RECENT],
    ),
    # --- rt-harm3 H4: `recorded` places a shot only when its words could not place it later ---
    # (a date in the words is read and judged as a date; a record made before it contradicts it)
    "MMR '20-Feb-2026', recorded 2015-03-01 -> critical (the words' date wins)": (
        chart(historical("20-Feb-2026", recorded="2015-03-01")),
        [RECENT],
    ),
    "MMR 'Feb 20, 2026', recorded 2015-03-01 -> critical": (
        chart(historical("Feb 20, 2026", recorded="2015-03-01")),
        [RECENT],
    ),
    "MMR 'Feb 20 2026' (no comma), recorded 2015-03-01 -> critical": (
        chart(historical("Feb 20 2026", recorded="2015-03-01")),
        [RECENT],
    ),
    "MMR '20/02/2026', nothing recorded -> critical (either reading is in the window)": (
        chart(historical("20/02/2026")),
        [RECENT],
    ),
    "MMR 'given 20th February 2026' -> critical": (
        chart(historical("given 20th February 2026")),
        [RECENT],
    ),
    "MMR 'February 2026' -> warning approximate (some of its days in the window)": (
        chart(historical("February 2026")),
        [DATE_APPROXIMATE],
    ),
    "MMR 'last week', recorded 2015-03-01 -> warning (the words may place it later)": (
        chart(historical("last week", recorded="2015-03-01")),
        [DATE_UNREADABLE],
    ),
    "MMR '2 months ago', recorded 2015-03-01 -> warning": (
        chart(historical("2 months ago", recorded="2015-03-01")),
        [DATE_UNREADABLE],
    ),
    "MMR 'this year', recorded 2015-03-01 -> warning": (
        chart(historical("this year", recorded="2015-03-01")),
        [DATE_UNREADABLE],
    ),
    "MMR 'given 2018', recorded 2015-03-01 -> warning (recorded before the date it gives)": (
        chart(historical("given 2018", recorded="2015-03-01")),
        [DATE_UNREADABLE],
    ),
    "MMR 'May 3, 2016', recorded 2015-03-01 -> warning (recorded before the date it gives)": (
        chart(historical("May 3, 2016", recorded="2015-03-01")),
        [DATE_UNREADABLE],
    ),
    "MMR 'May 3, 2014', nothing recorded -> silent (a date read, before the window)": (
        chart(historical("May 3, 2014")),
        [],
    ),
    "MMR 'given 2014, booster recently', recorded 2015-03-01 -> warning (a date beside words "
    "of recency)": (
        chart(historical("given 2014, booster recently", recorded="2015-03-01")),
        [DATE_UNREADABLE],
    ),
    # --- rt-harm3 H7: "at N" is an age only with a word of age; "child" alone is no childhood --
    "MMR 'given at 10' for a man of 57 -> warning (a clock time, not an age)": (
        chart(historical("given at 10")),
        [DATE_UNREADABLE],
    ),
    "MMR 'at 9' -> warning": (chart(historical("at 9")), [DATE_UNREADABLE]),
    "MMR 'child dose given' -> warning (a paediatric dose, at any age)": (
        chart(historical("child dose given")),
        [DATE_UNREADABLE],
    ),
    "registry MMR 'at 1 year' -> silent": (chart(historical("at 1 year")), []),
    # --- the CDC CVX table's own names of live vaccines, recorded as CVX 999 or as text -------
    "OPV as CVX 999 'poliovirus vaccine, live, oral' -> critical": (
        chart(cdc_full_name("poliovirus vaccine, live, oral")),
        [RECENT],
    ),
    "LAIV as CVX 999 'influenza virus vaccine, live, attenuated, for intranasal use' -> critical": (
        chart(cdc_full_name("influenza virus vaccine, live, attenuated, for intranasal use")),
        [RECENT],
    ),
    "BCG as CVX 999 'Bacillus Calmette-Guerin vaccine' -> critical": (
        chart(cdc_full_name("Bacillus Calmette-Guerin vaccine")),
        [RECENT],
    ),
    "adenovirus as CVX 999 'adenovirus vaccine, type 4, live, oral' -> critical": (
        chart(cdc_full_name("adenovirus vaccine, type 4, live, oral")),
        [RECENT],
    ),
    "smallpox as CVX 999 'vaccinia (smallpox) vaccine' -> critical": (
        chart(cdc_full_name("vaccinia (smallpox) vaccine")),
        [RECENT],
    ),
    "dengue as CVX 999 'dengue fever vaccine' -> critical": (
        chart(cdc_full_name("dengue fever vaccine")),
        [RECENT],
    ),
    "VEE as CVX 999 'Venezuelan equine encephalitis, live, attenuated' -> critical": (
        chart(cdc_full_name("Venezuelan equine encephalitis, live, attenuated")),
        [RECENT],
    ),
    "Ervebo as CVX 999 'Ebola Zaire vaccine, live, recombinant, 1mL dose' -> critical": (
        chart(cdc_full_name("Ebola Zaire vaccine, live, recombinant, 1mL dose")),
        [RECENT],
    ),
    "Ixchiq as CVX 999 'Chikungunya live attenuated vaccine' -> critical": (
        chart(cdc_full_name("Chikungunya live attenuated vaccine")),
        [RECENT],
    ),
    "ACAM2000 named only 'Smallpox (Vaccinia) Vaccine, Live' -> critical": (
        chart(named_only("Smallpox (Vaccinia) Vaccine, Live")),
        [RECENT],
    ),
    "Dengvaxia named only 'Dengue tetravalent vaccine, live' -> critical": (
        chart(named_only("Dengue tetravalent vaccine, live")),
        [RECENT],
    ),
    "Ervebo named only 'Ebola Zaire Vaccine, Live (recombinant)' -> critical": (
        chart(named_only("Ebola Zaire Vaccine, Live (recombinant)")),
        [RECENT],
    ),
    "Ixchiq named only 'Chikungunya vaccine, live' -> critical": (
        chart(named_only("Chikungunya vaccine, live")),
        [RECENT],
    ),
    "oral typhoid named only 'Typhoid vaccine, oral' -> critical": (
        chart(named_only("Typhoid vaccine, oral")),
        [RECENT],
    ),
    "Vaxchora named only 'Cholera vaccine, live, oral' -> critical": (
        chart(named_only("Cholera vaccine, live, oral")),
        [RECENT],
    ),
    "JYNNEOS as CVX 999 'Vaccinia, smallpox monkeypox vaccine live, PF, SQ or ID injection' "
    "-> silent (non-replicating)": (
        chart(cdc_full_name("Vaccinia, smallpox monkeypox vaccine live, PF, SQ or ID injection")),
        [],
    ),
    "JYNNEOS named only 'Smallpox and Monkeypox Vaccine, Live, Non-replicating' -> silent": (
        chart(named_only("Smallpox and Monkeypox Vaccine, Live, Non-replicating")),
        [],
    ),
    "IPV as CVX 999 'poliovirus vaccine, inactivated' -> silent": (
        chart(cdc_full_name("poliovirus vaccine, inactivated")),
        [],
    ),
    "inactivated influenza named only 'Influenza virus vaccine, inactivated' -> silent": (
        chart(named_only("Influenza virus vaccine, inactivated")),
        [],
    ),
    "Shingrix named only 'zoster vaccine recombinant, adjuvanted' -> silent": (
        chart(named_only("zoster vaccine recombinant, adjuvanted")),
        [],
    ),
    "recombinant zoster named only 'varicella zoster vaccine, recombinant (not live)' -> silent": (
        chart(named_only("varicella zoster vaccine, recombinant (not live)")),
        [],
    ),
    "VEE inactivated as CVX 999 'Venezuelan equine encephalitis, inactivated' -> silent": (
        chart(cdc_full_name("Venezuelan equine encephalitis, inactivated")),
        [],
    ),
    "vaccinia immune globulin named only -> silent (not a vaccine)": (
        chart(named_only("vaccinia immune globulin")),
        [],
    ),
    # --- CVX under its OID (C-CDA) ------------------------------------------------------------
    "MMR coded CVX 03 under its OID urn:oid:2.16.840.1.113883.12.292, 10 days before -> critical": (
        chart(under_oid(immunization("03", "MMR", "2026-02-20"), "03")),
        [RECENT],
    ),
    "MMR ordered together, coded CVX 3 under its OID -> critical": (
        chart(under_oid(vaccine_order("03", "MMR"), "3")),
        [ORDERED_TOGETHER],
    ),
    # --- live vaccine still ordered, as the draft orders are recognised -----------------------
    "M-M-R II still ordered by NDC only (0006-4681-00), cycle 2 -> critical": (
        chart(
            vaccine_order("03", "MMR", oid="old-mmr", status="active")
            | {
                "medicationCodeableConcept": {
                    "coding": [{"system": NDC_SYSTEM, "code": "0006-4681-00"}]
                }
            },
            cycle=2,
            history=[EARLIER_CYCLE],
        ),
        [STILL_ORDERED],
    ),
    "MMR still ordered by name only ('M-M-R II vaccine injection'), cycle 2 -> critical": (
        chart(
            vaccine_order("03", "MMR", oid="old-mmr", status="active")
            | {"medicationCodeableConcept": {"text": "M-M-R II vaccine injection"}},
            cycle=2,
            history=[EARLIER_CYCLE],
        ),
        [STILL_ORDERED],
    ),
    # --- format faults real feeds send: read past them, never "could not be read" alone -------
    'MMR 6 days before, vaccineCode.text empty ("") -> critical (the empty text is no text)': (
        chart(with_faults(immunization("03", "MMR", "2026-02-24"), text="")),
        [RECENT],
    ),
    "MMR 6 days before, CVX ' 03' with a leading space -> critical": (
        chart(with_faults(immunization("03", "MMR", "2026-02-24"), code=" 03")),
        [RECENT],
    ),
    "MMR given '2026-02-24 10:00:00' (a space, no zone) -> critical (read as that day)": (
        chart(with_faults(immunization("03", "MMR", ""), occurrenceDateTime="2026-02-24 10:00:00")),
        [RECENT],
    ),
    'M-M-R II by 11-digit NDC with text "", 6 days before -> critical': (
        chart(with_faults(coded_only(NDC_SYSTEM, "00006468100"), text="")),
        [RECENT],
    ),
    "MMR on file with no status at all (no valid R4) -> warning, not verified": (
        chart(with_faults(immunization("03", "MMR", "2026-02-24"), status=None)),
        [RECORD_UNREADABLE],
    ),
    'inactivated influenza with text "" 3 days before -> silent (read, not live)': (
        chart(
            with_faults(
                immunization("141", "Influenza, seasonal, injectable", "2026-02-27"), text=""
            )
        ),
        [],
    ),
    'MMR ordered together, its medication text "" -> critical': (
        chart(with_faults(vaccine_order("03", "MMR"), text="")),
        [ORDERED_TOGETHER],
    ),
    "varicella ordered together, authoredOn '2026-03-02 08:00:00' -> critical": (
        chart(with_faults(vaccine_order("21", "varicella"), authoredOn="2026-03-02 08:00:00")),
        [ORDERED_TOGETHER],
    ),
    'inactivated flu ordered together, its medication text "" -> silent': (
        chart(with_faults(vaccine_order("141", "Influenza, seasonal, injectable"), text="")),
        [],
    ),
    # --- live vaccines coded by NDC only (the CDC NDC-to-CVX crosswalk) -------------------------
    "ProQuad by NDC 00006-4999-00 only, 6 days before -> critical": (
        chart(coded_only(NDC_SYSTEM, "00006-4999-00")),
        [RECENT],
    ),
    "Rotarix by NDC 58160-0854-52 only -> critical": (
        chart(coded_only(NDC_SYSTEM, "58160-0854-52")),
        [RECENT],
    ),
    "YF-Vax by NDC 49281-0915-01 only -> critical": (
        chart(coded_only(NDC_SYSTEM, "49281-0915-01")),
        [RECENT],
    ),
    "YF-Vax by NDC 49281-0915-05 only -> critical": (
        chart(coded_only(NDC_SYSTEM, "49281-0915-05")),
        [RECENT],
    ),
    "adenovirus types 4 and 7 by NDC 51285-0138-50 only -> critical": (
        chart(coded_only(NDC_SYSTEM, "51285-0138-50")),
        [RECENT],
    ),
    "Priorix by NDC 58160-0824-15 only -> critical": (
        chart(coded_only(NDC_SYSTEM, "58160-0824-15")),
        [RECENT],
    ),
    "IPOL (inactivated polio) by NDC 49281-0860-10 only -> silent": (
        chart(coded_only(NDC_SYSTEM, "49281-0860-10")),
        [],
    ),
    # --- live vaccines coded by CPT only (the CDC CPT-to-CVX table) -----------------------------
    "MMR by CPT 90707 only, no display -> critical": (
        chart(coded_only(CPT_SYSTEM, "90707")),
        [RECENT],
    ),
    "LAIV4 by CPT 90672 only -> critical": (chart(coded_only(CPT_SYSTEM, "90672")), [RECENT]),
    "varicella by CPT 90716 only -> critical": (chart(coded_only(CPT_SYSTEM, "90716")), [RECENT]),
    "rotavirus RV5 by CPT 90680 only -> critical": (
        chart(coded_only(CPT_SYSTEM, "90680")),
        [RECENT],
    ),
    "Shingrix by CPT 90750 only -> silent (not live)": (
        chart(coded_only(CPT_SYSTEM, "90750")),
        [],
    ),
    "JYNNEOS by CPT 90611 only -> silent (non-replicating)": (
        chart(coded_only(CPT_SYSTEM, "90611")),
        [],
    ),
    "dengue (Qdenga) by CPT 90584 only -> critical": (
        chart(coded_only(CPT_SYSTEM, "90584")),
        [RECENT],
    ),
    "dengue (Dengvaxia) by CPT 90587 only -> critical": (
        chart(coded_only(CPT_SYSTEM, "90587")),
        [RECENT],
    ),
    "chikungunya (Ixchiq) by CPT 90589 only -> critical": (
        chart(coded_only(CPT_SYSTEM, "90589")),
        [RECENT],
    ),
    "Ebola (Ervebo) by CPT 90758 only -> critical": (
        chart(coded_only(CPT_SYSTEM, "90758")),
        [RECENT],
    ),
    "BCG intravesical (TICE) by CPT 90586 only -> critical (live M. bovis, counted as live)": (
        chart(coded_only(CPT_SYSTEM, "90586")),
        [RECENT],
    ),
    "dengue ordered by CPT 90587 only, together -> critical": (
        chart(coded_vaccine_order(CPT_SYSTEM, "90587", "")),
        [ORDERED_TOGETHER],
    ),
    "Typhim Vi (typhoid Vi, injectable) by CPT 90691 only -> silent (not live)": (
        chart(coded_only(CPT_SYSTEM, "90691")),
        [],
    ),
    # --- codes that disagree; a route that says which formulation --------------------------------
    "CVX 141 (inactivated flu) + FluMist NDC 66019-0302-10 -> critical (the codes disagree)": (
        chart(
            disagreeing(
                "141", "Influenza, seasonal, injectable", "66019-0302-10", "FluMist Quadrivalent"
            )
        ),
        [RECENT],
    ),
    "CVX 141 + an inactivated-flu NDC (Fluzone, not in the crosswalk) -> silent": (
        chart(
            disagreeing(
                "141", "Influenza, seasonal, injectable", "49281-0421-50", "Fluzone Quadrivalent"
            )
        ),
        [],
    ),
    "CVX 88 (influenza, unspecified) given intranasally (NASINHL) -> critical (LAIV)": (
        chart(by_route("88", "influenza, unspecified formulation", "NASINHL", "nasal inhalation")),
        [RECENT],
    ),
    "CVX 88 (influenza, unspecified) given IM -> silent": (
        chart(
            by_route("88", "influenza, unspecified formulation", "IM", "Injection, intramuscular")
        ),
        [],
    ),
    "CVX 88 (influenza, unspecified) typed 'FluMist Quadrivalent' -> critical (text decides)": (
        chart(
            coded_unknown(
                "88", "influenza, unspecified formulation", "FluMist Quadrivalent", "2026-02-24"
            )
        ),
        [RECENT],
    ),
    "CVX 88 (influenza, unspecified) typed 'Fluzone Quadrivalent', given IM -> silent": (
        chart(
            coded_unknown(
                "88", "influenza, unspecified formulation", "Fluzone Quadrivalent", "2026-02-24"
            )
            | {"route": {"coding": [{"system": ROUTE_V3, "code": "IM"}]}}
        ),
        [],
    ),
    "CVX 88 ordered as 'Influenza vaccine nasal spray (FluMist)' together -> critical": (
        chart(vaccine_order("88", "Influenza vaccine nasal spray (FluMist)")),
        [ORDERED_TOGETHER],
    ),
    "CVX 89 (polio, unspecified) typed 'bOPV' -> critical": (
        chart(coded_unknown("89", "polio, unspecified formulation", "bOPV", "2026-02-24")),
        [RECENT],
    ),
    "CVX 89 (polio, unspecified) typed 'IPV' -> silent (inactivated)": (
        chart(coded_unknown("89", "polio, unspecified formulation", "IPV", "2026-02-24")),
        [],
    ),
    "CVX 187 (Shingrix) typed 'Shingles vaccine live' -> silent (a CVX code naming it wins)": (
        chart(
            coded_unknown(
                "187", "zoster vaccine recombinant", "Shingles vaccine live", "2026-02-24"
            )
        ),
        [],
    ),
    # --- CDC abbreviations and brands recorded as text only -------------------------------------
    "text 'RV1' -> critical": (chart(named_only("RV1", "2026-02-24")), [RECENT]),
    "text 'RV5' -> critical": (chart(named_only("RV5", "2026-02-24")), [RECENT]),
    "text 'VAR' -> critical": (chart(named_only("VAR", "2026-02-24")), [RECENT]),
    "text 'ZVL' -> critical": (chart(named_only("ZVL", "2026-02-24")), [RECENT]),
    "text 'LAIV3' -> critical": (chart(named_only("LAIV3", "2026-02-24")), [RECENT]),
    "text 'YF' -> critical": (chart(named_only("YF", "2026-02-24")), [RECENT]),
    "text 'Qdenga' -> critical": (chart(named_only("Qdenga", "2026-02-24")), [RECENT]),
    # --- common names and spellings charts write -----------------------------------------------
    "text 'MMRII' -> critical": (chart(named_only("MMRII", "2026-02-24")), [RECENT]),
    "text 'Flu Mist' -> critical": (chart(named_only("Flu Mist", "2026-02-24")), [RECENT]),
    "text 'Flu_Mist' (an underscore) -> critical": (
        chart(named_only("Flu_Mist", "2026-02-24")),
        [RECENT],
    ),
    "text 'Nasal flu vaccine' -> critical": (
        chart(named_only("Nasal flu vaccine", "2026-02-24")),
        [RECENT],
    ),
    "text 'Fluenz Tetra' (UK LAIV) -> critical": (
        chart(named_only("Fluenz Tetra", "2026-02-24")),
        [RECENT],
    ),
    "text 'Shingles vaccine live' -> critical": (
        chart(named_only("Shingles vaccine live", "2026-02-24")),
        [RECENT],
    ),
    "text 'VZV vaccine' (nothing says recombinant: varicella, live) -> critical": (
        chart(named_only("VZV vaccine", "2026-02-24")),
        [RECENT],
    ),
    "text 'bOPV' (bivalent oral polio) -> critical": (
        chart(named_only("bOPV", "2026-02-24")),
        [RECENT],
    ),
    "text 'chicken pox vaccine' -> critical": (
        chart(named_only("chicken pox vaccine", "2026-02-24")),
        [RECENT],
    ),
    "text 'Shingles vaccine recombinant' (Shingrix) -> silent": (
        chart(named_only("Shingles vaccine recombinant", "2026-02-24")),
        [],
    ),
    "text 'VZV vaccine recombinant' -> silent": (
        chart(named_only("VZV vaccine recombinant", "2026-02-24")),
        [],
    ),
    "text 'Inactivated polio vaccine IPV' -> silent": (
        chart(named_only("Inactivated polio vaccine IPV", "2026-02-24")),
        [],
    ),
    "text 'Jynneos' -> silent (non-replicating, silent by default)": (
        chart(named_only("Jynneos", "2026-02-24")),
        [],
    ),
    "text 'Typhim Vi' -> silent (injectable, not live)": (
        chart(named_only("Typhim Vi", "2026-02-24")),
        [],
    ),
    "text 'Flu shot' -> silent (no nasal, no live)": (
        chart(named_only("Flu shot", "2026-02-24")),
        [],
    ),
    "text 'Fluzone (var. 2025-2026 formula)' -> silent ('var' in lower case is no VAR)": (
        chart(named_only("Fluzone (var. 2025-2026 formula)", "2026-02-24")),
        [],
    ),
    # --- rt-pv: an exclusion word excludes only its own part of a text (";", ",", "/", "+", "&",
    # " and ", " - "); a part of exclusion words only ("recombinant", "titer") qualifies the one
    # before it. Each live row was silent before the fix.
    "CVX 999 text 'MMR; IPV' 7 days before -> critical (IPV is another shot)": (
        chart(coded_unknown("999", "unknown vaccine or immune globulin", "MMR; IPV", "2026-02-25")),
        [RECENT],
    ),
    "text 'MMR and DTaP-IPV (Kinrix)' -> critical": (
        chart(named_only("MMR and DTaP-IPV (Kinrix)")),
        [RECENT],
    ),
    "text 'Yellow fever; typhoid inactivated (Typhim Vi)' -> critical": (
        chart(named_only("Yellow fever; typhoid inactivated (Typhim Vi)")),
        [RECENT],
    ),
    "text 'Varicella (Varivax) - pre-vaccine titer negative' -> critical (given after the titer)": (
        chart(named_only("Varicella (Varivax) - pre-vaccine titer negative")),
        [RECENT],
    ),
    "text 'MMR / IPV' -> critical": (chart(named_only("MMR / IPV")), [RECENT]),
    "guard: text 'IPV + DTaP' -> silent (no live part)": (
        chart(named_only("IPV + DTaP")),
        [],
    ),
    "guard: text 'Measles, mumps and rubella titer' -> silent (the name runs into the titer)": (
        chart(named_only("Measles, mumps and rubella titer")),
        [],
    ),
    "guard: text 'MMR titer' -> silent (a titer, no shot)": (
        chart(named_only("MMR titer")),
        [],
    ),
    "guard: text 'Varicella, IgG antibody' -> silent (the qualifier part names the test)": (
        chart(named_only("Varicella, IgG antibody")),
        [],
    ),
    "guard: text 'Varicella zoster vaccine, recombinant & adjuvanted (Shingrix)' -> silent": (
        chart(named_only("Varicella zoster vaccine, recombinant & adjuvanted (Shingrix)")),
        [],
    ),
    # --- rt7a: the CVX 999 display is taken out before the parts are judged ("Varicella, IgG"
    # + "unknown vaccine or immune globulin" was a part "IgG unknown vaccine ..." of its own); a
    # test word after " and " qualifies the whole " and " list; plurals and immunity statuses
    # are test words; a live brand's part is live whatever excipient it names. Each silent row
    # was critical, and each critical row silent, before the fix.
    **{
        f"CVX 999 with its display, text {text!r} -> silent (a test, no shot)": (
            chart(cdc_full_name(text)),
            [],
        )
        for text in (
            "Varicella, IgG",
            "Yellow fever, titer",
            "MMR, titer",
            "MMRV, IgG",
            "Measles, IgG",
            "Yellow fever, IgG",
            "Measles, Mumps, Rubella titers",
            "MMR titers",
            "Rubella - immune",
            "MMR and varicella antibody panel",
            "MMR and Varicella titers",
        )
    },
    "CVX 999 with its display, text in lower case 'mmrv, igg' -> silent": (
        chart(cdc_full_name("mmrv, igg")),
        [],
    ),
    **{
        f"text only {text!r} -> silent (a test, no shot)": (chart(named_only(text)), [])
        for text in (
            "MMR titers",
            "Varicella titres",
            "MMR and varicella antibody panel",
            "MMR and Varicella titers",
            "Measles, Mumps, Rubella titers",
            "Rubella - immune",
            "Measles immunity",
        )
    },
    "CVX 999 text 'M-M-R II (contains recombinant human albumin)' -> critical (a live brand)": (
        chart(cdc_full_name("M-M-R II (contains recombinant human albumin)")),
        [RECENT],
    ),
    "text 'MMR booster + immune globulin' -> critical (immune globulin is another product)": (
        chart(named_only("MMR booster + immune globulin")),
        [RECENT],
    ),
    "CVX 999 text 'MMR booster + immune globulin' -> critical": (
        chart(cdc_full_name("MMR booster + immune globulin")),
        [RECENT],
    ),
    "guard: text 'MMR and varicella immune globulin' -> critical (no test word)": (
        chart(named_only("MMR and varicella immune globulin")),
        [RECENT],
    ),
    "guard: text 'MMR and Hep B, recombinant' -> critical (a product stays in its part)": (
        chart(named_only("MMR and Hep B, recombinant")),
        [RECENT],
    ),
    "guard: CVX 999 text 'MMR; varicella titer' -> critical (';' ends the list)": (
        chart(cdc_full_name("MMR; varicella titer")),
        [RECENT],
    ),
    # --- rt8c: an immunity word excludes only an immunity status on its own ("Rubella - immune"),
    # never a part naming the shot ("vaccine", "given", a live brand) or saying "non-immune" (the
    # reason to vaccinate: postpartum MMR for a rubella non-immune mother is routine); a part
    # naming the shot is never joined to a test after " and " / "&"; a test part naming a brand
    # names what was tested; a live name answered "no" ("Zostavax? no") was not given. Each
    # critical row was silent, and each silent row critical, before the fix.
    **{
        f"text only {text!r} -> critical (a shot, not a status or a test)": (
            chart(named_only(text)),
            [RECENT],
        )
        for text in (
            "MMR (rubella non-immune, postpartum)",
            "MMR vaccine for rubella non-immune mother",
            "Rubella non-immune: MMR given",
            "MMR vaccine (immunity booster)",
            "MMR vaccine (non-immune)",
            "Varicella - non-immune",
            "MMR given and varicella titer drawn",
            "Varicella vaccine and varicella antibody screen",
            "MMR vaccine and varicella IgG",
            "MMR vaccine given & titers drawn",
            "Rotavirus vaccine and rotavirus antibody",
        )
    },
    **{
        f"CVX 999 with its display, text {text!r} -> critical": (
            chart(cdc_full_name(text)),
            [RECENT],
        )
        for text in (
            "MMR (rubella non-immune, postpartum)",
            "MMR vaccine given & titers drawn",
        )
    },
    **{
        f"text only {text!r} -> silent (a test, a status, or a live name answered no)": (
            chart(named_only(text)),
            [],
        )
        for text in (
            "Varicella titer (Varivax series complete)",
            "Zostavax? no, Shingrix",
            "Rotateq? no: RSV mAb Beyfortus (nirsevimab)",
            "Vivotif? no - Typhim Vi",
            "Rubella immune",
        )
    },
    # red team 12a: a live brand beside a test word in one part may be the shot or what was
    # tested (silent before): a warning asks to confirm whether it was given
    "text only 'ProQuad antibody panel' -> warning (a brand and a test: confirm)": (
        chart(named_only("ProQuad antibody panel")),
        [("live-vaccine", "warning", "live-vaccine-given-unconfirmed")],
    ),
    **{
        f"guard: text only {text!r} -> critical ('no' is no answer here)": (
            chart(named_only(text)),
            [RECENT],
        )
        for text in ("MMR no. 2", "Varivax no reaction noted", "Zostavax? no reaction")
    },
    # --- red team 10b: a test named only in a remark in brackets, beside a shot named outside
    # them (a dose number, "dose", "vaccine", "given", a live brand), is why the shot was given:
    # the shot counts. Each critical row was silent before the fix; the silent rows guard it.
    **{
        f"text only {text!r} -> critical (the titer is a remark on the dose)": (
            chart(named_only(text)),
            [RECENT],
        )
        for text in (
            "MMR #2 (titer negative)",
            "MMR dose 2 (titer drawn)",
            "Varivax (IgG negative)",
            "Varicella vaccine (non-immune by titer)",
            "MMR II (rubella IgG negative)",
            "MMR dose 2 (non-immune by titer)",
        )
    },
    **{
        f"guard: text only {text!r} -> silent (a test: nothing names a shot outside the remark)": (
            chart(named_only(text)),
            [],
        )
        for text in (
            "Yellow fever (titer)",
            "MMR (post-vaccine titer pending)",
            "Varicella titer (Varivax series complete)",
            "Zoster vaccine (recombinant, adjuvanted)",
        )
    },
    # --- treatment known only from MedicationAdministrations ----------------------------------
    "MMR given between cycles, cycle 1 on file only as administrations, cycle 2 -> critical": (
        chart(immunization("03", "MMR", "2026-02-05"), cycle=2, history=CYCLE_1_ADMINISTERED),
        [DURING_TREATMENT],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_live_vaccine_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected


def flu_unspecified_by(route: dict[str, Any]) -> dict[str, Any]:
    """CVX 88 (influenza, unspecified formulation), no text, given by `route` as written."""
    shot = immunization("88", "influenza, unspecified formulation", "2026-02-24")
    shot["vaccineCode"] = {"coding": [{"system": CVX, "code": "88"}]}
    shot["route"] = route
    return shot


# The route as the chart wrote it (route.text, coding displays) decides the formulation of CVX 88.
ROUTE_WRITTEN: dict[str, tuple[dict[str, Any], bool]] = {
    "route text 'Intranasal' -> live": ({"text": "Intranasal"}, True),
    "route text 'NAS' -> live": ({"text": "NAS"}, True),
    "route text 'nasal spray' -> live": ({"text": "nasal spray"}, True),
    "SNOMED 1611000175109 (Sublesional) displayed 'Nasal route' -> live (the display)": (
        {"coding": [{"system": SNOMED, "code": "1611000175109", "display": "Nasal route"}]},
        True,
    ),
    "route text 'Intramuscular' -> not live": ({"text": "Intramuscular"}, False),
    "SNOMED 1611000175109 with no display -> not live (not a nasal code)": (
        {"coding": [{"system": SNOMED, "code": "1611000175109"}]},
        False,
    ),
}


@pytest.mark.parametrize(("route", "live"), ROUTE_WRITTEN.values(), ids=ROUTE_WRITTEN.keys())
def test_an_unspecified_influenza_is_live_by_its_route_as_written(
    route: dict[str, Any], live: bool
) -> None:
    knowledge = load_knowledge()
    raw = flu_unspecified_by(route)
    assert recognition.worth_reading(raw, knowledge) is live
    fact = recognition.unreadable_immunization(raw, knowledge)
    assert ((CVX, "151") in fact.codes) is live


@pytest.mark.parametrize(("route", "live"), ROUTE_WRITTEN.values(), ids=ROUTE_WRITTEN.keys())
def test_a_valid_record_of_an_unspecified_influenza_is_live_by_its_route_as_written(
    client: FlaskClient, route: dict[str, Any], live: bool
) -> None:
    """Through the service, on a record that validates: its route text had been read only for
    records that did not (red team: CVX 88 given by "Nasal route", displayed only, was silent)."""
    body = client.post(SIGN, json=order_sign(chart(flu_unspecified_by(route)))).get_json()
    assert findings_of_topic(body, "live-vaccine") == ([RECENT] if live else [])


# This order starts at 06:00 and is signed at 08:00 (tests.conftest.NOW): a vaccine given in
# between was given during treatment.
STARTED_AT_6 = "2026-03-02T06:00:00+00:00"
SIGNED_LATE: dict[str, tuple[list[dict[str, Any]], list[Expected]]] = {
    "LAIV4 at 07:00, after the 06:00 start and before signing at 08:00 -> critical": (
        [immunization("149", "Influenza, live, quadrivalent, intranasal", "2026-03-02T07:00:00Z")],
        [DURING_TREATMENT],
    ),
    "MMR at 05:00, before the 06:00 start -> critical (recent)": (
        [immunization("03", "MMR", "2026-03-02T05:00:00+00:00")],
        [RECENT],
    ),
    "inactivated influenza at 07:00, after the start -> silent": (
        [immunization("141", "Influenza, seasonal, injectable", "2026-03-02T07:00:00+00:00")],
        [],
    ),
}


@pytest.mark.parametrize(("shots", "expected"), SIGNED_LATE.values(), ids=SIGNED_LATE.keys())
def test_a_live_vaccine_given_after_the_start_and_before_signing(
    client: FlaskClient, shots: list[dict[str, Any]], expected: list[Expected]
) -> None:
    chart_bundle = bundle(
        [
            patient(PID),
            weight(PID, 78),
            height(PID, 180),
            blinatumomab_order(PID, STEP_UP, cycle=1, start=STARTED_AT_6),
            dexamethasone_order(PID),
            *shots,
        ]
    )
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected


# A live vaccine whose occurrenceDateTime is a month or a year (R4 allows "2026-02", "2026"). The
# exact card needs the partial date passed on by cds/fhir/facts.py (`immunization_fact` sets
# `date_text` only from occurrenceString today): then it is the one of the occurrenceString rows
# above. Until then, and after, it is never silence.
PARTIAL_DATES: dict[str, dict[str, Any]] = {
    "MMR given 2026-02 (month only)": chart(immunization("03", "MMR", "2026-02")),
    "MMR given 2026 (year only)": chart(immunization("03", "MMR", "2026")),
    "varicella given 2026-02 (month only), during treatment, cycle 2": chart(
        immunization("21", "varicella", "2026-02"), cycle=2, history=[EARLIER_CYCLE]
    ),
}


@pytest.mark.parametrize("chart_bundle", PARTIAL_DATES.values(), ids=PARTIAL_DATES.keys())
def test_a_live_vaccine_dated_to_the_month_or_year_is_never_silent(
    client: FlaskClient, chart_bundle: dict[str, Any]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    [(_, _, code)] = findings_of_topic(body, "live-vaccine")
    assert code in {
        "live-vaccine-date-unreadable",
        "live-vaccine-date-approximate",
        "live-vaccine-during-treatment",
    }


def test_a_month_only_date_says_which_days_it_may_be(client: FlaskClient) -> None:
    request = order_sign(chart(dated(immunization("03", "MMR", ""), occurrenceString="2026-02")))
    [card] = [
        c
        for c in client.post(SIGN, json=request).get_json()["cards"]
        if c["source"]["topic"]["code"] == "live-vaccine"
    ]
    assert card["summary"].startswith("Live vaccine (MMR (measles")
    assert "given in 2026-02: possibly within" in card["summary"]
    assert "2026-02-01 to 2026-02-28" in card["detail"]
    assert "2026-02-16 to 2026-03-02" in card["detail"]


def test_a_co_ordered_live_vaccine_comes_with_a_delete_suggestion(client: FlaskClient) -> None:
    body = client.post(SIGN, json=order_sign(chart(vaccine_order("03", "MMR")))).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert "MMR" in card["summary"]
    [action] = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": "Remove the live vaccine order",
        "resourceId": "MedicationRequest/vaccine-order",
    }


def test_a_vaccine_given_the_day_before_says_1_day(client: FlaskClient) -> None:
    body = client.post(
        SIGN, json=order_sign(chart(immunization("03", "MMR", "2026-03-01")))
    ).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert "given 1 day before the blinatumomab start" in card["summary"]


def test_no_immunizations_on_file_null_is_silence(client: FlaskClient) -> None:
    request = order_sign(chart())
    assert request["prefetch"]["immunizations"] is None
    assert findings_of_topic(client.post(SIGN, json=request).get_json(), "live-vaccine") == []


def test_history_unreadable_still_catches_the_co_ordered_vaccine(client: FlaskClient) -> None:
    request = order_sign(chart(vaccine_order("03", "MMR")))
    del request["prefetch"]["immunizations"]  # absent, and no fhirServer to fetch it from
    body = client.post(SIGN, json=request).get_json()
    assert findings_of_topic(body, "live-vaccine") == [
        ORDERED_TOGETHER,
        ("live-vaccine", "warning", "live-vaccine-history-unavailable"),
    ]


NONREPLICATING = {
    "JYNNEOS coded CVX 206": immunization("206", "JYNNEOS", "2026-02-27"),
    "JYNNEOS as CVX 999 'Smallpox and Monkeypox Vaccine, Live, Non-replicating'": cdc_full_name(
        "Smallpox and Monkeypox Vaccine, Live, Non-replicating", "2026-02-27"
    ),
}


@pytest.mark.parametrize("shot", NONREPLICATING.values(), ids=NONREPLICATING.keys())
def test_the_nonreplicating_setting_is_data(tmp_path: Path, shot: dict[str, Any]) -> None:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "vaccines.yaml"
    data = yaml.safe_load(path.read_text())
    data["alert_live_nonreplicating"] = True
    path.write_text(yaml.safe_dump(data))
    knowledge = load_knowledge(target)
    engine = Engine(Settings(dev_mode=True), knowledge, CardRenderer(knowledge), clock=lambda: NOW)
    request = order_sign(chart(shot))
    cards = engine.handle("blinatumomab-order-sign", copy.deepcopy(request)).response.cards
    assert [
        (c.source.topic.code, c.indicator)
        for c in cards
        if c.source.topic and c.source.topic.code == "live-vaccine"
    ] == [("live-vaccine", "critical")]


# --- A live vaccine ordered on its own, after blinatumomab (issue 15 item 5) --------------------
# The vaccine order is signed 2026-03-02 with no blinatumomab among the draft orders.


def history_order(
    start: str, days: int, *, cycle: int = 2, status: str = "completed", oid: str = "blin-last"
) -> dict[str, Any]:
    """An earlier blinatumomab order (R/R, `cycle`): 28 mcg/day from `start` for `days` days."""
    return blinatumomab_order(
        PID, [Step(28, days=days)], oid=oid, cycle=cycle, start=start, status=status, authored=start
    )


def b_cells(count: float, when: str, unit: str = "/uL") -> dict[str, Any]:
    """A CD19+ B-cell count (LOINC 8116-6) as a flow-cytometry laboratory files it."""
    return lab(PID, "cd19-1", "8116-6", "CD19 cells [#/volume] in Blood", count, unit, when=when)


def vaccine_alone(
    *chart_rest: dict[str, Any], order: dict[str, Any] | None = None
) -> dict[str, Any]:
    return bundle(
        [
            patient(PID, birth_date="2012-05-09"),
            weight(PID, 38),
            height(PID, 148),
            order if order is not None else vaccine_order("03", "MMR"),
            *chart_rest,
        ]
    )


ORDERED_DURING = ("live-vaccine", "critical", "live-vaccine-ordered-during-treatment")
BEFORE_RECOVERY = ("live-vaccine", "warning", "live-vaccine-before-immune-recovery")
ORDERED_BEFORE_START = ("live-vaccine", "critical", "live-vaccine-ordered-before-start")
ORDERED_AHEAD = ("live-vaccine", "warning", "live-vaccine-ordered-ahead-of-start")

ALONE: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "MMR alone, last cycle ended 10 days ago (inside its 14-day interval) -> critical": (
        vaccine_alone(history_order("2026-01-23T10:00:00+00:00", 28)),
        [ORDERED_DURING],
    ),
    "M-M-R II by NDC alone, last cycle ended 10 days ago -> critical": (
        vaccine_alone(
            history_order("2026-01-23T10:00:00+00:00", 28),
            order=coded_vaccine_order(NDC_SYSTEM, "00006-4681-00", "M-M-R II"),
        ),
        [ORDERED_DURING],
    ),
    "MMR alone during an active cycle -> critical": (
        vaccine_alone(history_order("2026-02-23T10:00:00+00:00", 28, status="active")),
        [ORDERED_DURING],
    ),
    "MMR alone, cycle 6 ended 30 days ago (56-day interval of continued therapy) -> critical": (
        vaccine_alone(history_order("2026-01-03T10:00:00+00:00", 28, cycle=6)),
        [ORDERED_DURING],
    ),
    "MMR alone, last cycle ended 3 months ago, no B-cell count -> warning": (
        vaccine_alone(history_order("2025-11-04T10:00:00+00:00", 28)),
        [BEFORE_RECOVERY],
    ),
    "MMR alone, ended 8 months ago, CD19 150/uL 2 months ago -> silent (recovered)": (
        vaccine_alone(
            history_order("2025-06-03T10:00:00+00:00", 28),
            b_cells(150, "2026-01-10T08:00:00+00:00"),
        ),
        [],
    ),
    "MMR alone, ended 8 months ago, CD19 12/uL -> warning (not recovered)": (
        vaccine_alone(
            history_order("2025-06-03T10:00:00+00:00", 28),
            b_cells(12, "2026-01-10T08:00:00+00:00"),
        ),
        [BEFORE_RECOVERY],
    ),
    "MMR alone, CD19 0.15 x10^9/L in SI units -> silent (150 cells/uL)": (
        vaccine_alone(
            history_order("2025-06-03T10:00:00+00:00", 28),
            b_cells(0.15, "2026-01-10T08:00:00+00:00", unit="10*9/L"),
        ),
        [],
    ),
    "MMR alone, CD19 150/uL only 1 month after the last infusion -> warning (too early)": (
        vaccine_alone(
            history_order("2025-11-04T10:00:00+00:00", 28),
            b_cells(150, "2026-01-05T08:00:00+00:00"),
        ),
        [BEFORE_RECOVERY],
    ),
    "MMR alone, never given blinatumomab -> no card": (vaccine_alone(), []),
    "MMR alone, the only blinatumomab order was cancelled -> no card": (
        vaccine_alone(history_order("2026-02-01T10:00:00+00:00", 28, status="cancelled")),
        [],
    ),
    "MMR alone, blinatumomab on file only as administrations, ended 10 days ago -> critical": (
        vaccine_alone(
            blinatumomab_administration(
                PID,
                "blin-bag-1",
                datetime(2026, 1, 23, 10, tzinfo=UTC),
                datetime(2026, 2, 20, 10, tzinfo=UTC),
            )
        ),
        [ORDERED_DURING],
    ),
    "MMR alone 7 days before the planned start of an active cycle-1 order -> critical, before "
    "the start": (
        vaccine_alone(history_order("2026-03-09T10:00:00+00:00", 28, cycle=1, status="active")),
        [ORDERED_BEFORE_START],
    ),
    "MMR alone 13 days before the planned start -> critical, inside the 2 weeks": (
        vaccine_alone(history_order("2026-03-15T10:00:00+00:00", 28, cycle=1, status="active")),
        [ORDERED_BEFORE_START],
    ),
    "MMR alone 20 days before the planned start of an active cycle-1 order -> warning: give it "
    "by 14 days before (it had been a critical 'ordered during treatment')": (
        vaccine_alone(history_order("2026-03-22T10:00:00+00:00", 28, cycle=1, status="active")),
        [ORDERED_AHEAD],
    ),
    "MMR alone, an active cycle-1 order begun yesterday -> critical, during treatment": (
        vaccine_alone(history_order("2026-03-01T10:00:00+00:00", 28, cycle=1, status="active")),
        [ORDERED_DURING],
    ),
    "MMR alone, its dosage start 2026-02-01 already past (a renewed order), blinatumomab starts "
    "in 8 days -> critical, before the start (was: warning 'give it by 2026-02-24', past)": (
        vaccine_alone(
            history_order("2026-03-10T10:00:00+00:00", 28, cycle=1, status="active"),
            order=vaccine_order("03", "MMR")
            | {
                "dosageInstruction": [
                    {"timing": {"repeat": {"boundsPeriod": {"start": "2026-02-01"}}}}
                ]
            },
        ),
        [ORDERED_BEFORE_START],
    ),
    "inactivated influenza alone during a cycle -> no card": (
        vaccine_alone(
            history_order("2026-02-23T10:00:00+00:00", 28, status="active"),
            order=vaccine_order("141", "Influenza, seasonal, injectable"),
        ),
        [],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), ALONE.values(), ids=ALONE.keys())
def test_a_live_vaccine_ordered_alone_after_blinatumomab(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    assert_ordered_alone(client, chart_bundle, expected)


def assert_ordered_alone(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    """A vaccine order signed alone gets exactly the `expected` live-vaccine findings."""
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected
    if not expected:
        assert body["cards"] == []  # a vaccine order for a patient never on blinatumomab: silence


@pytest.mark.parametrize(("chart_bundle", "expected"), ALONE.values(), ids=ALONE.keys())
def test_the_vaccine_alone_rules_as_pure_functions(
    chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    assert_alone_rules(chart_bundle, expected)


def assert_alone_rules(chart_bundle: dict[str, Any], expected: list[Expected]) -> None:
    """The same straight through `is_live_vaccine_order` and `check_vaccine_order` (no HTTP)."""
    knowledge = load_knowledge()
    engine = Engine(Settings(dev_mode=True), knowledge, CardRenderer(knowledge), clock=lambda: NOW)
    call = engine.parse("blinatumomab-order-sign", order_sign(chart_bundle))
    drafts = engine.read_drafts(call, fetch=False)
    reading = engine.read(call, drafts, fetch=False)
    [order] = drafts.orders
    if not is_live_vaccine_order(order, live_codes(knowledge, knowledge.vaccines), knowledge):
        assert drafts.live_vaccines == () and expected == []  # not live: never checked alone
        return
    assert drafts.live_vaccines == (order,)
    said = check_vaccine_order(order, reading.patient, knowledge, NOW)
    declared = vaccines.FINDINGS  # a code declared with its indicator emits none of its own
    assert (
        sorted(
            ("live-vaccine", str(e.indicator or declared[e.code].indicator), e.code) for e in said
        )
        == expected
    )


def test_the_critical_card_offers_to_remove_the_vaccine_order(client: FlaskClient) -> None:
    request = order_sign(vaccine_alone(history_order("2026-01-23T10:00:00+00:00", 28)))
    [card] = client.post(SIGN, json=request).get_json()["cards"]
    assert card["summary"].startswith("Live vaccine (MMR (measles")
    assert card["summary"].endswith("ordered during blinatumomab treatment: not recommended")
    assert "2026-02-20" in card["detail"] and "2026-03-06" in card["detail"]
    [action] = card["suggestions"][0]["actions"]
    assert action == {
        "type": "delete",
        "description": "Remove the live vaccine order",
        "resourceId": "MedicationRequest/vaccine-order",
    }


def test_order_select_checks_only_the_selected_live_vaccine(client: FlaskClient) -> None:
    chart_bundle = vaccine_alone(
        history_order("2026-01-23T10:00:00+00:00", 28),
        vaccine_order("141", "Influenza, seasonal, injectable", oid="flu-order"),
    )
    selected = client.post(
        SELECT, json=order_select(chart_bundle, "MedicationRequest/vaccine-order")
    ).get_json()
    assert findings_of_topic(selected, "live-vaccine") == [ORDERED_DURING]
    other = client.post(
        SELECT, json=order_select(chart_bundle, "MedicationRequest/flu-order")
    ).get_json()
    assert other["cards"] == []


def test_order_select_of_the_vaccine_beside_a_blinatumomab_draft_says_ordered_together(
    client: FlaskClient,
) -> None:
    """The clinician picks the MMR order while a blinatumomab draft sits in the same orders: the
    selected vaccine gets the card the blinatumomab order would (red team: it got none)."""
    chart_bundle = chart(vaccine_order("03", "MMR"))
    selected = client.post(
        SELECT, json=order_select(chart_bundle, "MedicationRequest/vaccine-order")
    ).get_json()
    assert findings_of_topic(selected, "live-vaccine") == [ORDERED_TOGETHER]
    assert [c["source"]["topic"]["code"] for c in selected["cards"]] == ["live-vaccine"]


FHIR_SERVER = "https://ehr.example.org/fhir"
EHR_FHIR_ACCESS = {  # what an EHR adds to a call so the service can fetch what it did not prefetch
    "fhirServer": FHIR_SERVER,
    "fhirAuthorization": {
        "access_token": "token-abc",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "blinatumomab-cds",
    },
}


def test_the_vaccine_alone_is_checked_from_the_fhir_server(client: FlaskClient) -> None:
    """FHIR fallback: no prefetch; the chart is read from the EHR's FHIR server."""
    request = order_sign(
        vaccine_alone(
            history_order("2025-06-03T10:00:00+00:00", 28),
            b_cells(12, "2026-01-10T08:00:00+00:00"),
        )
    )
    prefetched = request.pop("prefetch")
    server = FHIR_SERVER
    request |= EHR_FHIR_ACCESS
    with responses.RequestsMock(assert_all_requests_are_fired=True) as fhir:
        fhir.add(responses.GET, f"{server}/Patient/{PID}", json=prefetched["patient"])
        for path, key in (
            ("Observation", "observations"),
            ("Immunization", "immunizations"),
            ("MedicationRequest", "medications"),
            ("Condition", "conditions"),
        ):
            found = prefetched[key] or {"resourceType": "Bundle", "entry": []}
            fhir.add(responses.GET, f"{server}/{path}", json=found | {"type": "searchset"})
        body = client.post(SIGN, json=request).get_json()
        observation_query = next(c for c in fhir.calls if "/Observation" in str(c.request.url))
    assert "8116-6" in str(observation_query.request.url)  # the B-cell count is asked for
    assert findings_of_topic(body, "live-vaccine") == [BEFORE_RECOVERY]


def test_discovery_says_a_live_vaccine_alone_is_checked(client: FlaskClient) -> None:
    services = client.get("/cds-services").get_json()["services"]
    assert all("live-vaccine order" in s["description"] for s in services)


def test_a_vaccine_alone_whose_medication_history_cannot_be_read_says_so(
    client: FlaskClient,
) -> None:
    """MMR ordered alone, the EHR's FHIR server failing on MedicationRequest: whether the patient
    is in or after blinatumomab treatment is unknown -> a "could not verify" card, never silence."""
    request = order_sign(vaccine_alone(history_order("2025-06-03T10:00:00+00:00", 28)))
    request["prefetch"].pop("medications")
    server = FHIR_SERVER
    request |= EHR_FHIR_ACCESS
    with responses.RequestsMock(assert_all_requests_are_fired=False) as fhir:
        fhir.add(responses.GET, f"{server}/MedicationRequest", status=503)
        body = client.post(SIGN, json=request).get_json()
    assert findings_of_topic(body, "live-vaccine") == [("live-vaccine", "warning", "check-not-run")]


def test_a_vaccine_ordered_before_the_start_says_so_not_during_treatment(
    client: FlaskClient,
) -> None:
    request = order_sign(
        vaccine_alone(history_order("2026-03-09T10:00:00+00:00", 28, cycle=1, status="active"))
    )
    [card] = client.post(SIGN, json=request).get_json()["cards"]
    assert "7 days before blinatumomab starts (2026-03-09)" in card["summary"]
    assert "during blinatumomab treatment" not in card["summary"]


# Red team 4: every date a text gives is read (V3), and a dose number, a lot number or a year
# before the record does not lift Immunization.recorded's bound (V6). Start 2026-03-02, window
# from 2026-02-16. Each row failed before the fix.
SEVERAL_DATES: dict[str, tuple[dict[str, Any], list[tuple[str, str, str]]]] = {
    "'dose 1 2026-01-05; dose 2 20 Feb 2026' -> warning (was: silent, ISO won)": (
        chart(historical("dose 1 2026-01-05; dose 2 20 Feb 2026")),
        [DATE_UNREADABLE],
    ),
    "'1st 2026-01-05, 2nd Feb 20 2026' -> warning (was: silent)": (
        chart(historical("1st 2026-01-05, 2nd Feb 20 2026")),
        [DATE_UNREADABLE],
    ),
    "'MMR 2/20/26 (pt born 1968)' -> warning (was: silent, the lone year won)": (
        chart(historical("MMR 2/20/26 (pt born 1968)")),
        [DATE_UNREADABLE],
    ),
    "'given 2/20/26 per paper card 1999' -> warning (was: silent)": (
        chart(historical("given 2/20/26 per paper card 1999")),
        [DATE_UNREADABLE],
    ),
    "'2025-06-01, 2026-02-20' -> warning naming the dates (was: approximate, a range)": (
        chart(historical("2025-06-01, 2026-02-20")),
        [DATE_UNREADABLE],
    ),
    "'given 1990, entered 2026-02-25' -> warning, not critical (ambiguous)": (
        chart(historical("given 1990, entered 2026-02-25")),
        [DATE_UNREADABLE],
    ),
    # red team 5: dates that all fall in the window, or beside an expiry date still ahead
    "'2026-02-18 or 2026-02-20' (both in the window) -> critical (was: warning)": (
        chart(historical("2026-02-18 or 2026-02-20")),
        [RECENT],
    ),
    "'given 02/20/2026, exp 2027-06' (an expiry date ahead) -> critical (was: warning)": (
        chart(historical("given 02/20/2026, exp 2027-06")),
        [RECENT],
    ),
    "'given 2026-02-20, entered 2026-02-25' (both in the window) -> critical": (
        chart(historical("given 2026-02-20, entered 2026-02-25")),
        [RECENT],
    ),
    "'Lot 20260220' (a lot number, not an HL7 date) -> warning, not critical (red team 5)": (
        chart(historical("Lot 20260220")),
        [DATE_UNREADABLE],
    ),
    "'Lot# 20260220, given 02/20/2026' -> critical (the date beside it is read)": (
        chart(historical("Lot# 20260220, given 02/20/2026")),
        [RECENT],
    ),
    "'2/20/26' alone (two-digit year) -> critical (was: unreadable warning)": (
        chart(historical("2/20/26")),
        [RECENT],
    ),
    "'20.02.26' alone -> critical (was: unreadable warning)": (
        chart(historical("20.02.26")),
        [RECENT],
    ),
    "'Feb 20 '26' alone -> critical (was: unreadable warning)": (
        chart(historical("Feb 20 '26")),
        [RECENT],
    ),
    "'20260220' (HL7 v2) alone -> critical (was: unreadable warning)": (
        chart(historical("20260220")),
        [RECENT],
    ),
    "'MMR #2', recorded 2015-03-01 -> silent (a dose number; was: warning)": (
        chart(historical("MMR #2", recorded="2015-03-01")),
        [],
    ),
    "'dose 1 of 2', recorded 2015-03-01 -> silent (was: warning)": (
        chart(historical("dose 1 of 2", recorded="2015-03-01")),
        [],
    ),
    "'Lot 2026A', recorded 2015-03-01 -> silent (a lot number; was: warning)": (
        chart(historical("Lot 2026A", recorded="2015-03-01")),
        [],
    ),
    "'childhood, Lot 2026A', recorded 2015-03-01 -> silent (was: warning)": (
        chart(historical("childhood, Lot 2026A", recorded="2015-03-01")),
        [],
    ),
    "'2 doses in childhood', recorded 2015-03-01 -> silent (was: warning)": (
        chart(historical("2 doses in childhood", recorded="2015-03-01")),
        [],
    ),
    "'childhood, dose 2', recorded 2015-03-01 -> silent (was: warning)": (
        chart(historical("childhood, dose 2", recorded="2015-03-01")),
        [],
    ),
    "'booster Feb', recorded 2015-03-01 -> warning (a month: may be this February; was: silent)": (
        chart(historical("booster Feb", recorded="2015-03-01")),
        [DATE_UNREADABLE],
    ),
    "'1990s', recorded 2015-03-01 -> silent (a decade before the record; was: warning)": (
        chart(historical("1990s", recorded="2015-03-01")),
        [],
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"),
    list(SEVERAL_DATES.values()),
    ids=list(SEVERAL_DATES.keys()),
)
def test_every_date_in_words_is_read_and_dose_numbers_keep_the_record_bound(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected


def test_several_dates_name_the_dates_and_the_one_in_the_window(client: FlaskClient) -> None:
    request = order_sign(chart(historical("2025-06-01, 2026-02-20")))
    [card] = [
        c
        for c in client.post(SIGN, json=request).get_json()["cards"]
        if c["source"]["topic"]["code"] == "live-vaccine"
    ]
    assert "several dates (2025-06-01, 2026-02-20), of which 2026-02-20 falls" in card["detail"]
