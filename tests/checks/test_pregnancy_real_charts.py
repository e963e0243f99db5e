"""The pregnancy check on real charts: old pregnancies, hysterectomies charted as Procedures, and
estimated delivery dates (red team 3, findings 2 and 4).

Real charts rarely close a pregnancy with a negative test: a woman who delivered last year has a
positive hCG from then and nothing since. That positive is no pregnancy now once a pregnancy on
file ended after it, or once it is older than any pregnancy lasts (pregnancy.yaml
`positive_result_current_days`, 300): the status is then unverified (the warning with the hCG
order), never negative. Synthea and US Core chart a hysterectomy as a Procedure, and an
estimated delivery date (LOINC 11778-8) says a pregnancy is going on. The infusion starts
2026-03-02T10:00Z; the woman is 27 and in cycle 1 (tests/checks/test_pregnancy).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.chart_view import _pregnancy
from cds.fhir.prefetch import resolve_prefetch
from cds.knowledge import load_knowledge
from cds.patient import ConditionFact, PatientSnapshot
from cds.services import prefetch_templates
from tests.checks.test_pregnancy import (
    CONTRACEPTION_REMINDER,
    ON_PROBLEM_LIST,
    PID,
    POSITIVE,
    STATUS_UNKNOWN,
    TWO_DAYS_AGO,
    chart,
    lab,
    pregnancy_problem,
    urine_hcg,
)
from tests.conftest import SIGN
from tests.fixtures_util import ICD10CM, SNOMED, Expected, condition, findings_of_topic, order_sign

KNOWLEDGE = load_knowledge()
EXPECTED_DELIVERY = ("pregnancy-status", "critical", "pregnancy-expected-delivery")
GESTATIONAL_AGE = ("pregnancy-status", "critical", "pregnancy-gestational-age")
DATE_UNREADABLE = ("pregnancy-status", "warning", "pregnancy-delivery-date-unreadable")
CONFLICT = ("pregnancy-status", "warning", "pregnancy-problem-list-conflict")
CHARTED_CONFLICT = ("pregnancy-status", "warning", "pregnancy-charted-conflict")


def past_pregnancy(
    *,
    onset: str = "2024-09-20",
    abated: str | None = "2025-06-20",
    recorded: str | None = None,
    status: str = "resolved",
    code: tuple[str, str, str] = (SNOMED, "72892002", "Normal pregnancy"),
) -> dict[str, Any]:
    """A pregnancy as Synthea and US Core problem lists keep it once it is over: resolved, with
    its end (abatement) or only the day it was recorded."""
    system, value, display = code
    problem = condition(
        PID,
        value,
        display,
        cid="pregnancy-2024",
        clinical_status=status,
        system=system,
        onset=onset,
    )
    del problem["code"]["text"]  # Synthea codes it without text
    if abated is not None:
        problem["abatementDateTime"] = abated
    if recorded is not None:
        problem["recordedDate"] = recorded
    return problem


def procedure(
    code: str,
    display: str,
    *,
    status: str = "completed",
    performed: str | None = "2015-05-01T10:00:00-04:00",
    pid: str = "hysterectomy",
) -> dict[str, Any]:
    """A Procedure as Synthea and US Core send it (SNOMED CT code, performedPeriod)."""
    done: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": pid,
        "status": status,
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
        "subject": {"reference": f"Patient/{PID}"},
    }
    if performed is not None:
        done["performedPeriod"] = {"start": performed, "end": performed}
    return done


HYSTERECTOMY_2015 = procedure("236886002", "Hysterectomy (procedure)")
CESAREAN_JANUARY = procedure(
    "11466000", "Cesarean section", performed="2026-01-10T14:00:00+00:00", pid="delivery"
)


def with_procedures(chart_bundle: dict[str, Any], *procedures: dict[str, Any]) -> dict[str, Any]:
    """The order-sign request with the Procedures in the optional `procedures` prefetch key."""
    request = order_sign(chart_bundle)
    request["prefetch"]["procedures"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": p} for p in procedures],
    }
    return request


def edd(when: str, due: str, oid: str = "edd") -> dict[str, Any]:
    """An estimated delivery date (LOINC 11778-8) charted at the dating scan."""
    return lab(oid, "11778-8", "Delivery date Estimated", when, valueDateTime=due)


def edd_text(text: str, when: str = "2026-02-28T09:00:00+00:00") -> dict[str, Any]:
    """An estimated delivery date an interface sent as text (valueString)."""
    return lab("edd", "11778-8", "Delivery date Estimated", when, valueString=text)


def gestational_age(
    when: str, weeks: float, loinc: str = "49051-6", display: str = "Gestational age in weeks"
) -> dict[str, Any]:
    """A gestational age charted at an antenatal visit (weeks, UCUM wk)."""
    quantity = {"value": weeks, "unit": "wk", "system": "http://unitsofmeasure.org", "code": "wk"}
    return lab("gest-age", loinc, display, when, valueQuantity=quantity)


def history_entry(
    code: str,
    display: str,
    *,
    cid: str,
    onset: str | None = None,
    recorded: str | None = None,
    verification: str = "confirmed",
    status: str = "resolved",
    system: str = SNOMED,
) -> dict[str, Any]:
    """A surgical or obstetric history entry (a hysterectomy, a delivery) as a Condition: its
    onset when the EHR has one, its recordedDate (the day it was typed in)."""
    entry = condition(
        PID,
        code,
        display,
        cid=cid,
        system=system,
        clinical_status=status,
        verification=verification,
    )
    del entry["onsetDateTime"]
    if onset is not None:
        entry["onsetDateTime"] = onset
    if recorded is not None:
        entry["recordedDate"] = recorded
    return entry


POSITIVE_10_DAYS_AGO = urine_hcg("2026-02-20T08:00:00+00:00", "positive")
Z3A10_SINCE_FEBRUARY = pregnancy_problem("Z3A.10", "10 weeks gestation of pregnancy", "2026-02-01")


def gestational_age_in_days(when: str, days: int) -> dict[str, Any]:
    """A gestational age charted in days (UCUM d), as some obstetric flowsheets send it."""
    quantity = {"value": days, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}
    return lab("gest-age", "49051-6", "Gestational age in weeks", when, valueQuantity=quantity)


def old_problem(
    code: str, display: str, onset: str, *, status: str | None = "active"
) -> dict[str, Any]:
    """A pregnancy entry never closed: an encounter diagnosis (no clinicalStatus) or an active
    problem left on the list."""
    problem = condition(
        PID, code, display, cid="old-pregnancy", onset=onset, category="encounter-diagnosis"
    )
    if status is None:
        del problem["clinicalStatus"]
    else:
        problem["clinicalStatus"]["coding"][0]["code"] = status
    return problem


def coded_procedure(system: str, code: str, display: str, performed: str) -> dict[str, Any]:
    """A Procedure as billing-derived feeds send it (CPT, ICD-10-PCS), performedDateTime."""
    return {
        "resourceType": "Procedure",
        "id": "billed",
        "status": "completed",
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{PID}"},
        "performedDateTime": performed,
    }


CPT = "http://www.ama-assn.org/go/cpt"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
POSITIVE_OCT_2024 = urine_hcg("2024-10-01T09:00:00-04:00", "positive", oid="hcg-2024")
UNVERIFIED = [CONTRACEPTION_REMINDER, STATUS_UNKNOWN]

OLD_POSITIVES: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # red team 51: delivered, the pregnancy resolved with its end charted, no test since
    "positive Oct 2024, pregnancy abated Jun 2025, no test since -> not verified": (
        order_sign(chart(POSITIVE_OCT_2024, past_pregnancy())),
        UNVERIFIED,
    ),
    "positive Oct 2024, pregnancy resolved, recorded after the test, no end -> not verified": (
        order_sign(chart(POSITIVE_OCT_2024, past_pregnancy(abated=None, recorded="2024-10-15"))),
        UNVERIFIED,
    ),
    # red team 84: 335 days old, nothing else on file
    "positive 11 months ago, no follow-up -> not verified": (
        order_sign(chart(urine_hcg("2025-04-01T09:00:00-04:00", "positive"))),
        UNVERIFIED,
    ),
    # a due date long passed ends the pregnancy the positive showed (42 weeks: post term)
    "positive 8 months ago, due date charted then, passed 3 weeks ago -> not verified": (
        order_sign(
            chart(
                urine_hcg("2025-07-01T09:00:00+00:00", "positive"),
                edd("2025-07-20T11:00:00+00:00", "2026-02-09"),
            )
        ),
        UNVERIFIED,
    ),
    "positive 8 months ago, due date passed 10 days ago (post term, maybe still) -> critical": (
        order_sign(
            chart(
                urine_hcg("2025-07-01T09:00:00+00:00", "positive"),
                edd("2025-07-20T11:00:00+00:00", "2026-02-20"),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive 6 months ago, Caesarean in January (Procedure) -> not verified": (
        with_procedures(
            chart(urine_hcg("2025-09-01T09:00:00+00:00", "positive")), CESAREAN_JANUARY
        ),
        UNVERIFIED,
    ),
    "positive 6 months ago, delivery O80 on the problem list in January -> not verified": (
        order_sign(
            chart(
                urine_hcg("2025-09-01T09:00:00+00:00", "positive"),
                past_pregnancy(
                    onset="2026-01-10",
                    abated="2026-01-12",
                    code=(ICD10CM, "O80", "Encounter for full-term uncomplicated delivery"),
                ),
            )
        ),
        UNVERIFIED,
    ),
    # still critical: a positive within the bound with no end after it
    "positive 286 days ago, no end on file -> critical": (
        order_sign(chart(urine_hcg("2025-05-20T09:00:00+00:00", "positive"))),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "pregnancy ended Jun 2025, positive again last week -> critical": (
        order_sign(chart(past_pregnancy(), urine_hcg("2026-02-23T09:00:00+00:00", "positive"))),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive 6 months ago, Caesarean planned (not done) -> critical": (
        with_procedures(
            chart(urine_hcg("2025-09-01T09:00:00+00:00", "positive")),
            procedure(
                "11466000",
                "Cesarean section",
                status="preparation",
                performed="2026-03-20T14:00:00+00:00",
                pid="delivery",
            ),
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive Oct 2024 but a pregnancy active on the problem list -> critical": (
        order_sign(chart(POSITIVE_OCT_2024, pregnancy_problem("Z34.82", "Supervision, 2nd tri"))),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    # --- a pregnancy on the problem list that is over (red team D8-D10)
    "woman of 58, postmenopausal, Z3A.20 encounter diagnosis of 2000 -> silent": (
        order_sign(
            chart(
                old_problem("Z3A.20", "20 weeks gestation of pregnancy", "2000-06-01"),
                condition(PID, "76498008", "Postmenopausal state", cid="meno", system=SNOMED),
                born="1967-11-02",
            )
        ),
        [],
    ),
    "woman of 57, Z34.90 encounter diagnosis of 2001 with no clinicalStatus -> silent": (
        order_sign(
            chart(
                old_problem("Z34.90", "Supervision of normal pregnancy", "2001-04-10", status=None),
                born="1968-09-02",
            )
        ),
        [],
    ),
    "woman of 28, Z34.90 active since 2021, no test -> not verified (not critical)": (
        order_sign(chart(old_problem("Z34.90", "Supervision of normal pregnancy", "2021-05-01"))),
        UNVERIFIED,
    ),
    "woman of 28, 72892002 active since 2019, negative hCG 2 days ago -> verified": (
        order_sign(
            chart(
                pregnancy_problem("72892002", "Normal pregnancy", "2019-03-01", system=SNOMED),
                urine_hcg(TWO_DAYS_AGO, "negative"),
            )
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "Z34.90 since 2019, then a hysterectomy Procedure in 2024 -> silent": (
        with_procedures(
            chart(old_problem("Z34.90", "Supervision of normal pregnancy", "2019-02-01")),
            procedure("236886002", "Hysterectomy", performed="2024-05-14T09:00:00+00:00"),
        ),
        [],
    ),
    "Z34.83 since June 2025, Caesarean in September (Procedure), no test -> not verified": (
        with_procedures(
            chart(old_problem("Z34.83", "Supervision of normal pregnancy, 3rd tri", "2025-06-15")),
            procedure(
                "11466000", "Cesarean section", performed="2025-09-20T14:00:00+00:00", pid="cs"
            ),
        ),
        UNVERIFIED,
    ),
    "Z34.83 since June 2025, Caesarean in September, negative 2 days ago -> verified": (
        with_procedures(
            chart(
                old_problem("Z34.83", "Supervision of normal pregnancy, 3rd tri", "2025-06-15"),
                urine_hcg(TWO_DAYS_AGO, "negative"),
            ),
            procedure(
                "11466000", "Cesarean section", performed="2025-09-20T14:00:00+00:00", pid="cs"
            ),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    # --- when a pregnancy entry, or its end, was typed in is not when it happened (red team 2, D5)
    "Z3A.10 since Feb 1, a 2019 delivery entry with no onset recorded Feb 25 -> critical": (
        order_sign(
            chart(
                Z3A10_SINCE_FEBRUARY,
                history_entry("48782003", "Delivery normal", cid="hx", recorded="2026-02-25"),
            )
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    # red team 3 (H2): 10 weeks on Feb 1 is 13 weeks on Feb 25, no delivery: history re-charted
    "Z3A.10 since Feb 1, a delivery Condition with its onset Feb 25 -> critical (implausible)": (
        order_sign(
            chart(
                Z3A10_SINCE_FEBRUARY,
                history_entry(
                    "48782003",
                    "Delivery normal",
                    cid="hx",
                    onset="2026-02-25",
                    recorded="2026-02-26T10:00:00+00:00",
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "Z33.1 with clinicalStatus recurrence, first onset 2024, recorded Feb 20 -> critical": (
        order_sign(
            chart(
                history_entry(
                    "Z33.1",
                    "Pregnant state, incidental",
                    cid="preg",
                    onset="2024-06-01",
                    recorded="2026-02-20",
                    status="recurrence",
                    system=ICD10CM,
                )
            )
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "Z33.1 active, onset 2024 but recorded Feb 20 -> critical (recorded active since)": (
        order_sign(
            chart(
                history_entry(
                    "Z33.1",
                    "Pregnant state, incidental",
                    cid="preg",
                    onset="2024-06-01",
                    recorded="2026-02-20",
                    status="active",
                    system=ICD10CM,
                )
            )
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "Z33.1 active, onset and recorded 2024 -> not verified (control: never closed)": (
        order_sign(
            chart(
                history_entry(
                    "Z33.1",
                    "Pregnant state, incidental",
                    cid="preg",
                    onset="2024-06-01",
                    recorded="2024-06-03",
                    status="active",
                    system=ICD10CM,
                )
            )
        ),
        UNVERIFIED,
    ),
    "positive 10 days ago, a 2023 pregnancy resolved, recorded Feb 25, no end -> critical": (
        order_sign(
            chart(
                POSITIVE_10_DAYS_AGO,
                history_entry(
                    "77386006",
                    "Pregnancy",
                    cid="old-preg",
                    onset="2023-05-01",
                    recorded="2026-02-25",
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive 10 days ago, Z39.2 postpartum entry with no onset recorded Feb 25 -> critical": (
        order_sign(
            chart(
                POSITIVE_10_DAYS_AGO,
                history_entry(
                    "Z39.2",
                    "Encounter for routine postpartum follow-up",
                    cid="pp",
                    recorded="2026-02-25",
                    system=ICD10CM,
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive 10 days ago, the pregnancy abated Feb 25 -> not verified (control)": (
        order_sign(
            chart(
                POSITIVE_10_DAYS_AGO,
                past_pregnancy(onset="2026-02-01", abated="2026-02-25", recorded="2026-02-20"),
            )
        ),
        UNVERIFIED,
    ),
    "Z34.83 since June 2025, no delivery on file, no test -> critical (control)": (
        order_sign(
            chart(old_problem("Z34.83", "Supervision of normal pregnancy, 3rd tri", "2025-06-15"))
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "positive Oct 2024 ended, negative 2 days ago -> verified": (
        order_sign(chart(POSITIVE_OCT_2024, past_pregnancy(), urine_hcg(TWO_DAYS_AGO, "negative"))),
        [CONTRACEPTION_REMINDER],
    ),
}

HYSTERECTOMIES: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # red team 29: Synthea hysterectomy Procedure, 2015
    "hysterectomy Procedure 2015, no test -> no pregnancy check": (
        with_procedures(chart(born="1981-02-11"), HYSTERECTOMY_2015),
        [],
    ),
    "laparoscopic total hysterectomy, performedDateTime -> no pregnancy check": (
        with_procedures(
            chart(),
            procedure("236888001", "Laparoscopic total hysterectomy", performed=None)
            | {"performedDateTime": "2022-11-08"},
        ),
        [],
    ),
    "hysterectomy not done -> still checked": (
        with_procedures(chart(), procedure("116140006", "Total hysterectomy", status="not-done")),
        UNVERIFIED,
    ),
    "hysterectomy entered in error -> still checked": (
        with_procedures(
            chart(), procedure("116140006", "Total hysterectomy", status="entered-in-error")
        ),
        UNVERIFIED,
    ),
    "hysterectomy scheduled next month -> still checked": (
        with_procedures(
            chart(),
            procedure(
                "86477000",
                "Total hysterectomy with removal of both tubes and ovaries",
                status="preparation",
                performed="2026-04-02T08:00:00+00:00",
            ),
        ),
        UNVERIFIED,
    ),
    # red team 6: a Procedure that stands the check down must name its patient
    **{
        f"hysterectomy Procedure whose subject is {what} -> still checked": (
            with_procedures(chart(), {**HYSTERECTOMY_2015, "subject": subject}),
            UNVERIFIED,
        )
        for what, subject in (
            ("an identifier only", {"identifier": {"system": "urn:mrn", "value": "123"}}),
            ("a display only", {"display": "Jane Doe"}),
            ("missing", None),
        )
    },
    # --- a hysterectomy coded in CPT or ICD-10-PCS, or a surgical-history entry (red team D12)
    **{
        f"hysterectomy Procedure coded {name} {code}, no test -> no pregnancy check": (
            with_procedures(chart(), coded_procedure(system, code, display, "2021-03-09")),
            [],
        )
        for name, system, code, display in (
            ("CPT", CPT, "58150", "Total abdominal hysterectomy"),
            ("CPT", CPT, "58571", "Laparoscopic total hysterectomy with removal of tubes/ovaries"),
            ("ICD-10-PCS", ICD10PCS, "0UT90ZZ", "Resection of Uterus, Open Approach"),
            # red team 2026-12-03 f10-f12: the rest of the CPT hysterectomy families
            (
                "CPT",
                CPT,
                "58552",
                "Laparoscopic vaginal hysterectomy with removal of tubes/ovaries",
            ),
            ("CPT", CPT, "58290", "Vaginal hysterectomy, uterus greater than 250 g"),
            ("CPT", CPT, "58548", "Laparoscopic radical hysterectomy"),
            ("CPT", CPT, "58543", "Laparoscopic supracervical hysterectomy, uterus over 250 g"),
            ("CPT", CPT, "59525", "Subtotal or total hysterectomy after cesarean delivery"),
            ("CPT", CPT, "58953", "BSO with omentectomy, total abdominal hysterectomy, debulking"),
        )
    },
    "hysterectomy as a resolved surgical-history Condition, no test -> no pregnancy check": (
        order_sign(
            chart(
                condition(
                    PID,
                    "236886002",
                    "Hysterectomy",
                    cid="hyst",
                    system=SNOMED,
                    clinical_status="resolved",
                    onset="2019-07-01",
                )
            )
        ),
        [],
    ),
    "CPT 58661 (laparoscopic removal of adnexa, uterus kept), no test -> still checked (control)": (
        with_procedures(
            chart(),
            coded_procedure(
                CPT, "58661", "Laparoscopic removal of adnexal structures", "2021-03-09"
            ),
        ),
        UNVERIFIED,
    ),
    # --- a hysterectomy or delivery not confirmed ends nothing and stands nothing down (red
    # team 2, D1)
    **{
        f"positive hCG 10 days ago, hysterectomy Condition {verification} after it -> critical": (
            order_sign(
                chart(
                    POSITIVE_10_DAYS_AGO,
                    history_entry(
                        "236886002",
                        "Hysterectomy",
                        cid="hyst",
                        onset="2026-02-25",
                        verification=verification,
                    ),
                )
            ),
            [CONTRACEPTION_REMINDER, POSITIVE],
        )
        for verification in ("provisional", "unconfirmed", "differential")
    },
    "positive hCG 10 days ago, hysterectomy Condition confirmed after it -> silent (control)": (
        order_sign(
            chart(
                POSITIVE_10_DAYS_AGO,
                history_entry("236886002", "Hysterectomy", cid="hyst", onset="2026-02-25"),
            )
        ),
        [],
    ),
    "Z3A.10 since Feb 1, hysterectomy Condition provisional Feb 25 -> critical": (
        order_sign(
            chart(
                Z3A10_SINCE_FEBRUARY,
                history_entry(
                    "236886002",
                    "Hysterectomy",
                    cid="hyst",
                    onset="2026-02-25",
                    verification="provisional",
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "gestational age 20 weeks 4 days ago, hysterectomy Condition unconfirmed -> critical": (
        order_sign(
            chart(
                gestational_age("2026-02-26T09:00:00+00:00", 20),
                history_entry(
                    "236886002",
                    "Hysterectomy",
                    cid="hyst",
                    onset="2026-02-27",
                    verification="unconfirmed",
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, GESTATIONAL_AGE],
    ),
    "Z3A.30 since Aug 2025, Caesarean planned as a provisional Condition -> critical": (
        order_sign(
            chart(
                pregnancy_problem("Z3A.30", "30 weeks gestation of pregnancy", "2025-08-10"),
                history_entry(
                    "11466000",
                    "Cesarean section",
                    cid="plan-cs",
                    recorded="2026-02-25",
                    verification="provisional",
                    status="active",
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "hysterectomy Condition provisional, no test -> still checked": (
        order_sign(
            chart(
                history_entry(
                    "236886002",
                    "Hysterectomy",
                    cid="hyst",
                    onset="2025-05-01",
                    verification="provisional",
                )
            )
        ),
        UNVERIFIED,
    ),
    "hysterectomy Procedure, positive hCG yesterday -> critical all the same": (
        with_procedures(
            chart(urine_hcg("2026-03-01T09:00:00+00:00", "positive")), HYSTERECTOMY_2015
        ),
        [POSITIVE],
    ),
}


# red team N2: a delivery as US charts record it (CPT, ICD-10-PCS, Z37 outcome of delivery, Z39
# postpartum care, SNOMED postpartum state) ends the pregnancy O-code left active on the list
GDM_OCTOBER = pregnancy_problem("O24.419", "Gestational diabetes in pregnancy", "2025-10-03")
O_CODE_FEBRUARY = pregnancy_problem(
    "O99.012", "Anemia complicating pregnancy, 2nd tri", "2026-02-05"
)
DELIVERED_JANUARY = "2026-01-19T10:00:00+00:00"
DELIVERY_PROCEDURES = (
    (CPT, "59400", "Routine obstetric care, vaginal delivery and postpartum care"),
    (CPT, "59409", "Vaginal delivery only"),
    (CPT, "59410", "Vaginal delivery only; including postpartum care"),
    (CPT, "59510", "Routine obstetric care, cesarean delivery and postpartum care"),
    (CPT, "59514", "Cesarean delivery only"),
    (CPT, "59515", "Cesarean delivery only; including postpartum care"),
    (CPT, "59610", "Routine obstetric care, VBAC, postpartum care"),
    (CPT, "59612", "Vaginal delivery only, after previous cesarean delivery"),
    (CPT, "59614", "VBAC only; including postpartum care"),
    (CPT, "59618", "Routine obstetric care, cesarean after attempted VBAC"),
    (CPT, "59620", "Cesarean delivery only, following attempted VBAC"),
    (CPT, "59622", "Cesarean only, following attempted VBAC; including postpartum care"),
    (ICD10PCS, "10E0XZZ", "Delivery of Products of Conception, External Approach"),
    (ICD10PCS, "10D00Z0", "Extraction of Products of Conception, High, Open Approach"),
    (ICD10PCS, "10D00Z1", "Extraction of Products of Conception, Low, Open Approach"),
    (ICD10PCS, "10D00Z2", "Extraction of Products of Conception, Extraperitoneal, Open"),
)
DELIVERY_CONDITIONS = (
    (ICD10CM, "Z37.0", "Single live birth"),
    (ICD10CM, "Z37.2", "Twins, both liveborn"),
    (ICD10CM, "Z37.9", "Outcome of delivery, unspecified"),
    (ICD10CM, "Z39.0", "Encounter for care and examination of mother immediately after delivery"),
    (SNOMED, "86569001", "Postpartum state"),
)


def delivery_entry(system: str, code: str, display: str, onset: str) -> dict[str, Any]:
    """A delivery charted as a Condition (an encounter diagnosis or a problem), by its onset."""
    return history_entry(
        code, display, cid="delivered", onset=onset, status="active", system=system
    )


DELIVERIES: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    **{
        f"O24.419 since Oct 2025, {code} Procedure Jan 19, negative hCG -> verified": (
            with_procedures(
                chart(GDM_OCTOBER, urine_hcg(TWO_DAYS_AGO, "negative")),
                coded_procedure(system, code, display, DELIVERED_JANUARY),
            ),
            [CONTRACEPTION_REMINDER],
        )
        for system, code, display in DELIVERY_PROCEDURES
    },
    **{
        f"O24.419 since Oct 2025, {code} Condition Jan 19, negative hCG -> verified": (
            order_sign(
                chart(
                    GDM_OCTOBER,
                    delivery_entry(system, code, display, "2026-01-19"),
                    urine_hcg(TWO_DAYS_AGO, "negative"),
                )
            ),
            [CONTRACEPTION_REMINDER],
        )
        for system, code, display in DELIVERY_CONDITIONS
    },
    # controls: the harm cases still alarm
    "O99.012 since Feb 5, after a CPT 59510 delivery in January, no test -> critical": (
        with_procedures(
            chart(O_CODE_FEBRUARY),
            coded_procedure(CPT, "59510", "Routine OB care, cesarean", DELIVERED_JANUARY),
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "O99.012 since Feb 5, after a Z37.0 birth in January, negative hCG -> conflict": (
        order_sign(
            chart(
                O_CODE_FEBRUARY,
                delivery_entry(ICD10CM, "Z37.0", "Single live birth", "2026-01-19"),
                urine_hcg(TWO_DAYS_AGO, "negative"),
            )
        ),
        [CONTRACEPTION_REMINDER, CONFLICT],
    ),
    "O24.419 since Oct 2025, CPT 59510 not yet done (preparation), negative hCG -> conflict": (
        with_procedures(
            chart(GDM_OCTOBER, urine_hcg(TWO_DAYS_AGO, "negative")),
            coded_procedure(CPT, "59510", "Routine OB care, cesarean", DELIVERED_JANUARY)
            | {"status": "preparation"},
        ),
        [CONTRACEPTION_REMINDER, CONFLICT],
    ),
    "O24.419 since Oct 2025, Z37.0 provisional, negative hCG -> conflict": (
        order_sign(
            chart(
                GDM_OCTOBER,
                delivery_entry(ICD10CM, "Z37.0", "Single live birth", "2026-01-19")
                | {
                    "verificationStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                "code": "provisional",
                            }
                        ]
                    }
                },
                urine_hcg(TWO_DAYS_AGO, "negative"),
            )
        ),
        [CONTRACEPTION_REMINDER, CONFLICT],
    ),
    "O24.419 since Oct 2025, no delivery on file, negative hCG -> conflict (control)": (
        order_sign(chart(GDM_OCTOBER, urine_hcg(TWO_DAYS_AGO, "negative"))),
        [CONTRACEPTION_REMINDER, CONFLICT],
    ),
}


def test_the_conflict_card_says_the_entry_date_is_not_when_it_was_recorded(
    client: FlaskClient,
) -> None:
    """Red team N2: "recorded 2025-10-03" was the onset, not the recordedDate."""
    body = client.post(SIGN, json=DELIVERIES[next(reversed(DELIVERIES))][0]).get_json()
    [card] = [c for c in body["cards"] if "negative result" in c["summary"]]
    assert "(`Condition/pregnancy`, dated 2025-10-03)" in card["detail"]
    assert "recorded 2025-10-03" not in card["detail"]


LACTATING = (ICD10CM, "Z39.1", "Encounter for care and examination of lactating mother")
# red team 3 (H1): care of a lactating mother is no delivery; (H2, H3) a delivery or postpartum
# state ends a pregnancy only when it could have reached delivery (pregnancy.yaml
# min_weeks_at_delivery; an evidence with no weeks: any later one, red team 4)
PLAUSIBLE_ENDS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # red team 2026-12-03 e03: a problem-list clean-up is no end of this pregnancy
    "positive hCG Feb 26, a Z34.00 entry of March 2024 resolved Feb 28 (clean-up) -> critical": (
        order_sign(
            chart(
                urine_hcg("2026-02-26T09:00:00Z", "positive"),
                past_pregnancy(
                    onset="2024-03-01",
                    abated="2026-02-28",
                    code=(ICD10CM, "Z34.00", "Supervision of normal first pregnancy"),
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    # red team 7a r01: an entry from the last period closed at the postpartum visit is an end
    "positive hCG 2025-05-10, Z34.00 entry from 2025-04-20 (LMP) resolved 2026-02-20 at the "
    "postpartum visit (306 days) -> not verified": (
        order_sign(
            chart(
                urine_hcg("2025-05-10", "positive"),
                past_pregnancy(
                    onset="2025-04-20",
                    abated="2026-02-20",
                    code=(ICD10CM, "Z34.00", "Supervision of normal first pregnancy"),
                ),
            )
        ),
        UNVERIFIED,
    ),
    # red team 8c c01: a positive drawn more than 294 days (42 weeks) after an entry's onset is
    # no longer that entry's pregnancy: the entry's end is not its end
    "positive hCG 2026-02-20, a Z34.00 entry from 2025-03-10 resolved 2026-02-25 -> critical": (
        order_sign(
            chart(
                urine_hcg("2026-02-20T15:00:00Z", "positive"),
                past_pregnancy(
                    onset="2025-03-10",
                    recorded="2025-04-02",
                    abated="2026-02-25",
                    code=(ICD10CM, "Z34.00", "Supervision of normal first pregnancy"),
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    # red team 8c c02: an onset equal to the recordedDate (as Epic sends it) is still a bound
    "positive hCG 2026-02-20, a Z34.00 entry with onset = recordedDate 2024-03-01 resolved "
    "2026-02-25 (clean-up) -> critical": (
        order_sign(
            chart(
                urine_hcg("2026-02-20T15:00:00Z", "positive"),
                past_pregnancy(
                    onset="2024-03-01",
                    recorded="2024-03-01",
                    abated="2026-02-25",
                    code=(ICD10CM, "Z34.00", "Supervision of normal first pregnancy"),
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive hCG 2026-02-20, a Z34.00 entry from 2025-06-01 resolved 2026-02-25 -> not "
    "verified (control: its own pregnancy's end)": (
        order_sign(
            chart(
                urine_hcg("2026-02-20T15:00:00Z", "positive"),
                past_pregnancy(
                    onset="2025-06-01",
                    recorded="2025-07-10",
                    abated="2026-02-25",
                    code=(ICD10CM, "Z34.00", "Supervision of normal first pregnancy"),
                ),
            )
        ),
        UNVERIFIED,
    ),
    "negative Feb 24, positive Feb 26, a 77386006 entry of 2024 resolved Feb 28 -> critical": (
        order_sign(
            chart(
                urine_hcg("2026-02-24T09:00:00Z", "negative", oid="hcg-before"),
                urine_hcg("2026-02-26T09:00:00Z", "positive"),
                past_pregnancy(
                    onset="2024-03-01", abated="2026-02-28", code=(SNOMED, "77386006", "Pregnant")
                ),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive hCG Feb 10, pregnancy entry of Feb 5 abated Feb 28 (a miscarriage) -> not "
    "verified (control)": (
        order_sign(
            chart(
                urine_hcg("2026-02-10T09:00:00Z", "positive"),
                past_pregnancy(
                    onset="2026-02-05", abated="2026-02-28", code=(SNOMED, "77386006", "Pregnant")
                ),
            )
        ),
        UNVERIFIED,
    ),
    "positive hCG Feb 25, Z39.1 lactation visit Feb 28 -> critical": (
        order_sign(
            chart(
                urine_hcg("2026-02-25T08:00:00+00:00", "positive"),
                delivery_entry(*LACTATING, "2026-02-28"),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive hCG Dec 1, Z39.1 lactation visit Feb 28 -> critical (no delivery)": (
        order_sign(
            chart(
                urine_hcg("2025-12-01T08:00:00+00:00", "positive"),
                delivery_entry(*LACTATING, "2026-02-28"),
            )
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "O24.419 since Oct 2025, Z39.1 Condition Jan 19, negative hCG -> conflict": (
        order_sign(
            chart(
                GDM_OCTOBER,
                delivery_entry(*LACTATING, "2026-01-19"),
                urine_hcg(TWO_DAYS_AGO, "negative"),
            )
        ),
        [CONTRACEPTION_REMINDER, CONFLICT],
    ),
    "Z3A.08 since Feb 20, Z39.1 lactation visit Feb 28 -> critical": (
        order_sign(
            chart(
                pregnancy_problem("Z3A.08", "8 weeks gestation of pregnancy", "2026-02-20"),
                delivery_entry(*LACTATING, "2026-02-28"),
            )
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "Z3A.10 since Feb 1, a Z37.0 history entry with onset Feb 25 -> critical": (
        order_sign(
            chart(
                Z3A10_SINCE_FEBRUARY,
                delivery_entry(ICD10CM, "Z37.0", "Single live birth", "2026-02-25"),
            )
        ),
        [CONTRACEPTION_REMINDER, ON_PROBLEM_LIST],
    ),
    "Z3A.30 since Feb 1, a Z37.0 birth Feb 25 -> not verified (control: plausible)": (
        order_sign(
            chart(
                pregnancy_problem("Z3A.30", "30 weeks gestation of pregnancy", "2026-02-01"),
                delivery_entry(ICD10CM, "Z37.0", "Single live birth", "2026-02-25"),
            )
        ),
        UNVERIFIED,
    ),
    # red team 4: any later delivery ends a positive with no weeks beside it (known, accepted:
    # history re-charted with its import day then gives the status warning, never silence)
    "positive 10 days ago, CPT 59510 'C-section (2019)' on its import day -> not verified": (
        with_procedures(
            chart(POSITIVE_10_DAYS_AGO),
            coded_procedure(CPT, "59510", "C-section (2019)", "2026-02-27T15:00:00+00:00"),
        ),
        UNVERIFIED,
    ),
    "positive 40 days ago, CPT 59510 performed Feb 27 -> not verified (control: plausible)": (
        with_procedures(
            chart(urine_hcg("2026-01-21T08:00:00+00:00", "positive")),
            coded_procedure(CPT, "59510", "Routine OB care, cesarean", "2026-02-27T15:00:00+00:00"),
        ),
        UNVERIFIED,
    ),
    "gestational age 9 wk Feb 24, postpartum state 86569001 Feb 26 -> critical": (
        order_sign(
            chart(
                gestational_age("2026-02-24T10:00:00+00:00", 9),
                delivery_entry(SNOMED, "86569001", "Postpartum state", "2026-02-26"),
            )
        ),
        [CONTRACEPTION_REMINDER, GESTATIONAL_AGE],
    ),
    "gestational age 36 wk Feb 10, postpartum state Feb 26 -> not verified (control)": (
        order_sign(
            chart(
                gestational_age("2026-02-10T10:00:00+00:00", 36),
                delivery_entry(SNOMED, "86569001", "Postpartum state", "2026-02-26"),
            )
        ),
        UNVERIFIED,
    ),
    "gestational age 9 wk Feb 24, postpartum Feb 26, negative hCG 2 days ago -> conflict": (
        order_sign(
            chart(
                gestational_age("2026-02-24T10:00:00+00:00", 9),
                delivery_entry(SNOMED, "86569001", "Postpartum state", "2026-02-26"),
                urine_hcg(TWO_DAYS_AGO, "negative"),
            )
        ),
        [CONTRACEPTION_REMINDER, CHARTED_CONFLICT],
    ),
}


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        *OLD_POSITIVES.values(),
        *HYSTERECTOMIES.values(),
        *DELIVERIES.values(),
        *PLAUSIBLE_ENDS.values(),
    ],
    ids=[*OLD_POSITIVES, *HYSTERECTOMIES, *DELIVERIES, *PLAUSIBLE_ENDS],
)
def test_pregnancy_on_real_charts(
    client: FlaskClient, request_body: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=request_body).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)


def test_the_card_says_why_an_old_positive_no_longer_counts(client: FlaskClient) -> None:
    body = client.post(SIGN, json=OLD_POSITIVES[next(iter(OLD_POSITIVES))][0]).get_json()
    [card] = [c for c in body["cards"] if "not verified" in c["summary"]]
    assert "positive 2024-10-01" in card["detail"]
    assert "a pregnancy ended 2025-06-20 (Condition/pregnancy-2024)" in card["detail"]
    assert card["suggestions"], "the hCG order to accept"


EXPECTED_DELIVERY_DATES: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "negative 3 weeks ago, then a dating scan gives a due date in September -> critical": (
        chart(
            urine_hcg("2026-02-09T09:00:00+00:00", "negative"),
            edd("2026-02-24T11:00:00+00:00", "2026-09-28"),
        ),
        [CONTRACEPTION_REMINDER, EXPECTED_DELIVERY],
    ),
    # one negative test does not clear a charted pregnancy: the chart contradicts itself (red
    # team 2, D2; a qualitative urine hCG can read falsely negative later in pregnancy)
    "due date in September, a negative test 2 days ago after it -> conflict warning": (
        chart(
            edd("2026-02-24T11:00:00+00:00", "2026-09-28"),
            urine_hcg(TWO_DAYS_AGO, "negative"),
        ),
        [CONTRACEPTION_REMINDER, CHARTED_CONFLICT],
    ),
    "due date in August charted 10 days ago, negative urine hCG yesterday -> conflict warning": (
        chart(
            edd("2026-02-20T11:00:00+00:00", "2026-08-01"),
            urine_hcg("2026-03-01T09:00:00+00:00", "negative"),
        ),
        [CONTRACEPTION_REMINDER, CHARTED_CONFLICT],
    ),
    "due date last November (past), no test -> not verified": (
        chart(edd("2025-04-01T11:00:00+00:00", "2025-11-01")),
        UNVERIFIED,
    ),
    # --- a due date sent as text (red team D7)
    "due date sent as the text '2026-09-10' -> critical": (
        chart(edd_text("2026-09-10")),
        [CONTRACEPTION_REMINDER, EXPECTED_DELIVERY],
    ),
    "due date sent as the text '09/10/2026' (September or October: ahead either way) -> critical": (
        chart(edd_text("09/10/2026")),
        [CONTRACEPTION_REMINDER, EXPECTED_DELIVERY],
    ),
    "woman of 56, due date sent as the text '09/25/2026' -> critical": (
        chart(edd_text("09/25/2026"), born="1970-01-15"),
        [EXPECTED_DELIVERY],
    ),
    "due date sent as '02/03/2026' (3 February or 2 March: past or not) -> could not be read": (
        chart(edd_text("02/03/2026")),
        [CONTRACEPTION_REMINDER, DATE_UNREADABLE],
    ),
    "due date sent as 'late September' -> could not be read": (
        chart(edd_text("late September")),
        [CONTRACEPTION_REMINDER, DATE_UNREADABLE],
    ),
    "due date sent as '2025-11-01' (past), negative 2 days ago -> verified (control)": (
        chart(
            edd_text("2025-11-01", when="2025-04-01T11:00:00+00:00"),
            urine_hcg(TWO_DAYS_AGO, "negative"),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    # --- a gestational age charted (red team D4)
    "gestational age 10 weeks (49051-6) 2 days ago -> critical": (
        chart(gestational_age("2026-02-28T09:00:00+00:00", 10)),
        [CONTRACEPTION_REMINDER, GESTATIONAL_AGE],
    ),
    "gestational age 9 weeks from LMP (11885-1) last week -> critical": (
        chart(
            gestational_age(
                "2026-02-23T09:00:00+00:00", 9, "11885-1", "Gestational age Estimated from LMP"
            )
        ),
        [CONTRACEPTION_REMINDER, GESTATIONAL_AGE],
    ),
    "gestational age 14 weeks estimated (11884-4) on a woman of 28 -> critical": (
        chart(
            gestational_age("2026-02-26T09:00:00+00:00", 14, "11884-4", "Gestational age Estimated")
        ),
        [CONTRACEPTION_REMINDER, GESTATIONAL_AGE],
    ),
    "gender male, gestational age 12 weeks (18185-9) yesterday -> critical": (
        chart(
            gestational_age("2026-03-01T09:00:00+00:00", 12, "18185-9", "Gestational age"),
            gender="male",
        ),
        [GESTATIONAL_AGE],
    ),
    "gestational age 10 weeks yesterday, negative urine hCG 5 days ago (before) -> critical": (
        chart(
            urine_hcg("2026-02-25T09:00:00+00:00", "negative"),
            gestational_age("2026-03-01T09:00:00+00:00", 10),
        ),
        [CONTRACEPTION_REMINDER, GESTATIONAL_AGE],
    ),
    "gestational age 10 weeks last week, negative hCG 2 days ago (after) -> conflict warning": (
        chart(
            gestational_age("2026-02-23T09:00:00+00:00", 10), urine_hcg(TWO_DAYS_AGO, "negative")
        ),
        [CONTRACEPTION_REMINDER, CHARTED_CONFLICT],
    ),
    "gestational age 20 weeks 5 days ago, negative urine hCG yesterday -> conflict warning": (
        chart(
            gestational_age("2026-02-25T09:00:00+00:00", 20),
            urine_hcg("2026-03-01T09:00:00+00:00", "negative"),
        ),
        [CONTRACEPTION_REMINDER, CHARTED_CONFLICT],
    ),
    "gestational age 112 days 5 days ago, negative urine hCG 2 days ago -> conflict warning": (
        chart(
            gestational_age_in_days("2026-02-25T09:00:00+00:00", 112),
            urine_hcg(TWO_DAYS_AGO, "negative"),
        ),
        [CONTRACEPTION_REMINDER, CHARTED_CONFLICT],
    ),
    "gestational age 30 weeks in January 2025 (over), negative hCG 2 days ago -> verified "
    "(control)": (
        chart(
            gestational_age("2025-01-10T09:00:00+00:00", 30), urine_hcg(TWO_DAYS_AGO, "negative")
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "gestational age 30 weeks in January 2025 (over) -> not verified (control)": (
        chart(gestational_age("2025-01-10T09:00:00+00:00", 30)),
        UNVERIFIED,
    ),
    "gestational age 36 weeks 8 weeks ago (past term by now) -> not verified (control)": (
        chart(gestational_age("2026-01-05T09:00:00+00:00", 36)),
        UNVERIFIED,
    ),
    # a girl of 11 can be pregnant: only a gestational age charted in the patient's first year
    # of life is her own (red team 2, D7)
    "girl of 11, gestational age 14 weeks 5 days ago -> critical": (
        chart(gestational_age("2026-02-25T09:00:00+00:00", 14), born="2014-06-01"),
        [GESTATIONAL_AGE],
    ),
    "girl of 11, gestational age 34 weeks (11884-4) last week -> critical (read as a pregnancy)": (
        chart(
            gestational_age(
                "2026-02-23T09:00:00+00:00", 34, "11884-4", "Gestational age Estimated"
            ),
            born="2014-08-01",
        ),
        [GESTATIONAL_AGE],
    ),
    "baby of 3 weeks, her own gestational age (34 wk) charted last week -> silent (control)": (
        chart(
            gestational_age(
                "2026-02-23T09:00:00+00:00", 34, "11884-4", "Gestational age Estimated"
            ),
            born="2026-02-09",
        ),
        [],
    ),
    "woman of 28, gestational age at birth 39 weeks (76516-4, her own) -> not verified (control)": (
        chart(
            gestational_age("2026-02-23T09:00:00+00:00", 39, "76516-4", "Gestational age--at birth")
        ),
        UNVERIFIED,
    ),
}


@pytest.mark.parametrize(
    ("chart_bundle", "expected"),
    EXPECTED_DELIVERY_DATES.values(),
    ids=EXPECTED_DELIVERY_DATES.keys(),
)
def test_an_expected_delivery_date(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)


def test_the_procedures_key_is_optional_and_never_fetched_when_left_out() -> None:
    """An EHR that sends a prefetch without `procedures` has none to give: no FHIR fetch per
    call for it (as for `administrations`)."""
    templates = prefetch_templates(KNOWLEDGE)
    assert templates["procedures"].startswith("Procedure?patient={{context.patientId}}&code=")
    assert "icd-10-cm" not in templates["procedures"]  # diagnosis codes code no Procedure
    sent = {key: None for key in templates if key not in ("procedures", "encounter")}

    def no_server() -> None:
        raise AssertionError("nothing may be fetched")

    from cds.services import OPTIONAL_PREFETCH_KEYS

    sources = resolve_prefetch(
        templates, sent, {"patientId": PID}, no_server, 5.0, optional=OPTIONAL_PREFETCH_KEYS
    )
    assert sources["procedures"].origin == "null" and sources["procedures"].available


def test_a_pregnancy_named_in_words_is_in_the_chart_views_problem_list() -> None:
    typed = ConditionFact(
        resource="Condition/typed",
        codes=frozenset(),
        clinical_status="active",
        verification_status="confirmed",
        text="pregnancy, 12 weeks",
    )
    patient = PatientSnapshot(patient_id=PID, birth_date=None, gender="female", conditions=(typed,))
    view = _pregnancy(patient, KNOWLEDGE, None)
    assert [p["resource"] for p in view["problems"]] == ["Condition/typed"]
    assert view["problems"][0]["counts"] is True
