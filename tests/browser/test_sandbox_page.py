"""The sandbox page in a real browser: pick a sample chart and see what the checks see, sign and
get the cards an EHR would show, accept a suggestion (the draft changes and the checks re-run),
override with a reason; the feedback must reach the store each time."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any, cast

import pytest
import requests
import yaml
from playwright.sync_api import Page, expect

from cds.dosing import mosteller_bsa
from cds.fhir.bundle import request_from_bundle
from cds.units import format_number
from tests.browser.conftest import LiveServer, screenshot, start_server
from tests.conftest import FIXTURES, NOW, ROOT
from tests.fixtures_util import Step, blinatumomab_order, bundle, height, patient, weight

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# Indicator colours of the cards (style.css), as the browser computes them.
CRITICAL_RED = "rgb(198, 40, 40)"
WARNING_AMBER = "rgb(224, 134, 0)"
INFO_BLUE = "rgb(21, 101, 192)"


OVERRIDE_REASONS = yaml.safe_load((ROOT / "cards" / "override-reasons.yaml").read_text("utf-8"))


def chart(name: str) -> dict[str, Any]:
    return cast(
        dict[str, Any],
        json.loads((FIXTURES / "charts" / f"{name}.json").read_text(encoding="utf-8")),
    )


def chart_patient(name: str) -> dict[str, Any]:
    return next(
        e["resource"] for e in chart(name)["entry"] if e["resource"]["resourceType"] == "Patient"
    )


def expected_cards(name: str) -> list[list[str]]:
    path = FIXTURES / "charts" / f"{name}.expected.json"
    return sorted(c[:2] for c in json.loads(path.read_text(encoding="utf-8"))["cards"])


def service_cards(server: LiveServer, name: str) -> list[list[str]]:
    """What the service itself answers for the chart the page loads (dates moved the same way)."""
    moved = requests.get(f"{server.url}/sandbox/patients/{name}", timeout=10).json()
    answer = requests.post(
        f"{server.url}/cds-services/blinatumomab-order-sign",
        json=request_from_bundle(moved),
        timeout=30,
    )
    answer.raise_for_status()
    return sorted([c["source"]["topic"]["code"], c["indicator"]] for c in answer.json()["cards"])


def open_page(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/sandbox")
    page.wait_for_selector("body[data-ready=true]")


def quiet(page: Page) -> None:
    page.wait_for_function("() => !document.body.dataset.busy")


def load(page: Page, name: str) -> None:
    before = page.evaluate("() => Number(document.body.dataset.loads || 0)")
    page.select_option("#patient-select", name)
    page.wait_for_function(f"() => Number(document.body.dataset.loads || 0) > {before}")
    quiet(page)
    expect(page.locator("#chart-status")).to_contain_text(name)


def sign(page: Page) -> None:
    signs = page.evaluate("() => Number(document.body.dataset.signs || 0)")
    page.click("#sign")
    page.wait_for_function(f"() => Number(document.body.dataset.signs || 0) > {signs}")
    quiet(page)


def cards_on_page(page: Page) -> list[list[str]]:
    return sorted(
        [card.get_attribute("data-topic") or "", card.get_attribute("data-indicator") or ""]
        for card in page.locator("article.card").all()
    )


def summary_row(page: Page, name: str) -> str:
    rows = page.locator("#summary-table tr:not(.group)")
    return rows.filter(has=page.locator(f"th:text-is('{name}')")).inner_text()


def test_picking_a_patient_shows_what_the_checks_see(page: Page, live_server: LiveServer) -> None:
    open_page(page, live_server)
    options = page.locator("#patient-select option").all_inner_texts()
    sample_charts = [p for p in (FIXTURES / "charts").glob("*.json") if ".expected" not in p.name]
    assert len(options) == len(sample_charts) + 1  # plus the "choose" prompt

    load(page, "dose-child-30kg-mrd-cycle1-per-m2-correct")
    raw = chart("dose-child-30kg-mrd-cycle1-per-m2-correct")
    resources = [e["resource"] for e in raw["entry"]]
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    codes = {o["code"]["coding"][0]["code"]: o["valueQuantity"]["value"] for o in observations}
    kg, cm = Decimal(str(codes["29463-7"])), Decimal(str(codes["8302-2"]))
    assert f"{format_number(kg)} kg" in summary_row(page, "Weight")
    assert f"{format_number(cm)} cm" in summary_row(page, "Height")
    bsa = format_number(mosteller_bsa(cm, kg), "0.01")
    assert f"{bsa} m²" in summary_row(page, "BSA") and "Mosteller" in summary_row(page, "BSA")
    assert "per-m²" in summary_row(page, "Dose basis")
    assert "mrd-positive (coded on the order)" in summary_row(page, "Indication")
    assert summary_row(page, "Sex").endswith("male")
    screenshot(page, "summary-child-per-m2")

    load(page, "pregnancy-woman-28-quantitative-hcg-positive")
    born = date.fromisoformat(
        chart_patient("pregnancy-woman-28-quantitative-hcg-positive")["birthDate"]
    )
    signed = NOW.date()  # the fixture's orders are signed then; moving the dates keeps the age
    age = signed.year - born.year - ((signed.month, signed.day) < (born.month, born.day))
    assert f"{age} years" in summary_row(page, "Age")
    assert "female" in summary_row(page, "Sex")
    assert "→ positive" in summary_row(page, "Pregnancy")
    assert "Check applies" in summary_row(page, "Pregnancy")

    load(page, "vaccine-varicella-during-treatment-cycle2")
    assert "varicella, given" in summary_row(page, "Live vaccines")
    assert "cycle 1: " in summary_row(page, "Earlier infusions")
    assert "until this order" in summary_row(page, "Earlier infusions")
    assert "2 (coded on the order)" in summary_row(page, "Cycle")
    screenshot(page, "summary-vaccine-cycle2")


def test_signing_renders_the_cards_as_an_ehr_does(page: Page, live_server: LiveServer) -> None:
    open_page(page, live_server)
    name = "vaccine-mmr-10-days-before-start"
    load(page, name)
    sign(page)
    shown = cards_on_page(page)
    assert shown == service_cards(live_server, name)  # every card the service answers, no other
    assert all(card in shown for card in expected_cards(name))

    critical = page.locator("article.card[data-indicator=critical]").first
    info = page.locator("article.card[data-indicator=info]").first
    assert critical.evaluate("n => getComputedStyle(n).borderLeftColor") == CRITICAL_RED
    assert info.evaluate("n => getComputedStyle(n).borderLeftColor") == INFO_BLUE
    assert critical.locator(".badge").inner_text().lower() == "critical"
    # markdown detail is rendered, not shown raw; the source links to the label section
    detail = critical.locator(".detail")
    assert detail.locator("strong, li").count() > 0
    assert "**" not in detail.inner_text()
    source = critical.locator(".source a")
    assert source.get_attribute("href", timeout=1000).startswith("https://")  # type: ignore[union-attr]
    assert "BLINCYTO" in source.inner_text()
    assert "live-vaccine" in critical.locator(".source").inner_text()
    expect(page.locator("#sign-status")).to_contain_text(f"{len(shown)} cards")
    screenshot(page, "cards-live-vaccine")


def test_accepting_the_dexamethasone_suggestion_changes_the_draft_and_sends_feedback(
    page: Page, live_server: LiveServer
) -> None:
    open_page(page, live_server)
    load(page, "premed-adult-rr-cycle1-missing")
    assert page.locator("#draft-list li").inner_text() == "none"
    sign(page)
    warning = page.locator("article.card[data-topic=premedication][data-indicator=warning]")
    expect(warning).to_have_count(1)
    assert warning.evaluate("n => getComputedStyle(n).borderLeftColor") == WARNING_AMBER
    card_uuid = warning.get_attribute("data-uuid")
    button = warning.locator("button.suggestion")
    suggestion_uuid = button.get_attribute("data-uuid")
    assert "dexamethasone 20 mg" in button.inner_text()
    screenshot(page, "accept-before")

    signs = page.evaluate("() => Number(document.body.dataset.signs)")
    button.click()
    page.wait_for_function(f"() => Number(document.body.dataset.signs) > {signs}")
    quiet(page)

    # the dexamethasone order is now a draft order, and the re-run has no premedication warning
    assert "dexamethasone" in page.locator("#draft-list").inner_text()
    after = cards_on_page(page)
    assert ["premedication", "warning"] not in after and ["premedication", "info"] in after
    draft = json.loads(page.locator("#draft-json").text_content() or "[]")
    assert [d["medicationCodeableConcept"]["coding"][0]["code"] for d in draft] == [
        "1597258",
        "3264",
    ]
    expect(page.locator("#feedback-log li")).to_have_count(1)
    screenshot(page, "accept-after")

    stored = [f for f in live_server.feedback() if f["card"] == card_uuid]
    assert len(stored) == 1
    assert stored[0]["outcome"] == "accepted"
    assert json.loads(stored[0]["accepted_suggestions"]) == [suggestion_uuid]
    assert stored[0]["known_card"] is True and stored[0]["topic"] == "premedication"


def test_overriding_with_a_reason_sends_that_reason(page: Page, live_server: LiveServer) -> None:
    open_page(page, live_server)
    load(page, "pregnancy-woman-28-pregnant-status")
    sign(page)
    card = page.locator("article.card[data-topic=pregnancy-status][data-indicator=critical]")
    expect(card).to_have_count(1)
    card_uuid = card.get_attribute("data-uuid")
    card.locator("button.override").click()
    send = card.locator("button.send-override")
    expect(send).to_be_disabled()  # a reason or a comment is required (CDS Hooks cds-fb-3)
    reasons = card.locator("select.override-reason option").all_inner_texts()[1:]
    assert reasons, "the critical pregnancy card offers override reasons"
    card.locator("select.override-reason").select_option(label=reasons[0])
    card.locator("textarea.override-comment").fill("Termination planned; oncology aware.")
    send.click()
    expect(card).to_have_attribute("data-outcome", "overridden")
    expect(card.locator(".card-status")).to_contain_text("Feedback recorded")
    screenshot(page, "override")

    stored = [f for f in live_server.feedback() if f["card"] == card_uuid]
    assert len(stored) == 1
    item = stored[0]
    assert item["outcome"] == "overridden" and item["known_card"] is True
    assert item["override_comment"] == "Termination planned; oncology aware."
    assert (
        item["override_system"]
        == "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
    )
    assert item["topic"] == "pregnancy-status"
    codes_by_display = {v: k for k, v in OVERRIDE_REASONS["reasons"].items()}
    assert item["override_code"] == codes_by_display[reasons[0]]


def test_composing_an_overdose_then_accepting_the_corrected_order(
    page: Page, live_server: LiveServer
) -> None:
    open_page(page, live_server)
    load(page, "premed-adult-rr-cycle1-dexamethasone-20")
    sign(page)
    assert [c for c in cards_on_page(page) if c[0] in ("dose", "premedication")] == [
        ["premedication", "info"]
    ]

    # R/R cycle 1 must start at 9 mcg/day: start it at 28 instead
    page.locator("#steps tr.step .step-dose").first.fill("28")
    expect(page.locator("#sign-status")).to_contain_text("sign again")
    sign(page)
    dose = page.locator("article.card[data-topic=dose][data-indicator=critical]")
    expect(dose).to_have_count(1)
    # the summary follows the draft: the service now reads 28 mcg/day for days 1-7
    ordered = summary_row(page, "Ordered")
    assert "28 mcg/day × 7 days" in ordered and "ug/d" not in ordered  # one unit style
    assert dose.evaluate("n => getComputedStyle(n).borderLeftColor") == CRITICAL_RED
    screenshot(page, "compose-overdose")

    signs = page.evaluate("() => Number(document.body.dataset.signs)")
    dose.locator("button.suggestion").first.click()
    page.wait_for_function(f"() => Number(document.body.dataset.signs) > {signs}")
    quiet(page)
    doses = page.locator("#steps tr.step .step-dose").evaluate_all("els => els.map(e => e.value)")
    assert [float(d) for d in doses] == [9, 28]
    assert [c for c in cards_on_page(page) if c[0] == "dose"] == []
    accepted = [f for f in live_server.feedback() if f["topic"] == "dose"]
    assert [f["outcome"] for f in accepted] == ["accepted"]


def test_accepting_remove_the_live_vaccine_deletes_it_from_the_draft(
    page: Page, live_server: LiveServer
) -> None:
    open_page(page, live_server)
    load(page, "vaccine-mmr-ordered-with-blinatumomab")
    assert "MMR" in page.locator("#draft-list").inner_text().upper()
    assert "ordered" in summary_row(page, "Live vaccines")
    sign(page)
    card = page.locator("article.card[data-topic=live-vaccine][data-indicator=critical]")
    expect(card).to_have_count(1)
    signs = page.evaluate("() => Number(document.body.dataset.signs)")
    card.locator("button.suggestion").first.click()
    page.wait_for_function(f"() => Number(document.body.dataset.signs) > {signs}")
    quiet(page)
    draft = json.loads(page.locator("#draft-json").text_content() or "[]")
    assert "vaccine-order" not in [d["id"] for d in draft]
    assert [c for c in cards_on_page(page) if c[0] == "live-vaccine"] == []
    assert "none given or ordered" in summary_row(page, "Live vaccines")
    stored = [f for f in live_server.feedback() if f["topic"] == "live-vaccine"]
    assert [f["outcome"] for f in stored] == ["accepted"]


def test_a_pasted_bundle_is_used_and_bad_json_is_reported(
    page: Page, live_server: LiveServer
) -> None:
    open_page(page, live_server)
    page.click("#paste summary")
    page.fill("#bundle-json", "{not json")
    page.click("#use-bundle")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error")).to_contain_text("not JSON")

    pasted = bundle(
        [
            patient("pt-pasted", gender="female", birth_date="1990-05-01", given="Amara"),
            weight("pt-pasted", 62),
            height("pt-pasted", 168),
            blinatumomab_order("pt-pasted", [Step(9, days=7), Step(28, days=21)]),
        ]
    )
    page.fill("#bundle-json", json.dumps(pasted))
    before = page.evaluate("() => Number(document.body.dataset.loads || 0)")
    page.click("#use-bundle")
    page.wait_for_function(f"() => Number(document.body.dataset.loads || 0) > {before}")
    quiet(page)
    expect(page.locator("#error")).to_be_hidden()
    assert "62 kg" in summary_row(page, "Weight")
    assert "female" in summary_row(page, "Sex")
    sign(page)
    topics = {topic for topic, _ in cards_on_page(page)}
    assert {"premedication", "pregnancy-status"} <= topics

    # uploading a file loads it straight away
    before = page.evaluate("() => Number(document.body.dataset.loads || 0)")
    page.set_input_files("#bundle-file", str(FIXTURES / "charts" / "dose-adult-no-weight.json"))
    page.wait_for_function(f"() => Number(document.body.dataset.loads || 0) > {before}")
    quiet(page)
    assert "no weight on file" in summary_row(page, "Weight")


def test_an_order_can_be_started_from_scratch(page: Page, live_server: LiveServer) -> None:
    open_page(page, live_server)
    page.click("#paste summary")
    no_orders = bundle([patient("pt-new", birth_date="1980-02-11"), weight("pt-new", 75)])
    page.fill("#bundle-json", json.dumps(no_orders))
    page.uncheck("#move-dates")
    page.click("#use-bundle")
    expect(page.locator("#new-order")).to_be_visible()
    expect(page.locator("#order-form")).to_be_hidden()
    assert "no blinatumomab order" in summary_row(page, "Order")
    page.click("#new-order")
    expect(page.locator("#order-form")).to_be_visible()
    page.select_option("#indication", "relapsed-refractory")
    page.fill("#cycle", "1")
    doses = page.locator("#steps .step-dose").evaluate_all("els => els.map(e => e.value)")
    assert [float(d) for d in doses] == [9, 28]
    sign(page)
    shown = cards_on_page(page)
    assert ["premedication", "warning"] in shown  # no dexamethasone ordered yet
    assert "relapsed-refractory (coded on the order)" in summary_row(page, "Indication")


def test_card_markdown_is_rendered_and_never_runs_html(page: Page, live_server: LiveServer) -> None:
    open_page(page, live_server)
    html = page.evaluate(
        """() => SandboxMarkdown.render(
            "**Bold** and *it* with `code`\\n" +
            "<img src=x onerror=alert(1)> [ok](https://example.org/a?b=1&c=2) " +
            "[bad](javascript:alert(1))\\n\\n" +
            "- first\\n  continued\\n- second\\n\\n1. one\\n2. two")"""
    )
    assert "<strong>Bold</strong>" in html and "<em>it</em>" in html and "<code>code</code>" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="https://example.org/a?b=1&amp;c=2"' in html
    assert "javascript:" not in html.replace("[bad]", "")
    assert "<li>first continued</li><li>second</li>" in html
    assert "<ol><li>one</li><li>two</li></ol>" in html


@pytest.fixture(scope="module")
def authenticated_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The page turned on outside --dev: the service then wants a JWT the page cannot send."""
    from cds.settings import Settings

    database = tmp_path_factory.mktemp("sandbox-auth") / "feedback.sqlite3"
    server = start_server(
        Settings(
            dev_mode=False,
            sandbox_page=True,
            trust_cds_hooks_sandbox=True,
            database_url=f"sqlite:///{database}",
            public_base_url="http://localhost",
        )
    )
    yield server
    server._stop()


def test_outside_dev_mode_signing_says_why_it_cannot(
    page: Page, authenticated_server: LiveServer
) -> None:
    open_page(page, authenticated_server)
    load(page, "premed-adult-rr-cycle1-missing")
    page.click("#sign")
    expect(page.locator("#error")).to_contain_text("HTTP 401")
    expect(page.locator("#error")).to_contain_text("--dev")
    assert page.locator("article.card").count() == 0
