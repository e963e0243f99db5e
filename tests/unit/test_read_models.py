"""The read models (`cds.fhir.read_models`) held to fhir.resources' R4B models: every element they
read exists there with the same type and cardinality; an error in an element the checks read is
refused by both; and every resource of the sample charts, the benchmark's charts and the real-EHR
samples reads to the same facts through both."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from bench import charts
from cds.fhir import facts, read_models
from cds.fhir.parsing import normalise, validate
from tests.cohort.generator import cohort
from tests.conftest import FIXTURES, SHARED, chart_request

ELEMENTS = sorted(
    (
        cls
        for cls in vars(read_models).values()
        if isinstance(cls, type)
        and issubclass(cls, read_models.Element)
        and cls
        not in (read_models.Element, read_models.WithChoices, read_models.WithContainedMedication)
    ),
    key=lambda cls: cls.__name__,
)


def _shape(field: FieldInfo) -> tuple[bool, Any]:
    """(is a list, the element type: a class name for complex types, the annotated primitive)."""
    annotation: Any = field.annotation
    metadata = tuple(field.metadata)
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in args if a is not type(None)]
    is_list = typing.get_origin(annotation) in (list, typing.List)  # noqa: UP006 - R4B's
    if is_list:
        (annotation,) = typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):  # R4B: [x, null]
            (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation, *rest = typing.get_args(annotation)
        metadata = tuple(rest)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return is_list, annotation.__name__
    if isinstance(annotation, type) and annotation.__name__.endswith("Type"):
        return is_list, annotation.__name__.removesuffix("Type")  # R4B's complex type names
    return is_list, (annotation, metadata)


def _required(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return field.is_required() or (isinstance(extra, dict) and bool(extra.get("element_required")))


@pytest.mark.parametrize("model", ELEMENTS, ids=lambda m: m.__name__)
def test_every_element_read_is_the_r4b_element_of_that_name_and_type(model: type[Any]) -> None:
    r4b = get_fhir_model_class(model.__name__)
    for name, field in model.model_fields.items():
        assert name in r4b.model_fields, f"{model.__name__}.{name} is not an R4 element"
        theirs = r4b.model_fields[name]
        if name != "contained":  # any resource there; a Medication is read
            assert _shape(field) == _shape(theirs), f"{model.__name__}.{name}"
        if _required(field):
            assert _required(theirs), f"{model.__name__}.{name} is optional in R4"


WEIGHT = {
    "resourceType": "Observation",
    "id": "wt-1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
    "subject": {"reference": "Patient/pt-1"},
    "effectiveDateTime": "2026-02-27T09:00:00+00:00",
    "valueQuantity": {
        "value": 70,
        "unit": "kg",
        "system": "http://unitsofmeasure.org",
        "code": "kg",
    },
}
ORDER = chart_request("adult-70kg-rr-cycle1-correct")["context"]["draftOrders"]["entry"][0][
    "resource"
]


def _with(raw: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(raw))
    change(changed)
    return changed


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("case", "raw"),
    [
        ("weight as a word", _with(WEIGHT, _set("valueQuantity.value", "seventy"))),
        ("weight with a decimal comma", _with(WEIGHT, _set("valueQuantity.value", "70,5"))),
        ("a date in US order", _with(WEIGHT, _set("effectiveDateTime", "02/27/2026"))),
        ("a status that is a number", _with(WEIGHT, _set("status", 5))),
        ("a code sent as a string", _with(WEIGHT, _set("code", "29463-7"))),
        ("no status", _with(WEIGHT, lambda r: r.pop("status"))),
        ("two value[x]", _with(WEIGHT, _set("valueString", "70 kg"))),
        ("a unit code with a leading space", _with(WEIGHT, _set("valueQuantity.code", " kg"))),
        (
            "a dose as text",
            _with(ORDER, _set("dosageInstruction.0.doseAndRate.0.doseQuantity.value", "28 mcg")),
        ),
        (
            "a start date that is not a date",
            _with(ORDER, _set("dosageInstruction.0.timing.repeat.boundsPeriod.start", "today")),
        ),
        ("a cycle number as text", _with(ORDER, _set("extension.0.valueInteger", "two"))),
        ("no status on the order", _with(ORDER, lambda r: r.pop("status"))),
        ("a reason sent as text", _with(ORDER, _set("reasonCode", "relapsed ALL"))),
        (
            "a contained Medication whose code is a string",
            _with(
                ORDER,
                _set("contained", [{"resourceType": "Medication", "id": "m", "code": "x"}]),
            ),
        ),
    ],
)
def test_an_error_in_an_element_read_is_refused_by_both(case: str, raw: dict[str, Any]) -> None:
    model, issue = validate(raw, "test")
    assert model is None and issue is not None and issue.problem.startswith("invalid FHIR R4")
    with pytest.raises((ValidationError, ValueError)):
        get_fhir_model_class(raw["resourceType"]).model_validate(normalise(raw)[0])


def test_an_error_in_an_element_no_check_reads_is_ignored() -> None:
    """fhir.resources refuses the whole weight for a performer sent as text; no check reads it."""
    raw = WEIGHT | {"performer": "Dr Smith"}
    with pytest.raises(ValidationError):
        get_fhir_model_class("Observation").model_validate(raw)
    model, issue = validate(raw, "test")
    assert issue is None and model is not None


FACTS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "Observation": lambda model, raw: facts.observation_fact(model),
    "Immunization": lambda model, raw: facts.immunization_fact(model),
    "Condition": lambda model, raw: facts.condition_fact(model),
    "MedicationRequest": lambda model, raw: facts.medication_order(model, raw),
    "MedicationAdministration": lambda model, raw: facts.administration_fact(model),
    "Patient": lambda model, raw: (model.birthDate, model.gender),
    "Medication": lambda model, raw: facts.codes_of(model.code),
}


def _resources_within(value: Any) -> Iterator[dict[str, Any]]:
    """Every resource nested anywhere in a JSON document (prefetch, draft orders, Bundles)."""
    if isinstance(value, dict):
        if value.get("resourceType") in FACTS:
            yield value
        for item in value.values():
            yield from _resources_within(item)
    elif isinstance(value, list):
        for item in value:
            yield from _resources_within(item)


def _sample_resources() -> Iterator[tuple[str, dict[str, Any]]]:
    """The sample charts, hook requests and scenarios, the spec's and other projects' payloads,
    the benchmark's charts and the synthetic cohort."""
    paths = [*sorted(FIXTURES.rglob("*.json")), *sorted((SHARED / "spec").rglob("*.json"))]
    for path in paths:
        for raw in _resources_within(json.loads(path.read_text(encoding="utf-8"))):
            yield path.name, raw
    for label, request in (("bench typical", charts.typical()), ("bench long", charts.long())):
        for raw in _resources_within(request):
            yield label, raw
    for patient in cohort(40):
        for raw in _resources_within([patient.chart, patient.drafts, patient.medications]):
            yield patient.patient_id, raw


def test_every_sample_resource_reads_to_the_same_facts_through_both() -> None:
    compared = 0
    for label, raw in _sample_resources():
        kind = raw["resourceType"]
        fixed = normalise(raw)[0]
        try:
            theirs = get_fhir_model_class(kind).model_validate(fixed)
        except (ValidationError, ValueError):
            continue  # refused by R4B: what we make of it is tested where it matters
        ours, issue = validate(raw, "test")
        assert issue is None, (label, issue)
        assert FACTS[kind](ours, fixed) == FACTS[kind](theirs, fixed), (label, raw.get("id"))
        compared += 1
    assert compared > 500
