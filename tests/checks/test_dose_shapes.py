"""Shapes of an order the red team of 2026-12 found misread, below the whole service (the
clinical scenarios are rows of test_dose_matrix.RED_TEAM_2026_12)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cds.dosing import written_as_rounded
from cds.fhir import read_models
from cds.fhir.codings import canonical_system
from cds.fhir.facts import medication_order
from cds.orders import cycle_of

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CYCLE = "https://cds.example.org/fhir/StructureDefinition/treatment-cycle"


@pytest.mark.parametrize(
    ("mass", "hours"), [(20, 24), (28, 24), (32, 24), (40, 24), (100, 24), (120, 72), (84, 72)]
)
def test_a_rate_ratio_quotient_that_does_not_terminate_is_no_crash(mass: int, hours: int) -> None:
    """40 ug / 24 h is 1.666... ug/h to 28 digits: the rounding test raised InvalidOperation."""
    written = Decimal(mass) / Decimal(hours)
    per_day = written * 24
    assert written_as_rounded(written, per_day, Decimal(28), Decimal(3)) is (
        abs(per_day - 28) < Decimal("1e-20")
    )


@pytest.mark.parametrize(
    "sent",
    [
        RXNORM + "/",
        "https://www.nlm.nih.gov/research/umls/rxnorm",
        "https://www.nlm.nih.gov/research/umls/rxnorm/",
    ],
)
def test_rxnorm_with_a_trailing_slash_or_https_is_rxnorm(sent: str) -> None:
    assert canonical_system(sent) == RXNORM


def test_an_unknown_system_with_a_slash_stays_as_sent() -> None:
    assert canonical_system("https://ehr.example.org/drugs/") == "https://ehr.example.org/drugs/"


def _order(*cycles: int) -> dict[str, object]:
    return {
        "resourceType": "MedicationRequest",
        "id": "o",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "extension": [{"url": CYCLE, "valueInteger": c} for c in cycles],
    }


@pytest.mark.parametrize(
    ("cycles", "read"), [((1, 2), None), ((2, 1), None), ((2, 2), 2), ((1, 2, 1), None), ((3,), 3)]
)
def test_a_treatment_cycle_sent_twice_is_known_only_when_both_agree(
    cycles: tuple[int, ...], read: int | None
) -> None:
    raw = _order(*cycles)
    order = medication_order(read_models.MedicationRequest.model_validate(raw), raw)
    assert cycle_of(order) == read
