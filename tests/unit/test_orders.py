"""Indication and cycle of a blinatumomab order (`cds/orders.py`, shared/design.md "How a
blinatumomab order says what it is"): what the order codes wins; else inferred from the chart
(diagnosis codes, earlier blinatumomab orders); else unknown, and the basis always says which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cds.fhir.prefetch import SourceData
from cds.fhir.snapshot import build_snapshot, draft_orders
from cds.knowledge import load_knowledge
from cds.orders import (
    CYCLE_EXTENSION,
    OrderUnderReview,
    cycle_of,
    dosage_spans,
    earlier_blinatumomab_orders,
    in_local_zone,
    infusion_end,
    is_blinatumomab,
    local_zone,
    review,
)
from tests.conftest import NOW
from tests.fixtures_util import (
    ICD10CM,
    INDICATION_SYSTEM,
    START,
    Step,
    blinatumomab_order,
    condition,
    dexamethasone_order,
    patient,
)

KNOWLEDGE = load_knowledge()
PID = "pt-orders"
FULL = [Step(28, days=28)]
STEP_UP = [Step(9, days=7), Step(28, days=21)]
ALL_REFRACTORY = ("C91.00", "Acute lymphoblastic leukemia not having achieved remission")
ALL_RELAPSE = ("C91.02", "Acute lymphoblastic leukemia, in relapse")
ALL_REMISSION = ("C91.01", "Acute lymphoblastic leukemia, in remission")


def days_before_start(days: float) -> str:
    return (datetime.fromisoformat(START) - timedelta(days=days)).isoformat()


def earlier_cycle(cycle: int | None, days_ago: float, **kwargs: Any) -> dict[str, Any]:
    """A finished blinatumomab order of this patient that began `days_ago` before the new bag."""
    began = days_before_start(days_ago)
    kwargs.setdefault("status", "completed")
    return blinatumomab_order(
        PID,
        STEP_UP if cycle == 1 else FULL,
        oid=f"blinatumomab-earlier-{days_ago}",
        cycle=cycle,
        start=began,
        authored=began,
        **kwargs,
    )


def reviewed(
    order: dict[str, Any],
    *,
    history: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> OrderUnderReview:
    """The order as the checks see it; `history=None`: the medication list could not be read."""
    sources = {
        "patient": SourceData([patient(PID)]),
        "conditions": SourceData(conditions or []),
        "medications": SourceData(history)
        if history is not None
        else SourceData(problem="the FHIR server did not answer"),
    }
    snapshot = build_snapshot(PID, sources, KNOWLEDGE)
    [draft] = draft_orders([order], [])
    return review(draft, snapshot, KNOWLEDGE, NOW)


def uncoded(steps: list[Step] = FULL, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("indication", None)
    kwargs.setdefault("cycle", None)
    return blinatumomab_order(PID, steps, **kwargs)


def with_reason(order: dict[str, Any], code: str, display: str) -> dict[str, Any]:
    order.setdefault("reasonCode", []).append(
        {"coding": [{"system": ICD10CM, "code": code, "display": display}]}
    )
    return order


# ------------------------------------------------------------------------------- indication


@pytest.mark.parametrize("indication", ["mrd-positive", "relapsed-refractory", "consolidation"])
def test_the_indication_coded_on_the_order_is_taken(indication: str) -> None:
    found = reviewed(blinatumomab_order(PID, FULL, indication=indication), history=[])
    assert (found.indication, found.indication_basis) == (indication, "coded on the order")


def test_an_order_coding_two_indications_has_none() -> None:
    order = blinatumomab_order(PID, FULL, indication="mrd-positive")
    order["reasonCode"].append({"coding": [{"system": INDICATION_SYSTEM, "code": "consolidation"}]})
    found = reviewed(order, history=[])
    assert found.indication is None
    assert "more than one indication" in found.indication_basis


def test_the_coded_indication_wins_over_a_relapse_on_the_problem_list() -> None:
    found = reviewed(
        blinatumomab_order(PID, FULL, indication="mrd-positive"),
        history=[],
        conditions=[condition(PID, *ALL_RELAPSE)],
    )
    assert found.indication == "mrd-positive"


@pytest.mark.parametrize("diagnosis", [ALL_REFRACTORY, ALL_RELAPSE], ids=lambda d: d[0])
def test_all_not_in_remission_as_the_orders_reason_means_relapsed_refractory(
    diagnosis: tuple[str, str],
) -> None:
    found = reviewed(with_reason(uncoded(), *diagnosis), history=[])
    assert found.indication == "relapsed-refractory"
    assert "reason code" in found.indication_basis


def test_an_active_relapse_on_the_problem_list_means_relapsed_refractory() -> None:
    found = reviewed(uncoded(), history=[], conditions=[condition(PID, *ALL_RELAPSE)])
    assert found.indication == "relapsed-refractory"
    assert "from the problem list" in found.indication_basis


@pytest.mark.parametrize("clinical_status", ["resolved", "inactive", "remission"])
def test_a_relapse_that_is_no_longer_active_says_nothing(clinical_status: str) -> None:
    old = condition(PID, *ALL_REFRACTORY, clinical_status=clinical_status, onset="2024-05-02")
    found = reviewed(uncoded(), history=[], conditions=[old])
    assert found.indication is None


def test_a_refuted_relapse_says_nothing() -> None:
    refuted = condition(PID, *ALL_RELAPSE)
    refuted["verificationStatus"]["coding"][0]["code"] = "refuted"
    assert reviewed(uncoded(), history=[], conditions=[refuted]).indication is None


def test_all_in_remission_cannot_tell_mrd_positive_from_consolidation() -> None:
    found = reviewed(uncoded(), history=[], conditions=[condition(PID, *ALL_REMISSION)])
    assert found.indication is None
    assert "MRD-positive" in found.indication_basis


def test_nothing_coded_anywhere_leaves_the_indication_unknown_and_says_so() -> None:
    found = reviewed(uncoded(), history=[])
    assert found.indication is None
    assert found.indication_basis.startswith("no indication")


def test_a_code_of_our_indication_system_that_is_not_an_indication_is_ignored() -> None:
    order = blinatumomab_order(PID, FULL, indication="maintenance")
    found = reviewed(order, history=[], conditions=[condition(PID, *ALL_RELAPSE)])
    assert found.indication == "relapsed-refractory"
    assert "problem list" in found.indication_basis


def test_all_in_remission_as_the_orders_reason_cannot_tell_the_indications_apart() -> None:
    found = reviewed(with_reason(uncoded(), *ALL_REMISSION), history=[])
    assert found.indication is None
    assert "MRD-positive or consolidation" in found.indication_basis
    assert found.possible_indications == frozenset({"mrd-positive", "consolidation"})


def test_a_relapse_without_a_clinical_status_counts_as_active() -> None:
    relapse = condition(PID, *ALL_RELAPSE)
    del relapse["clinicalStatus"]
    assert reviewed(uncoded(), history=[], conditions=[relapse]).indication == (
        "relapsed-refractory"
    )


# ------------------------------------------------------------------------------------ cycle


def test_the_cycle_coded_on_the_order_is_taken_and_is_day_1() -> None:
    found = reviewed(blinatumomab_order(PID, FULL, cycle=3), history=[])
    assert (found.cycle, found.cycle_basis, found.cycle_day) == (3, "coded on the order", 1)


def test_a_first_order_with_no_earlier_blinatumomab_is_cycle_1_day_1() -> None:
    found = reviewed(
        uncoded(STEP_UP), history=[{**dexamethasone_order(PID), "status": "completed"}]
    )
    assert (found.cycle, found.cycle_day) == (1, 1)
    assert "no earlier blinatumomab" in found.cycle_basis


def test_no_cycle_and_an_unreadable_medication_list_leaves_the_cycle_unknown() -> None:
    found = reviewed(uncoded(), history=None)
    assert found.cycle is None
    assert "could not be read" in found.cycle_basis


def test_the_day_8_bag_after_a_week_at_9_mcg_continues_cycle_1_on_day_8() -> None:
    found = reviewed(uncoded(), history=[earlier_cycle(1, days_ago=7)])
    assert (found.cycle, found.cycle_day) == (1, 8)
    assert found.cycle_basis.startswith("continues cycle 1")


def test_a_bag_hung_two_hours_early_is_still_day_8() -> None:
    """Days of the cycle are calendar days: 6 days 22 hours after the first bag is day 8."""
    history = [earlier_cycle(1, days_ago=7 - 2 / 24)]
    assert reviewed(uncoded(), history=history).cycle_day == 8


def test_after_28_days_of_infusion_and_14_treatment_free_the_next_order_is_cycle_2() -> None:
    found = reviewed(uncoded(), history=[earlier_cycle(1, days_ago=42)])
    assert (found.cycle, found.cycle_day) == (2, 1)
    assert found.cycle_basis.startswith("follows cycle 1")


@pytest.mark.parametrize("days_ago", [29, 34, 35, 60])
def test_an_order_after_a_whole_cycle_of_infusion_starts_the_next_one(days_ago: int) -> None:
    """28 infusion days complete a cycle (label §2.4): what follows is the next cycle, however
    soon (too soon is the cycle-limits check's treatment-free interval)."""
    assert reviewed(uncoded(), history=[earlier_cycle(1, days_ago=days_ago)]).cycle == 2


def test_an_order_continuing_an_infusion_of_the_cycle_is_that_cycle() -> None:
    running = earlier_cycle(1, days_ago=5, status="active")
    found = reviewed(uncoded(), history=[running])
    assert (found.cycle, found.cycle_day) == (1, 6)
    assert found.cycle_basis.startswith("continues cycle 1")


def test_the_latest_earlier_cycle_counts() -> None:
    history = [earlier_cycle(1, days_ago=84), earlier_cycle(2, days_ago=42)]
    assert reviewed(uncoded(), history=history).cycle == 3


def test_an_earlier_whole_cycle_that_does_not_say_its_number_counts_as_cycle_1() -> None:
    """EHR history rarely carries the cycle extension: the infusions on file are counted."""
    found = reviewed(uncoded(), history=[earlier_cycle(None, days_ago=42)])
    assert found.cycle == 2
    assert "none says its cycle" in found.cycle_basis


def test_unnumbered_infusions_count_on_from_the_last_numbered_cycle() -> None:
    history = [earlier_cycle(2, days_ago=84), earlier_cycle(None, days_ago=42)]
    assert reviewed(uncoded(), history=history).cycle == 4


def test_a_day_8_order_after_an_unnumbered_days_1_7_order_is_day_8_of_cycle_1() -> None:
    """The common EHR case: the day-1 order on file carries no cycle extension (red team)."""
    days_1_to_7 = blinatumomab_order(
        PID,
        [Step(9, days=7)],
        oid="blin-days-1-7",
        cycle=None,
        start=days_before_start(7),
        status="active",
    )
    for draft in (uncoded(), blinatumomab_order(PID, FULL, cycle=1)):
        found = reviewed(draft, history=[days_1_to_7])
        assert (found.cycle, found.cycle_day) == (1, 8), found.cycle_basis


def test_one_run_numbered_as_two_cycles_leaves_the_cycle_unknown() -> None:
    history = [
        earlier_cycle(1, days_ago=20, status="stopped"),
        earlier_cycle(2, days_ago=10, status="active"),
    ]
    found = reviewed(uncoded(), history=history)
    assert found.cycle is None
    assert "different cycles" in found.cycle_basis


def test_an_order_in_another_utc_offset_counts_calendar_days_in_the_first_ones() -> None:
    """Day 1 at 10:00Z; the step-up written in -05:00 at 05:00 on day 8 (10:00Z) is day 8,
    not day 7 (its own date); across a DST change likewise (red team)."""
    days_1_to_7 = blinatumomab_order(
        PID,
        [Step(9, days=7)],
        oid="blin-days-1-7",
        cycle=1,
        start=days_before_start(7),
        status="active",
    )
    later = datetime.fromisoformat(START).astimezone(timezone(timedelta(hours=-5)))
    draft = blinatumomab_order(PID, FULL, cycle=1, start=later.isoformat())
    assert reviewed(draft, history=[days_1_to_7]).cycle_day == 8


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error"])
def test_an_earlier_order_that_never_counted_is_not_a_cycle(status: str) -> None:
    found = reviewed(uncoded(), history=[earlier_cycle(1, days_ago=42, status=status)])
    assert found.cycle == 1


def test_a_coded_cycle_counts_its_days_from_that_cycles_first_order() -> None:
    found = reviewed(
        blinatumomab_order(PID, FULL, cycle=2),
        history=[earlier_cycle(1, days_ago=49), earlier_cycle(2, days_ago=7)],
    )
    assert (found.cycle, found.cycle_day) == (2, 8)


@pytest.mark.parametrize(
    "extension",
    [{"valueInteger": 0}, {"valueInteger": -2}, {"valueString": "2"}, {"valueBoolean": True}],
    ids=["zero", "negative", "text", "boolean"],
)
def test_a_cycle_extension_that_is_not_a_positive_whole_number_is_no_cycle(
    extension: dict[str, Any],
) -> None:
    order = uncoded()
    order["extension"] = [{"url": CYCLE_EXTENSION, **extension}]
    [draft] = draft_orders([order], [])
    assert cycle_of(draft) is None
    found = reviewed(order, history=[earlier_cycle(1, days_ago=42)])
    assert (found.cycle, found.cycle_basis) == (
        2,
        f"follows cycle 1 begun {days_before_start(42)[:10]}",
    )


def test_an_earlier_order_without_a_start_leaves_the_cycle_unknown() -> None:
    undated = earlier_cycle(1, days_ago=42)
    for dosage in undated["dosageInstruction"]:
        dosage["timing"]["repeat"].pop("boundsPeriod", None)
    del undated["authoredOn"]
    found = reviewed(uncoded(), history=[undated])
    assert found.cycle is None
    assert "do not say their cycle" in found.cycle_basis


def test_an_order_without_a_start_starts_when_authored_else_now() -> None:
    order = uncoded(authored="2026-03-01T16:00:00+00:00")
    for dosage in order["dosageInstruction"]:
        dosage["timing"]["repeat"].pop("boundsPeriod", None)
    found = reviewed(order, history=[earlier_cycle(1, days_ago=42)])
    assert (found.start, found.cycle) == (datetime.fromisoformat("2026-03-01T16:00:00+00:00"), 2)
    del order["authoredOn"]
    assert reviewed(order, history=[earlier_cycle(1, days_ago=42)]).start == NOW


def test_a_draft_in_the_medication_list_is_not_an_earlier_cycle() -> None:
    """The EHR's MedicationRequest search may return other unsigned drafts of the patient."""
    found = reviewed(uncoded(), history=[earlier_cycle(1, days_ago=42, status="draft")])
    assert (found.cycle, found.cycle_basis) == (1, "no earlier blinatumomab orders on file")


def test_the_order_under_review_found_in_the_medication_list_is_not_its_own_earlier_cycle() -> None:
    """On re-signing an active order the search returns the order itself."""
    active = uncoded(status="active")
    found = reviewed(active, history=[active, earlier_cycle(1, days_ago=42)])
    assert (found.cycle, found.cycle_day) == (2, 1)
    snapshot_orders = earlier_blinatumomab_orders(
        build_snapshot(PID, {"medications": SourceData([active])}, KNOWLEDGE), KNOWLEDGE
    )
    assert [o.resource for o in snapshot_orders] == ["MedicationRequest/blinatumomab-draft"]


# ------------------------------------------------------------------------ which orders count


def test_blinatumomab_is_recognised_by_its_rxnorm_code_or_its_brand_name_alone() -> None:
    by_text = blinatumomab_order(PID, FULL)
    by_text["medicationCodeableConcept"] = {"text": "BLINCYTO 35 mcg vial, continuous infusion"}
    dexamethasone = dexamethasone_order(PID)
    coded, named, other = draft_orders([blinatumomab_order(PID, FULL), by_text, dexamethasone], [])
    assert is_blinatumomab(coded, KNOWLEDGE)
    assert is_blinatumomab(named, KNOWLEDGE)
    assert not is_blinatumomab(other, KNOWLEDGE)


# --------------------------------------------------------------- the history's cycle, day doubt


def test_a_cycle_coded_lower_than_the_history_keeps_both_and_is_judged_by_the_history() -> None:
    """Cycle 1 coded after R/R cycles 1-3 (each 28 days, then 14 free): the history makes it
    cycle 4, day 1; `cycle` stays what the order codes."""
    history = [earlier_cycle(n, 42 * (4 - n)) for n in (1, 2, 3)]
    under = reviewed(blinatumomab_order(PID, FULL, cycle=1), history=history)
    assert (under.cycle, under.history_cycle, under.by_history) == (1, 4, True)
    assert under.judged_cycle[0::2] == (4, 1)
    assert "follows cycle 3" in under.judged_cycle[1]


def test_an_uncoded_order_s_history_cycle_is_its_cycle() -> None:
    under = reviewed(uncoded(indication="relapsed-refractory"), history=[earlier_cycle(1, 42)])
    assert (under.cycle, under.history_cycle, under.by_history) == (2, 2, False)


def test_a_day_counted_from_an_order_s_signing_is_in_doubt() -> None:
    """R/R cycle 1 days 1-7 order with no boundsPeriod, signed 7 days before the draft and no MAR:
    the draft is day 8 counted, day 1 at the earliest (cycles.yaml signed_start_lead_days)."""
    days_1_7 = earlier_cycle(1, 7)
    repeat = days_1_7["dosageInstruction"][0]["timing"]["repeat"]
    del repeat["boundsPeriod"]
    repeat["boundsDuration"] = {
        "value": 7,
        "unit": "d",
        "system": "http://unitsofmeasure.org",
        "code": "d",
    }
    days_1_7["dosageInstruction"] = days_1_7["dosageInstruction"][:1]
    under = reviewed(blinatumomab_order(PID, [Step(28, days=21)], cycle=1), history=[days_1_7])
    assert under.cycle_day == 8
    assert under.day_doubt is not None
    assert (under.day_doubt.order, under.day_doubt.earliest) == (days_1_7["id"], 1)


def test_a_dated_cycle_start_leaves_no_doubt() -> None:
    under = reviewed(
        blinatumomab_order(PID, [Step(28, days=21)], cycle=1),
        history=[earlier_cycle(1, 7)],
    )
    assert (under.cycle_day, under.day_doubt) == (8, None)


def test_a_boundsperiod_ending_before_it_starts_has_no_end() -> None:
    order = blinatumomab_order(PID, FULL, cycle=2)
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"] = days_before_start(
        365
    )
    under = reviewed(order, history=[])
    begin = datetime.fromisoformat(START)
    assert dosage_spans(under.order, begin)[0][2] is None
    # an unknown end: the order's bags would say how long; these say nothing, so 28 days
    assert infusion_end(under.order, begin, 28) == begin + timedelta(days=28)


# ------------------------------------------------------------------ days given alone, one offset


def _dated(oid: str, authored: str, start: str, end: str, dose: float) -> dict[str, Any]:
    """A blinatumomab draft bounded by days without a time, signed at `authored`."""
    order = blinatumomab_order(PID, [Step(dose, days=7)], oid=oid, authored=authored)
    order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {"start": start, "end": end}
    return order


CHICAGO = timezone(timedelta(hours=-5))


def test_a_day_alone_in_an_order_signed_in_utc_is_read_in_the_first_orders_offset() -> None:
    """Days 1-7 signed -05:00, day 8 stamped in UTC: "2026-03-09" is 00:00-05:00 in both."""
    first, second = draft_orders(
        [
            _dated("d1", "2026-03-02T02:30:00-05:00", "2026-03-02", "2026-03-09", 9),
            _dated("d8", "2026-03-02T07:30:00Z", "2026-03-09", "2026-03-29", 28),
        ],
        [],
    )
    assert second.first_start() == datetime(2026, 3, 9, tzinfo=UTC)  # as parsed
    zone = local_zone([second, first])
    assert zone is not None and zone.utcoffset(None) == timedelta(hours=-5)
    moved = in_local_zone(second, zone)
    assert moved.first_start() == datetime(2026, 3, 9, tzinfo=CHICAGO)
    assert moved.dosages[0].bounds_end == datetime(2026, 3, 30, tzinfo=CHICAGO)
    assert in_local_zone(first, zone) is first  # already in it


def test_an_order_that_states_times_keeps_its_own_offset() -> None:
    timed = blinatumomab_order(PID, [Step(28, days=21)], start="2026-03-09T10:00:00+00:00")
    [order] = draft_orders([timed], [])
    assert in_local_zone(order, CHICAGO) is order


def test_the_day_8_order_signed_in_another_offset_is_day_8_of_the_first_orders_cycle() -> None:
    sources = {
        "patient": SourceData([patient(PID)]),
        "conditions": SourceData([]),
        "medications": SourceData([]),
    }
    snapshot = build_snapshot(PID, sources, KNOWLEDGE)
    first, second = draft_orders(
        [
            _dated("d1", "2026-03-02T02:30:00-05:00", "2026-03-02", "2026-03-09", 9),
            _dated("d8", "2026-03-02T07:30:00Z", "2026-03-09", "2026-03-29", 28),
        ],
        [],
    )
    day_1 = review(first, snapshot, KNOWLEDGE, NOW)
    day_8 = review(second, snapshot, KNOWLEDGE, NOW, [day_1])
    assert (day_1.cycle, day_1.cycle_day) == (1, 1)
    assert (day_8.cycle, day_8.cycle_day) == (1, 8)
    assert day_8.order is second  # the order as sent: the service finds its reviews by it
