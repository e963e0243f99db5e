"""Seizures and undated toxicities on the chart -> the dose card (label §2.4: "more than one
seizure: discontinue permanently"; toxicity.yaml).

Golden matrix through the whole service: an adult R/R patient whose cycle 1 ran 2026-01-05 to
2026-02-02; a cycle 2 order at 28 mcg/day is signed on 2026-03-02. Seizures count as events: one
seizure charted twice (problem list and encounter diagnosis, the same onset, onsets minutes apart,
or one timed and one dated by the day alone) is one, two hours apart are two; status epilepticus
is more than one by definition; a seizure coded in SNOMED CT only, or named in words, counts; a
negation or a history entry ("History of seizures", "Seizure precautions") does not. A toxicity
whose grade is known but whose date is not says the date is what is missing (red-team case tox11).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from cds.cards import FINDING_CODE_EXTENSION
from cds.knowledge import load_knowledge
from cds.patient import ConditionFact
from cds.toxicity import assess, named_toxicity, seizure_count, toxicity_events
from tests.conftest import SIGN
from tests.fixtures_util import (
    SNOMED,
    Step,
    blinatumomab_order,
    bundle,
    condition,
    height,
    order_sign,
    patient,
    weight,
)

P = "pt-seizures"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
C1_START = "2026-01-05T10:00:00+00:00"
DISCONTINUE = ("critical", "dose-toxicity-discontinue")
GRADE_UNKNOWN = ("warning", "dose-toxicity-grade-unknown")
DATE_UNKNOWN = ("warning", "dose-toxicity-date-unknown")
ENCOUNTER_DIAGNOSIS = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": "encounter-diagnosis",
            "display": "Encounter Diagnosis",
        }
    ]
}


def seizure(
    code: str,
    onset: str | None,
    *,
    system: str = ICD10CM,
    display: str = "Unspecified convulsions",
    cid: str = "sz-1",
    encounter: str | None = None,
) -> dict[str, Any]:
    """A resolved seizure Condition: on the problem list, or, with `encounter`, the diagnosis of
    that encounter (as the ED or ward charts it beside the problem-list entry)."""
    resource = condition(
        P, code, display, cid=cid, clinical_status="resolved", system=system, onset=onset or ""
    )
    if onset is None:
        del resource["onsetDateTime"]
    if encounter is not None:
        resource["category"] = [ENCOUNTER_DIAGNOSIS]
        resource["encounter"] = {"reference": f"Encounter/{encounter}"}
    return resource


def named(name: str, onset: str, cid: str) -> dict[str, Any]:
    """A problem-list entry in words under the EHR's own problem code (no ICD-10-CM, no SNOMED)."""
    resource = seizure("local", onset, system="https://ehr.example.org/problem-list", cid=cid)
    resource["code"] = {
        "coding": [
            {"system": "https://ehr.example.org/problem-list", "code": f"P{cid}", "display": name}
        ],
        "text": name,
    }
    return resource


def chart(*conditions: dict[str, Any]) -> dict[str, Any]:
    """Adult 78 kg, R/R cycle 1 (9 then 28 mcg/day) on file from 2026-01-05, the toxicities, and
    the cycle 2 order (28 mcg/day for 28 days) to sign."""
    cycle_1 = blinatumomab_order(
        P,
        [Step(9, days=7), Step(28, days=21)],
        oid="blinatumomab-c1",
        cycle=1,
        start=C1_START,
        status="completed",
        authored="2026-01-05T08:00:00+00:00",
    )
    return bundle(
        [
            patient(P),
            weight(P, 78),
            height(P, 176),
            cycle_1,
            *conditions,
            blinatumomab_order(P, [Step(28, days=28)], cycle=2),
        ]
    )


SZ_DAY_4 = "2026-01-08T14:20:00+00:00"
SZ_DAY_6 = "2026-01-10T03:05:00+00:00"

SCENARIOS: dict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = {
    # --- coded in SNOMED CT only; status epilepticus (red-team tox1, tox8) -----------------------
    "two seizures coded SNOMED CT 91175000 only, days 4 and 6 -> critical": (
        chart(
            seizure("91175000", SZ_DAY_4, system=SNOMED, display="Seizure", cid="sz-1"),
            seizure("91175000", SZ_DAY_6, system=SNOMED, display="Seizure", cid="sz-2"),
        ),
        [DISCONTINUE],
    ),
    "'Rule out cytokine release syndrome grade 4' on the problem list during cycle 1 -> no "
    "discontinue card (ruled out is no event)": (
        chart(named("Rule out cytokine release syndrome grade 4", SZ_DAY_4, "1")),
        [],
    ),
    "'Cytokine release syndrome grade 4' on the problem list during cycle 1 -> critical": (
        chart(named("Cytokine release syndrome grade 4", SZ_DAY_4, "1")),
        [DISCONTINUE],
    ),
    "two febrile convulsions (R56.00, R56.01) on days 4 and 6 of a feverish cycle 1 -> critical": (
        chart(
            seizure("R56.00", SZ_DAY_4, display="Simple febrile convulsions", cid="sz-1"),
            seizure("R56.01", SZ_DAY_6, display="Complex febrile convulsions", cid="sz-2"),
        ),
        [DISCONTINUE],
    ),
    "one seizure coded SNOMED CT 91175000 -> no card (one is not more than one)": (
        chart(seizure("91175000", SZ_DAY_4, system=SNOMED, display="Seizure")),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "status epilepticus G41.9 (WHO ICD-10 code sent as ICD-10-CM) on day 5 -> critical": (
        chart(seizure("G41.9", SZ_DAY_4, display="Status epilepticus, unspecified")),
        [DISCONTINUE],
    ),
    "status epilepticus G41.0 under the WHO ICD-10 system -> critical": (
        chart(seizure("G41.0", SZ_DAY_4, system=ICD10_WHO, display="Grand mal status epilepticus")),
        [DISCONTINUE],
    ),
    "status epilepticus SNOMED CT 230456007 -> critical": (
        chart(seizure("230456007", SZ_DAY_4, system=SNOMED, display="Status epilepticus")),
        [DISCONTINUE],
    ),
    "status epilepticus G40.901 (ICD-10-CM: epilepsy with status epilepticus) -> critical": (
        chart(
            seizure(
                "G40.901",
                SZ_DAY_4,
                display="Epilepsy, unspecified, not intractable, with status epilepticus",
            )
        ),
        [DISCONTINUE],
    ),
    "status epilepticus G41.9 on day -30, before blinatumomab -> no card": (
        chart(seizure("G41.9", "2025-12-06T09:00:00+00:00", display="Status epilepticus")),
        [],
    ),
    # --- seizures named in words, not negated, not history ---------------------------------------
    "two problem-list entries 'Seizure' and 'Generalized convulsion' (local codes) -> critical": (
        chart(
            named("Seizure", SZ_DAY_4, "1"),
            named("Generalized tonic-clonic convulsion", SZ_DAY_6, "2"),
        ),
        [DISCONTINUE],
    ),
    "'Non-convulsive status epilepticus' in words -> critical": (
        chart(named("Non-convulsive status epilepticus", SZ_DAY_4, "1")),
        [DISCONTINUE],
    ),
    "R56.9 on day 4 and 'History of seizures' recorded on day 6 -> no card": (
        chart(seizure("R56.9", SZ_DAY_4), named("History of seizures", SZ_DAY_6, "2")),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "R56.9 on day 4 and 'Seizure precautions' on day 6 -> no card": (
        chart(seizure("R56.9", SZ_DAY_4), named("Seizure precautions", SZ_DAY_6, "2")),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "R56.9 on day 4 and 'No seizure activity on EEG' on day 6 -> no card": (
        chart(seizure("R56.9", SZ_DAY_4), named("No seizure activity on EEG", SZ_DAY_6, "2")),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "R56.9 on day 4 and 'Seizure prophylaxis (levetiracetam)' on day 6 -> no card": (
        chart(
            seizure("R56.9", SZ_DAY_4),
            named("Seizure prophylaxis (levetiracetam)", SZ_DAY_6, "2"),
        ),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    # --- one seizure charted twice is one event (red-team tox17) ---------------------------------
    "one seizure on the problem list and as the ED encounter's diagnosis, same onset -> no card": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-problem"),
            seizure("R56.9", SZ_DAY_4, cid="sz-ed", encounter="enc-ed"),
        ),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "one seizure as R56.9 on the problem list and SNOMED CT as the encounter dx -> no card": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-problem"),
            seizure(
                "91175000",
                SZ_DAY_4,
                system=SNOMED,
                display="Seizure",
                cid="sz-ed",
                encounter="enc-ed",
            ),
        ),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "the same instant written in another time zone (09:20-05:00 = 14:20Z) -> one event, no card": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-problem"),
            seizure("R56.9", "2026-01-08T09:20:00-05:00", cid="sz-ed", encounter="enc-ed"),
        ),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "two seizures on the same day, 14:20 and 22:40 -> critical (different onsets)": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-1"),
            seizure("R56.9", "2026-01-08T22:40:00+00:00", cid="sz-2"),
        ),
        [DISCONTINUE],
    ),
    "one seizure charted twice, and a second one on day 6 -> critical (two events)": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-problem"),
            seizure("R56.9", SZ_DAY_4, cid="sz-ed", encounter="enc-ed"),
            seizure("R56.9", SZ_DAY_6, cid="sz-2"),
        ),
        [DISCONTINUE],
    ),
    # --- charted twice, not at the same instant (red-team 5 t12, t24; toxicity.yaml 15 minutes) --
    "one seizure timed 14:20 on the problem list, and the ED diagnosis dated by day (same day) -> "
    "no card (one seizure)": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-problem"),
            seizure(
                "91175000",
                "2026-01-08",
                system=SNOMED,
                display="Seizure",
                cid="sz-ed",
                encounter="enc-ed",
            ),
        ),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "one seizure entered twice two minutes apart (14:20 and 14:22) -> no card (one seizure)": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-problem"),
            seizure("R56.9", "2026-01-08T14:22:00+00:00", cid="sz-ed", encounter="enc-ed"),
        ),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "one seizure at 21:00 New York time, the ED diagnosis dated by that local day (the UTC day "
    "after) -> no card (one seizure)": (
        chart(
            seizure("R56.9", "2026-01-08T21:00:00-05:00", cid="sz-problem"),
            seizure("R56.9", "2026-01-08", cid="sz-ed", encounter="enc-ed"),
        ),
        [GRADE_UNKNOWN],  # one ungraded seizure: may be grade 3 (CTCAE v5)
    ),
    "two seizures 30 minutes apart (14:20 and 14:50) -> critical (two events)": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-1"),
            seizure("R56.9", "2026-01-08T14:50:00+00:00", cid="sz-2"),
        ),
        [DISCONTINUE],
    ),
    "a seizure dated by day on day 4 and a timed one on day 6 -> critical (different days)": (
        chart(
            seizure("R56.9", "2026-01-08", cid="sz-1"),
            seizure("R56.9", SZ_DAY_6, cid="sz-2"),
        ),
        [DISCONTINUE],
    ),
    "two timed seizures on day 4 (14:20, 22:40) and that day's ED diagnosis dated by day -> "
    "critical (two events, the day-only entry is one of them)": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-1"),
            seizure("R56.9", "2026-01-08T22:40:00+00:00", cid="sz-2"),
            seizure("R56.9", "2026-01-08", cid="sz-ed", encounter="enc-ed"),
        ),
        [DISCONTINUE],
    ),
    "a seizure at 14:20 and an epilepsy diagnosis (G40.909, recurrent seizures) dated by that "
    "day -> critical (the entry recording the most seizures counts)": (
        chart(
            seizure("R56.9", SZ_DAY_4, cid="sz-1"),
            seizure("G40.909", "2026-01-08", display="Epilepsy, unspecified", cid="g40"),
        ),
        [DISCONTINUE],
    ),
    # --- what is unknown: the date or the grade (red-team tox11) ---------------------------------
    "CRS grade 4 (D89.834) with no onset date -> warning to record when it began": (
        chart(seizure("D89.834", None, display="Cytokine release syndrome, grade 4", cid="crs-1")),
        [DATE_UNKNOWN],
    ),
    "one seizure with no onset date -> warning to record when it began": (
        chart(seizure("R56.9", None)),
        [DATE_UNKNOWN],
    ),
    "CRS grade unspecified (D89.839) with no onset date -> warning to confirm the grade": (
        chart(
            seizure(
                "D89.839", None, display="Cytokine release syndrome, grade unspecified", cid="c"
            )
        ),
        [GRADE_UNKNOWN],
    ),
    "CRS grade unspecified (D89.839) on day 3 -> warning to confirm the grade": (
        chart(
            seizure(
                "D89.839",
                "2026-01-07T10:00:00+00:00",
                display="Cytokine release syndrome, grade unspecified",
                cid="c",
            )
        ),
        [GRADE_UNKNOWN],
    ),
}


def dose_cards(client: FlaskClient, chart_bundle: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post(SIGN, json=order_sign(chart_bundle))
    assert response.status_code == 200, response.get_json()
    return [c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "dose"]


@pytest.mark.parametrize(("chart_bundle", "expected"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_seizure_and_undated_toxicity_golden_matrix(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    cards = dose_cards(client, chart_bundle)
    got = sorted((c["indicator"], c["extension"][FINDING_CODE_EXTENSION]) for c in cards)
    assert got == sorted(expected), [c["summary"] for c in cards]


def test_an_undated_grade_4_crs_asks_for_its_date_not_its_grade(client: FlaskClient) -> None:
    """Red-team case tox11: the grade is in the code; what is missing is when it happened."""
    undated = seizure("D89.834", None, display="Cytokine release syndrome, grade 4", cid="crs-1")
    [card] = dose_cards(client, chart(undated))
    assert card["summary"] == "Confirm when the toxicity began before restarting blinatumomab"
    assert "grade" not in card["summary"]
    assert "CRS grade 4 has no onset date" in card["detail"]
    assert "Record the Condition's onset date" in " ".join(card["detail"].split())


def test_an_undated_ungraded_crs_says_both_are_missing(client: FlaskClient) -> None:
    undated = seizure("D89.839", None, display="Cytokine release syndrome", cid="crs-1")
    [card] = dose_cards(client, chart(undated))
    assert card["summary"] == "Confirm the grade of the toxicity before restarting blinatumomab"
    assert "CRS has no onset date and no grade" in card["detail"]


def test_status_epilepticus_is_named_on_the_discontinue_card(client: FlaskClient) -> None:
    [card] = dose_cards(client, chart(seizure("G41.9", SZ_DAY_4, display="Status epilepticus")))
    assert card["indicator"] == "critical"
    assert "2 seizures since blinatumomab (more than 1)" in card["summary"]


# --- the pieces, without the service ----------------------------------------------------------

RULES = load_knowledge().toxicity
CYCLE1 = datetime(2026, 1, 5, 10, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)


def fact(
    codes: set[tuple[str, str]], onset: datetime | None, text: str = "", rid: str = "c"
) -> ConditionFact:
    return ConditionFact(
        resource=f"Condition/{rid}",
        codes=frozenset(codes),
        clinical_status="resolved",
        verification_status="confirmed",
        onset=onset,
        text=text.lower(),
    )


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("Seizure", ("seizure", None)),
        ("Generalized tonic-clonic seizures", ("seizure", None)),
        ("Convulsion", ("seizure", None)),
        ("Status epilepticus", ("seizure", None)),
        ("Non-convulsive status epilepticus", ("seizure", None)),
        ("Seizure, no further episodes since", ("seizure", None)),  # "no" after the name
        ("History of seizures", None),
        ("Hx of seizure", None),
        ("H/O convulsions", None),
        ("Family history of seizures", None),
        ("No seizure activity", None),
        ("Denies seizures", None),
        ("Rule out seizure", None),
        ("R/O seizure", None),
        ("Seizure precautions", None),
        ("Seizure prophylaxis", None),
        ("Seizure-free since 2019", None),
        ("Psychogenic non-epileptic seizures", None),
        ("At risk for seizures", None),
        # CRS and neurotoxicity names first: the graded ICANS, not a seizure
        ("ICANS grade 3 with seizure", ("neurotoxicity", 3)),
        ("Cytokine release syndrome, Grade IV", ("crs", 4)),
        # a CRS or ICANS ruled out or denied is none; a past one still counts (its date decides)
        ("Rule out cytokine release syndrome grade 4", None),
        ("R/O CRS grade 4", None),
        ("No ICANS grade 3", None),
        ("Negative for cytokine release syndrome, grade 3", None),
        ("History of cytokine release syndrome grade 4", ("crs", 4)),
        ("Cytokine release syndrome grade 3, not resolved", ("crs", 3)),
        ("Acute lymphoblastic leukemia", None),
    ],
)
def test_a_toxicity_named_in_words(name: str, read: tuple[str, int | None] | None) -> None:
    assert named_toxicity(name.lower(), RULES) == read


@pytest.mark.parametrize(
    ("system", "code", "seizures"),
    [
        (ICD10CM, "R56.9", 1),
        (ICD10CM, "R56.00", 1),
        (ICD10CM, "R56.01", 1),
        (ICD10CM, "G40.909", 2),
        (ICD10CM, "G41.9", 2),
        (ICD10_WHO, "G41.9", 2),
        (SNOMED, "91175000", 1),
        (SNOMED, "230456007", 2),
        (SNOMED, "84757009", 2),  # epilepsy (disorder): recurrent seizures, as G40.-
    ],
)
def test_seizure_codes_of_every_system(system: str, code: str, seizures: int) -> None:
    entry = RULES.classify_coding(system, code)
    assert entry is not None
    assert (entry.kind, entry.seizures) == ("seizure", seizures)


@pytest.mark.parametrize(
    ("system", "code"),
    [
        (SNOMED, "R56.9"),  # an ICD-10-CM code under another system is not a seizure
        (ICD10_WHO, "R56.9"),  # (WHO ICD-10 lists only G41 here)
        (ICD10CM, "91175000"),
        (ICD10CM, "84757009"),  # SNOMED CT epilepsy under ICD-10-CM: no code there
    ],
)
def test_a_code_counts_only_under_its_own_system(system: str, code: str) -> None:
    assert RULES.classify_coding(system, code) is None


def test_seizure_entries_within_the_window_of_an_event_s_first_onset_are_that_event() -> None:
    """Measured from the event's first onset, not chained: entries 10 minutes apart over 20
    minutes are two events (a seizure cluster is more than one seizure)."""
    first = datetime(2026, 1, 8, 14, 20, tzinfo=UTC)
    entries = [
        fact({(ICD10CM, "R56.9")}, first + timedelta(minutes=m), rid=f"sz-{m}") for m in (0, 10, 20)
    ]
    assert RULES.seizure.same_event_within_minutes == 15
    assert seizure_count(toxicity_events(entries[:2], RULES), RULES) == 1
    assert seizure_count(toxicity_events(entries, RULES), RULES) == 2


def test_seizure_events_are_counted_by_onset_instant() -> None:
    day_4 = datetime(2026, 1, 8, 14, 20, tzinfo=UTC)
    problem = fact({(ICD10CM, "R56.9")}, day_4, rid="problem")
    diagnosis = fact({(SNOMED, "91175000")}, day_4, rid="ed")
    epilepsy = fact({(ICD10CM, "G40.909")}, day_4, rid="g40")
    later = fact({(ICD10CM, "R56.9")}, day_4.replace(hour=22), rid="later")
    assert seizure_count(toxicity_events([problem, diagnosis], RULES), RULES) == 1
    assert seizure_count(toxicity_events([problem, epilepsy], RULES), RULES) == 2  # the most
    assert seizure_count(toxicity_events([problem, diagnosis, later], RULES), RULES) == 2
    one = assess([problem, diagnosis], CYCLE1, RULES, NOW)  # one seizure, ungraded
    assert one.action == "confirm"
    assert one.unknown == {"seizure grade"}
    assert one.seizure_count_unknown == ()
    assert assess([problem, later], CYCLE1, RULES, NOW).action == "discontinue"


def test_an_undated_verdict_says_what_is_unknown() -> None:
    crs_4 = fact({(ICD10CM, "D89.834")}, None)
    crs_unspecified = fact({(ICD10CM, "D89.839")}, None)
    dated_unspecified = fact({(ICD10CM, "D89.839")}, datetime(2026, 1, 7, tzinfo=UTC))
    assert assess([crs_4], CYCLE1, RULES, NOW).unknown == {"onset date"}
    assert assess([crs_unspecified], CYCLE1, RULES, NOW).unknown == {"onset date", "grade"}
    assert assess([dated_unspecified], CYCLE1, RULES, NOW).unknown == {"grade"}
    assert assess([], CYCLE1, RULES, NOW).unknown == frozenset()
