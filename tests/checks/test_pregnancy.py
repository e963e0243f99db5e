"""Pregnancy status (label §5 embryo-fetal toxicity, §8): females of reproductive potential need a
recent negative result before cycle 1; a positive result is critical in any cycle."""

from __future__ import annotations

import copy
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from cds.cards import CardRenderer
from cds.knowledge import KNOWLEDGE_DIR, load_knowledge
from cds.services import Engine
from cds.settings import Settings
from tests.conftest import NOW, SIGN
from tests.fixtures_util import (
    ICD10CM,
    LOINC,
    SNOMED,
    Expected,
    Step,
    blinatumomab_order,
    bundle,
    condition,
    course_2024,
    dexamethasone_order,
    findings_of_topic,
    height,
    observation,
    order_sign,
    patient,
    weight,
)

PID = "pt-pregnancy"
EARLIER_CYCLE = blinatumomab_order(
    PID,
    [Step(9, days=7), Step(28, days=21)],
    oid="blin-c1",
    cycle=1,
    start="2026-01-05T10:00:00+00:00",
    status="completed",
    authored="2026-01-05T08:00:00+00:00",
)


def cycle_1_began(days_ago: int) -> dict[str, Any]:
    """The earlier bag of this cycle 1, begun `days_ago` days before this order's start."""
    began = datetime(2026, 3, 2, 10, tzinfo=UTC) - timedelta(days=days_ago)
    return blinatumomab_order(
        PID,
        [Step(9, days=days_ago)],
        oid="blin-c1-first-bag",
        cycle=1,
        start=began.isoformat(),
        status="completed",
        authored=began.isoformat(),
    )


CYCLE_1_WEEK_1 = cycle_1_began(days_ago=7)


def lab(
    oid: str, loinc: str, display: str, when: str, *, status: str = "final", **value: Any
) -> dict[str, Any]:
    return observation(PID, oid, loinc, display, when, "laboratory") | {"status": status, **value}


def urine_hcg(when: str, result: str, oid: str = "hcg-urine") -> dict[str, Any]:
    code = {"positive": ("10828004", "Positive"), "negative": ("260385009", "Negative")}[result]
    return lab(
        oid,
        "2106-3",
        "Choriogonadotropin (pregnancy test) [Presence] in Urine",
        when,
        valueCodeableConcept={"coding": [{"system": SNOMED, "code": code[0], "display": code[1]}]},
    )


def status(when: str, answer: tuple[str, str, str], oid: str = "preg-status") -> dict[str, Any]:
    system, code, display = answer
    return lab(
        oid,
        "82810-3",
        "Pregnancy status",
        when,
        valueCodeableConcept={"coding": [{"system": system, "code": code, "display": display}]},
    )


def serum_hcg(
    when: str, value: float, high: float | None = 5, oid: str = "hcg-serum"
) -> dict[str, Any]:
    result = lab(
        oid,
        "21198-7",
        "Choriogonadotropin.beta subunit [Units/volume] in Serum or Plasma",
        when,
        valueQuantity={
            "value": value,
            "unit": "mIU/mL",
            "system": "http://unitsofmeasure.org",
            "code": "m[IU]/mL",
        },
    )
    if high is not None:
        result["referenceRange"] = [
            {
                "high": {
                    "value": high,
                    "unit": "mIU/mL",
                    "system": "http://unitsofmeasure.org",
                    "code": "m[IU]/mL",
                }
            }
        ]
    return result


PREGNANT = (LOINC, "LA15173-0", "Pregnant")
NOT_PREGNANT_SNOMED = (SNOMED, "60001007", "Not pregnant")
UNKNOWN = (LOINC, "LA4489-6", "Unknown")
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V2_YES_NO = "http://terminology.hl7.org/CodeSystem/v2-0136"
YESTERDAY = "2026-03-01T09:00:00+00:00"
TWO_DAYS_AGO = "2026-02-28T09:00:00+00:00"
A_WEEK_AGO = "2026-02-23T09:00:00+00:00"


def urine_hcg_as(when: str, oid: str = "hcg-new", **value: Any) -> dict[str, Any]:
    """A urine hCG result the way one lab or another sends it (`value`: the FHIR value[x] and
    any interpretation)."""
    return lab(oid, "2106-3", "hCG [Presence] in Urine", when, **value)


def coded(system: str, code: str, display: str) -> dict[str, Any]:
    return {
        "valueCodeableConcept": {"coding": [{"system": system, "code": code, "display": display}]}
    }


def flagged(*codes: str) -> dict[str, Any]:
    return {"interpretation": [{"coding": [{"system": INTERPRETATION, "code": c} for c in codes]}]}


def in_iu_per_ml(result: dict[str, Any]) -> dict[str, Any]:
    """The result in IU/mL, as some lab interfaces send it; its reference range stays in mIU/mL."""
    result["valueQuantity"] |= {"unit": "IU/mL", "code": "[IU]/mL"}
    return result


def serum_hcg_text(text: str, high: float | None = None) -> dict[str, Any]:
    """A quantitative serum hCG (19080-1) whose result the lab interface sent as text."""
    result = lab("hcg-text", "19080-1", "hCG [Units/volume] in Serum or Plasma", YESTERDAY)
    result["valueString"] = text
    if high is not None:
        result["referenceRange"] = [{"high": {"value": high}}]
    return result


def reported(when: str, **value: Any) -> dict[str, Any]:
    """A pregnancy status as LOINC 11449-6 "Pregnancy status - Reported" (C-CDA converters,
    some immunization profiles: with valueBoolean)."""
    return lab("preg-reported", "11449-6", "Pregnancy status - Reported", when, **value)


def status_text(when: str, **value: Any) -> dict[str, Any]:
    """A pregnancy status (82810-3) charted as words only, no answer code."""
    return lab("preg-status", "82810-3", "Pregnancy status", when, **value)


def quantitative_hcg(when: str, value: float, unit: str, **extra: Any) -> dict[str, Any]:
    """A serum hCG with a free-text unit and no numeric reference range."""
    quantity = {"value": value, "unit": unit}
    return lab(
        "hcg-quant",
        "19080-1",
        "hCG [Units/volume] in Serum or Plasma",
        when,
        valueQuantity=quantity,
        **extra,
    )


BIRTH_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"


def pregnancy_problem(
    code: str,
    display: str,
    onset: str = "2026-01-20",
    *,
    system: str = ICD10CM,
    verification: str = "confirmed",
) -> dict[str, Any]:
    """A pregnancy on the problem list (ICD-10-CM Z33.1, Z3A.-, or SNOMED CT 77386006)."""
    problem = condition(PID, code, display, cid="pregnancy", system=system, onset=onset)
    problem["verificationStatus"]["coding"][0]["code"] = verification
    return problem


HYSTERECTOMY = condition(
    PID, "116140006", "Total hysterectomy", cid="hysterectomy", system=SNOMED, onset="2021-06-14"
)


def chart(
    *extra: dict[str, Any],
    gender: str | None = "female",
    born: str | None = "1998-05-03",
    birth_sex: str | None = None,
    sex: tuple[dict[str, Any], ...] = (),
    cycle: int = 1,
    history: list[dict[str, Any]] | None = None,
    as_two_orders: bool = False,
) -> dict[str, Any]:
    person = patient(
        PID,
        gender=gender or "unknown",
        birth_date=born or "2000-01-01",
        family="Lindqvist",
        given="Maja",
        mrn="MRN-220871",
    )
    if birth_sex is not None:  # US Core birth sex, as US EHRs send it beside the gender
        person["extension"] = [{"url": BIRTH_SEX, "valueCode": birth_sex}]
    if sex:  # other records of the sex at birth or for clinical use (Patient extensions)
        person["extension"] = [*person.get("extension", []), *sex]
    if gender is None:
        del person["gender"]
    if born is None:
        del person["birthDate"]
    steps = [Step(9, days=7), Step(28, days=21)] if cycle == 1 else [Step(28, days=28)]
    orders = [blinatumomab_order(PID, steps, cycle=cycle)]
    if as_two_orders:  # the step-up as two orders signed together: days 1-7, days 8-28
        day_8 = "2026-03-09T10:00:00+00:00"
        orders = [blinatumomab_order(PID, steps[:1], cycle=cycle)]
        orders.append(blinatumomab_order(PID, steps[1:], oid="blin-day-8", start=day_8))
    return bundle(
        [
            person,
            weight(PID, 64),
            height(PID, 168),
            *orders,
            dexamethasone_order(PID),
            *(history or []),
            *extra,
        ]
    )


US_CORE_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex"
FEMALE_SCT = {"system": SNOMED, "code": "248152002", "display": "Female"}
MALE_SCT = {"system": SNOMED, "code": "248153007", "display": "Male"}
ADMIN_GENDER = "http://hl7.org/fhir/administrative-gender"
EPIC = "http://open.epic.com/FHIR/StructureDefinition/extension/"
EPIC_SEX = "urn:oid:1.2.840.114350.1.13.0.1.7.10.698084.130.657370.19999000"


def clinical_use(code: str, ended: str | None = None, comment: str | None = None) -> dict[str, Any]:
    """FHIR core patient-sexParameterForClinicalUse (female-typical, male-typical), with the
    period it applied for when it has ended, and its comment."""
    system = "http://terminology.hl7.org/CodeSystem/sex-parameter-for-clinical-use"
    value = {"coding": [{"system": system, "code": code}]}
    parts: list[dict[str, Any]] = [{"url": "value", "valueCodeableConcept": value}]
    if ended is not None:
        parts.append({"url": "period", "valuePeriod": {"start": "2024-01-01", "end": ended}})
    if comment is not None:
        parts.append({"url": "comment", "valueString": comment})
    return {
        "url": "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse",
        "extension": parts,
    }


UTERUS_PRESENT = "creatinine ranges while on testosterone; organ inventory: uterus, ovaries present"


def recorded_at_birth(coding: dict[str, Any]) -> dict[str, Any]:
    """FHIR core individual-recordedSexOrGender, type sex assigned at birth (LOINC 76689-9)."""
    kind = {"coding": [{"system": LOINC, "code": "76689-9", "display": "Sex assigned at birth"}]}
    return {
        "url": "http://hl7.org/fhir/StructureDefinition/individual-recordedSexOrGender",
        "extension": [
            {"url": "value", "valueCodeableConcept": {"coding": [coding]}},
            {"url": "type", "valueCodeableConcept": kind},
        ],
    }


def epic(name: str, code: str) -> dict[str, Any]:
    """Epic's legal-sex / sex-for-clinical-use extensions."""
    value = {"coding": [{"system": EPIC_SEX, "code": code, "display": code}]}
    return {"url": EPIC + name, "valueCodeableConcept": value}


def sex_at_birth(coding: dict[str, Any]) -> dict[str, Any]:
    """An Observation 76689-9 "Sex assigned at birth" (social history)."""
    return lab(
        "sex-at-birth",
        "76689-9",
        "Sex assigned at birth",
        "2024-01-01T00:00:00+00:00",
        valueCodeableConcept={"coding": [coding]},
    )


# The infusion starts 2026-03-02T10:00Z; the 28-year-old woman is in cycle 1 unless said otherwise.
# The cards of the golden matrix: (topic, indicator, finding code).
APPLICABILITY_UNKNOWN = ("pregnancy-status", "warning", "pregnancy-applicability-unknown")
BREASTFEEDING = ("pregnancy-status", "warning", "pregnancy-breastfeeding")
CONTRACEPTION_REMINDER = ("pregnancy-status", "info", "pregnancy-contraception-reminder")
POSITIVE = ("pregnancy-status", "critical", "pregnancy-positive")
STATUS_UNKNOWN = ("pregnancy-status", "warning", "pregnancy-status-unknown")
UNREADABLE = ("pregnancy-status", "warning", "pregnancy-result-unreadable")
TEST_REMINDER = ("pregnancy-status", "info", "pregnancy-test-reminder")
NOT_RUN = ("pregnancy-status", "warning", "check-not-run")
ON_PROBLEM_LIST = ("pregnancy-status", "critical", "pregnancy-on-problem-list")
PRELIMINARY_POSITIVE = ("pregnancy-status", "warning", "pregnancy-preliminary-positive")
PROBLEM_LIST_CONFLICT = ("pregnancy-status", "warning", "pregnancy-problem-list-conflict")
GESTATIONAL_AGE = ("pregnancy-status", "critical", "pregnancy-gestational-age")
UCUM = "http://unitsofmeasure.org"
THIS_MORNING = "2026-03-02T06:30:00+00:00"
A_YEAR_AHEAD = "2027-03-01T09:00:00+00:00"  # a mistyped year
CURRENTLY_BREASTFEEDING = lab(
    "bf",
    "63895-7",
    "Breastfeeding status",
    "2026-02-27T09:00:00+00:00",
    valueCodeableConcept={
        "coding": [{"system": LOINC, "code": "LA29252-6", "display": "Currently breastfeeding"}]
    },
)


def preliminary(result: dict[str, Any]) -> dict[str, Any]:
    """The result as the lab first sends it, before it is verified (status preliminary)."""
    return result | {"status": "preliminary"}


SCENARIOS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    "negative urine hCG 2 days ago -> contraception reminder only": (
        chart(urine_hcg("2026-02-28T09:00:00+00:00", "negative")),
        [CONTRACEPTION_REMINDER],
    ),
    "negative urine hCG 10 days ago -> warning": (
        chart(urine_hcg("2026-02-20T09:00:00+00:00", "negative")),
        [CONTRACEPTION_REMINDER, STATUS_UNKNOWN],
    ),
    "no test at all -> warning": (chart(), [CONTRACEPTION_REMINDER, STATUS_UNKNOWN]),
    "no test, cycle 1 of a new course (an earlier course's cycle 1 began 2024-01-08) -> "
    "warning, as for any cycle 1": (
        chart(history=[course_2024(PID)]),
        [CONTRACEPTION_REMINDER, STATUS_UNKNOWN],
    ),
    "no test, the step-up as two orders (days 1-7, 8-28) signed together -> each card once": (
        chart(as_two_orders=True),
        [CONTRACEPTION_REMINDER, STATUS_UNKNOWN],
    ),
    "reported pregnancy status (11449-6) 'Pregnant' 3 weeks ago, an hCG negative 5 weeks ago "
    "-> critical": (
        chart(
            reported(
                "2026-02-09T09:00:00+00:00",
                valueCodeableConcept={"coding": [{"system": LOINC, "code": "LA15173-0"}]},
            ),
            urine_hcg("2026-01-26T09:00:00+00:00", "negative"),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "serum hCG 0.04 IU/mL (40 mIU/mL) against a range up to 5 mIU/mL -> critical (the range "
    "read in the result's unit)": (
        chart(in_iu_per_ml(serum_hcg(YESTERDAY, 0.04))),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "serum hCG 0.003 IU/mL (3 mIU/mL) against a range up to 5 mIU/mL -> contraception reminder "
    "only": (
        chart(in_iu_per_ml(serum_hcg(YESTERDAY, 0.003))),
        [CONTRACEPTION_REMINDER],
    ),
    "serum hCG sent as the text '<5 mIU/mL' yesterday -> contraception reminder only": (
        chart(serum_hcg_text("<5 mIU/mL")),
        [CONTRACEPTION_REMINDER],
    ),
    "serum hCG sent as '< 2' with a reference range up to 5 -> contraception reminder only": (
        chart(serum_hcg_text("< 2", high=5)),
        [CONTRACEPTION_REMINDER],
    ),
    "serum hCG sent as the text '250 mIU/mL' -> critical": (
        chart(serum_hcg_text("250 mIU/mL")),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "serum hCG sent as '<25 mIU/mL' (above the 5 limit: says nothing) -> unreadable warning": (
        chart(serum_hcg_text("<25 mIU/mL")),
        [CONTRACEPTION_REMINDER, UNREADABLE],
    ),
    "serum hCG sent as '< 2' with no unit and no range -> unreadable warning": (
        chart(serum_hcg_text("< 2")),
        [CONTRACEPTION_REMINDER, UNREADABLE],
    ),
    "reported pregnancy status (11449-6) valueBoolean true 2 weeks ago -> critical": (
        chart(reported("2026-02-16T09:00:00+00:00", valueBoolean=True)),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "reported pregnancy status (11449-6) valueBoolean false yesterday -> contraception reminder": (
        chart(reported(YESTERDAY, valueBoolean=False)),
        [CONTRACEPTION_REMINDER],
    ),
    "urine hCG sent as valueBoolean true yesterday -> critical": (
        chart(urine_hcg_as(YESTERDAY, valueBoolean=True)),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "pregnancy status pregnant 3 weeks ago, nothing later -> critical": (
        chart(status("2026-02-09T09:00:00+00:00", PREGNANT)),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "positive then a later negative -> no critical": (
        chart(
            urine_hcg("2026-02-09T09:00:00+00:00", "positive", oid="old"),
            urine_hcg("2026-03-01T09:00:00+00:00", "negative"),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "quantitative hCG 1200 above range -> critical": (
        chart(serum_hcg("2026-02-28T09:00:00+00:00", 1200)),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "quantitative hCG 2 within range -> negative": (
        chart(serum_hcg("2026-02-28T09:00:00+00:00", 2)),
        [CONTRACEPTION_REMINDER],
    ),
    "quantitative hCG 8 without a range: above the default 5 -> critical": (
        chart(serum_hcg("2026-02-28T09:00:00+00:00", 8, high=None)),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "SNOMED not pregnant yesterday -> ok": (
        chart(status("2026-03-01T09:00:00+00:00", NOT_PREGNANT_SNOMED)),
        [CONTRACEPTION_REMINDER],
    ),
    "preliminary negative result does not count -> warning": (
        chart(
            lab(
                "hcg-p",
                "2106-3",
                "hCG urine",
                "2026-03-01T09:00:00+00:00",
                status="preliminary",
                valueCodeableConcept={"coding": [{"system": SNOMED, "code": "260385009"}]},
            )
        ),
        [CONTRACEPTION_REMINDER, STATUS_UNKNOWN],
    ),
    "cycle 3 -> test reminder (contraception was reminded with cycle 1)": (
        chart(cycle=3, history=[EARLIER_CYCLE]),
        [TEST_REMINDER],
    ),
    "cycle 3 with an old positive never followed by a negative -> critical": (
        chart(urine_hcg("2025-12-20T09:00:00+00:00", "positive"), cycle=3, history=[EARLIER_CYCLE]),
        [POSITIVE],
    ),
    "cycle 1 day-8 step-up bag, negative hCG 2 days before cycle 1 began -> silent": (
        chart(urine_hcg("2026-02-21T09:00:00+00:00", "negative"), history=[CYCLE_1_WEEK_1]),
        [],
    ),
    "cycle 1 day-8 step-up bag, no test on file -> silent (due at the cycle start)": (
        chart(history=[CYCLE_1_WEEK_1]),
        [],
    ),
    "cycle 1 begun 01:00 today, this bag at 10:00; hCG 7 days before the first bag -> counts": (
        chart(
            urine_hcg("2026-02-23T05:00:00+00:00", "negative"),
            history=[
                blinatumomab_order(
                    PID,
                    [Step(9, days=1)],
                    oid="blin-c1-first-bag",
                    cycle=1,
                    start="2026-03-02T01:00:00+00:00",
                    status="stopped",
                    authored="2026-03-01T22:00:00+00:00",
                )
            ],
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "cycle 1 day-3 bag change -> silent": (chart(history=[cycle_1_began(days_ago=2)]), []),
    "cycle 1 day-8 bag with a positive result since -> critical all the same": (
        chart(urine_hcg("2026-02-27T09:00:00+00:00", "positive"), history=[CYCLE_1_WEEK_1]),
        [POSITIVE],
    ),
    "62-year-old woman -> silent": (chart(born="1964-01-10"), []),
    "11-year-old girl -> silent": (chart(born="2014-08-01"), []),
    "man -> silent": (chart(gender="male"), []),
    "postmenopausal woman of 50 -> silent": (
        chart(
            condition(PID, "76498008", "Postmenopausal state", cid="menopause", system=SNOMED),
            born="1976-02-01",
        ),
        [],
    ),
    "sex not recorded -> warning": (chart(gender=None), [APPLICABILITY_UNKNOWN]),
    "birth date missing -> warning": (chart(born=None), [APPLICABILITY_UNKNOWN]),
    "woman born in 1995 (year only, 30 or 31), no test -> the check runs: warning": (
        chart(born="1995"),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "woman born 1998-05 (month only), negative hCG 2 days ago -> contraception reminder": (
        chart(urine_hcg("2026-02-28T09:00:00+00:00", "negative"), born="1998-05"),
        [CONTRACEPTION_REMINDER],
    ),
    "woman born in 1970 (year only: 55 or 56, the range's edge) -> warning, age unknown": (
        chart(born="1970"),
        [APPLICABILITY_UNKNOWN],
    ),
    "woman born in 1960 (year only: 65 or 66) -> silent": (chart(born="1960"), []),
    # --- results as labs send them: Detected / Not detected, flags only, words only
    "hCG 'Detected' (SNOMED) yesterday after a negative 2 days ago -> critical": (
        chart(
            urine_hcg(TWO_DAYS_AGO, "negative"),
            urine_hcg_as(YESTERDAY, **coded(SNOMED, "260373001", "Detected")),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "hCG 'Detected' (LOINC answer) yesterday after a negative 2 days ago -> critical": (
        chart(
            urine_hcg(TWO_DAYS_AGO, "negative"),
            urine_hcg_as(YESTERDAY, **coded(LOINC, "LA11882-0", "Detected")),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "hCG with no value, only flagged DET (detected), after a negative -> critical": (
        chart(urine_hcg(TWO_DAYS_AGO, "negative"), urine_hcg_as(YESTERDAY, **flagged("DET"))),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "hCG 'Not detected' (SNOMED) 2 days ago -> contraception reminder only": (
        chart(urine_hcg_as(TWO_DAYS_AGO, **coded(SNOMED, "260415000", "Not detected"))),
        [CONTRACEPTION_REMINDER],
    ),
    "hCG 'Not detected' (LOINC answer) 2 days ago -> contraception reminder only": (
        chart(urine_hcg_as(TWO_DAYS_AGO, **coded(LOINC, "LA11883-8", "Not detected"))),
        [CONTRACEPTION_REMINDER],
    ),
    "hCG with no value, only flagged ND (not detected), 2 days ago -> contraception reminder": (
        chart(urine_hcg_as(TWO_DAYS_AGO, **flagged("ND"))),
        [CONTRACEPTION_REMINDER],
    ),
    "pregnancy status given as the text 'Pregnant' yesterday, negative hCG before -> critical": (
        chart(
            urine_hcg(TWO_DAYS_AGO, "negative"),
            status_text(YESTERDAY, valueCodeableConcept={"text": "Pregnant"}),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "pregnancy status as the string 'Pregnant' yesterday, negative hCG before -> critical": (
        chart(urine_hcg(TWO_DAYS_AGO, "negative"), status_text(YESTERDAY, valueString="Pregnant")),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "pregnancy status as the string 'Not pregnant' yesterday -> contraception reminder only": (
        chart(status_text(YESTERDAY, valueString="Not pregnant")),
        [CONTRACEPTION_REMINDER],
    ),
    "pregnancy status as the text 'Pregnant: No' yesterday -> warning, never critical": (
        chart(status_text(YESTERDAY, valueString="Pregnant: No")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "hCG as the string 'weakly positive' yesterday -> critical": (
        chart(urine_hcg_as(YESTERDAY, valueString="weakly positive")),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "hCG valued with the v3 code POS itself (not as an interpretation) -> critical": (
        chart(urine_hcg_as(YESTERDAY, **coded(V3, "POS", "Positive"))),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "hCG valued with the v3 code NEG itself 2 days ago -> contraception reminder only": (
        chart(urine_hcg_as(TWO_DAYS_AGO, **coded(V3, "NEG", "Negative"))),
        [CONTRACEPTION_REMINDER],
    ),
    "cycle 1 day-8 bag, hCG '+' from before the cycle began -> silent (said at its start)": (
        chart(
            urine_hcg_as(A_WEEK_AGO.replace("02-23", "02-20"), valueString="+"),
            history=[CYCLE_1_WEEK_1],
        ),
        [],
    ),
    "hCG as the string 'Non-reactive' 2 days ago -> contraception reminder only": (
        chart(urine_hcg_as(TWO_DAYS_AGO, valueString="Non-reactive")),
        [CONTRACEPTION_REMINDER],
    ),
    "hCG as the text 'Possible early pregnancy, repeat' -> warning (not read as 'pos')": (
        chart(urine_hcg_as(YESTERDAY, valueString="Possible early pregnancy, repeat")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    # --- a result that cannot be read: never cleared by an older negative
    "hCG '+' yesterday after a negative 2 days ago -> warning, the negative does not count": (
        chart(urine_hcg(TWO_DAYS_AGO, "negative"), urine_hcg_as(YESTERDAY, valueString="+")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "hCG 'Inconclusive' yesterday after a negative 2 days ago -> warning": (
        chart(
            urine_hcg(TWO_DAYS_AGO, "negative"),
            urine_hcg_as(YESTERDAY, **coded(SNOMED, "419984006", "Inconclusive")),
        ),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    "hCG '+' yesterday, 'Detected' a week ago -> critical (a positive, not the warning)": (
        chart(
            urine_hcg_as(A_WEEK_AGO, oid="hcg-old", **coded(SNOMED, "260373001", "Detected")),
            urine_hcg_as(YESTERDAY, valueString="+"),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "hCG 'Not detected' yesterday after a '+' a week ago -> the newer negative counts": (
        chart(
            urine_hcg_as(A_WEEK_AGO, oid="hcg-old", valueString="+"),
            urine_hcg_as(YESTERDAY, **coded(LOINC, "LA11883-8", "Not detected")),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "status 'Unknown' (LA4489-6) yesterday, hCG 'Not detected' 2 days ago -> the negative counts": (
        chart(
            urine_hcg_as(TWO_DAYS_AGO, **coded(SNOMED, "260415000", "Not detected")),
            status(YESTERDAY, UNKNOWN),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "cycle 3, hCG '+' last week -> warning (instead of the reminder)": (
        chart(urine_hcg_as(A_WEEK_AGO, valueString="+"), cycle=3, history=[EARLIER_CYCLE]),
        [UNREADABLE],
    ),
    "cycle 1 day-8 step-up bag, hCG '+' since the cycle began -> warning all the same": (
        chart(
            urine_hcg(TWO_DAYS_AGO.replace("02-28", "02-21"), "negative"),
            urine_hcg_as(YESTERDAY, valueString="+"),
            history=[CYCLE_1_WEEK_1],
        ),
        [UNREADABLE],
    ),
    # --- quantitative hCG with a free-text unit and no numeric reference range
    "quantitative hCG 1540 'mIU/mL', no range, flagged H, negative before -> critical": (
        chart(
            urine_hcg(TWO_DAYS_AGO, "negative"),
            quantitative_hcg(YESTERDAY, 1540, "mIU/mL", **flagged("H")),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "quantitative hCG 1540 'IU/L', no range, negative before -> critical (above 5 mIU/mL)": (
        chart(urine_hcg(TWO_DAYS_AGO, "negative"), quantitative_hcg(YESTERDAY, 1540, "IU/L")),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "quantitative hCG 1540 'ng/mL' (no limit in that unit), no range, no flag -> warning": (
        chart(urine_hcg(TWO_DAYS_AGO, "negative"), quantitative_hcg(YESTERDAY, 1540, "ng/mL")),
        [UNREADABLE, CONTRACEPTION_REMINDER],
    ),
    # --- positive evidence counts whoever the patient: applicability only decides what a
    # missing status gets (red team D01)
    "woman of 31 after a total hysterectomy (coded), positive serum hCG yesterday -> critical": (
        chart(HYSTERECTOMY, serum_hcg(YESTERDAY, 1540), born="1994-06-10"),
        [POSITIVE],
    ),
    "woman of 56 (outside 12-55), positive urine hCG yesterday -> critical": (
        chart(urine_hcg(YESTERDAY, "positive"), born="1970-01-15"),
        [POSITIVE],
    ),
    "girl of 11, Z33.1 pregnant state on the problem list since 2026-02-10 -> critical": (
        chart(
            pregnancy_problem("Z33.1", "Pregnant state, incidental", "2026-02-10"),
            born="2014-08-01",
        ),
        [ON_PROBLEM_LIST],
    ),
    "man (gender male, no birth sex charted), pregnancy status 'Pregnant' yesterday -> critical": (
        chart(status(YESTERDAY, PREGNANT), gender="male"),
        [POSITIVE],
    ),
    "sex not recorded, positive urine hCG yesterday -> critical (not the applicability warning)": (
        chart(urine_hcg(YESTERDAY, "positive"), gender=None),
        [POSITIVE],
    ),
    "woman of 38 after a total hysterectomy, currently breastfeeding -> breastfeeding warning": (
        chart(HYSTERECTOMY, CURRENTLY_BREASTFEEDING, born="1987-09-30"),
        [BREASTFEEDING],
    ),
    # US Core birth sex: F is in scope whatever Patient.gender says (a trans man can be pregnant)
    "gender male, birth sex F, 28, positive serum hCG yesterday -> critical": (
        chart(serum_hcg(YESTERDAY, 1540), gender="male", birth_sex="F"),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "gender male, birth sex F, 28, Z3A.12 (12 weeks) on the problem list -> critical": (
        chart(
            pregnancy_problem("Z3A.12", "12 weeks gestation of pregnancy"),
            gender="male",
            birth_sex="F",
        ),
        [ON_PROBLEM_LIST, CONTRACEPTION_REMINDER],
    ),
    "gender male, birth sex F, 28, no test -> warning (status not verified)": (
        chart(gender="male", birth_sex="F"),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender other, birth sex M, no evidence -> silent (no applicability warning)": (
        chart(gender="other", birth_sex="M"),
        [],
    ),
    "gender male, birth sex M, no evidence -> silent (negative control)": (
        chart(gender="male", birth_sex="M"),
        [],
    ),
    # --- the sex at birth or for clinical use recorded another way (red team D1, D11)
    "gender male, US Core 7 sex Female (valueCode 248152002), no test -> warning": (
        chart(gender="male", sex=({"url": US_CORE_SEX, "valueCode": "248152002"},)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender male, US Core 7 sex Female (valueCoding), no test -> warning": (
        chart(gender="male", sex=({"url": US_CORE_SEX, "valueCoding": FEMALE_SCT},)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender male, sex for clinical use female-typical, no test -> warning": (
        chart(gender="male", sex=(clinical_use("female-typical"),)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender male, recorded sex assigned at birth Female, no test -> warning": (
        chart(gender="male", sex=(recorded_at_birth(FEMALE_SCT),)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender male, Observation 76689-9 sex assigned at birth Female, no test -> warning": (
        chart(sex_at_birth(FEMALE_SCT), gender="male"),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender male, Epic legal sex male and sex for clinical use female, no test -> warning": (
        chart(
            gender="male", sex=(epic("legal-sex", "male"), epic("sex-for-clinical-use", "female"))
        ),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    # a sex assigned at birth decides when recorded: a US Core 7 sex is not one (red team N4)
    "gender male, birth sex M but US Core 7 sex Female -> silent (birth sex decides)": (
        chart(gender="male", birth_sex="M", sex=({"url": US_CORE_SEX, "valueCoding": FEMALE_SCT},)),
        [],
    ),
    "gender male, Epic legal sex male only, no test -> silent (control)": (
        chart(gender="male", sex=(epic("legal-sex", "male"),)),
        [],
    ),
    # a sex for clinical use (lab ranges) or a US Core 7 sex never takes a patient out of scope;
    # only a male sex assigned at birth does (red team 2, D6)
    "gender female, Epic sex for clinical use male (a trans man on testosterone), no test -> "
    "warning": (
        chart(sex=(epic("sex-for-clinical-use", "male"),)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender female, sex for clinical use male-typical until 2025, uterus present, no test -> "
    "warning": (
        chart(sex=(clinical_use("male-typical", ended="2025-01-01", comment=UTERUS_PRESENT),)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender female, sex for clinical use male-typical (current), no test -> warning": (
        chart(sex=(clinical_use("male-typical"),)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender female, US Core 7 sex Male (not sex at birth), no test -> warning": (
        chart(sex=({"url": US_CORE_SEX, "valueCoding": MALE_SCT},)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender female, recorded sex assigned at birth Male, no test -> silent (control)": (
        chart(sex=(recorded_at_birth(MALE_SCT),)),
        [],
    ),
    "gender female, birth sex M (a trans woman), no test -> silent": (
        chart(birth_sex="M"),
        [],
    ),
    "gender female, birth sex M, sex for clinical use male-typical, no test -> silent": (
        chart(birth_sex="M", sex=(clinical_use("male-typical"),)),
        [],
    ),
    "gender female, Observation 76689-9 Male, no test -> silent": (
        chart(sex_at_birth(MALE_SCT)),
        [],
    ),
    "gender female, birth sex M, positive hCG yesterday -> critical all the same (control)": (
        chart(urine_hcg(YESTERDAY, "positive"), birth_sex="M"),
        [POSITIVE],
    ),
    # --- a trans woman with a female sex for clinical use (red team N4): the sex assigned at birth
    # decides when one is recorded; positive evidence alarms whatever the sex records say
    "gender female, birth sex M, sex for clinical use female-typical, no test -> silent": (
        chart(birth_sex="M", sex=(clinical_use("female-typical"),)),
        [],
    ),
    "gender female, recorded sex at birth Male, clinical use female-typical, no test -> silent": (
        chart(sex=(recorded_at_birth(MALE_SCT), clinical_use("female-typical"))),
        [],
    ),
    "gender female, Observation 76689-9 Male, clinical use female-typical, no test -> silent": (
        chart(sex_at_birth(MALE_SCT), sex=(clinical_use("female-typical"),)),
        [],
    ),
    "gender female, birth sex M, Epic sex for clinical use female, no test -> silent": (
        chart(birth_sex="M", sex=(epic("sex-for-clinical-use", "female"),)),
        [],
    ),
    "birth sex M, clinical use female-typical, positive hCG yesterday -> critical only": (
        chart(
            urine_hcg(YESTERDAY, "positive"), birth_sex="M", sex=(clinical_use("female-typical"),)
        ),
        [POSITIVE],
    ),
    "birth sex M, clinical use female-typical, gestational age 12 wk a week ago -> critical": (
        chart(
            lab(
                "gest-age",
                "49051-6",
                "Gestational age in weeks",
                A_WEEK_AGO,
                valueQuantity={"value": 12, "unit": "wk", "system": UCUM, "code": "wk"},
            ),
            birth_sex="M",
            sex=(clinical_use("female-typical"),),
        ),
        [GESTATIONAL_AGE],
    ),
    "birth sex M, clinical use female-typical, Z3A.12 on the problem list -> critical": (
        chart(
            pregnancy_problem("Z3A.12", "12 weeks gestation of pregnancy"),
            birth_sex="M",
            sex=(clinical_use("female-typical"),),
        ),
        [ON_PROBLEM_LIST],
    ),
    "gender male, Observation 76689-9 Male, positive hCG yesterday -> critical all the same": (
        chart(urine_hcg(YESTERDAY, "positive"), sex_at_birth(MALE_SCT), gender="male"),
        [POSITIVE],
    ),
    "gender male, clinical use male-typical, no birth sex, positive hCG -> critical all the same": (
        chart(urine_hcg(YESTERDAY, "positive"), gender="male", sex=(clinical_use("male-typical"),)),
        [POSITIVE],
    ),
    "gender female, birth sex M but Observation 76689-9 Female (disagree), no test -> warning": (
        chart(sex_at_birth(FEMALE_SCT), birth_sex="M"),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    # --- red team 3 (H5, H6, H8): LOINC answers, administrative-gender codes and plain text say a
    # sex too; a female record keeps the patient in scope, only a final male one takes her out
    "birth sex M, recorded sex at birth LOINC LA3-6 Female (disagree), no test -> warning": (
        chart(
            birth_sex="M",
            sex=(recorded_at_birth({"system": LOINC, "code": "LA3-6", "display": "Female"}),),
        ),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "birth sex M, Observation 76689-9 administrative-gender female, no test -> warning": (
        chart(sex_at_birth({"system": ADMIN_GENDER, "code": "female"}), birth_sex="M"),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "birth sex M, Observation 76689-9 valueString Female, no test -> warning": (
        chart(
            lab(
                "sex-at-birth",
                "76689-9",
                "Sex assigned at birth",
                "2024-01-01T00:00:00+00:00",
                valueString="Female",
            ),
            birth_sex="M",
        ),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender female, Observation 76689-9 Male preliminary, no test -> warning": (
        chart(preliminary(sex_at_birth(MALE_SCT))),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender female, Observation 76689-9 Male status unknown, no test -> warning": (
        chart(sex_at_birth(MALE_SCT) | {"status": "unknown"}),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender female, Observation 76689-9 LOINC LA2-8 Male (final), no test -> silent (control)": (
        chart(sex_at_birth({"system": LOINC, "code": "LA2-8", "display": "Male"})),
        [],
    ),
    "gender male, birth sex F, clinical use male-typical (a trans man), no test -> warning": (
        chart(gender="male", birth_sex="F", sex=(clinical_use("male-typical"),)),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "gender female, birth sex F, negative hCG 2 days ago -> contraception only (control)": (
        chart(urine_hcg(TWO_DAYS_AGO, "negative"), birth_sex="F"),
        [CONTRACEPTION_REMINDER],
    ),
    # --- 11449-6 answered with HL7 v2 table 0136 yes/no (red team D5)
    "reported pregnancy status (11449-6) v2-0136 Y 2 days ago -> critical": (
        chart(reported(TWO_DAYS_AGO, **coded(V2_YES_NO, "Y", "Yes"))),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "woman of 56, reported pregnancy status (11449-6) v2-0136 Y -> critical": (
        chart(reported(TWO_DAYS_AGO, **coded(V2_YES_NO, "Y", "Yes")), born="1970-01-15"),
        [POSITIVE],
    ),
    "reported pregnancy status (11449-6) v2-0136 N 2 days ago -> contraception only": (
        chart(reported(TWO_DAYS_AGO, **coded(V2_YES_NO, "N", "No"))),
        [CONTRACEPTION_REMINDER],
    ),
    # --- current-pregnancy codes read as none (red team D2, D3): see CURRENT_PREGNANCY_CODES
    "O9A.112 (ALL complicating pregnancy, 2nd trimester), negative hCG after it -> conflict": (
        chart(
            pregnancy_problem("O9A.112", "Malignant neoplasm complicating pregnancy, 2nd tri"),
            urine_hcg(TWO_DAYS_AGO, "negative"),
        ),
        [PROBLEM_LIST_CONFLICT, CONTRACEPTION_REMINDER],
    ),
    "gender male, O9A.112 on the problem list -> critical": (
        chart(
            pregnancy_problem("O9A.112", "Malignant neoplasm complicating pregnancy, 2nd tri"),
            gender="male",
        ),
        [ON_PROBLEM_LIST],
    ),
    "girl of 11, O9A.112 on the problem list -> critical": (
        chart(
            pregnancy_problem("O9A.112", "Malignant neoplasm complicating pregnancy, 2nd tri"),
            born="2014-08-01",
        ),
        [ON_PROBLEM_LIST],
    ),
    **{
        f"{code} ({display}) since 2026-01-20 -> status warning only (control)": (
            chart(pregnancy_problem(code, display)),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        )
        for code, display in (
            ("O9A.13", "Malignant neoplasm complicating the puerperium"),
            ("O99.284", "Endocrine diseases complicating childbirth"),
            ("O99.345", "Other mental disorders complicating the puerperium"),
            ("O10.03", "Pre-existing essential hypertension complicating the puerperium"),
            ("O80", "Encounter for full-term uncomplicated delivery"),
            ("O03.9", "Complete or unspecified spontaneous abortion without complication"),
            ("O03.4", "Incomplete spontaneous abortion without complication"),
            ("O04.5", "Genital tract and pelvic infection following (induced) termination"),
            ("O08.0", "Genital tract and pelvic infection following ectopic and molar pregnancy"),
            ("O14.05", "Mild to moderate pre-eclampsia, complicating the puerperium"),
        )
    },
    **{
        f"{code} ({display}) on the problem list since 2026-01-20 -> critical": (
            chart(pregnancy_problem(code, display, system=system)),
            [ON_PROBLEM_LIST, CONTRACEPTION_REMINDER],
        )
        for system, code, display in (
            (ICD10CM, "O9A.112", "Malignant neoplasm complicating pregnancy, second trimester"),
            (SNOMED, "169560008", "Pregnant - urine test confirms"),
            (SNOMED, "237238006", "Pregnancy with uncertain dates"),
            (ICD10CM, "O10.012", "Pre-existing essential hypertension complicating pregnancy"),
            (ICD10CM, "O26.612", "Liver and biliary tract disorders in pregnancy, 2nd tri"),
            (ICD10CM, "O34.219", "Maternal care for unspecified type scar from previous CS"),
            (ICD10CM, "O35.0XX0", "Maternal care for (suspected) CNS malformation in fetus"),
            (ICD10CM, "O98.511", "Other viral diseases complicating pregnancy, 1st tri"),
            (ICD10CM, "O99.283", "Endocrine diseases complicating pregnancy, third trimester"),
            (ICD10CM, "O99.341", "Other mental disorders complicating pregnancy, 1st tri"),
            (ICD10CM, "O99.32", "Drug use complicating pregnancy, childbirth, puerperium"),
            (ICD10CM, "Z33.3", "Pregnant state, gestational carrier"),
            # a pregnancy not (yet) ended: ectopic, molar, abnormal products of conception, a
            # failed termination (red team 2, D4: read as no pregnancy by a blanket O00-O08)
            (ICD10CM, "O07.4", "Failed attempted termination of pregnancy without complication"),
            (ICD10CM, "O00.111", "Left tubal pregnancy with intrauterine pregnancy"),
            (ICD10CM, "O00.101", "Right tubal pregnancy without intrauterine pregnancy"),
            (ICD10CM, "O01.9", "Hydatidiform mole, unspecified"),
            (ICD10CM, "O02.1", "Missed abortion"),
            (ICD10CM, "O02.81", "Inappropriate change in quantitative hCG in early pregnancy"),
        )
    },
    **{
        f"gender male, {code} ({display}) on the problem list -> critical": (
            chart(pregnancy_problem(code, display), gender="male"),
            [ON_PROBLEM_LIST],
        )
        for code, display in (
            ("O07.4", "Failed attempted termination of pregnancy without complication"),
            ("O00.111", "Left tubal pregnancy with intrauterine pregnancy"),
            ("O02.81", "Inappropriate change in quantitative hCG in early pregnancy"),
        )
    },
    # --- a preliminary positive newer than every final result (red team D02)
    "preliminary positive urine hCG this morning, final negative 2 days ago -> warning": (
        chart(
            urine_hcg(TWO_DAYS_AGO, "negative"),
            preliminary(urine_hcg(THIS_MORNING, "positive", oid="hcg-poc")),
        ),
        [PRELIMINARY_POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "preliminary serum hCG 1540 yesterday, no final result -> preliminary-positive warning": (
        chart(preliminary(serum_hcg(YESTERDAY, 1540))),
        [PRELIMINARY_POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "woman of 56, preliminary positive urine hCG yesterday -> warning all the same": (
        chart(preliminary(urine_hcg(YESTERDAY, "positive")), born="1970-01-15"),
        [PRELIMINARY_POSITIVE],
    ),
    "preliminary negative this morning after a final negative 2 days ago -> no change": (
        chart(
            urine_hcg(TWO_DAYS_AGO, "negative"),
            preliminary(urine_hcg(THIS_MORNING, "negative", oid="hcg-poc")),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "preliminary positive a week ago, final negative yesterday -> the final counts": (
        chart(
            preliminary(urine_hcg(A_WEEK_AGO, "positive", oid="hcg-poc")),
            urine_hcg(YESTERDAY, "negative"),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    # --- a problem-list pregnancy a newer negative contradicts (red team D03)
    "Z3A.12 (12 weeks) on the problem list since 2026-01-20, negative hCG yesterday -> warning": (
        chart(
            pregnancy_problem("Z3A.12", "12 weeks gestation of pregnancy"),
            serum_hcg(YESTERDAY, 2),
        ),
        [PROBLEM_LIST_CONFLICT, CONTRACEPTION_REMINDER],
    ),
    "SNOMED pregnancy (77386006) on the problem list, 'Not pregnant' 2 days ago, cycle 3 -> "
    "warning": (
        chart(
            pregnancy_problem("77386006", "Pregnancy", system=SNOMED),
            status(TWO_DAYS_AGO, NOT_PREGNANT_SNOMED),
            cycle=3,
            history=[EARLIER_CYCLE],
        ),
        [PROBLEM_LIST_CONFLICT],
    ),
    "provisional pregnancy on the problem list, negative hCG yesterday -> the test answers it": (
        chart(
            pregnancy_problem("Z33.1", "Pregnant state, incidental", verification="provisional"),
            urine_hcg(YESTERDAY, "negative"),
        ),
        [CONTRACEPTION_REMINDER],
    ),
    "Z33.1 on the problem list since 2026-02-25, negative hCG 2026-02-20 (before) -> critical": (
        chart(
            pregnancy_problem("Z33.1", "Pregnant state, incidental", "2026-02-25"),
            urine_hcg("2026-02-20T09:00:00+00:00", "negative"),
        ),
        [ON_PROBLEM_LIST, CONTRACEPTION_REMINDER],
    ),
    # --- a result dated in the future is no latest result (red team D10a)
    "negative urine hCG dated 2027-03-01 (a mistyped year), nothing else -> warning": (
        chart(urine_hcg(A_YEAR_AHEAD, "negative")),
        [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
    ),
    "negative hCG dated 2027, positive hCG 3 weeks ago -> critical (the future one never clears)": (
        chart(
            urine_hcg(A_YEAR_AHEAD, "negative"),
            urine_hcg("2026-02-09T09:00:00+00:00", "positive", oid="hcg-old"),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "positive urine hCG dated 2027 (a mistyped year), negative 3 weeks ago -> critical (a "
    "positive is never dropped)": (
        chart(
            urine_hcg(A_YEAR_AHEAD, "positive"),
            urine_hcg("2026-02-09T09:00:00+00:00", "negative", oid="hcg-old"),
        ),
        [POSITIVE, CONTRACEPTION_REMINDER],
    ),
    "negative urine hCG timed later today (within a day of now: clocks) -> counts": (
        chart(urine_hcg("2026-03-02T12:00:00+00:00", "negative")),
        [CONTRACEPTION_REMINDER],
    ),
    "currently breastfeeding -> warning": (
        chart(
            urine_hcg("2026-02-28T09:00:00+00:00", "negative"),
            lab(
                "bf",
                "63895-7",
                "Breastfeeding status",
                "2026-02-27T09:00:00+00:00",
                valueCodeableConcept={
                    "coding": [
                        {"system": LOINC, "code": "LA29252-6", "display": "Currently breastfeeding"}
                    ]
                },
            ),
        ),
        [CONTRACEPTION_REMINDER, BREASTFEEDING],
    ),
}


EPIC_LAB = "urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14"  # an Epic site's local lab codes


def named_test(when: str, name: str, local: str | None = "3011", **value: Any) -> dict[str, Any]:
    """A pregnancy test named only in words: an Epic point-of-care result under a local code
    (display and code.text), or code.text alone, as no LOINC was mapped."""
    result = lab("poc-hcg", "0", name, when, **value)
    result["code"] = {"text": name}
    if local is not None:
        result["code"]["coding"] = [{"system": EPIC_LAB, "code": local, "display": name.upper()}]
    return result


POSITIVE_SCT = coded(SNOMED, "10828004", "Positive")
SCENARIOS.update(
    {
        # --- red team 2026-12-03 F1: a pregnancy test with no known code, named in words
        "Epic POC 'POC URINE PREGNANCY' (local code) 'Positive' yesterday, cycle 3 -> critical": (
            chart(
                named_test(YESTERDAY, "POC urine pregnancy test", valueString="Positive"), cycle=3
            ),
            [POSITIVE],
        ),
        "Epic POC 'POC URINE PREGNANCY' (local code) 'Positive' yesterday, cycle 1 -> critical": (
            chart(named_test(YESTERDAY, "POC urine pregnancy", valueString="Positive")),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "code.text 'hCG, qualitative, urine' only, SNOMED Positive -> critical": (
            chart(named_test(YESTERDAY, "hCG, qualitative, urine", local=None, **POSITIVE_SCT)),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "local 'Serum preg' Negative 2 days ago -> verifies (contraception reminder only)": (
            chart(named_test(TWO_DAYS_AGO, "Serum preg", valueString="Negative")),
            [CONTRACEPTION_REMINDER],
        ),
        # red team 7a g01: a tumour marker named in words is no pregnancy test (LOINC hCG is)
        "local 'Beta-hCG tumor marker' 120 mIU/mL (range up to 5) -> not verified (no test)": (
            chart(
                named_test(
                    YESTERDAY,
                    "Beta-hCG tumor marker",
                    valueQuantity={
                        "value": 120,
                        "unit": "mIU/mL",
                        "system": UCUM,
                        "code": "m[IU]/mL",
                    },
                    referenceRange=[{"high": {"value": 5, "unit": "mIU/mL"}}],
                )
            ),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        "local 'Progesterone' 'Positive' yesterday (no pregnancy test) -> warning (control)": (
            chart(named_test(YESTERDAY, "Progesterone", valueString="Positive")),
            [CONTRACEPTION_REMINDER, STATUS_UNKNOWN],
        ),
        # --- red team 2026-12-03 e05/p03: a day-only positive covers its whole day
        "positive urine hCG dated today (day only), negative timed 07:00Z today -> critical": (
            chart(
                urine_hcg("2026-03-02", "positive", oid="hcg-day"),
                urine_hcg("2026-03-02T07:00:00Z", "negative"),
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "positive urine hCG dated yesterday (day only), negative timed 09:00Z yesterday -> "
        "critical": (
            chart(
                urine_hcg("2026-03-01", "positive", oid="hcg-day"),
                urine_hcg("2026-03-01T09:00:00Z", "negative"),
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "positive urine hCG dated 2026-02-26 (day only), negative 2026-03-01T09:00Z -> verifies": (
            chart(
                urine_hcg("2026-02-26", "positive", oid="hcg-day"),
                urine_hcg("2026-03-01T09:00:00Z", "negative"),
            ),
            [CONTRACEPTION_REMINDER],
        ),
        # --- red team 2026-12-03 p07: 82810-3 answered yes, or "not yet confirmed"
        "pregnancy status (82810-3) answered SNOMED 373066001 'Yes' yesterday -> critical": (
            chart(status(YESTERDAY, (SNOMED, "373066001", "Yes"))),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "pregnancy status (82810-3) answered text 'Yes' yesterday, negative hCG 3 days ago -> "
        "critical": (
            chart(
                status_text(YESTERDAY, valueCodeableConcept={"text": "Yes"}),
                urine_hcg("2026-02-27T09:00:00+00:00", "negative"),
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "pregnancy status 'Pregnancy not yet confirmed' (US Core) yesterday, negative hCG 3 days "
        "ago -> not verified (not unreadable)": (
            chart(
                status(YESTERDAY, (SNOMED, "152231000119106", "Pregnancy not yet confirmed")),
                urine_hcg("2026-02-27T09:00:00+00:00", "negative"),
            ),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
    }
)

YES_SCT = coded(SNOMED, "373066001", "Yes")
TUMOUR_MARKER: dict[str, Any] = {
    "valueQuantity": {"value": 850, "unit": "mIU/mL", "system": UCUM, "code": "m[IU]/mL"},
    "referenceRange": [{"high": {"value": 2, "unit": "mIU/mL", "system": UCUM}}],
}
SCENARIOS.update(
    {
        # --- red team 7a g06/g07/g09/g13: "Yes" means pregnant only as a pregnancy status answer
        "local 'Urine pregnancy test collected' answered 'Yes' -> not verified (no result)": (
            chart(named_test(YESTERDAY, "Urine pregnancy test collected", valueString="Yes")),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        "local 'Pregnancy test performed' answered SNOMED 373066001 Yes -> not verified": (
            chart(named_test(YESTERDAY, "Pregnancy test performed", **YES_SCT)),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        "local 'Pregnancy test declined by patient' answered 'Yes' -> not verified": (
            chart(named_test(YESTERDAY, "Pregnancy test declined by patient", valueString="Yes")),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        "local 'Pregnancy test waived' answered 'Yes - hysterectomy' -> not verified": (
            chart(named_test(YESTERDAY, "Pregnancy test waived", valueString="Yes - hysterectomy")),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        "local 'Urine pregnancy test' answered 'Yes' -> unreadable, never positive": (
            chart(named_test(YESTERDAY, "Urine pregnancy test", valueString="Yes")),
            [UNREADABLE, CONTRACEPTION_REMINDER],
        ),
        "urine hCG (2106-3) answered SNOMED 373066001 Yes -> unreadable, never positive": (
            chart(urine_hcg_as(YESTERDAY, **YES_SCT)),
            [UNREADABLE, CONTRACEPTION_REMINDER],
        ),
        # --- red team 7a g01/g14: a tumour marker named in words is no pregnancy test
        "man, local 'Beta hCG, tumor marker' 850 mIU/mL -> no pregnancy card": (
            chart(named_test(YESTERDAY, "Beta hCG, tumor marker", **TUMOUR_MARKER), gender="male"),
            [],
        ),
        "local 'hCG (germ cell tumor marker)' 'Positive' -> not verified (no pregnancy test)": (
            chart(named_test(YESTERDAY, "hCG (germ cell tumor marker)", valueString="Positive")),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        # --- red team 7a q08/q12: two day-only dates of one chart are in one zone
        "positive urine hCG 2026-02-26 (day only), negative 2026-02-27 (day only) -> verifies": (
            chart(
                urine_hcg("2026-02-26", "positive", oid="hcg-day"),
                urine_hcg("2026-02-27", "negative"),
            ),
            [CONTRACEPTION_REMINDER],
        ),
        "positive urine hCG 2026-02-26 (day only), negative 2026-02-28 (day only) -> verifies": (
            chart(
                urine_hcg("2026-02-26", "positive", oid="hcg-day"),
                urine_hcg("2026-02-28", "negative"),
            ),
            [CONTRACEPTION_REMINDER],
        ),
        "positive and negative urine hCG both dated 2026-03-01 (day only) -> critical": (
            chart(
                urine_hcg("2026-03-01", "positive", oid="hcg-day"),
                urine_hcg("2026-03-01", "negative"),
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "positive urine hCG 2026-02-28T15:00Z, negative 2026-03-01 (day only) -> critical": (
            chart(
                urine_hcg("2026-02-28T15:00:00Z", "positive", oid="hcg-timed"),
                urine_hcg("2026-03-01", "negative"),
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
    }
)

NO_SCT = coded(SNOMED, "373067005", "No")
HCG_450_NO_SYSTEM: dict[str, Any] = {"valueQuantity": {"value": 450, "unit": "mIU/mL"}}
AFTER_CYCLE_1: dict[str, Any] = {"cycle": 3, "history": [EARLIER_CYCLE]}
SCENARIOS.update(
    {
        # --- red team 8c p13/p15/p16/p17/p20: a workflow word in the name stops only "Yes"/true
        # from reading as a positive; a real result is read whatever the name says
        "local 'Urine hCG - collected 08:00' 'Positive' yesterday, cycle 3 -> critical": (
            chart(
                named_test(YESTERDAY, "Urine hCG - collected 08:00", valueString="Positive"),
                **AFTER_CYCLE_1,
            ),
            [POSITIVE],
        ),
        "local 'POC urine pregnancy test performed in clinic' 'Positive' -> critical": (
            chart(
                named_test(
                    YESTERDAY,
                    "POC urine pregnancy test performed in clinic",
                    valueString="Positive",
                )
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "local 'HCG QUANT (reason: pre-chemotherapy)' 450 mIU/mL, cycle 3 -> critical": (
            chart(
                named_test(YESTERDAY, "HCG QUANT (reason: pre-chemotherapy)", **HCG_450_NO_SYSTEM),
                **AFTER_CYCLE_1,
            ),
            [POSITIVE],
        ),
        "local 'Serum hCG qualitative (specimen collected in clinic)' SCT Positive -> critical": (
            chart(
                named_test(
                    YESTERDAY,
                    "Serum hCG qualitative (specimen collected in clinic)",
                    **POSITIVE_SCT,
                )
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "local 'Urine pregnancy test - collected 08:00' 'Negative' yesterday -> verifies": (
            chart(
                named_test(
                    YESTERDAY, "Urine pregnancy test - collected 08:00", valueString="Negative"
                )
            ),
            [CONTRACEPTION_REMINDER],
        ),
        "local 'Pregnancy test ordered' answered 'Yes' -> not verified (control)": (
            chart(named_test(YESTERDAY, "Pregnancy test ordered", valueString="Yes")),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        "local 'Urine pregnancy test collected' valueBoolean true -> not verified (control)": (
            chart(named_test(YESTERDAY, "Urine pregnancy test collected", valueBoolean=True)),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        "man, local 'hCG tumor marker - collected' 'Positive' -> no pregnancy card (control)": (
            chart(
                named_test(YESTERDAY, "hCG tumor marker - collected", valueString="Positive"),
                gender="male",
            ),
            [],
        ),
        # --- red team 8c q01/q02/p21: a pregnancy STATUS named in words is read as 82810-3 is,
        # and a test's boolean result is a result
        "local flowsheet 'Pregnancy status' answered 'Yes', cycle 3 -> critical": (
            chart(
                named_test(YESTERDAY, "Pregnancy status", "1570000123", valueString="Yes"),
                **AFTER_CYCLE_1,
            ),
            [POSITIVE],
        ),
        "local flowsheet 'Is the patient pregnant?' answered 'Yes' -> critical": (
            chart(
                named_test(YESTERDAY, "Is the patient pregnant?", "1570000124", valueString="Yes")
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "local flowsheet 'Pregnancy status' answered 'No' yesterday -> verifies": (
            chart(named_test(YESTERDAY, "Pregnancy status", "1570000123", valueString="No")),
            [CONTRACEPTION_REMINDER],
        ),
        "local 'Urine pregnancy test' valueBoolean true yesterday -> critical": (
            chart(named_test(YESTERDAY, "Urine pregnancy test", valueBoolean=True)),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "local 'Urine pregnancy test' valueBoolean false yesterday -> verifies": (
            chart(named_test(YESTERDAY, "Urine pregnancy test", valueBoolean=False)),
            [CONTRACEPTION_REMINDER],
        ),
        # --- red team 8c p05/p07: "No" answers a status question: not pregnant (as v2 N)
        "reported pregnancy status (11449-6) valueString 'No' yesterday -> verifies": (
            chart(reported(YESTERDAY, valueString="No")),
            [CONTRACEPTION_REMINDER],
        ),
        "reported pregnancy status (11449-6) SNOMED 373067005 No yesterday -> verifies": (
            chart(reported(YESTERDAY, **NO_SCT)),
            [CONTRACEPTION_REMINDER],
        ),
        "reported pregnancy status (11449-6) 'No result' yesterday -> unreadable (control)": (
            chart(reported(YESTERDAY, valueString="No result")),
            [UNREADABLE, CONTRACEPTION_REMINDER],
        ),
        "urine hCG (2106-3) answered SNOMED 373067005 No -> unreadable (control)": (
            chart(urine_hcg_as(YESTERDAY, **NO_SCT)),
            [UNREADABLE, CONTRACEPTION_REMINDER],
        ),
        # --- red team 10b s01-s19: a local row is the status question only when its whole
        # name IS one (pregnancy.yaml status_names); a name that only holds one asks something
        # else, and its yes/no answer is no result
        "local 'Pregnancy status verified?' answered 'No' yesterday -> unreadable": (
            chart(
                named_test(YESTERDAY, "Pregnancy status verified?", "1570000999", valueString="No")
            ),
            [UNREADABLE, CONTRACEPTION_REMINDER],
        ),
        "local 'Pregnancy status unknown' valueBoolean false yesterday -> unreadable": (
            chart(
                named_test(YESTERDAY, "Pregnancy status unknown", "1570000999", valueBoolean=False)
            ),
            [UNREADABLE, CONTRACEPTION_REMINDER],
        ),
        "local 'Pregnancy status unknown' valueBoolean true yesterday -> unreadable, "
        "not positive": (
            chart(
                named_test(YESTERDAY, "Pregnancy status unknown", "1570000999", valueBoolean=True)
            ),
            [UNREADABLE, CONTRACEPTION_REMINDER],
        ),
        "local 'Could patient be pregnant - unable to assess' 'No' -> not verified": (
            chart(
                named_test(
                    YESTERDAY,
                    "Could patient be pregnant - unable to assess",
                    "1570000999",
                    valueString="No",
                )
            ),
            [STATUS_UNKNOWN, CONTRACEPTION_REMINDER],
        ),
        "local 'Pregnant?' answered 'No' yesterday -> verifies (control)": (
            chart(named_test(YESTERDAY, "Pregnant?", "1570000999", valueString="No")),
            [CONTRACEPTION_REMINDER],
        ),
        # --- red team 10b s21-s23: a status answered "No" never ends a positive TEST; only a
        # later negative hCG does (blinatumomab.md: "until a later negative one")
        "positive urine hCG 02-27, local 'Patient pregnant?' 'No' 03-01 -> critical": (
            chart(
                urine_hcg("2026-02-27T10:00:00-05:00", "positive", oid="hcg-pos"),
                named_test(
                    "2026-03-01T09:00:00-05:00", "Patient pregnant?", "1570000999", valueString="No"
                ),
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "positive urine hCG 02-27, reported status (11449-6) 'No' 03-01 -> critical": (
            chart(
                urine_hcg("2026-02-27T10:00:00-05:00", "positive", oid="hcg-pos"),
                reported("2026-03-01T09:00:00-05:00", valueString="No"),
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "positive urine hCG 02-27, status (11449-6) 'No' 02-28, negative urine hCG 03-01 "
        "-> verifies (control)": (
            chart(
                urine_hcg("2026-02-27T10:00:00-05:00", "positive", oid="hcg-pos"),
                reported("2026-02-28T09:00:00-05:00", valueString="No"),
                urine_hcg("2026-03-01T09:00:00-05:00", "negative"),
            ),
            [CONTRACEPTION_REMINDER],
        ),
        "positive urine hCG of 2025-01-10 (no longer counted), status (11449-6) 'No' "
        "yesterday -> verifies (control)": (
            chart(
                urine_hcg("2025-01-10T10:00:00-05:00", "positive", oid="hcg-pos"),
                reported(YESTERDAY, valueString="No"),
            ),
            [CONTRACEPTION_REMINDER],
        ),
        # --- red team 11 p11/p12: a status answered "pregnant" is not ended by a later status
        # "No" either (a correction or a loss needs a negative test to verify)
        "reported status (11449-6) 'Yes' 02-28, reported status 'No' 03-01 -> critical": (
            chart(
                reported("2026-02-28T09:00:00-05:00", valueString="Yes"),
                reported("2026-03-01T09:00:00-05:00", valueString="No"),
            ),
            [POSITIVE, CONTRACEPTION_REMINDER],
        ),
        "reported status (11449-6) 'Yes' 02-28, status 'No' 03-01, negative urine hCG 03-01 "
        "-> verifies (control)": (
            chart(
                reported("2026-02-28T09:00:00-05:00", valueString="Yes"),
                reported("2026-03-01T09:00:00-05:00", valueString="No"),
                urine_hcg("2026-03-01T10:00:00-05:00", "negative"),
            ),
            [CONTRACEPTION_REMINDER],
        ),
        # --- red team 8c d02: a time of 00:00Z is a time, not a day alone
        "positive urine hCG 2026-02-28 (day only), negative 2026-03-01T00:00:00Z, cycle 3 "
        "-> critical": (
            chart(
                urine_hcg("2026-02-28", "positive", oid="hcg-day"),
                urine_hcg("2026-03-01T00:00:00Z", "negative"),
                **AFTER_CYCLE_1,
            ),
            [POSITIVE],
        ),
        "positive urine hCG 2026-02-28 (day only), negative 2026-03-01T09:00-05:00 -> verifies": (
            chart(
                urine_hcg("2026-02-28", "positive", oid="hcg-day"),
                urine_hcg("2026-03-01T09:00:00-05:00", "negative"),
            ),
            [CONTRACEPTION_REMINDER],
        ),
    }
)


def pending_hcg(when: str, status: str = "registered", oid: str = "hcg-pending") -> dict[str, Any]:
    """A serum hCG ordered and collected, its result not yet back: status registered (or
    preliminary), no value[x], as a lab interface files it on receipt of the specimen."""
    result = lab(
        oid,
        "21198-7",
        "Choriogonadotropin.beta subunit [Units/volume] in Serum or Plasma",
        when,
        status=status,
    )
    result["issued"] = when
    return result


PENDING = ("pregnancy-status", "warning", "pregnancy-test-pending")
SCENARIOS.update(
    {
        # --- task B 2026-12-03: a self-reported "No" does not clear a pending or unreadable hCG
        # test (the full matrix: tests/checks/test_pregnancy_status_downgrades.py)
        "status 'Not pregnant' yesterday, serum hCG registered this morning -> test pending": (
            chart(status(YESTERDAY, NOT_PREGNANT_SNOMED), pending_hcg(THIS_MORNING)),
            [PENDING, CONTRACEPTION_REMINDER],
        ),
        "urine hCG 'See scanned report' 2 days ago, status 'Not pregnant' yesterday "
        "-> unreadable": (
            chart(
                urine_hcg_as(TWO_DAYS_AGO, valueString="See scanned report"),
                status(YESTERDAY, NOT_PREGNANT_SNOMED),
            ),
            [UNREADABLE, CONTRACEPTION_REMINDER],
        ),
    }
)


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_pregnancy_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)


def test_the_missing_test_comes_with_an_hcg_order_to_accept(client: FlaskClient) -> None:
    body = client.post(SIGN, json=order_sign(chart())).get_json()
    [card] = [
        c
        for c in body["cards"]
        if c["source"]["topic"]["code"] == "pregnancy-status" and c["indicator"] == "warning"
    ]
    [action] = card["suggestions"][0]["actions"]
    assert action["type"] == "create"
    request = action["resource"]
    assert request["resourceType"] == "ServiceRequest" and request["status"] == "draft"
    assert request["code"]["coding"][0] == {
        "system": LOINC,
        "code": "2118-8",
        "display": request["code"]["coding"][0]["display"],
    }
    assert request["subject"] == {"reference": f"Patient/{PID}"}


def test_an_unreadable_result_names_itself_and_comes_with_an_hcg_order(
    client: FlaskClient,
) -> None:
    sent = chart(urine_hcg(TWO_DAYS_AGO, "negative"), urine_hcg_as(YESTERDAY, valueString="+"))
    body = client.post(SIGN, json=order_sign(sent)).get_json()
    [card] = [
        c
        for c in body["cards"]
        if c["source"]["topic"]["code"] == "pregnancy-status" and c["indicator"] == "warning"
    ]
    assert "2026-03-01" in card["summary"]
    assert "Observation/hcg-new" in card["detail"] and '"+"' in card["detail"]
    [action] = card["suggestions"][0]["actions"]
    assert action["resource"]["resourceType"] == "ServiceRequest"
    assert action["resource"]["code"]["coding"][0]["code"] == "2118-8"


def test_the_result_words_are_data(tmp_path: Path) -> None:
    plus = chart(urine_hcg(TWO_DAYS_AGO, "negative"), urine_hcg_as(YESTERDAY, valueString="+"))
    engine = _engine_with(tmp_path, lambda d: d["positive_words"].append("+"))
    assert _findings(engine, plus) == sorted([POSITIVE, CONTRACEPTION_REMINDER])


def test_a_word_read_both_ways_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        _engine_with(tmp_path, lambda d: d["negative_words"].append("Positive"))


def test_observations_unreadable_for_a_woman_says_so_and_for_a_man_stays_silent(
    client: FlaskClient,
) -> None:
    for gender, expected in (("female", [NOT_RUN]), ("male", [])):
        request = order_sign(chart(gender=gender))
        del request["prefetch"]["observations"]
        body = client.post(SIGN, json=request).get_json()
        assert findings_of_topic(body, "pregnancy-status") == expected


def _engine_with(tmp_path: Path, change: Any) -> Engine:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = target / "pregnancy.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    knowledge = load_knowledge(target)
    return Engine(Settings(dev_mode=True), knowledge, CardRenderer(knowledge), clock=lambda: NOW)


def _findings(engine: Engine, chart_bundle: dict[str, Any]) -> list[Expected]:
    result = engine.handle("blinatumomab-order-sign", copy.deepcopy(order_sign(chart_bundle)))
    return sorted(
        (topic, indicator, code)
        for (topic, indicator), code in zip(result.topics, result.codes, strict=True)
        if topic == "pregnancy-status"
    )


def test_the_result_window_is_data(tmp_path: Path) -> None:
    ten_days = chart(urine_hcg("2026-02-20T09:00:00+00:00", "negative"))
    assert _findings(
        _engine_with(tmp_path, lambda d: d.update(negative_result_valid_hours=336)), ten_days
    ) == [CONTRACEPTION_REMINDER]


def test_a_test_before_every_cycle_is_a_setting(tmp_path: Path) -> None:
    cycle3 = chart(cycle=3, history=[EARLIER_CYCLE])
    engine = _engine_with(tmp_path, lambda d: d.update(test_before_every_cycle=True))
    assert _findings(engine, cycle3) == [STATUS_UNKNOWN]  # contraception was reminded with cycle 1


def test_a_window_under_72_hours_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="72 hours"):
        _engine_with(tmp_path, lambda d: d.update(negative_result_valid_hours=48))


def test_a_result_sent_as_100_000_characters_is_unreadable(client: FlaskClient) -> None:
    """Red team: "5 a", 100,000 spaces, "1" as a quantitative hCG's text. Read as a quantity by a
    backtracking pattern it took minutes; it is no quantity, so it is an unreadable result."""
    chart_bundle = chart(serum_hcg_text("5 a" + " " * 100_000 + "1"))
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(
        [CONTRACEPTION_REMINDER, UNREADABLE]
    )


def _card(client: FlaskClient, chart_bundle: dict[str, Any], code: str) -> dict[str, Any]:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    cards: list[dict[str, Any]] = body["cards"]
    [card] = [c for c in cards if c["extension"]["org.example.cds.finding-code"] == code]
    return card


def test_a_preliminary_positive_names_itself_and_comes_with_an_hcg_order(
    client: FlaskClient,
) -> None:
    sent = chart(
        urine_hcg(TWO_DAYS_AGO, "negative"),
        preliminary(urine_hcg(THIS_MORNING, "positive", oid="hcg-poc")),
    )
    card = _card(client, sent, "pregnancy-preliminary-positive")
    assert "2026-03-02" in card["summary"] and "confirm" in card["summary"]
    assert "Observation/hcg-poc" in card["detail"] and "negative, 2026-02-28" in card["detail"]
    [action] = card["suggestions"][0]["actions"]
    assert action["resource"]["code"]["coding"][0]["code"] == "2118-8"


def test_a_problem_list_conflict_names_the_entry_and_the_negative(client: FlaskClient) -> None:
    sent = chart(
        pregnancy_problem("Z3A.12", "12 weeks gestation of pregnancy"), serum_hcg(YESTERDAY, 2)
    )
    card = _card(client, sent, "pregnancy-problem-list-conflict")
    assert "2026-01-20" in card["summary"] and "2026-03-01" in card["summary"]
    assert "Condition/pregnancy" in card["detail"] and "Observation/hcg-serum" in card["detail"]


def test_a_future_dated_result_is_said_to_be_ignored(client: FlaskClient) -> None:
    card = _card(client, chart(urine_hcg(A_YEAR_AHEAD, "negative")), "pregnancy-status-unknown")
    assert "Observation/hcg-urine dated 2027-03-01 (future) ignored" in card["detail"]
