"""A delivery ends a pregnancy evidence that gives no weeks whenever it comes after it (red team 4).

pregnancy.yaml: an evidence with no weeks of gestation (a positive result, an O09/Z34 prenatal
visit) is ended by ANY later delivery (the 28-day `end_after_undated_evidence_days` rule is gone:
a prenatal visit 9 days before a charted birth, or the positive hCG at the diagnosis of a
pregnancy-associated ALL 21 days before a C-section, kept a critical card for ~300 days). One with
weeks keeps the 20-week plausibility rule (`min_weeks_at_delivery`), and a positive result takes
the weeks of a gestational age or a Z3A code charted within `positive_result_weeks_within_days`
of it. The infusion starts 2026-03-02T10:00Z (tests/checks/test_pregnancy).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_pregnancy import (
    CONTRACEPTION_REMINDER,
    PID,
    POSITIVE,
    TWO_DAYS_AGO,
    chart,
    urine_hcg,
)
from tests.checks.test_pregnancy_real_charts import (
    CPT,
    UNVERIFIED,
    coded_procedure,
    delivery_entry,
    gestational_age,
    with_procedures,
)
from tests.conftest import SIGN
from tests.fixtures_util import ICD10CM, Expected, condition, findings_of_topic, order_sign

BIRTH = ("Z37.0", "Single live birth")


def visit(code: str, display: str, onset: str, cid: str = "prenatal") -> dict[str, Any]:
    """An encounter diagnosis of a prenatal visit (ICD-10-CM), active, dated by its onset."""
    return condition(PID, code, display, cid=cid, system=ICD10CM, onset=onset)


def delivered(when: str) -> dict[str, Any]:
    """CPT 59400 (routine obstetric care, vaginal delivery) performed `when`."""
    return coded_procedure(CPT, "59400", "Routine obstetric care, vaginal delivery", when)


C_SECTION_FEB_10 = coded_procedure(CPT, "59514", "Cesarean delivery only", "2026-02-10T09:00:00Z")
POSITIVE_AT_DIAGNOSIS = urine_hcg("2026-01-20T08:00:00+00:00", "positive")
POSITIVE_40_DAYS_AGO = urine_hcg("2026-01-21T08:00:00+00:00", "positive")
# obstetric history re-charted with the day it was typed in (a 2019 C-section)
HISTORY_IMPORTED = coded_procedure(CPT, "59510", "C-section (2019)", "2026-02-27T15:00:00+00:00")

ROWS: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    # red team 4 P02/P02b/P02d/P02e: a prenatal visit 9 days before a charted delivery
    "O09.523 Jan 25, CPT 59400 and Z37.0 Feb 3 -> not verified": (
        with_procedures(
            chart(
                visit("O09.523", "Supervision of elderly multigravida, third", "2026-01-25"),
                delivery_entry(ICD10CM, *BIRTH, "2026-02-03"),
            ),
            delivered("2026-02-03T11:00:00+00:00"),
        ),
        UNVERIFIED,
    ),
    "Z34.83 Jan 25, CPT 59400 Feb 3 -> not verified": (
        with_procedures(
            chart(visit("Z34.83", "Supervision of normal pregnancy, third", "2026-01-25")),
            delivered("2026-02-03T11:00:00+00:00"),
        ),
        UNVERIFIED,
    ),
    "O09.523 Jul 25 2025, Z37.0 Aug 3 2025 -> not verified": (
        order_sign(
            chart(
                visit("O09.523", "Supervision of elderly multigravida, third", "2025-07-25"),
                delivery_entry(ICD10CM, *BIRTH, "2025-08-03"),
            )
        ),
        UNVERIFIED,
    ),
    "O09.523 Jul 25 2025, Z37.0 Aug 3 2025, negative hCG 2 days ago -> verified": (
        order_sign(
            chart(
                visit("O09.523", "Supervision of elderly multigravida, third", "2025-07-25"),
                delivery_entry(ICD10CM, *BIRTH, "2025-08-03"),
                urine_hcg(TWO_DAYS_AGO, "negative"),
            )
        ),
        [CONTRACEPTION_REMINDER],
    ),
    # red team 4 P01-P01d: pregnancy-associated ALL, delivered before treatment
    "positive hCG Jan 20, C-section Feb 10 -> not verified": (
        with_procedures(chart(POSITIVE_AT_DIAGNOSIS), C_SECTION_FEB_10),
        UNVERIFIED,
    ),
    "positive hCG and Z3A.36 Jan 20, C-section Feb 10 -> not verified": (
        with_procedures(
            chart(
                POSITIVE_AT_DIAGNOSIS,
                visit("Z3A.36", "36 weeks gestation of pregnancy", "2026-01-20", "z3a"),
            ),
            C_SECTION_FEB_10,
        ),
        UNVERIFIED,
    ),
    "positive hCG and gestational age 36 wk Jan 20, C-section Feb 10 -> not verified": (
        with_procedures(
            chart(POSITIVE_AT_DIAGNOSIS, gestational_age("2026-01-20T10:00:00+00:00", 36)),
            C_SECTION_FEB_10,
        ),
        UNVERIFIED,
    ),
    "positive hCG Jan 20, Z37.0 and O80 Feb 10 -> not verified": (
        order_sign(
            chart(
                POSITIVE_AT_DIAGNOSIS,
                delivery_entry(ICD10CM, *BIRTH, "2026-02-10"),
                visit("O80", "Encounter for full-term uncomplicated delivery", "2026-02-10", "o80"),
            )
        ),
        UNVERIFIED,
    ),
    # the weeks beside a positive keep the 20-week rule against history re-charted on import
    "positive hCG and gestational age 6 wk Jan 21, CPT 59510 on its import day -> critical": (
        with_procedures(
            chart(POSITIVE_40_DAYS_AGO, gestational_age("2026-01-21T10:00:00+00:00", 6)),
            HISTORY_IMPORTED,
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    "positive hCG Jan 21, Z3A.08 Jan 23, CPT 59510 on its import day -> critical": (
        with_procedures(
            chart(
                POSITIVE_40_DAYS_AGO,
                visit("Z3A.08", "8 weeks gestation of pregnancy", "2026-01-23", "z3a"),
            ),
            HISTORY_IMPORTED,
        ),
        [CONTRACEPTION_REMINDER, POSITIVE],
    ),
    # red team 5 P59: the positive "ended" by history re-charted the next day left the older
    # negative as the newest negative: no pregnancy card at all
    "negative Feb 24, positive Feb 26, CPT 59510 on its import day Feb 27 -> not verified (an "
    "older negative never verifies)": (
        with_procedures(
            chart(
                urine_hcg("2026-02-24T08:00:00+00:00", "negative"),
                urine_hcg("2026-02-26T08:00:00+00:00", "positive"),
            ),
            HISTORY_IMPORTED,
        ),
        UNVERIFIED,
    ),
    "positive Feb 20, negative Feb 26 -> verified (a newer negative does)": (
        order_sign(
            chart(
                urine_hcg("2026-02-20T08:00:00+00:00", "positive"),
                urine_hcg("2026-02-26T08:00:00+00:00", "negative"),
            )
        ),
        [CONTRACEPTION_REMINDER],
    ),
}


@pytest.mark.parametrize(("request_body", "expected"), ROWS.values(), ids=ROWS)
def test_a_delivery_after_evidence_with_no_weeks(
    client: FlaskClient, request_body: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=request_body).get_json()
    assert findings_of_topic(body, "pregnancy-status") == sorted(expected)
