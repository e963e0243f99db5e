"""The pharmacist's workbench in a real browser: a Synthea-style transaction Bundle with two
patients (picker, dates moved and said so), every fact the checks read with its source, one unit
style, feedback per patient, "Save as test case" giving a pair that `python -m cds check --expect`
accepts, keyboard-only signing, accepting and overriding, and axe-core finding no serious
accessibility violation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Download, Page, expect

from cds.__main__ import main
from cds.fhir.bundle import chart_signing_time, days_to, request_from_bundle
from tests.browser.conftest import TIMEOUT_MS, LiveServer, screenshot
from tests.browser.test_sandbox_page import (
    OVERRIDE_REASONS,
    cards_on_page,
    chart,
    load,
    open_page,
    quiet,
    sign,
    summary_row,
)
from tests.test_sandbox import two_patient_transaction

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"


def counter(page: Page, name: str) -> int:
    return int(page.evaluate(f"() => Number(document.body.dataset.{name} || 0)"))


def wait_past(page: Page, name: str, before: int) -> None:
    page.wait_for_function(f"() => Number(document.body.dataset.{name} || 0) > {before}")
    quiet(page)


def service_answer(server: LiveServer, bundle: dict[str, Any]) -> list[list[str]]:
    answer = requests.post(
        f"{server.url}/cds-services/blinatumomab-order-sign",
        json=request_from_bundle(bundle),
        timeout=30,
    )
    answer.raise_for_status()
    return sorted([c["source"]["topic"]["code"], c["indicator"]] for c in answer.json()["cards"])


def test_a_two_patient_transaction_bundle_gets_a_picker_and_the_moved_dates_are_said(
    page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    upload = tmp_path / "synthea-two-patients.json"
    upload.write_text(json.dumps(two_patient_transaction()), encoding="utf-8")
    open_page(page, live_server)
    page.click("#paste summary")
    picks = counter(page, "picks")
    page.set_input_files("#bundle-file", str(upload))
    wait_past(page, "picks", picks)
    expect(page.locator("#bundle-patient")).to_be_visible()
    options = page.locator("#bundle-patient option").all_inner_texts()
    assert len(options) == 3  # the prompt and both patients, named
    assert any("Ann Roe, born 1975-03-09" in o for o in options)
    daniel = next(o for o in options if "Daniel Okafor" in o)
    expect(page.locator("#chart-status")).to_contain_text("holds 2 patients")

    loads = counter(page, "loads")
    page.select_option("#bundle-patient", label=daniel)
    wait_past(page, "loads", loads)
    original = chart("adult-70kg-rr-cycle1-correct")
    signed = chart_signing_time(original)
    assert signed is not None
    days = days_to(signed, datetime.now(UTC))  # the live server runs on the real clock
    born = original["entry"][0]["resource"]["birthDate"]
    moved_born = (date.fromisoformat(born) + timedelta(days=days)).isoformat()
    note = page.locator("#shift-note")
    expect(note).to_contain_text(f"Dates moved {days} days forward")
    expect(note).to_contain_text(f"Birth date {moved_born} (in the file: {born})")
    assert f"born {moved_born}; in the file {born}" in summary_row(page, "Age")
    # the page reads the chosen patient's chart only, with its urn:uuid references resolved
    assert "70.2 kg — Observation/" in summary_row(page, "Weight")
    screenshot(page, "workbench-picker-moved")

    sign(page)
    chosen = page.locator("#bundle-patient").input_value()
    moved = requests.post(
        f"{live_server.url}/sandbox/chart",
        json={"bundle": two_patient_transaction(), "patient": chosen, "moveDates": True},
        timeout=10,
    ).json()
    assert cards_on_page(page) == service_answer(live_server, moved["chart"])

    # unticking "move" reloads the same patient as filed
    loads = counter(page, "loads")
    page.uncheck("#move-dates")
    wait_past(page, "loads", loads)
    expect(note).to_contain_text("Dates as in the file")
    assert f"born {born}" in summary_row(page, "Age")


def test_every_fact_is_shown_per_check_with_its_source_in_one_unit_style(
    page: Page, live_server: LiveServer
) -> None:
    open_page(page, live_server)
    load(page, "adult-70kg-rr-cycle1-correct")
    groups = page.locator("#summary-table tr.group").all_inner_texts()
    for name in (
        "Dose check",
        "Lab check",
        "Hospitalisation check",
        "Pregnancy check",
        "Live-vaccine check",
    ):
        assert name in groups
    assert len(groups) == len(set(groups))  # no repeated rows
    headers = page.locator("#summary-table tr:not(.group) th").all_inner_texts()
    assert len(headers) == len(set(headers)), headers
    assert "Observation/alt-1" in summary_row(page, "ALT")
    assert "Observation/bilirubin-1" in summary_row(page, "total bilirubin")
    assert "none in the" in summary_row(page, "absolute neutrophil count")
    assert "Encounter" in page.locator("#summary-table").inner_text()
    # a man: the pregnancy row says that the check does not apply, nothing else
    assert summary_row(page, "Pregnancy").split("\t", 1)[1].strip() == "Check does not apply."
    ordered = summary_row(page, "Ordered")
    assert "9 mcg/day × 7 days" in ordered and "28 mcg/day × 21 days" in ordered
    assert "ug/" not in page.locator("#summary").inner_text()

    load(page, "dose-child-30kg-mrd-cycle1-per-m2-correct")
    ordered = summary_row(page, "Ordered")
    assert "mcg/m²/day (" in ordered and "mcg/day)" in ordered and "ug/" not in ordered
    screenshot(page, "workbench-facts")


def test_feedback_is_listed_per_patient_with_the_reason_text_and_the_comment(
    page: Page, live_server: LiveServer
) -> None:
    open_page(page, live_server)
    load(page, "pregnancy-woman-28-pregnant-status")
    sign(page)
    card = page.locator("article.card[data-topic=pregnancy-status][data-indicator=critical]")
    card.locator("button.override").click()
    reason = card.locator("select.override-reason option").all_inner_texts()[1]
    card.locator("select.override-reason").select_option(label=reason)
    card.locator("textarea.override-comment").fill("Oncology aware; termination planned.")
    card.locator("button.send-override").click()
    expect(card).to_have_attribute("data-outcome", "overridden")

    load(page, "premed-adult-rr-cycle1-missing")
    sign(page)
    signs = counter(page, "signs")
    page.locator("article.card[data-topic=premedication] button.suggestion").first.click()
    wait_past(page, "signs", signs)

    sections = page.locator("#feedback-log section.feedback-patient")
    expect(sections).to_have_count(2)
    first, second = sections.nth(0), sections.nth(1)
    assert "(Patient/" in first.locator("h4").inner_text()
    assert "Daniel Okafor (Patient/pt-premed)" in second.locator("h4").inner_text()
    overridden = first.locator("li[data-outcome=overridden]")
    assert reason in OVERRIDE_REASONS["reasons"].values()
    expect(overridden.locator(".reason")).to_have_text(f"Reason: {reason}")
    expect(overridden.locator(".comment")).to_have_text(
        "Comment: Oncology aware; termination planned."
    )
    expect(second.locator("li[data-outcome=accepted]")).to_have_count(1)
    screenshot(page, "workbench-feedback")


def save_case(page: Page, name: str, folder: Path) -> tuple[Path, Path]:
    downloads: list[Download] = []
    page.on("download", lambda download: downloads.append(download))
    page.fill("#case-name", name)
    page.click("#save-case")
    page.wait_for_function(
        "() => /^Saved /.test(document.getElementById('save-status').textContent)"
    )
    page.wait_for_timeout(200)
    for _ in range(50):
        if len(downloads) == 2:
            break
        page.wait_for_timeout(100)
    assert sorted(d.suggested_filename for d in downloads) == [
        f"{name}.expected.json",
        f"{name}.json",
    ]
    for download in downloads:
        download.save_as(folder / download.suggested_filename)
    return folder / f"{name}.json", folder / f"{name}.expected.json"


def test_save_as_test_case_gives_a_pair_that_check_expect_accepts(
    page: Page, live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Overdose composed on the page, the correction accepted, saved: `check --expect` passes on
    the pair, and fails showing the difference once the expectation is altered."""
    open_page(page, live_server)
    load(page, "premed-adult-rr-cycle1-dexamethasone-20")
    expect(page.locator("#save-case")).to_be_disabled()
    page.locator("#steps tr.step .step-dose").first.fill("28")
    sign(page)
    expect(page.locator("article.card[data-topic=dose][data-indicator=critical]")).to_have_count(1)
    chart_path, expected_path = save_case(page, "adult-rr-overdose", tmp_path)

    saved = json.loads(expected_path.read_text(encoding="utf-8"))
    shown = page.evaluate(
        """() => Array.from(document.querySelectorAll('article.card')).map(c =>
            [c.dataset.topic, c.dataset.indicator])"""
    )
    assert sorted(c[:2] for c in saved["cards"]) == sorted(shown)
    assert any(c[0] == "dose" and c[1] == "critical" and c[2] for c in saved["cards"])
    bundle = json.loads(chart_path.read_text(encoding="utf-8"))
    assert bundle["resourceType"] == "Bundle"
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} >= {
        "Patient",
        "Observation",
        "MedicationRequest",
    }
    capsys.readouterr()
    assert main(["check", str(chart_path), "--expect", str(expected_path)]) == 0, (
        capsys.readouterr().out
    )
    altered = {"cards": [c for c in saved["cards"] if c[0] != "dose"]}
    expected_path.write_text(json.dumps(altered), encoding="utf-8")
    capsys.readouterr()
    assert main(["check", str(chart_path), "--expect", str(expected_path)]) == 1
    assert "+ produced, not expected: dose critical" in capsys.readouterr().out

    # the case after accepting the correction: the dose card is gone, and the pair still checks
    signs = counter(page, "signs")
    page.locator("article.card[data-topic=dose] button.suggestion").first.click()
    wait_past(page, "signs", signs)
    chart_path, expected_path = save_case(page, "adult-rr-corrected", tmp_path)
    assert not [
        c for c in json.loads(expected_path.read_text(encoding="utf-8"))["cards"] if c[0] == "dose"
    ]
    capsys.readouterr()
    assert main(["check", str(chart_path), "--expect", str(expected_path)]) == 0, (
        capsys.readouterr().out
    )


def tab_to(page: Page, selector: str, limit: int = 150) -> None:
    """Press Tab until the element matching `selector` has the focus (keyboard users' way)."""
    for _ in range(limit):
        if page.evaluate(f"() => document.activeElement.matches({json.dumps(selector)})"):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{selector} cannot be reached with the Tab key")


def test_keyboard_only_sign_accept_and_override(page: Page, live_server: LiveServer) -> None:
    open_page(page, live_server)
    load(page, "premed-adult-rr-cycle1-missing")
    page.locator("body").focus()
    tab_to(page, "#sign")
    signs = counter(page, "signs")
    page.keyboard.press("Enter")
    wait_past(page, "signs", signs)
    warning = page.locator("article.card[data-topic=premedication][data-indicator=warning]")
    expect(warning).to_have_count(1)

    tab_to(page, "article.card[data-topic=premedication] button.suggestion")
    signs = counter(page, "signs")
    page.keyboard.press("Enter")
    wait_past(page, "signs", signs)
    assert ["premedication", "warning"] not in cards_on_page(page)
    assert page.evaluate("() => document.activeElement.id") == "cards-heading"

    tab_to(page, "article.card button.override")
    page.keyboard.press("Space")
    assert page.evaluate("() => document.activeElement.matches('select.override-reason')")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.type("Reviewed by the pharmacist.")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.matches('button.send-override')")
    page.keyboard.press("Enter")
    expect(page.locator("article.card[data-outcome=overridden]")).to_have_count(1)
    stored = live_server.feedback()
    assert any(
        f["outcome"] == "overridden" and f["override_comment"] == "Reviewed by the pharmacist."
        for f in stored
    )
    screenshot(page, "workbench-keyboard")


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """A page whose policy lets the test inject axe-core (the page itself loads nothing else)."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000}, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def test_axe_finds_no_serious_accessibility_violation(
    axe_page: Page, live_server: LiveServer, tmp_path: Path
) -> None:
    page = axe_page
    open_page(page, live_server)
    page.click("#paste summary")
    assert serious_violations(page) == []

    upload = tmp_path / "two.json"
    upload.write_text(json.dumps(two_patient_transaction()), encoding="utf-8")
    picks = counter(page, "picks")
    page.set_input_files("#bundle-file", str(upload))
    wait_past(page, "picks", picks)
    assert serious_violations(page) == []

    load(page, "vaccine-mmr-10-days-before-start")
    sign(page)
    page.locator("article.card button.override").first.click()
    assert page.locator("article.card[data-indicator=critical] .badge").first.inner_text()
    violations = serious_violations(page)
    assert violations == [], violations
    screenshot(page, "workbench-axe")
    # control: axe does report an unlabelled control when there is one
    page.evaluate("() => document.querySelector('main').append(document.createElement('input'))")
    assert "label" in {v["id"] for v in serious_violations(page)}


def test_the_indicator_is_written_not_only_coloured(page: Page, live_server: LiveServer) -> None:
    open_page(page, live_server)
    load(page, "vaccine-mmr-10-days-before-start")
    sign(page)
    for card in page.locator("article.card").all():
        badge = card.locator(".badge").inner_text().strip().lower()
        assert badge == card.get_attribute("data-indicator")
