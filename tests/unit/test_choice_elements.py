"""Choice elements ([x]): a resource sending one element in two types is refused, since which one
holds the value would be anyone's guess; R4's open types (and R4B's two new ones) name every
type a choice may take."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds.fhir import read_models
from cds.fhir.parsing import validate
from tests.unit.test_read_models import WEIGHT  # a weight as an EHR sends it

WITH_CHOICES = sorted(
    (
        model
        for model in vars(read_models).values()
        if isinstance(model, type)
        and issubclass(model, read_models.WithChoices)
        and model is not read_models.WithChoices
        and model.choices
    ),
    key=lambda model: model.__name__,
)


@pytest.mark.parametrize("model", WITH_CHOICES, ids=lambda m: m.__name__)
def test_every_r4_type_of_each_choice_read_is_known(model: type[read_models.WithChoices]) -> None:
    r4b = get_fhir_model_class(model.__name__)
    names = dict(model._choice_names)
    for choice in model.choices:
        theirs = {
            name
            for name in r4b.model_fields
            if name.startswith(choice)
            and name[len(choice) : len(choice) + 1].isupper()
            and not name.endswith("__ext")  # fhir.resources' field for `_valueString` and such
        }
        assert theirs, f"{model.__name__}.{choice}[x] is not a choice element in R4"
        assert theirs <= names[choice], sorted(theirs - names[choice])


def test_a_weight_in_one_type_is_read() -> None:
    model, issue = validate(WEIGHT, "observations")
    assert issue is None and model is not None


@pytest.mark.parametrize(
    "second",
    [
        {"valueString": "70 kg"},
        {"valueInteger": 70},
        {"valueCodeableConcept": {"text": "seventy kilograms"}},
    ],
    ids=["string", "integer (a type no check reads)", "CodeableConcept"],
)
def test_a_weight_sent_in_two_types_is_refused_and_said(second: dict[str, Any]) -> None:
    model, issue = validate(WEIGHT | second, "observations")
    assert model is None and issue is not None
    assert f"value[x] sent as {' and '.join(sorted(['valueQuantity', *second]))}" in issue.problem


def test_two_effective_times_are_refused_but_an_unknown_element_is_ignored() -> None:
    _, issue = validate(WEIGHT | {"effectivePeriod": {"start": "2026-11-30"}}, "observations")
    assert issue is not None and "effective[x]" in issue.problem
    model, issue = validate(WEIGHT | {"valueless": True}, "observations")
    assert issue is None and model is not None
