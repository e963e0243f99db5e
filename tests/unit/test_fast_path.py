"""Which order-sign calls may be answered "no cards" from the raw draft orders alone
(`cds.fast_path`), and which must take the full path. A wrong "fast" is a silent all-clear for a
blinatumomab or live-vaccine order, so most rows here are the adversarial ones."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest

from cds.fast_path import MAX_DEPTH, Triggers, full_path_reason
from cds.knowledge import load_knowledge

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
CVX = "http://hl7.org/fhir/sid/cvx"
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def triggers() -> Triggers:
    return Triggers.from_knowledge(load_knowledge())


def concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


ONDANSETRON = concept(RXNORM, "26225", "ondansetron")


def order(resource_type: str = "MedicationRequest", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": resource_type,
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/pt-1"},
        "authoredOn": "2026-03-02T08:00:00Z",
        "dosageInstruction": [
            {
                "text": "8 mg IV every 8 hours as needed for nausea",
                "doseAndRate": [{"doseQuantity": {"value": 8, "unit": "mg", "code": "mg"}}],
            }
        ],
    }
    return base | fields


def medication(med_id: str, code: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Medication", "id": med_id, "code": code}


def bundle(*resources: dict[str, Any], urls: tuple[str, ...] = ()) -> dict[str, Any]:
    entries: list[dict[str, Any]] = [{"resource": r} for r in resources]
    for entry, url in zip(entries, urls, strict=False):
        entry["fullUrl"] = url
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def nested(depth: int, leaf: Any) -> dict[str, Any]:
    value: Any = leaf
    for _ in range(depth):
        value = {"url": "https://example.org/fhir/ext", "extension": [value]}
    return cast(dict[str, Any], value)


BLINCYTO_CONTAINED = medication("m1", concept(NDC, "55513-160-01", "BLINCYTO kit"))
ONDANSETRON_CONTAINED = medication("m1", ONDANSETRON)

FAST = [
    ("ondansetron, RxNorm coded", bundle(order(medicationCodeableConcept=ONDANSETRON))),
    (
        "a CBC lab order (ServiceRequest)",
        bundle(
            {
                "resourceType": "ServiceRequest",
                "id": "sr-1",
                "status": "draft",
                "intent": "order",
                "code": concept(LOINC, "58410-2", "CBC panel - Blood by Automated count"),
                "subject": {"reference": "Patient/pt-1"},
            }
        ),
    ),
    (
        "ondansetron in a contained Medication",
        bundle(order(contained=[ONDANSETRON_CONTAINED], medicationReference={"reference": "#m1"})),
    ),
    (
        "ondansetron in a Medication entry of the Bundle",
        bundle(
            order(medicationReference={"reference": "Medication/m1"}),
            medication("m1", ONDANSETRON),
        ),
    ),
    ("no draft orders at all", {"resourceType": "Bundle", "type": "collection"}),
]

FULL = [
    (
        "blinatumomab by RxNorm",
        bundle(order(medicationCodeableConcept=concept(RXNORM, "1597262", "x"))),
    ),
    (
        "blinatumomab named only in text",
        bundle(order(medicationCodeableConcept={"text": "Blincyto 28 mcg/day CIVI"})),
    ),
    (
        "blinatumomab only in the dosage text of an uncoded order",
        bundle(
            order(
                medicationCodeableConcept={"text": "study drug"},
                dosageInstruction=[{"text": "continue BLINATUMOMAB infusion bag change"}],
            )
        ),
    ),
    (
        "blinatumomab in a contained Medication, NDC with hyphens",
        bundle(order(contained=[BLINCYTO_CONTAINED], medicationReference={"reference": "#m1"})),
    ),
    (
        "NDC 11-digit without hyphens",
        bundle(order(medicationCodeableConcept=concept(NDC, "55513016001", "kit"))),
    ),
    (
        "NDC in the 5-4-2 hyphen layout",
        bundle(order(medicationCodeableConcept=concept(NDC, "55513-0160-01", "kit"))),
    ),
    (
        "NDC 10-digit without hyphens",
        bundle(order(medicationCodeableConcept=concept(NDC, "5551316001", "kit"))),
    ),
    ("ATC L01FX07", bundle(order(medicationCodeableConcept=concept(ATC, "L01FX07", "x")))),
    (
        "a DSTU2 MedicationOrder for Blincyto",
        bundle(order("MedicationOrder", medicationCodeableConcept=concept(RXNORM, "1597267", "x"))),
    ),
    (
        "an R5 MedicationRequest, medication.concept coded",
        bundle(order(medication={"concept": concept(RXNORM, "1597258", "x")})),
    ),
    (
        "an R5 medication.reference the Bundle does not hold",
        bundle(order(medication={"reference": {"reference": "Medication/elsewhere"}})),
    ),
    (
        "an unresolved medicationReference (to be read from the prefetch or fhirServer)",
        bundle(order(medicationReference={"reference": "Medication/unknown"})),
    ),
    (
        "a medicationReference with a display only",
        bundle(order(medicationReference={"display": "oncology study drug"})),
    ),
    (
        "a contained id that does not match the reference",
        bundle(order(contained=[ONDANSETRON_CONTAINED], medicationReference={"reference": "#m2"})),
    ),
    (
        "blinatumomab deep in extensions",
        bundle(
            order(
                medicationCodeableConcept=ONDANSETRON,
                extension=[nested(30, {"valueString": "blinatumomab"})],
            )
        ),
    ),
    (
        "draft orders nested deeper than a request does",
        bundle(order(medicationCodeableConcept=ONDANSETRON, extension=[nested(MAX_DEPTH, {})])),
    ),
    (
        "live vaccine by CVX without the leading zero (MMR 3)",
        bundle(order(medicationCodeableConcept=concept(CVX, "3", "MMR"))),
    ),
    (
        "live vaccine by CVX (zoster live 121)",
        bundle(order(medicationCodeableConcept=concept(CVX, "121", "zoster"))),
    ),
    (
        "live vaccine by crosswalk NDC, 11-digit (VARIVAX 00006-4827-00)",
        bundle(order(medicationCodeableConcept=concept(NDC, "00006482700", "x"))),
    ),
    (
        "live vaccine by CPT only, no display (MMR 90707 as a ServiceRequest)",
        bundle(
            {
                "resourceType": "ServiceRequest",
                "id": "s1",
                "status": "draft",
                "intent": "order",
                "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "90707"}]},
                "subject": {"reference": "Patient/p1"},
            }
        ),
    ),
    (
        "live vaccine by name only (FluMist)",
        bundle(order(medicationCodeableConcept={"text": "FluMist Quadrivalent 0.2 mL"})),
    ),
    (
        "any vaccine by name",
        bundle(order(medicationCodeableConcept={"text": "Hepatitis B vaccine 20 mcg IM"})),
    ),
    (
        "an Immunization in the draft orders",
        bundle({"resourceType": "Immunization", "id": "i1", "status": "not-done"}),
    ),
    (
        "live vaccine named with a hyphen (Yellow-Fever)",
        bundle(order(medicationCodeableConcept={"text": "Yellow-Fever"})),
    ),
    (
        "live vaccine named with a tab and capitals (YELLOW<tab>FEVER)",
        bundle(order(medicationCodeableConcept={"text": "YELLOW\tFEVER"})),
    ),
    (
        "live vaccine named with dots (M.M.R. II)",
        bundle(order(medicationCodeableConcept={"text": "M.M.R. II"})),
    ),
    (
        "blinatumomab RxNorm code padded with spaces past 40 characters",
        bundle(order(medicationCodeableConcept={"coding": [{"code": " " * 40 + "1597258"}]})),
    ),
    (
        "blinatumomab NDC padded with spaces",
        bundle(order(medicationCodeableConcept={"coding": [{"code": " " * 38 + "55513-160-01"}]})),
    ),
    ("draftOrders not a Bundle", order(medicationCodeableConcept=ONDANSETRON)),
    ("entry not an array", {"resourceType": "Bundle", "entry": {"resource": {}}}),
    ("an entry without a resource", {"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}),
]


@pytest.mark.parametrize(("case", "draft_orders"), FAST, ids=[c for c, _ in FAST])
def test_orders_that_cannot_concern_blinatumomab_are_answered_at_once(
    case: str, draft_orders: dict[str, Any], triggers: Triggers
) -> None:
    assert full_path_reason(draft_orders, triggers) is None, case


@pytest.mark.parametrize(("case", "draft_orders"), FULL, ids=[c for c, _ in FULL])
def test_anything_that_may_concern_blinatumomab_or_a_vaccine_takes_the_full_path(
    case: str, draft_orders: dict[str, Any], triggers: Triggers
) -> None:
    assert full_path_reason(draft_orders, triggers) is not None, case


def test_one_blinatumomab_order_among_others_takes_the_full_path(triggers: Triggers) -> None:
    others = [order(id=f"o{i}", medicationCodeableConcept=ONDANSETRON) for i in range(20)]
    blinatumomab = order(id="b", medicationCodeableConcept=concept(RXNORM, "1597262", "x"))
    drafts = bundle(*others, blinatumomab, *copy.deepcopy(others))
    assert full_path_reason(drafts, triggers) is not None
    assert full_path_reason(bundle(*others), triggers) is None


def test_every_code_of_the_knowledge_files_triggers_the_full_path(triggers: Triggers) -> None:
    """So that a code added to codes.yaml or the crosswalk is covered without touching the code."""
    knowledge = load_knowledge()
    written = [
        c for _, c in knowledge.codes_of("blinatumomab") | knowledge.codes_of("live_vaccines")
    ]
    written += [row.ndc for row in knowledge.vaccine_recognition.ndc_to_cvx]
    written += [row.cpt for row in knowledge.vaccine_recognition.cpt_to_cvx]
    for code in written:
        drafts = bundle(order(medicationCodeableConcept=concept("urn:any", code, "-")))
        assert full_path_reason(drafts, triggers) is not None, code


def test_every_curated_vaccine_name_in_any_spelling_triggers_the_full_path(
    triggers: Triggers,
) -> None:
    """The full path reads vaccine names as words (`cds.fhir.vaccines.as_words`): whatever
    punctuation, spacing or case it sees through, the fast path must see through too."""
    for row in load_knowledge().vaccine_recognition.text_names:
        for spelling in (
            row.text.upper(),
            row.text.replace(" ", "-"),
            row.text.replace(" ", "  \t"),
            "(" + row.text.replace(" ", ", ") + ")",
        ):
            drafts = bundle(order(medicationCodeableConcept={"text": spelling}))
            assert full_path_reason(drafts, triggers) is not None, spelling


@pytest.mark.parametrize("contained", [True, 1, 1.5, "x", {"id": "m1"}])
def test_contained_that_is_not_an_array_is_read_without_error(
    contained: Any, triggers: Triggers
) -> None:
    drafts = bundle(order(medicationCodeableConcept=ONDANSETRON, contained=contained))
    assert full_path_reason(drafts, triggers) is None


def test_the_blinatumomab_triggers_name_no_vaccine() -> None:
    """`Triggers.blinatumomab` (is an unreadable order a blinatumomab one?) is not the fast
    path's: a vaccine order that cannot be read is not said to be blinatumomab."""
    alone = Triggers.blinatumomab(load_knowledge())
    assert alone.named_in(["Blincyto 35 mcg"]) and alone.named_in(["  1597258"])
    assert not alone.named_in(["MMR vaccine", "03"])
