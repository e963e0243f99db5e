"""Build the patient snapshot and the draft orders from raw prefetch/draft JSON.

Selection comes first, on the raw JSON (by resource type, subject and code, then what a check can
use of a long history: `cds.fhir.selection`); only the selected resources are validated (the
elements the checks read: `cds.fhir.read_models`), one at a time, and observations only when a
check reads them
(`cds.fhir.observations`). Anything unusable among them becomes a DataIssue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from cds.fhir import facts, references, selection, vaccines
from cds.fhir.codings import ICD10CM
from cds.fhir.observations import ChartObservations
from cds.fhir.parsing import resource_label, validate
from cds.fhir.prefetch import SourceData
from cds.knowledge import Knowledge
from cds.patient import (
    AdministrationFact,
    Code,
    DataIssue,
    ImmunizationFact,
    MedicationOrder,
    PatientSnapshot,
    ProcedureFact,
)
from cds.pregnancy_conditions import means_current_pregnancy, named_test_codes
from cds.toxicity import is_toxicity


def _subject_reference(raw: Mapping[str, Any]) -> str | None:
    for field in ("subject", "patient"):
        value = references.reference_of(raw.get(field))
        if value is not None:
            return value
    return None


def _names(reference: str, patient_id: str) -> bool:
    """An EHR may answer an unfiltered search: never use another patient's data."""
    return references.patient_verdict(reference, patient_id, references.ReferenceIndex()) == "mine"


# The code lists that name observations (the others are answers, drugs, vaccines, conditions).
OBSERVATION_VALUE_SETS = (
    "body_weight",
    "body_height",
    "body_surface_area",
    "pregnancy_status",
    "hcg_qualitative",
    "hcg_quantitative",
    "breastfeeding_status",
    "expected_delivery_date",
    "pregnancy_gestational_age",
    "sex_assigned_at_birth",
    "alt",
    "ast",
    "bilirubin_total",
    "ggt",
    "neutrophils_absolute",
    "birth_weight",
    "gestational_age_at_birth",
)


def observation_codes(knowledge: Knowledge) -> frozenset[Code]:
    """Every observation code some check reads (the prefetch template asks for exactly these)."""
    codes: set[Code] = set()
    for name in OBSERVATION_VALUE_SETS:
        codes |= knowledge.codes_of(name)
    # the B-cell counts that document immune recovery before a live vaccine (local policy)
    codes |= knowledge.b_cell_recovery_codes()
    return frozenset(codes)


class _Chart:
    """Which resources of the sources are this patient's, and which could not be tied to anyone."""

    def __init__(self, patient_id: str, sources: Mapping[str, SourceData]) -> None:
        self.patient_id = patient_id
        self.index = references.ReferenceIndex()
        for data in sources.values():
            if data.available:
                for url, resource in data.full_urls.items():
                    self.index.add(resource, url)
                if len(data.full_urls) < len(data.resources):  # else each is in by its fullUrl
                    for resource in data.resources:
                        self.index.add(resource)
        patient_data = sources.get("patient")
        patients = [
            r
            for r in (patient_data.resources if patient_data and patient_data.available else [])
            if r.get("resourceType") == "Patient"
        ]
        self.patient = next((p for p in patients if p.get("id") == patient_id), None) or (
            patients[0] if len(patients) == 1 and not patients[0].get("id") else None
        )
        self.untied: dict[str, list[tuple[dict[str, Any], str]]] = {}
        # a chart's resources nearly all name the patient by one same reference
        self._verdicts: dict[str | None, references.Verdict] = {}

    def pick(
        self, source: str, data: SourceData | None, resource_type: str
    ) -> list[dict[str, Any]]:
        if data is None or not data.available:
            return []
        mine = []
        for raw in data.resources:
            if raw.get("resourceType") != resource_type:
                continue
            reference = _subject_reference(raw)
            verdict = self._verdicts.get(reference)
            if verdict is None:
                verdict = self._verdicts[reference] = references.patient_verdict(
                    reference, self.patient_id, self.index, self.patient
                )
            if verdict == "mine":
                mine.append(raw)
            elif verdict == "untied":
                self.untied.setdefault(source, []).append((raw, str(reference)))
        return mine

    def untied_issues(self, source: str, kept: list[dict[str, Any]]) -> list[DataIssue]:
        """What a check would have read among the resources tied to no patient, said aloud."""
        return [
            DataIssue(
                source,
                resource_label(raw),
                f"its patient reference `{reference}` names no patient this request can tie to "
                f"{self.patient_id}: not used",
            )
            for raw, reference in self.untied.get(source, [])
            if any(raw is k for k in kept)
        ]


US_CORE_BIRTH_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
US_CORE_SEX = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex"
SEX_FOR_CLINICAL_USE = "http://hl7.org/fhir/StructureDefinition/patient-sexParameterForClinicalUse"
RECORDED_SEX_OR_GENDER = "http://hl7.org/fhir/StructureDefinition/individual-recordedSexOrGender"
EPIC_SEX_FOR_CLINICAL_USE = (
    "http://open.epic.com/FHIR/StructureDefinition/extension/sex-for-clinical-use"
)


# What each record's code says of the body (lower case): US Core birth sex (F, M), SNOMED CT
# 248152002 Female / 248153007 Male (US Core 7 us-core-sex, recordedSexOrGender), HL7 sex
# parameter for clinical use (female-typical, male-typical), Epic's sex for clinical use.
def sex_codes(knowledge: Knowledge) -> dict[str, str]:
    """Each code meaning a sex (codes.yaml `answer_female` / `answer_male`: SNOMED CT, LOINC
    answers, HL7 AdministrativeGender, US Core birth sex, sex for clinical use), lower case ->
    "F" or "M". Matched by code whatever system the chart names (extension valueCodes carry
    none), and as the words of a valueString ("Female")."""
    return {
        code.lower(): sex
        for sex, value_set in (("F", "answer_female"), ("M", "answer_male"))
        for _, code in knowledge.codes_of(value_set)
    }


def sex_said(text: Any, codes: Mapping[str, str]) -> str | None:
    """ "F" or "M" as one code or plain text says it ("female", "LA3-6", "248152002", "Male";
    None: neither, or not a string), by `sex_codes`."""
    return codes.get(text.strip().lower()) if isinstance(text, str) else None


def _coded_sex(value: Any, sexes: Mapping[str, str]) -> set[str]:
    """The "F"/"M" a valueCode, valueString, valueCoding or valueCodeableConcept says (its codes,
    else its text or display: "Female"; empty: neither)."""
    if isinstance(value, str):
        codes: list[Any] = [value]
    elif isinstance(value, dict):
        codings = value.get("coding") if "coding" in value else [value]
        codes = [c.get("code") for c in codings or () if isinstance(c, dict)]
        if not {sex_said(c, sexes) for c in codes} - {None}:  # no code read: the words
            codes += [value.get("text")]
            codes += [c.get("display") for c in codings or () if isinstance(c, dict)]
    else:
        codes = []
    return {said for c in codes if (said := sex_said(c, sexes)) is not None}


def _coded_sex_codes(value: Any) -> set[str]:
    """The codes of a CodeableConcept (empty when it is none)."""
    codings = value.get("coding") if isinstance(value, dict) else None
    return {str(c.get("code")) for c in codings or () if isinstance(c, dict)}


def _extension_value(extension: Mapping[str, Any]) -> Any:
    for key in ("valueCode", "valueCoding", "valueCodeableConcept", "valueString"):
        if key in extension:
            return extension[key]
    return None


def _sub_value(extension: Mapping[str, Any], url: str) -> Any:
    subs = extension.get("extension")
    for sub in subs if isinstance(subs, list) else ():
        if isinstance(sub, dict) and sub.get("url") == url:
            return _extension_value(sub)
    return None


# `PatientSnapshot.birth_sex` when no sex assigned at birth is recorded on the Patient but another
# record of the sex says female (a sex for clinical use, a US Core 7 sex): the pregnancy check
# keeps the patient in scope unless an Observation 76689-9 of the sex assigned at birth says male
FEMALE_NOT_AT_BIRTH = "F-not-at-birth"


def _birth_sex(raw: Mapping[str, Any], knowledge: Knowledge) -> str | None:
    """The patient's sex as the body goes, from the raw Patient's records of it (the read model
    holds no extension values but the cycle number, and a malformed extension of any other kind
    must not cost the patient's age and sex). A sex ASSIGNED AT BIRTH (US Core birth sex, a
    recorded sex or gender typed 76689-9) decides when one is recorded: "F" when any says female
    (records that disagree keep the patient in scope: the safe side), else "M". With none, any
    other female record (US Core 7 sex, the sex parameter for clinical use, a recorded sex or
    gender of another type, Epic's sex for clinical use) gives `FEMALE_NOT_AT_BIRTH` (in scope
    unless an Observation 76689-9 says male); a male one says nothing (a trans man on
    testosterone has male lab ranges). Else the US Core birth sex code as sent ("UNK") or None.
    Patient.gender is not among them: it is an administrative gender (2026-12-03, red team N4:
    a trans woman with a female sex for clinical use was asked for an hCG test)."""
    sexes = sex_codes(knowledge)
    at_birth_types = {code for _, code in knowledge.codes_of("sex_assigned_at_birth")}
    at_birth: set[str] = set()
    otherwise: set[str] = set()
    other: str | None = None
    extensions = raw.get("extension")
    for extension in extensions if isinstance(extensions, list) else ():
        if not isinstance(extension, dict):
            continue
        url = extension.get("url")
        if url == US_CORE_BIRTH_SEX:
            code = extension.get("valueCode")
            if isinstance(code, str) and code.strip():
                found = _coded_sex(code, sexes)
                at_birth |= found
                other = other or (None if found else code.strip().upper())
        elif url in (US_CORE_SEX, EPIC_SEX_FOR_CLINICAL_USE):
            otherwise |= _coded_sex(_extension_value(extension), sexes)
        elif url == SEX_FOR_CLINICAL_USE:
            otherwise |= _coded_sex(_sub_value(extension, "value"), sexes)
        elif url == RECORDED_SEX_OR_GENDER:
            found = _coded_sex(_sub_value(extension, "value"), sexes)
            if not at_birth_types.isdisjoint(_coded_sex_codes(_sub_value(extension, "type"))):
                at_birth |= found
            else:
                otherwise |= found
    if at_birth:
        return "F" if "F" in at_birth else "M"
    return FEMALE_NOT_AT_BIRTH if "F" in otherwise else other


def _validated(raws: list[dict[str, Any]], source: str, issues: list[DataIssue]) -> list[Any]:
    models = []
    for raw in raws:
        model, issue = validate(raw, source)
        if issue is not None:
            issues.append(issue)
        else:
            models.append(model)
    return models


def referenced_medications(
    orders: Iterable[dict[str, Any]], index: references.ReferenceIndex
) -> dict[str, Any]:
    """The Medication models the `medicationReference`s of orders or administrations name, keyed
    by the reference as written (relative, absolute, versioned or `urn:uuid:`; contained ones are
    read in place)."""
    found = {}
    for raw in orders:
        reference = references.reference_of(raw.get("medicationReference"))
        if reference is None or reference.startswith("#") or reference in found:
            continue
        target = index.resolve(reference)
        if target is not None and _is_medication(target):
            model, issue = validate(target, "medications")
            if issue is None:
                found[reference] = model
    return found


def _medications_by_reference(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    resources = list(resources)
    index = references.ReferenceIndex((None, r) for r in resources)
    return referenced_medications(
        (r for r in resources if r.get("resourceType") == "MedicationRequest"), index
    )


def medication_orders(
    raws: Iterable[dict[str, Any]],
    source: str,
    issues: list[DataIssue],
    medications: Mapping[str, Any],
    knowledge: Knowledge | None = None,
) -> list[MedicationOrder]:
    """The orders of `raws` that can be read. Given the knowledge, an order for a live vaccine
    that is no valid R4 for a format fault real feeds have (an empty text, a code with a space, a
    date written "2026-02-24 10:00:00") is read past it (`vaccines.tolerant_vaccine_orders`): a
    live vaccine ordered with blinatumomab is never hidden behind "could not be read"."""
    orders = []
    for raw in raws:
        model, issue = validate(raw, source)
        if issue is not None:
            model = _tolerant_vaccine_order(raw, source, knowledge) if knowledge else None
            if model is None:
                issues.append(issue)
                continue
        orders.append(facts.medication_order(model, raw, medications))
    return orders


def _tolerant_vaccine_order(raw: dict[str, Any], source: str, knowledge: Knowledge) -> Any:
    """The read model of a live-vaccine order read past its format faults (None: not a live
    vaccine, or unreadable still)."""
    if not vaccines.may_be_live_vaccine_order(raw, knowledge):
        return None
    for reading in vaccines.tolerant_vaccine_orders(raw):
        model, issue = validate(reading, source)
        if issue is None:
            return model
    return None


def immunization_facts(
    raws: list[dict[str, Any]], knowledge: Knowledge, issues: list[DataIssue]
) -> tuple[ImmunizationFact, ...]:
    """The Immunizations, live vaccines recognised (`vaccines.recognised`, with their route). One
    that is no valid R4 for a format fault real feeds have (an empty text, a CVX code " 03", a
    date "2026-02-24 10:00:00") is read past it (`vaccines.tolerant_immunization`); one that still
    cannot be read but may be a live vaccine is kept with what can be told of it (a card says what
    could not be verified), and its issue is reported."""
    found = []
    for raw in raws:
        model, issue = validate(raw, "immunizations")
        if issue is not None:
            model = validate(vaccines.tolerant_immunization(raw), "immunizations")[0]
        route = frozenset(selection.code_pairs(raw.get("route")))
        if model is not None:
            fact = facts.immunization_fact(model)
            written = selection.concept_text(vaccines.tolerant(raw.get("vaccineCode")))
            route_text = selection.concept_text(raw.get("route"))  # a route in words: "intranasal"
            found.append(vaccines.recognised(fact, knowledge, route, written, route_text))
            continue
        if issue is not None:
            issues.append(issue)
        if vaccines.worth_reading(raw, knowledge) or not frozenset(
            selection.code_pairs(raw.get("vaccineCode"))
        ).isdisjoint(knowledge.codes_of("live_vaccines")):
            found.append(vaccines.unreadable_immunization(raw, knowledge))
    return tuple(found)


# Keys whose data, when it cannot be had (not sent in a prefetch, no context for the query), is no
# data rather than a failure: nothing a check must have depends on them alone.
OPTIONAL_KEYS = ("encounter", "administrations", "procedures")


def build_snapshot(
    patient_id: str, sources: Mapping[str, SourceData], knowledge: Knowledge
) -> PatientSnapshot:
    issues: list[DataIssue] = []
    chart = _Chart(patient_id, sources)
    patient_raw = chart.pick("patient", sources.get("patient"), "Patient")
    birth_date: date | None = None
    birth_range: tuple[date, date] | None = None
    gender: str | None = None
    birth_sex: str | None = None
    candidates = [r for r in patient_raw if r.get("id") in (None, patient_id)] or patient_raw[:1]
    patients = _validated(candidates, "patient", issues)
    if patients:
        born = patients[0].birthDate
        birth_date = born if isinstance(born, date) else None
        birth_range = facts.partial_date_range(born) if isinstance(born, str) else None
        gender = patients[0].gender
        birth_sex = next(
            (_birth_sex(r, knowledge) for r in candidates if r.get("id") == patients[0].id), None
        )

    wanted = observation_codes(knowledge)
    observations = ChartObservations(
        chart.pick("observations", sources.get("observations"), "Observation"),
        wanted,
        "observations",
        named=named_test_codes(knowledge),  # a pregnancy test a site codes locally
    )
    immunizations = immunization_facts(
        select_immunizations(
            chart.pick("immunizations", sources.get("immunizations"), "Immunization"), knowledge
        ),
        knowledge,
        issues,
    )
    conditions = _validated(
        select_conditions(
            chart.pick("conditions", sources.get("conditions"), "Condition"), knowledge
        ),
        "conditions",
        issues,
    )
    order_raws = selection.select_orders(
        chart.pick("medications", sources.get("medications"), "MedicationRequest"), knowledge
    )
    orders = medication_orders(
        order_raws,
        "medications",
        issues,
        referenced_medications(order_raws, chart.index),
        knowledge,
    )
    administered_raws = chart.pick(
        "administrations", sources.get("administrations"), "MedicationAdministration"
    )
    administration_raws = select_administrations(administered_raws, knowledge, chart.index)
    administrations = _validated(administration_raws, "administrations", issues)
    administered = referenced_medications(administration_raws, chart.index)
    given = tuple(facts.administration_fact(m, administered) for m in administrations)
    shots_on_the_mar = _vaccines_administered(administered_raws, knowledge, issues)
    # a Procedure stands a safety check down (a hysterectomy: no pregnancy test): only one that
    # names its patient counts, never one the query alone ties to the patient
    procedures = procedure_facts(
        [
            raw
            for raw in chart.pick("procedures", sources.get("procedures"), "Procedure")
            if _subject_reference(raw) is not None
        ],
        knowledge,
    )
    unlinked = _unlinked(chart, knowledge, wanted)
    unavailable = {key: data.problem for key, data in sources.items() if data.problem is not None}
    for optional in OPTIONAL_KEYS:  # an encounter, administrations, procedures not had: no data
        unavailable.pop(optional, None)
    if (
        "patient" not in unavailable
        and not patients
        and not any(i.source == "patient" for i in issues)
    ):
        unavailable["patient"] = "the EHR sent no Patient resource for this patient"
    return PatientSnapshot(
        patient_id=patient_id,
        birth_date=birth_date,
        birth_range=birth_range,
        gender=gender,
        birth_sex=birth_sex,
        observation_source=observations,
        immunizations=immunizations + shots_on_the_mar,
        medication_orders=started_as_given(orders, given),
        conditions=tuple(facts.condition_fact(m) for m in conditions),
        encounter_classes=encounter_classes(sources.values()),
        unavailable=unavailable,
        issues=tuple(issues),
        unlinked=tuple(unlinked),
        encounter=context_encounter(sources.get("encounter")),
        administrations=given,
        procedures=procedures,
    )


def started_as_given(
    orders: Iterable[MedicationOrder], given: Iterable[AdministrationFact]
) -> tuple[MedicationOrder, ...]:
    """The orders on file, each that gives no start of its own (no boundsPeriod.start, no timing
    event) with the start of its first administration: an order written the evening before is
    not day 1 of the cycle, the day its infusion began is."""
    first: dict[str, datetime] = {}
    for administration in given:
        if administration.request and administration.start:
            begun = first.get(administration.request)
            first[administration.request] = min(begun or administration.start, administration.start)
    return tuple(
        replace(order, first_given=first[order.resource])
        if order.resource in first and order.planned_start() is None
        else order
        for order in orders
    )


def select_administrations(
    raws: list[dict[str, Any]], knowledge: Knowledge, index: references.ReferenceIndex
) -> list[dict[str, Any]]:
    """The blinatumomab MedicationAdministrations, before any is validated: by their own code or
    text, or their Medication's (contained, or sent in the prefetch or Bundle)."""
    codes = knowledge.codes_of("blinatumomab")
    patterns = knowledge.text_patterns("blinatumomab")

    def named(raw: dict[str, Any]) -> bool:
        reference = raw.get("medicationReference")
        medication = index.resolve(references.reference_of(reference), raw)
        concepts = [
            concept
            for concept in (
                raw.get("medicationCodeableConcept"),
                medication.get("code") if medication and _is_medication(medication) else None,
            )
            if isinstance(concept, dict)
        ]
        texts = [
            str(reference.get("display") or "") if isinstance(reference, dict) else "",
            *(str(concept.get("text") or "") for concept in concepts),
            *(
                str(c.get("display") or "")
                for concept in concepts
                for c in (concept.get("coding") or [])
                if isinstance(c, dict)
            ),
        ]
        text = " ".join(texts).lower()
        return any(not codes.isdisjoint(selection.code_pairs(c)) for c in concepts) or any(
            p in text for p in patterns
        )

    return [raw for raw in raws if named(raw)]


def _vaccines_administered(
    raws: list[dict[str, Any]], knowledge: Knowledge, issues: list[DataIssue]
) -> tuple[ImmunizationFact, ...]:
    """Live vaccines the MAR records as MedicationAdministrations (where an EHR charts a shot
    given on the ward, not as an Immunization): read as Immunizations of their date. Only those
    whose medication might be a vaccine are validated."""
    live = knowledge.codes_of("live_vaccines")
    candidates = [
        raw
        for raw in raws
        if isinstance(concept := raw.get("medicationCodeableConcept"), dict)
        and (
            not live.isdisjoint(selection.code_pairs(concept))
            or vaccines.worth_reading({"vaccineCode": concept, "route": _route(raw)}, knowledge)
        )
    ]
    shots = []
    for raw in candidates:
        model, issue = validate(raw, "administrations")
        if issue is not None:
            issues.append(issue)
            continue
        given = facts.administration_fact(model)
        fact = ImmunizationFact(
            resource=given.resource,
            codes=given.codes,
            when=given.start,
            status="completed"  # given, as an Immunization says it (vaccines.yaml)
            if given.status in knowledge.vaccines.given_administration_statuses
            else given.status,
            text=given.text,
        )
        route = _route(raw)
        shots.append(
            vaccines.recognised(
                fact,
                knowledge,
                frozenset(selection.code_pairs(route)),
                route_text=selection.concept_text(route),
            )
        )
    return tuple(shots)


def _route(administration: dict[str, Any]) -> Any:
    """A MedicationAdministration's route as sent (CVX 88 given intranasally is live)."""
    dosage = administration.get("dosage")
    return dosage.get("route") if isinstance(dosage, dict) else None


def _is_medication(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "Medication"


# What a Procedure's status may be in FHIR R4 (event-status): another value is no status.
PROCEDURE_STATUSES = frozenset(
    {
        "preparation",
        "in-progress",
        "not-done",
        "on-hold",
        "stopped",
        "completed",
        "entered-in-error",
        "unknown",
    }
)


def procedure_codes(knowledge: Knowledge) -> frozenset[Code]:
    """The codes of the Procedures a check reads (the prefetch template asks for exactly these):
    the hysterectomy and delivery lists' codes, but their ICD-10-CM ones, which code diagnoses."""
    wanted = knowledge.codes_of("no_reproductive_potential") | knowledge.codes_of("pregnancy_ended")
    return frozenset((system, code) for system, code in wanted if system != ICD10CM)


def procedure_facts(
    raws: Iterable[dict[str, Any]], knowledge: Knowledge
) -> tuple[ProcedureFact, ...]:
    """The Procedures a check reads (a code of the `no_reproductive_potential` or
    `pregnancy_ended` lists: a hysterectomy, a delivery), read from their JSON as an Encounter's
    class is: only code, status and performed[x], each type-checked here, so an element no check
    reads never costs the procedure. One with no R4 status is left out (nothing it says can be
    relied on); a performed date that cannot be read leaves it undated."""
    wanted = procedure_codes(knowledge)
    found = []
    for raw in raws:
        codes = frozenset(selection.code_pairs(raw.get("code")))
        status = raw.get("status")
        if codes.isdisjoint(wanted) or status not in PROCEDURE_STATUSES:
            continue
        period = raw.get("performedPeriod")
        period = period if isinstance(period, dict) else {}
        when = raw.get("performedDateTime") or period.get("end") or period.get("start")
        found.append(
            ProcedureFact(
                resource=f"Procedure/{raw.get('id')}",
                codes=codes,
                status=str(status),
                performed=facts.as_datetime(when) if isinstance(when, str) else None,
            )
        )
    return tuple(found)


def select_immunizations(raws: list[dict[str, Any]], knowledge: Knowledge) -> list[dict[str, Any]]:
    """Those coded from a code list, and those a live vaccine may hide in (NDC, text only)."""
    kept = {id(r) for r in selection.select_coded(raws, "vaccineCode", knowledge)}
    return [r for r in raws if id(r) in kept or vaccines.worth_reading(r, knowledge)]


def select_conditions(raws: list[dict[str, Any]], knowledge: Knowledge) -> list[dict[str, Any]]:
    """Those coded from a code list, those meaning a current pregnancy (coded, or named in
    words), and toxicities of blinatumomab (toxicity.yaml: CRS, neurological toxicity, seizures)."""
    kept = {id(r) for r in selection.select_coded(raws, "code", knowledge)}
    return [
        r
        for r in raws
        if id(r) in kept
        or means_current_pregnancy(
            selection.code_pairs(r.get("code")), knowledge, _condition_name(r)
        )
        or is_toxicity(selection.code_pairs(r.get("code")), _condition_name(r), knowledge.toxicity)
    ]


def _condition_name(raw: dict[str, Any]) -> str:
    """A raw Condition's code.text and coding displays, lower case (what `facts._texts` reads)."""
    return selection.concept_text(raw.get("code")).lower()


def _unlinked(chart: _Chart, knowledge: Knowledge, wanted: frozenset[Code]) -> list[DataIssue]:
    """The resources tied to no patient that a check would have read (the others say nothing)."""
    untied = {key: [raw for raw, _ in found] for key, found in chart.untied.items()}
    return [
        *chart.untied_issues(
            "observations",
            [
                r
                for r in untied.get("observations", [])
                if not wanted.isdisjoint(selection.code_pairs(r.get("code")))
            ],
        ),
        *chart.untied_issues(
            "immunizations",
            select_immunizations(untied.get("immunizations", []), knowledge),
        ),
        *chart.untied_issues(
            "conditions", select_conditions(untied.get("conditions", []), knowledge)
        ),
        *chart.untied_issues(
            "medications", selection.select_orders(untied.get("medications", []), knowledge)
        ),
    ]


def context_encounter(data: SourceData | None) -> str | None:
    """`Encounter/id` of the encounter the EHR named in `context.encounterId` (the `encounter`
    prefetch key), or None: a missing encounter is no data, never a failure."""
    if data is None or not data.available:
        return None
    found = [r for r in data.resources if r.get("resourceType") == "Encounter" and r.get("id")]
    return f"Encounter/{found[0]['id']}" if len(found) == 1 else None


def encounter_classes(sources: Iterable[SourceData]) -> dict[str, Code]:
    """The class of every Encounter an EHR sent along (e.g. `_include=MedicationRequest:encounter`
    in `medications`): the hospitalisation check reads whether the order's encounter is inpatient.
    Only `class` is read, so the Encounter is not validated as a whole."""
    found: dict[str, Code] = {}
    for data in sources:
        for raw in data.resources if data.available else []:
            coding = _class_coding(raw)
            if coding is not None and isinstance(raw.get("id"), str):
                found[f"Encounter/{raw['id']}"] = coding
        for url, raw in data.full_urls.items() if data.available else []:
            coding = _class_coding(raw)
            if coding is not None:
                found.setdefault(url, coding)
    return found


# The code system R4 binds Encounter.class to: a class sent without a system is read as of it.
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def _class_coding(raw: dict[str, Any]) -> Code | None:
    """An Encounter's class: FHIR R4's one Coding, or the first coding with a code of the list
    of CodeableConcepts that R5 (and some R4B-ish exports) send; without a system, v3 ActCode's.
    None: not an Encounter, no class."""
    value = raw.get("class") if raw.get("resourceType") == "Encounter" else None
    codings = [value]
    if isinstance(value, list):
        codings = [
            coding
            for concept in value
            if isinstance(concept, dict) and isinstance(concept.get("coding"), list)
            for coding in concept["coding"]
        ]
    coding = next(
        (c for c in codings if isinstance(c, dict) and isinstance(c.get("code"), str)), None
    )
    if coding is None:
        return None
    system = coding.get("system")
    return (system if isinstance(system, str) and system else V3_ACT_CODE, coding["code"])


# Order resources of other FHIR versions an EHR may still send (the public sandbox's DSTU2 server
# sends MedicationOrder). They cannot be read as R4; one that names blinatumomab gets a card.
OTHER_VERSION_ORDERS = {
    "MedicationOrder": "a FHIR DSTU2 resource",
    "MedicationPrescription": "a FHIR DSTU1 resource",
    "DiagnosticOrder": "a FHIR DSTU2 resource",
    "ProcedureRequest": "a FHIR STU3 resource",
    "ReferralRequest": "a FHIR STU3 resource",
}


def draft_orders(
    resources: list[dict[str, Any]], issues: list[DataIssue], knowledge: Knowledge | None = None
) -> list[MedicationOrder]:
    """The MedicationRequests among the draft orders, and (given the knowledge) the live vaccines
    ordered as ServiceRequests; other request types are context only."""
    medications = _medications_by_reference(resources)
    requests = [r for r in resources if r.get("resourceType") == "MedicationRequest"]
    for raw in resources:
        kind = str(raw.get("resourceType"))
        if kind in OTHER_VERSION_ORDERS:
            issues.append(
                DataIssue(
                    "draftOrders",
                    resource_label(raw),
                    f"{kind} is {OTHER_VERSION_ORDERS[kind]}; this service reads FHIR R4 "
                    "(MedicationRequest), so the order was not checked",
                )
            )
    for raw, name in unnamed_requests(resources):
        raw["id"] = name
    orders = medication_orders(requests, "draftOrders", issues, medications, knowledge)
    return orders + _vaccines_ordered_as_services(resources, knowledge, issues)


def unnamed_requests(resources: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The draft MedicationRequests sent without an id, each with the id they are read under:
    `draft-N`, N their 1-based position among the draft MedicationRequests (`_unused`: never an
    id a draft order carries). (order-select's selections resolve their fullUrl to that name:
    `cds.hooks.OrderSelectContext`.)"""
    requests = [r for r in resources if r.get("resourceType") == "MedicationRequest"]
    return _unused(
        resources,
        [(raw, f"draft-{index + 1}") for index, raw in enumerate(requests) if "id" not in raw],
    )


def unnamed_services(resources: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """The draft ServiceRequests sent without an id that can be read (none, empty, not a FHIR id:
    " ", "a b", 7), each with the id they are read under: `service-N`, N their 1-based position
    among the draft orders (`_unused`). Only the ServiceRequest's code is read (a live vaccine
    ordered as a procedure): a bad id is no reason to miss it. (order-select's selections resolve
    their fullUrl, or the id as sent, to that name: `cds.hooks.OrderSelectContext`.)"""
    return _unused(
        resources,
        [
            (raw, f"service-{index + 1}")
            for index, raw in enumerate(resources)
            if raw.get("resourceType") == "ServiceRequest" and not _is_id(raw.get("id"))
        ],
    )


_ID = re.compile(r"[A-Za-z0-9\-.]+")  # what the read models accept as an `id`


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _unused(
    resources: list[dict[str, Any]], named: list[tuple[dict[str, Any], str]]
) -> list[tuple[dict[str, Any], str]]:
    """Each name made unlike every id of the draft orders (`service-4` taken by a lab order:
    `service-4.1`): a name of ours equal to an EHR's id made a selection of one order resolve
    to the other, and a card name the wrong order."""
    taken = {raw.get("id") for raw in resources if isinstance(raw.get("id"), str)}
    unused = []
    for raw, name in named:
        candidate, suffix = name, 0
        while candidate in taken:
            suffix += 1
            candidate = f"{name}.{suffix}"
        taken.add(candidate)
        unused.append((raw, candidate))
    return unused


def _vaccines_ordered_as_services(
    resources: list[dict[str, Any]], knowledge: Knowledge | None, issues: list[DataIssue]
) -> list[MedicationOrder]:
    """Draft ServiceRequests whose code is a live vaccine (where an EHR orders immunisations as
    procedures): read as the MedicationRequest they stand for, under their own name, so that a
    live vaccine signed with blinatumomab is seen whichever request type orders it."""
    if knowledge is None:
        return []
    live = knowledge.codes_of("live_vaccines")
    unnamed = {id(raw): name for raw, name in unnamed_services(resources)}
    orders = []
    for raw in resources:
        if not (
            raw.get("resourceType") == "ServiceRequest"
            and isinstance(concept := raw.get("code"), dict)
            and (
                not live.isdisjoint(selection.code_pairs(concept))
                or vaccines.worth_reading({"vaccineCode": concept}, knowledge)
            )
        ):
            continue
        as_request = {
            "resourceType": "MedicationRequest",
            "id": unnamed.get(id(raw), raw.get("id")),
            "status": raw.get("status"),
            "intent": raw.get("intent"),
            "medicationCodeableConcept": concept,
            "subject": raw.get("subject"),
            "authoredOn": raw.get("authoredOn"),
        }
        # `raw` as the EHR sent it: a suggestion names the order by the EHR's id, never ours
        orders += [
            replace(order, resource=f"ServiceRequest/{order.id}", raw=raw)
            for order in medication_orders([as_request], "draftOrders", issues, {})
        ]
    return orders


__all__ = ["build_snapshot", "draft_orders", "observation_codes", "resource_label"]
