"""Why a request gets no cards: each domain error has one HTTP answer, and a validation error is
told to the caller the same way wherever it arises."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from cds import errors
from cds.web.errors import status_of

ROOT = Path(__file__).resolve().parents[2]


def _all_subclasses(kind: type) -> list[type]:
    direct: list[type] = kind.__subclasses__()
    return [sub for child in direct for sub in (child, *_all_subclasses(child))]


@pytest.mark.parametrize(
    "kind", _all_subclasses(errors.RequestNotAnswered), ids=lambda k: k.__name__
)
def test_every_domain_error_has_a_4xx_or_503_answer(kind: type) -> None:
    error = kind(5) if kind is errors.TooManyDraftOrders else kind("why")
    status, code = status_of(error)
    assert 400 <= status < 500 or status == 503
    assert code in {"invalid", "not-found", "too-costly", "transient", "forbidden"}


def test_too_many_draft_orders_is_413_as_the_design_contract_says() -> None:
    assert status_of(errors.TooManyDraftOrders(200)) == (413, "too-costly")
    assert str(errors.TooManyDraftOrders(200)) == "more than 200 draft orders"


class Dose(BaseModel):
    value: float
    unit: str

    @model_validator(mode="after")
    def known_unit(self) -> Dose:
        if self.unit not in ("ug/d", "ug/m2/d"):
            raise ValueError("unit must be ug/d or ug/m2/d")
        return self


class Order(BaseModel):
    doses: list[Dose]


def _error(model: type[BaseModel], data: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return caught.value


def test_a_validation_error_names_where_and_what() -> None:
    error = _error(Order, {"doses": [{"value": "lots", "unit": "ug/d"}]})
    assert errors.validation_message(error) == (
        "doses.0.value: Input should be a valid number, unable to parse string as a number"
    )
    assert errors.validation_message(error, "context.").startswith("context.doses.0.value: ")


def test_a_whole_object_problem_names_the_body_or_the_part_it_is_in() -> None:
    error = _error(Dose, {"value": 9, "unit": "mg"})
    assert errors.validation_message(error) == "body: Value error, unit must be ug/d or ug/m2/d"
    assert errors.validation_message(error, "context.").startswith("context: Value error")


def test_many_problems_are_summarised() -> None:
    error = _error(Order, {"doses": [{} for _ in range(3)]})  # two fields missing in each
    message = errors.validation_message(error)
    assert message.count("Field required") == errors.MAX_LISTED_PROBLEMS
    assert message.endswith(" (and 3 more)")


def test_nothing_in_the_web_layer_imports_the_command_line() -> None:
    for path in (ROOT / "cds" / "web").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "cds.__main__", path.name
            if isinstance(node, ast.Import):
                assert all(alias.name != "cds.__main__" for alias in node.names), path.name
