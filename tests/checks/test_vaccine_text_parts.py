"""Live vaccines named in free text: test, shot, or both; a refusal read in its own part
(label §5 immunization: no live vaccine within 2 weeks before blinatumomab, during treatment, or
until immune recovery).

Red team 12a showed two misreadings of an Immunization's words:

1. A test word ("titer", "IgG", "antibody") beside a shot word ("booster", "vaccination",
   "2nd dose", a live brand) was read as a titer, silently ("MMR booster for low rubella titer"),
   while "given"/"dose n" beside a test made a critical card of a titer ("Varicella titer after
   dose 2"). Now a part naming a live vaccine with shot words only is a shot (critical), with a
   test word only a test (silent), and with both ambiguous: the warning
   live-vaccine-given-unconfirmed asks to confirm whether it was given. The bracket rule stays:
   "MMR #2 (titer negative)" is a shot, "Varicella titer (Varivax series complete)" a test. A
   record coded with the live vaccine's CVX code is a shot whatever its text names.
2. A refusal anywhere in the text made the warning: another vaccine's ("MMR; Tdap declined"),
   a negated one ("MMR - not declined"), another dose's. Now only a refusal in the live
   vaccine's own part, not negated and not naming another product, makes it; a question of
   giving answered "no" ("given: no", "Given? N") is a refusal.

The infusion starts 2026-03-02T10:00Z; the shots are dated 2026-02-25 (5 days before).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.checks.test_vaccine_text_reasons import PRESENTATIONS, UNCONFIRMED, cvx_coded, text_order
from tests.checks.test_vaccines import (
    DURING_TREATMENT,
    EARLIER_CYCLE,
    NDC_SYSTEM,
    ORDERED_TOGETHER,
    RECENT,
    chart,
    given_on_the_ward,
    named_only,
)
from tests.conftest import SIGN
from tests.fixtures_util import Expected, findings_of_topic, order_sign

# a part naming a live vaccine with both a test word and a shot word (or brand): ambiguous
TEST_BESIDE_A_SHOT = (
    "MMR booster for low rubella titer",
    "M-M-R II for rubella non-immune antibody",
    "MMR vaccination due to nonimmune rubella titer",
    "Titer-negative MMR catch-up vaccine",
    "Varicella vaccine 2nd dose after negative titer",
    "MMR vaccinated today after negative titer",
    "MMR 2nd dose IgG neg",
    "Varivax for negative varicella IgG",
    "Varicella titer after dose 2",
    "MMR IgG (2 doses given in childhood)",
    "Varicella titer (2 doses administered per school record)",
    "MMR antibody panel (dose 1 1998, dose 2 2003)",
    "Rubella titer #2",
    "Varicella titer drawn - Varivax to be given if negative",
    "MMR given because titer negative",
    "MMR titer (MMR given)",
    "Varicella titer negative, dose 2 given",
)
# the bracket rule as it was: a test only in a remark beside a shot is the shot's reason; a test
# outside with only a vaccine's name in the remark names what was tested
BRACKETED_SHOT = ("MMR #2 (titer negative)", "Varivax (IgG negative)", "MMR dose 2 (titer drawn)")
BRACKETED_TEST = (
    "Varicella titer (Varivax series complete)",
    "Varicella IgG (vaccine response)",
    "MMR titer (not given, immune)",
    "Yellow fever (titer)",
    "MMR titer",
)

# (text, CVX code, display): a live shot coded by CVX whose words refuse something else
CODED_OTHER_REFUSAL = (
    ("Varivax - patient refused Shingrix instead", "21", "varicella"),
    ("FluMist - patient refuses injection", "149", "Influenza, live, intranasal, quadrivalent"),
    ("Zostavax (pt declined Shingrix)", "121", "zoster live"),
    ("Vivotif oral typhoid (declined injectable Typhim Vi)", "25", "typhoid, oral"),
    ("MMR #2; flu vaccine declined", "03", "MMR"),
    ("MMR; Tdap declined", "03", "MMR"),
    ("YF-VAX; hep A declined", "37", "yellow fever"),
    ("MMR - not declined", "03", "MMR"),
    ("MMR (no refusal)", "03", "MMR"),
    ("Varicella vaccine; patient declined VIS copy", "21", "varicella"),
    ("MMR #1 - religious exemption withdrawn", "03", "MMR"),
    ("Yellow fever vaccine, waiver/exemption not required", "37", "yellow fever"),
    ("Varicella vaccine dose 2 - pt refused dose 1 in 2024", "21", "varicella"),
    ("MMR; varicella declined", "03", "MMR"),
    # red team rt13/a C: another product named by its brand, or a test, refused
    ("MMR - Gardasil declined", "03", "MMR"),
    ("MMR - Prevnar 20 declined", "03", "MMR"),
    ("MMR; Boostrix refused", "03", "MMR"),
    ("MMR; PPD declined", "03", "MMR"),
    ("Varivax; Arexvy declined", "21", "varicella"),
    # red team rt14/b V-H1: more products refused beside a live vaccine
    ("MMR; meningococcal vaccine declined", "03", "MMR"),
    ("MMR; Quantiferon declined", "03", "MMR"),
    ("MMR; TB test declined", "03", "MMR"),
    ("MMR; T-SPOT declined", "03", "MMR"),
)
# (text, CVX code, display): the live vaccine's own part says it was not given
CODED_OWN_REFUSAL = (
    ("MMR: declined", "03", "MMR"),
    # red team rt13/a D: deferred or contraindicated is not given either
    ("MMR - deferred due to chemo", "03", "MMR"),
    ("MMR: contraindicated", "03", "MMR"),
    # red team rt14/b V-N1: the live flu vaccine's own CDC name holds "influenza vaccine"
    ("Influenza vaccine, live, intranasal - declined", "111", "influenza, live, intranasal"),
    ("Varicella vaccine given: no", "21", "varicella"),
    ("MMR - Administered: No", "03", "MMR"),
    ("MMR - Given? N", "03", "MMR"),
    ("MMR refused - given VIS only", "03", "MMR"),
    ("Varicella vaccine: no", "21", "varicella"),
)

# red team rt13/a A/B: a not-live product or an immunity status beside a live name in free text
# silenced it. A product named after "with", "after" or "instead of" is another product; one in a
# remark in brackets saying more than the product ("Shingrix unavailable") is a remark; an
# immunity status in brackets saying the patient is not (known) immune is the shot's reason.
LIVE_BESIDE_ANOTHER_PRODUCT = (
    "Varicella vaccine given in error (Shingrix intended)",
    "Chickenpox vaccine administered instead of recombinant zoster",
    "Varicella vaccine given instead of Shingrix",
    "MMR with IPV",
    "MMRV with IPV",
    "OPV given (IPV unavailable)",
    "MMR given 8 months after immune globulin",
    "MMR given with immunoglobulin",
    "MMR (immunity unknown)",
    "MMR (no evidence of immunity)",
    "Varicella (no immunity)",
    "MMR #1 (immunity unknown)",
    "MMR (rubella immunity negative)",
    "Varicella vaccine (Shingrix unavailable)",
    "Varicella vaccine (not Shingrix)",
    "Vaccinated with MMR",
    "MMR given instead of MMRV",
)
# an order is for a product: its test remarks and immunity statuses are its reasons
LIVE_ORDERS = (
    "Varicella vaccine (Shingrix unavailable)",
    "Varicella vaccine (not Shingrix)",
    "MMR with IPV",
    "OPV (IPV unavailable)",
    "MMR (immunity unknown)",
    "MMR (rubella immunity negative)",
    "MMR (titer negative)",
)
# not-live records, very common in adults: silent as shots and as orders
NOT_LIVE_RECORDS = (
    "Zoster vaccine recombinant, adjuvanted",
    "Zoster vaccine (Shingrix)",
    "Shingrix",
    "Zoster (Shingrix) dose 2",
    "zoster recombinant (Shingrix)",
    "IPV",
    "Polio vaccine (IPV)",
    "Immune globulin",
    "Varicella zoster immune globulin (VariZIG)",
    "Hep B immune globulin",
    "MMR titer",
    "Varicella IgG (immune)",
    "Influenza vaccine (inactivated)",
    "Flu shot (not FluMist)",
    "Shingrix with Tdap",
    "Zoster vaccine recombinant with adjuvant",
    "Shingrix given instead of Zostavax",
    "Immune globulin after measles exposure",
    "Shingrix (Zostavax unavailable)",
    "Zoster vaccine (not Zostavax)",
    "IPV (OPV unavailable)",
    "Polio vaccine (IPV not OPV)",
    "Zoster recombinant (Shingrix) dose 2 - given instead of Zostavax",
    # red team rt16/a: an immunity panel or status as a (lab) order is no vaccine order
    "Measles immunity panel",
    "Varicella immunity status",
    "Shingrix given in place of Zostavax",
)
# immunity records (not orders): silent as shots
IMMUNITY_RECORDS = ("Rubella immune", "Rubella (immune)", "Measles immunity", "MMR (immune)")


def ndc_coded(text: str) -> dict[str, Any]:
    """M-M-R II coded by its NDC only, the clinician's words in the text."""
    shot = named_only(text)
    shot["vaccineCode"] = {"coding": [{"system": NDC_SYSTEM, "code": "0006-4681-00"}], "text": text}
    return shot


def flumist_on_the_ward(text: str) -> dict[str, Any]:
    """FluMist charted on the MAR (CVX 149, nasal), its words in the text."""
    given = given_on_the_ward("149", "Influenza, live, intranasal, quadrivalent", "2026-02-25")
    given["medicationCodeableConcept"]["text"] = text
    given["dosage"] = {"route": {"text": "Intranasal"}, "dose": {"value": 0.2, "unit": "mL"}}
    return given


MATRIX: dict[str, tuple[dict[str, Any], list[Expected]]] = {
    **{
        f"{how}: {text!r} -> warning (a test and a shot: confirm it was given)": (
            chart(make(text)),
            [UNCONFIRMED],
        )
        for how, make in PRESENTATIONS.items()
        for text in TEST_BESIDE_A_SHOT
    },
    **{
        f"CVX 03 MMR, text {text!r} -> critical (the code says a live vaccine was given)": (
            chart(cvx_coded("03", "MMR")(text)),
            [RECENT],
        )
        for text in ("MMR booster for low rubella titer", "MMR 2nd dose IgG neg")
    },
    **{
        f"text only {text!r} -> critical (bracket rule: the test is a remark on the shot)": (
            chart(named_only(text)),
            [RECENT],
        )
        for text in BRACKETED_SHOT
    },
    **{
        f"{how}: {text!r} -> silent (a test, no shot)": (chart(make(text)), [])
        for how, make in PRESENTATIONS.items()
        for text in BRACKETED_TEST
    },
    **{
        f"CVX {cvx}, text {text!r} -> critical (the refusal is not the live vaccine's)": (
            chart(cvx_coded(cvx, display)(text)),
            [RECENT],
        )
        for text, cvx, display in CODED_OTHER_REFUSAL
    },
    **{
        f"CVX {cvx}, text {text!r} -> warning (its own part says not given)": (
            chart(cvx_coded(cvx, display)(text)),
            [UNCONFIRMED],
        )
        for text, cvx, display in CODED_OWN_REFUSAL
    },
    "NDC of M-M-R II only, text 'M-M-R II; Tdap declined' -> critical": (
        chart(ndc_coded("M-M-R II; Tdap declined")),
        [RECENT],
    ),
    "NDC of M-M-R II only, text 'M-M-R II: declined' -> warning": (
        chart(ndc_coded("M-M-R II: declined")),
        [UNCONFIRMED],
    ),
    "MedicationAdministration CVX 149 nasal 'FluMist Quadrivalent (pt refuses injections)' "
    "-> critical": (
        chart(flumist_on_the_ward("FluMist Quadrivalent (pt refuses injections)")),
        [RECENT],
    ),
    "CVX 21 'Varivax; flu shot declined' during treatment, cycle 2 -> critical during treatment": (
        chart(
            cvx_coded("21", "varicella")("Varivax; flu shot declined", "2026-02-05"),
            cycle=2,
            history=[EARLIER_CYCLE],
        ),
        [DURING_TREATMENT],
    ),
    "text only 'FluMist declined, given IIV instead' -> warning (the live vaccine declined)": (
        chart(named_only("FluMist declined, given IIV instead")),
        [UNCONFIRMED],
    ),
    **{
        f"guard: text only {text!r} -> critical (given)": (chart(named_only(text)), [RECENT])
        for text in (
            "MMR given after parent initially declined",
            "Yellow fever vaccine (exemption letter expired), given",
            "MMR (initially declined, given after counselling)",
            "MMR given; varicella declined",
            "Varivax given: no reaction",
        )
    },
    **{
        f"guard: text only {text!r} -> warning (declined)": (
            chart(named_only(text)),
            [UNCONFIRMED],
        )
        for text in (
            "MMR – declined",
            "Yellow fever vaccine: medical exemption",
            "MMR - not administered (patient declined)",
            "Declined: MMR",
        )
    },
    **{
        f"{how}: {text!r} -> critical (the other product or the status is a remark)": (
            chart(make(text)),
            [RECENT],
        )
        for how, make in PRESENTATIONS.items()
        for text in LIVE_BESIDE_ANOTHER_PRODUCT
    },
    **{
        f"{how}: {text!r} -> silent (no live vaccine given)": (chart(make(text)), [])
        for how, make in PRESENTATIONS.items()
        for text in (*NOT_LIVE_RECORDS, *IMMUNITY_RECORDS)
    },
    "guard: CVX 187 Shingrix 'Shingrix (declined Zostavax)' -> silent (not live)": (
        chart(cvx_coded("187", "zoster recombinant")("Shingrix (declined Zostavax)")),
        [],
    ),
    "guard: text only 'Rubella immune - no vaccine given' -> silent": (
        chart(named_only("Rubella immune - no vaccine given")),
        [],
    ),
}


@pytest.mark.parametrize(("chart_bundle", "expected"), MATRIX.values(), ids=MATRIX.keys())
def test_a_live_vaccine_text_read_part_by_part(
    client: FlaskClient, chart_bundle: dict[str, Any], expected: list[Expected]
) -> None:
    body = client.post(SIGN, json=order_sign(chart_bundle)).get_json()
    assert findings_of_topic(body, "live-vaccine") == expected


def test_the_unconfirmed_card_of_a_test_beside_a_shot_says_so_and_asks_to_confirm(
    client: FlaskClient,
) -> None:
    body = client.post(
        SIGN, json=order_sign(chart(named_only("MMR booster for low rubella titer")))
    ).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert card["indicator"] == "warning"
    assert "confirm" in card["summary"].lower()
    assert "test" in card["summary"].lower()
    assert "mmr booster for low rubella titer" in card["detail"].lower()
    assert "both a test" in card["detail"] and "a shot" in card["detail"]
    assert "Confirm whether the live vaccine was given" in card["detail"]
    assert "not given" not in card["detail"]


def test_the_unconfirmed_card_of_a_refusal_says_not_given(client: FlaskClient) -> None:
    body = client.post(SIGN, json=order_sign(chart(named_only("MMR: declined")))).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert "says not given" in card["summary"]
    assert "say it was not given" in card["detail"]
    assert "Confirm whether the live vaccine was given" in card["detail"]


@pytest.mark.parametrize("text", TEST_BESIDE_A_SHOT[:8])
def test_a_test_beside_a_shot_ordered_with_blinatumomab_is_ordered_together(
    client: FlaskClient, text: str
) -> None:
    """A draft order is to be given: a live vaccine named with a shot word is ordered together
    whatever test it also names (fail-safe)."""
    body = client.post(SIGN, json=order_sign(chart(text_order(text)))).get_json()
    assert findings_of_topic(body, "live-vaccine") == [ORDERED_TOGETHER]


def test_a_vaccination_text_of_thousands_of_characters_is_read_by_its_start_and_quoted_short(
    client: FlaskClient,
) -> None:
    """A 28,000-character text (pasted notes, or an attacker's) is read by its first
    LONGEST_TEXT_READ characters: the live vaccine it names there still gives its card, and the
    card quotes a short start of the text, not all of it."""
    text = "MMR dose 2 given in clinic. " + "Patient tolerated well, no reaction noted. " * 650
    body = client.post(SIGN, json=order_sign(chart(named_only(text)))).get_json()
    [card] = [c for c in body["cards"] if c["source"]["topic"]["code"] == "live-vaccine"]
    assert card["indicator"] == "critical"
    assert "mmr dose 2 given in clinic" in card["detail"].lower()
    assert len(card["detail"]) < 2000


@pytest.mark.parametrize("text", LIVE_ORDERS)
def test_a_live_vaccine_ordered_beside_a_remark_is_ordered_together(
    client: FlaskClient, text: str
) -> None:
    """Red team rt13/a A: a draft order is for a product; a product in a remark saying more
    than its name, a test in a remark or an immunity status does not make it another one."""
    body = client.post(SIGN, json=order_sign(chart(text_order(text)))).get_json()
    assert findings_of_topic(body, "live-vaccine") == [ORDERED_TOGETHER]


@pytest.mark.parametrize("text", NOT_LIVE_RECORDS)
def test_a_not_live_product_ordered_with_blinatumomab_is_silent(
    client: FlaskClient, text: str
) -> None:
    body = client.post(SIGN, json=order_sign(chart(text_order(text)))).get_json()
    assert findings_of_topic(body, "live-vaccine") == []
